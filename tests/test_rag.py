"""build_context: hit order, markers, citations and the token budget, with a word tokenizer."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from hybrid_search.rag import PASSAGE_SEPARATOR, build_context, format_passage
from schemas.api import RouteScore, SearchHit, SearchResponse
from schemas.rag import RagRequest


def words(text: str) -> int:
    return len(text.split())


def hit(i: int, text: str, *, title: str = "", rerank: float | None = None) -> SearchHit:
    return SearchHit(
        doc_id=f"d{i}",
        chunk_id=f"d{i}#0",
        chunk_index=0,
        title=title,
        text=text,
        metadata={},
        routes={"dense": RouteScore(rank=i, score=1.0 / i)},
        fused_score=1.0 / (60 + i),
        rerank_score=rerank,
    )


def response(*hits: SearchHit) -> SearchResponse:
    return SearchResponse(query="q", hits=list(hits), timings_ms={}, fusion="rrf", routes=["dense"])


def test_passages_in_hit_order_with_markers_and_citations() -> None:
    r = response(hit(1, "alpha beta", title="First", rerank=2.5), hit(2, "gamma"))
    ctx = build_context(r, token_budget=100, count_tokens=words)
    assert ctx.context == "[1] First\nalpha beta" + PASSAGE_SEPARATOR + "[2] gamma"
    assert [(c.marker, c.doc_id, c.chunk_id, c.title) for c in ctx.citations] == [
        ("[1]", "d1", "d1#0", "First"),
        ("[2]", "d2", "d2#0", ""),
    ]
    assert ctx.citations[0].score == 2.5  # rerank score when reranked
    assert ctx.citations[1].score == pytest.approx(1.0 / 62)  # else the fused score
    assert ctx.tokens == words(ctx.context) == 6
    assert ctx.omitted == []


def test_budget_is_exact_and_a_passage_that_does_not_fit_is_skipped_whole() -> None:
    long = " ".join(["w"] * 10)
    r = response(hit(1, "a b"), hit(2, long), hit(3, "c"))
    # "[1] a b" = 3 words; + "[2] c" = 2 more -> 5; the long passage (11+) never fits
    ctx = build_context(r, token_budget=5, count_tokens=words)
    assert ctx.context == "[1] a b\n\n[2] c"
    assert [c.doc_id for c in ctx.citations] == ["d1", "d3"]  # markers have no gap
    assert ctx.omitted == ["d2#0"]
    assert ctx.tokens == 5 <= ctx.token_budget
    assert "w w" not in ctx.context  # never truncated


def test_first_passage_too_large_gives_an_empty_context() -> None:
    ctx = build_context(response(hit(1, "x " * 50)), token_budget=3, count_tokens=words)
    assert (ctx.context, ctx.citations, ctx.tokens, ctx.omitted) == ("", [], 0, ["d1#0"])


def test_no_hits() -> None:
    ctx = build_context(response(), token_budget=10, count_tokens=words)
    assert ctx.context == "" and ctx.citations == [] and ctx.tokens == 0


def test_budget_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="token_budget"):
        build_context(response(hit(1, "a")), token_budget=0, count_tokens=words)


def test_non_additive_tokenizer_never_exceeds_the_budget() -> None:
    """A tokenizer that charges for separators: the whole context is re-counted each time."""

    def chars(text: str) -> int:
        return len(text)

    rng = random.Random(7)
    hits = [
        hit(i, " ".join("x" * rng.randint(1, 9) for _ in range(rng.randint(1, 8))))
        for i in range(1, 30)
    ]
    for budget in (1, 5, 17, 40, 99, 250, 1000):
        ctx = build_context(response(*hits), token_budget=budget, count_tokens=chars)
        assert chars(ctx.context) == ctx.tokens <= budget
        assert len(ctx.citations) + len(ctx.omitted) == len(hits)
        included = [c.chunk_id for c in ctx.citations]
        assert included == [h.chunk_id for h in hits if h.chunk_id in set(included)]  # order kept


def test_format_passage_strips_title() -> None:
    assert format_passage("[3]", hit(1, "body", title="  T  ")) == "[3] T\nbody"


def test_rag_request_validates_budget_and_search_fields() -> None:
    assert RagRequest(query="q").token_budget == 2048
    with pytest.raises(ValidationError):
        RagRequest(query="q", token_budget=0)
    with pytest.raises(ValidationError):
        RagRequest(query="q", top_k=0)


def highlighted(i: int, query: str, text: str, *, snippet_chars: int) -> SearchHit:
    """A hit carrying the highlight the searcher would compute for `query`."""
    from hybrid_search.highlight import highlight
    from schemas.api import HitHighlight

    h = highlight(query, text, "standard", snippet_chars=snippet_chars)
    return hit(i, text).model_copy(
        update={
            "highlight": HitHighlight(
                terms=list(h.terms),
                spans=list(h.spans),
                snippet=h.snippet,
                snippet_start=h.snippet_start,
                snippet_spans=list(h.snippet_spans),
            )
        }
    )


def test_snippets_pack_the_window_around_the_match_and_cite_its_characters() -> None:
    filler = " ".join(f"filler{n}" for n in range(60))
    texts = [
        f"{filler} the answer mentions milvus lite here {filler}",
        f"milvus lite opens a local file {filler}",
    ]
    hits = [highlighted(i + 1, "milvus lite", t, snippet_chars=60) for i, t in enumerate(texts)]
    whole = build_context(response(*hits), token_budget=150, count_tokens=words)
    cut = build_context(response(*hits), token_budget=150, count_tokens=words, snippets=True)
    assert len(whole.citations) == 1 and whole.omitted == ["d2#0"]  # whole chunks: one fits
    assert len(cut.citations) == 2 and cut.omitted == []  # snippets: both fit
    for c, h in zip(cut.citations, hits, strict=True):
        assert c.start is not None and c.end is not None and c.end - c.start <= 60
        passage = h.text[c.start : c.end]
        assert "milvus lite" in passage
        assert f"{c.marker} {passage}" in cut.context
    assert whole.citations[0].start is None and whole.citations[0].end is None


def test_snippets_need_highlighted_hits() -> None:
    with pytest.raises(ValueError, match=r"hit d1#0 has no highlight"):
        build_context(response(hit(1, "a")), token_budget=10, count_tokens=words, snippets=True)


def test_citations_carry_pages_and_section_and_the_title_once() -> None:
    meta = {"section": "Guide > Brew", "page_start": 3, "page_end": 4}
    pdf = hit(1, "Grind the beans.", title="Coffee").model_copy(update={"metadata": meta})
    md = hit(2, "# Tea\n\nBoil water.", title="Tea")
    ctx = build_context(response(pdf, md), token_budget=100, count_tokens=words)
    assert (
        ctx.context
        == "[1] Coffee › Guide > Brew (p. 3-4)\nGrind the beans.\n\n[2] Tea\nBoil water."
    )
    c = ctx.citations[0]
    assert (c.section, c.page_start, c.page_end) == ("Guide > Brew", 3, 4)
    assert ctx.citations[1].section is None and ctx.citations[1].page_start is None
