"""The search path, top to bottom: encode, then per query retrieve -> fuse -> group -> read the
head -> explain -> rerank -> page -> highlight. Each step is a function of the query's
`SearchState` (its input) that fills in its part (its output); `search_one` reads as the list."""

from __future__ import annotations

import logging
import time
from concurrent.futures import TimeoutError as FutureTimeout

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import (
    EncoderError,
    HybridSearchError,
    RerankDeadlineExceeded,
    RouteError,
)
from hybrid_search.fusion import FusedHit, RouteHit, make_fusion
from hybrid_search.fusion.rerank import fuse_with_rerank
from hybrid_search.highlight import highlight_hits
from hybrid_search.retrieval import explain
from hybrid_search.retrieval.empty import empty_result_notes
from hybrid_search.retrieval.engine import Engine
from hybrid_search.retrieval.lanes import Lane
from hybrid_search.retrieval.plan import Plan
from hybrid_search.retrieval.request import SearchState, ms
from hybrid_search.store.types import QueryVectors, StoredChunk
from schemas.api import RouteFailure, RouteScore, SearchHit, SearchResponse

logger = logging.getLogger(__name__)

#: the routes that need the query encoded (bm25 needs only the text)
ENCODED_ROUTES = ("dense", "sparse", "colbert")


def run(e: Engine, queries: list[str], plan: Plan, lane: Lane) -> list[SearchResponse]:
    """Every query of one call under one plan; the queries are encoded in one model call."""
    t0 = time.perf_counter()
    texts, truncated = _truncate(e.encoder, queries, plan.max_query_tokens)
    lane.checkpoint()
    t_enc = time.perf_counter()
    vectors = _encode(e.encoder, texts, plan.routes)
    encode_ms = ms(time.perf_counter() - t_enc)
    responses = [
        search_one(e, SearchState(q, vec, trunc, plan, lane))
        for q, vec, trunc in zip(queries, vectors, truncated, strict=True)
    ]
    for r in responses:
        r.timings_ms["encode"] = round(encode_ms / len(queries), 3)
        r.timings_ms["total"] = round(r.timings_ms["total"] + r.timings_ms["encode"], 3)
    logger.info("searched %d queries in %.1f ms", len(queries), ms(time.perf_counter() - t0))
    return responses


def search_one(e: Engine, state: SearchState) -> SearchResponse:
    t_start, plan = time.perf_counter(), state.plan
    state.lane.checkpoint()
    fused_in_store = plan.native_fusion and e.retriever.fuse_in_store(state)
    if not fused_in_store:
        e.retriever.retrieve(state)
    with state.timed("fuse"):
        if not fused_in_store:
            fuse(state)
        if plan.options.group_by_doc:
            group(state)
    head = state.fused[: plan.head_size]
    explaining = explain.start(e, state, head) if plan.options.explain and head else None
    head = read_head(e, state, head, explaining)
    note_failures(state)
    if plan.rerank and head:
        state.lane.checkpoint()
        with state.timed("rerank"):
            head = rerank(e, state, head)
    final = head[plan.offset : plan.offset + plan.top_k]
    if explaining is not None and final:
        with state.timed("explain"):
            explain.finish(e, state, final, explaining)
    hits = [_hit(h, state.rows[h.key], state.rerank_scores.get(h.key)) for h in final]
    if (o := plan.options).highlight:
        with state.timed("highlight"):
            hits = highlight_hits(state.query.text, hits, e.spec, o.snippet_chars)
    notes = (
        []
        if hits
        else empty_result_notes(e.store, e.collection, plan.scope.tenant, plan.scope.filter)
    )
    state.timings["total"] = ms(time.perf_counter() - t_start)
    return respond(state, hits, notes)


def fuse(state: SearchState) -> None:
    """The routes' ranked lists as one ranking (only the head, unless grouping looks past it)."""
    o = state.plan.options
    fusion = make_fusion(o.fusion, k=state.plan.rrf_k, weights=o.weights)
    state.fusion = fusion.name
    everything = sum(len(v) for v in state.ranked.values()) or 1
    state.fused = fusion.fuse(
        {name: [RouteHit(c.pk, c.score) for c in lst] for name, lst in state.ranked.items()},
        limit=everything if o.group_by_doc else min(everything, state.plan.head_size),
    )


def group(state: SearchState) -> None:
    """Fused order is kept; a document appears once, as its best-fused chunk."""
    seen: set[str] = set()
    out = []
    for h in state.fused:
        doc = state.keys[h.key].doc_id
        if doc not in seen:
            seen.add(doc)
            out.append(h)
    state.fused = out


def read_head(
    e: Engine, state: SearchState, head: list[FusedHit], explaining: explain.Explanation | None
) -> list[FusedHit]:
    """The fused head with its rows read in one call (and what explaining needs); a chunk deleted
    since the search is dropped."""
    missing = [h.key for h in head if h.key not in state.rows]
    if missing:
        vectors = explaining is not None and explain.needs_vectors(state, head)
        with state.timed("fetch"):
            found = (
                explain.read_rows(e, state, explaining, missing, vectors) if explaining else None
            )
            if found is None:
                found = e.store.get_rows(e.collection, missing, with_vectors=vectors)
        state.rows.update(found)
    return [h for h in head if h.key in state.rows]


def note_failures(state: SearchState) -> None:
    """The failed routes, as data and as reasons (first in the list), and a truncated query."""
    state.failures = [
        # a route's own words, or the store error's type and text (the service rewords those)
        RouteFailure(
            r, e.code, e.message if isinstance(e, RouteError) else f"{type(e).__name__}: {e}"
        )
        for r, e in state.errors.items()
    ]
    state.reasons += [f.reason for f in state.failures]
    if state.truncated:
        state.reasons.append(f"query truncated to {state.plan.max_query_tokens} tokens")
    state.degraded = bool(state.errors)


def rerank(e: Engine, state: SearchState, head: list[FusedHit]) -> list[FusedHit]:
    """The reranked head; on a deadline or a reranker failure the fused order, and why."""
    plan = state.plan
    to_score = head[: plan.rerank_top_n]
    try:
        scores = _rerank_scores(e, state, [state.rows[h.key] for h in to_score])
    except RerankDeadlineExceeded:
        state.degraded = True
        state.reasons.append(
            f"rerank deadline of {plan.rerank_timeout_s * 1000:.0f} ms passed; fused order kept"
        )
        return head
    except HybridSearchError as exc:
        state.degraded = True
        state.reasons.append(f"rerank failed ({exc.message}); fused order kept")
        return head
    state.rerank_scores, state.reranked = scores, True
    if plan.options.rerank_mode == "fuse":
        by_key = {h.key: h for h in to_score}
        order = fuse_with_rerank(
            [h.key for h in to_score], scores, weight=plan.options.rerank_weight, k=plan.rrf_k
        )
        return [by_key[key] for key in order] + head[len(to_score) :]
    return sorted(to_score, key=lambda h: -scores[h.key]) + head[len(to_score) :]


def respond(state: SearchState, hits: list[SearchHit], notes: list[str]) -> SearchResponse:
    plan = state.plan
    response = SearchResponse(
        query=state.original,
        hits=hits,
        offset=plan.offset,
        timings_ms=state.timings,
        fusion=state.fusion,
        routes=state.answered,
        route_errors={f.route: f.message for f in state.failures},
        route_error_codes={f.route: f.kind for f in state.failures},
        reranked=state.reranked,
        degraded=state.degraded,
        reasons=state.reasons,
        defaults_applied=dict(plan.applied),
        option_sources=dict(plan.sources),
        query_truncated=state.truncated,
        notes=notes,
    )
    response._failures = list(state.failures)
    return response


def _truncate(
    encoder: Encoder, queries: list[str], max_tokens: int
) -> tuple[list[str], list[bool]]:
    """Queries longer than max_query_tokens are cut there, and the response says so."""
    limit = max_tokens - 2
    texts, flags = [], []
    for q in queries:  # the tokenizer (and so the model) loads only for a long query
        spans = encoder.tokenizer.token_spans(q) if len(q) > limit else []
        cut = len(spans) > limit
        texts.append(q[: spans[limit - 1][1]] if cut else q)
        flags.append(cut)
    return texts, flags


def _encode(encoder: Encoder, texts: list[str], routes: list[str]) -> list[QueryVectors]:
    if not any(r in ENCODED_ROUTES for r in routes):
        return [QueryVectors(t) for t in texts]
    enc = encoder.encode_queries(texts)
    return [
        QueryVectors(
            text=t,
            dense=None if enc.dense is None else enc.dense[i],
            sparse=None if enc.sparse is None else enc.sparse[i],
            colbert=None if enc.colbert is None else enc.colbert[i],
        )
        for i, t in enumerate(texts)
    ]


def _rerank_scores(e: Engine, state: SearchState, rows: list[StoredChunk]) -> dict[str, float]:
    assert e.reranker is not None
    reranker, query, normalize = e.reranker, state.query.text, state.plan.rerank_normalize
    deadline = time.monotonic() + state.plan.rerank_timeout_s
    passages = [r.search_text for r in rows]
    future = state.lane.rerank.submit(
        lambda: reranker.score(query, passages, normalize=normalize, deadline=deadline)
    )
    try:
        scores = future.result(timeout=max(0.0, deadline - time.monotonic()))
    except FutureTimeout:
        raise RerankDeadlineExceeded("deadline") from None
    except HybridSearchError:
        raise
    except Exception as exc:  # a reranker bug must not empty the answer
        raise EncoderError(f"{type(exc).__name__}: {exc}") from exc
    return {r.pk: s for r, s in zip(rows, scores, strict=True)}


#: the stored fields a hit shows
_SHOWN = ("doc_id", "chunk_id", "chunk_index", "title", "text", "metadata")


def _hit(h: FusedHit, row: StoredChunk, rerank: float | None) -> SearchHit:
    return SearchHit(
        **{f: getattr(row, f) for f in _SHOWN},
        routes={
            name: RouteScore(rank=rank, score=score) for name, (rank, score) in h.routes.items()
        },
        fused_score=h.score,
        rerank_score=rerank,
    )
