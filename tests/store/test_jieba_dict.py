"""jieba's dictionary from our pickle is jieba's own: the same entries, the same segmentation."""

from __future__ import annotations

from pathlib import Path

import jieba
import pytest

from hybrid_search.store.jieba_dict import load_jieba_dict


def fresh_default_tokenizer(monkeypatch: pytest.MonkeyPatch) -> jieba.Tokenizer:
    tokenizer = jieba.Tokenizer()
    monkeypatch.setattr(jieba, "dt", tokenizer)
    return tokenizer


def test_the_pickled_dictionary_is_jiebas_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    reference = jieba.Tokenizer()
    reference.initialize()
    text = "上海是中国的金融中心, and Milvus stores vectors"

    built = fresh_default_tokenizer(monkeypatch)
    load_jieba_dict()  # no pickle yet: jieba's own load, then the pickle is written
    (pickled,) = (tmp_path / "hybrid-search").glob("jieba-*.pickle")
    written = pickled.stat().st_mtime_ns

    read = fresh_default_tokenizer(monkeypatch)
    load_jieba_dict()
    assert pickled.stat().st_mtime_ns == written  # read, not rebuilt
    for tokenizer in (built, read):
        assert tokenizer.initialized
        assert (tokenizer.total, tokenizer.FREQ) == (reference.total, reference.FREQ)
        assert tokenizer.lcut_for_search(text) == reference.lcut_for_search(text)

    pickled.write_bytes(b"not a pickle")
    broken = fresh_default_tokenizer(monkeypatch)
    load_jieba_dict()  # a bad file: jieba's own load again, and a good pickle for next time
    assert broken.FREQ == reference.FREQ
    assert pickled.stat().st_size > 1000
