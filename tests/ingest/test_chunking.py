"""Chunking measured in the model's own tokens."""

from __future__ import annotations

import itertools

from ingest.blocks import Block
from ingest.chunking import chunk_text, sentence_ends


def test_short_text_is_one_chunk_with_title(encoder) -> None:  # type: ignore[no-untyped-def]
    chunks = chunk_text("short body", "Title", encoder.tokenizer, max_tokens=64, overlap=8)
    assert len(chunks) == 1
    assert chunks[0].text == "short body"
    assert chunks[0].search_text == "Title\n\nshort body"


def test_long_sentence_windows_fit_and_cover(encoder) -> None:  # type: ignore[no-untyped-def]
    text = " ".join(f"word{i}" for i in range(400))
    tok = encoder.tokenizer
    chunks = chunk_text(text, "A title", tok, max_tokens=64, overlap=8)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text in text
        assert tok.count_tokens(c.search_text) + 2 <= 64 + 1  # whole tokens, so at most a join
    # one sentence over the budget: token windows, back to back, that cover everything
    for a, b in itertools.pairwise(chunks):
        assert not text[text.index(a.text) + len(a.text) : text.index(b.text)].strip()
    assert chunks[0].text.startswith("word0") and chunks[-1].text.endswith("word399")


def test_chinese_and_one_huge_word(encoder) -> None:  # type: ignore[no-untyped-def]
    zh = "北京是中国的首都。" * 100
    chunks = chunk_text(zh, "", encoder.tokenizer, max_tokens=32, overlap=4)
    assert len(chunks) > 5 and "".join(c.text for c in chunks).count("北京") >= 100
    word = "x" * 100_000
    big = chunk_text(word, "", encoder.tokenizer, max_tokens=512, overlap=0)
    assert "".join(c.text for c in big) == word


def test_sentences_chinese_english_abbreviations_decimals() -> None:
    def split(t: str) -> list[str]:
        ends = [0, *sentence_ends(t)]
        return [t[a:b].strip() for a, b in itertools.pairwise(ends)]

    zh = "他说：“你好。”她问：「真的吗？」当然！分号；省略……完"
    assert split(zh) == ["他说：“你好。”", "她问：「真的吗？」", "当然！", "分号；", "省略……"]
    en = "Dr. Smith met the U.S. team, e.g. in Fig. 3 at 3.14 cm. Results held (p < 0.05). Next?"
    assert split(en) == [en[: en.index(" Results")], "Results held (p < 0.05).", "Next?"]


def test_chunks_are_whole_sentences_with_whole_sentence_overlap(encoder) -> None:  # type: ignore[no-untyped-def]
    sents = [f"Sentence number {i} says {'a' * (i % 7)} thing {i}." for i in range(60)]
    text = " ".join(sents)
    chunks = chunk_text(text, "T", encoder.tokenizer, max_tokens=96, overlap=40)
    assert len(chunks) > 3
    for c in chunks:
        assert c.text.startswith("Sentence") and c.text.endswith(".") and c.tokens <= 96
        assert encoder.tokenizer.count_tokens(c.search_text) + 2 <= 96 + 1
    for a, b in itertools.pairwise(chunks):
        shared = [s for s in sents if s in a.text and s in b.text]
        assert shared and b.text.startswith(shared[0])  # overlap is the whole sentences


def test_only_a_sentence_over_the_budget_is_cut(encoder) -> None:  # type: ignore[no-untyped-def]
    long = "，".join(f"第{i}个分句很长" for i in range(80)) + "。"
    text = f"短句一。{long}短句二。"
    chunks = chunk_text(text, "", encoder.tokenizer, max_tokens=32, overlap=0)
    assert chunks[0].text.startswith("短句一。") and chunks[-1].text.endswith("短句二。")
    assert all(c.text.endswith(("，", "。")) for c in chunks)  # cut at clause marks
    assert "".join(c.text for c in chunks) == text


def test_sections_never_cross_and_pages_are_kept(encoder) -> None:  # type: ignore[no-untyped-def]
    blocks = (
        Block("Intro text. More intro.", ("Guide",), 1),
        Block("Install it. Then run it.", ("Guide", "Install"), 1),
        Block("It runs everywhere.", ("Guide", "Install"), 2),
    )
    chunks = chunk_text("", "", encoder.tokenizer, max_tokens=128, overlap=16, blocks=blocks)
    assert [c.text for c in chunks] == [
        "Intro text. More intro.",
        "Install it. Then run it.\n\nIt runs everywhere.",
    ]
    assert chunks[1].metadata() == {"section": "Guide > Install", "page_start": 1, "page_end": 2}
    plain = chunk_text("One.\n\nTwo.", "", encoder.tokenizer, max_tokens=64, overlap=8)
    assert plain[0].metadata() == {} and plain[0].text == "One.\n\nTwo."
