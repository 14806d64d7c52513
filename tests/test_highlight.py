"""Highlights on English and Chinese text, cut as the collection's BM25 analyzer cuts it."""

from __future__ import annotations

import json
import re

import pytest

from hybrid_search.highlight import (
    CHINESE_FUNCTION_WORDS,
    ENGLISH_STOP_WORDS,
    Highlight,
    find_terms,
    highlight,
    query_terms,
    tokenize,
)
from schemas.collection import CollectionSpec
from tests.conftest import shared_dataset

ENGLISH = (
    "Reciprocal rank fusion combines ranked lists without looking at their scores. "
    "It was proposed by Cormack, Clarke and Buettcher in 2009. Dense retrieval embeds "
    "queries and passages in one vector space; BM25 scores the exact words the query "
    "shares with a passage. A hybrid search engine runs both retrievals and fuses their "
    "ranked lists, so that a weak route cannot hide what the strong one found."
)


def _consistent(h: Highlight, text: str) -> None:
    """What every highlight promises about its offsets."""
    assert text[h.snippet_start : h.snippet_start + len(h.snippet)] == h.snippet
    assert list(h.spans) == sorted(h.spans)
    for (_, e1), (s2, _) in zip(h.spans, h.spans[1:], strict=False):
        assert e1 <= s2, "spans overlap"
    inside = [
        (s - h.snippet_start, e - h.snippet_start)
        for s, e in h.spans
        if h.snippet_start <= s and e <= h.snippet_start + len(h.snippet)
    ]
    assert set(inside) <= set(h.snippet_spans)


def test_english_spans_mark_the_query_words_case_insensitively() -> None:
    h = highlight("The BM25 Scores of a HYBRID search", ENGLISH, "standard")
    _consistent(h, ENGLISH)
    marked = [ENGLISH[s:e] for s, e in h.spans]
    assert marked == ["scores", "BM25", "scores", "hybrid", "search"]
    assert h.terms == ("scores", "bm25", "hybrid", "search")
    # stop words of the query ("the", "of", "a") are no terms, so "the" is never marked
    assert all(m.lower() not in ENGLISH_STOP_WORDS for m in marked)


def test_english_stop_words_kept_when_the_collection_keeps_them() -> None:
    h = highlight("the fusion", ENGLISH, "standard", stop_words=False)
    assert "the" in h.terms and "fusion" in h.terms


def test_snippet_is_the_window_with_the_most_distinct_terms_and_keeps_words_whole() -> None:
    h = highlight("hybrid search route", ENGLISH, "standard", snippet_chars=100)
    _consistent(h, ENGLISH)
    assert len(h.snippet) <= 100
    for word in ("hybrid", "search", "route"):
        assert word in h.snippet
    start, end = h.snippet_start, h.snippet_start + len(h.snippet)
    assert start == 0 or not ENGLISH[start - 1].isalnum() or not ENGLISH[start].isalnum()
    assert end == len(ENGLISH) or not ENGLISH[end - 1].isalnum() or not ENGLISH[end].isalnum()
    assert h.snippet[0].isalnum()  # no sentence's full stop or space before the first word
    assert [h.snippet[s:e] for s, e in h.snippet_spans] == ["hybrid", "search", "route"]


def test_distinct_terms_beat_repetitions() -> None:
    text = "fusion " * 40 + "padding words here. " * 5 + "rank fusion with dense retrieval"
    h = highlight("rank fusion dense retrieval", text, "standard", snippet_chars=60)
    _consistent(h, text)
    assert "rank fusion with dense retrieval" in h.snippet
    assert len(h.spans) == 44  # every occurrence is a span, only the snippet is chosen


def test_no_match_gives_no_spans_and_the_text_start() -> None:
    h = highlight("zebra", ENGLISH, "standard", snippet_chars=40)
    assert h.spans == () and h.terms == () and h.snippet_spans == ()
    assert h.snippet_start == 0 and ENGLISH.startswith(h.snippet) and len(h.snippet) <= 40
    assert highlight("the of a", ENGLISH, "standard").spans == ()  # only stop words
    assert highlight("fusion", "", "standard") == Highlight((), (), "", 0, ())


def test_short_text_is_its_own_snippet() -> None:
    h = highlight("dense", "Dense retrieval.", "standard")
    assert h.snippet == "Dense retrieval." and h.spans == ((0, 5),)


def test_chinese_overlapping_jieba_terms_merge_into_one_span() -> None:
    text = "南京市长江大桥是长江上第一座由中国自行设计和建造的双层式铁路、公路两用桥梁。"
    h = highlight("长江大桥在哪里？", text, "jieba")
    _consistent(h, text)
    # jieba's search mode cuts 长江大桥 into 长江, 大桥 and 长江大桥: one span over all three
    assert text[h.spans[0][0] : h.spans[0][1]] == "长江大桥"
    assert [text[s:e] for s, e in h.spans] == ["长江大桥", "长江"]
    assert set(h.terms) == {"长江", "大桥", "长江大桥"}
    # 在, 哪里 and the question mark are no terms
    assert query_terms("长江大桥在哪里？") == frozenset({"长江", "大桥", "长江大桥"})


def test_chinese_function_words_are_never_highlighted() -> None:
    text = "马飚中学毕业后，在广西柳州钢铁厂当工人。"
    h = highlight("马飚是在哪里毕业的？", text, "jieba")
    assert [text[s:e] for s, e in h.spans] == ["马飚", "毕业"]
    assert not set(h.terms) & CHINESE_FUNCTION_WORDS


def test_mixed_chinese_and_english_with_jieba() -> None:
    text = "泡泡战士由韩国Nexon开发与发行，中国大陆由盛大游戏运营。"
    h = highlight("nexon 开发了什么游戏", text, "jieba")
    assert [text[s:e] for s, e in h.spans] == ["Nexon", "开发", "游戏"]


def _cmrc_pairs(limit: int) -> list[tuple[str, str]]:
    root = shared_dataset("cmrc2018-trial")
    docs = {
        d["_id"]: d["text"]
        for d in map(json.loads, (root / "corpus.jsonl").read_text("utf-8").splitlines())
    }
    queries = {
        q["_id"]: q["text"]
        for q in map(json.loads, (root / "queries.jsonl").read_text("utf-8").splitlines())
    }
    qrels = [line.split("\t") for line in (root / "qrels/test.tsv").read_text().splitlines()[1:]]
    return [(queries[q], docs[d]) for q, d, _ in qrels[:limit]]


def test_cmrc2018_answer_passages_get_spans_and_a_snippet_around_them() -> None:
    pairs = _cmrc_pairs(100)
    with_span = 0
    for query, text in pairs:
        h = highlight(query, text, "jieba", snippet_chars=120)
        _consistent(h, text)
        terms = query_terms(query)
        for s, e in h.spans:  # a merged span is a run of overlapping query terms
            assert any(t in text[s:e].lower() for t in terms)
        assert len(h.snippet) <= 120
        if h.spans:
            with_span += 1
            assert h.snippet_spans, f"snippet of {query!r} holds no match"
    # a judged passage shares content words with its question, as jieba cuts both; where
    # jieba cuts a name differently in each (锦地/罗 in the question, 锦地罗 in the passage)
    # BM25 misses it too, and there is nothing to mark
    assert with_span >= 0.95 * len(pairs)


def test_cmrc2018_snippet_holds_the_question_entities() -> None:
    query, text = next(p for p in _cmrc_pairs(20) if p[0].startswith("马飚毕业"))
    h = highlight(query, text, "jieba", snippet_chars=80)
    assert "马飚" in h.snippet and "毕业" in h.snippet


@pytest.mark.parametrize("analyzer", ["jieba", "standard"])
def test_terms_are_milvus_lites_own_analyzer_tokens(analyzer: str) -> None:
    """The tokens Milvus Lite's BM25 indexes for this collection spec, less punctuation."""
    from milvus_lite.analyzer.factory import create_analyzer

    spec = CollectionSpec(
        name="c", dense_dim=8, colbert_dim=None, model="m", analyzer=analyzer, stop_words=False
    )
    lite = create_analyzer(spec.analyzer_params())
    texts = [text for _, text in _cmrc_pairs(10)] + [ENGLISH]
    for text in texts:
        expected = [t for t in lite.tokenize(text) if re.search(r"\w", t)]
        assert [t.term for t in tokenize(text, analyzer, stop_words=False)] == expected


def test_bad_arguments_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="unknown analyzer 'icu'"):
        highlight("x", "x", "icu")
    with pytest.raises(ValueError, match="snippet_chars must be at least 1"):
        highlight("x", "x", "standard", snippet_chars=0)


def test_jieba_matches_equal_a_full_segmentation_of_the_passage() -> None:
    """find_terms cuts only the runs of text that hold a query term: same tokens, same offsets
    as cutting the whole passage (jieba cuts each run on its own)."""
    mixed = ("Nexon 开发 café ΣΟΦΙΑ", "Café Nexon開發 ΣΟΦΙΑ 开发")  # runs jieba cuts apart
    for query, text in [*_cmrc_pairs(300), mixed]:
        terms = query_terms(query)
        full = [t for t in tokenize(text) if t.term in terms]
        assert find_terms(terms, text) == sorted(full, key=lambda t: (t.start, -t.end))
