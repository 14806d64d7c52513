"""Chunking measured in the model's own tokens."""

from __future__ import annotations

import itertools

from ingest.chunking import chunk_text


def test_short_text_is_one_chunk_with_title(encoder) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk_text("short body", "Title", encoder.tokenizer, max_tokens=64, overlap=8)
    assert len(chunks) == 1
    assert chunks[0].text == "short body"
    assert chunks[0].search_text == "Title\n\nshort body"


def test_long_text_windows_overlap_and_fit(encoder) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(f"word{i}" for i in range(400))
    tok = encoder.tokenizer
    chunks = chunk_text(text, "A title", tok, max_tokens=64, overlap=8)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text in text
        assert tok.count_tokens(c.search_text) + 2 <= 64 + 1  # whole tokens, so at most a join
    # consecutive chunks share text (the overlap) and together cover everything
    for a, b in itertools.pairwise(chunks):
        assert text.index(b.text) < text.index(a.text) + len(a.text)
    assert chunks[0].text.startswith("word0") and chunks[-1].text.endswith("word399")


def test_chinese_and_one_huge_word(encoder) -> None:  # type: ignore[no-untyped-def]
    zh = "北京是中国的首都。" * 100
    chunks = chunk_text(zh, "", encoder.tokenizer, max_tokens=32, overlap=4)
    assert len(chunks) > 5 and "".join(c.text for c in chunks).count("北京") >= 100
    word = "x" * 100_000
    big = chunk_text(word, "", encoder.tokenizer, max_tokens=512, overlap=0)
    assert "".join(c.text for c in big) == word
