"""HybridSearcher: encode the query -> run the routes in the store -> fuse -> rerank -> explain.

The one object that owns the encoder, the reranker and the store; safe to share across threads
(the encoder and reranker serialise their own model calls, the store is thread-safe). Depends on
protocols only (`VectorStore`, `Encoder`, `Reranker`); `from_settings` builds the real
components. Each query's state lives in one `SearchState` (retrieval/request.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from hybrid_search.defaults import apply_saved_defaults
from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import (
    EncoderError,
    HybridSearchError,
    InvalidRequestError,
    RerankDeadlineExceeded,
    validated,
)
from hybrid_search.fusion import make_fusion
from hybrid_search.fusion.base import FusedHit, RouteHit
from hybrid_search.fusion.rerank import fuse_with_rerank
from hybrid_search.highlight import highlight_hits
from hybrid_search.rerank.base import Reranker
from hybrid_search.retrieval import explain
from hybrid_search.retrieval.colbert import ColbertRoute
from hybrid_search.retrieval.empty import empty_result_notes
from hybrid_search.retrieval.lanes import Lane, Lanes
from hybrid_search.retrieval.plan import make_plan
from hybrid_search.retrieval.request import SearchState, ms
from hybrid_search.retrieval.retrieve import Retriever
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import Candidate, QueryVectors, StoredChunk
from schemas import collection as C
from schemas.api import (
    ALL_ROUTES,
    BatchSearchRequest,
    RouteScore,
    SearchHit,
    SearchOptions,
    SearchRequest,
    SearchResponse,
    as_queries,
)

logger = logging.getLogger(__name__)

#: routes each encoder representation enables; bm25 needs only the text
_NEEDS = {"dense": "dense", "sparse": "sparse", "colbert": "colbert"}


class HybridSearcher:
    """In-process search client. `search` for one query, `search_many` for a batch."""

    def __init__(
        self,
        store: VectorStore,
        encoder: Encoder,
        reranker: Reranker | None,
        *,
        collection: str,
        settings: Settings | None = None,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.reranker = reranker
        self.collection = collection
        self.settings = settings or Settings(_env_file=None)
        self._colbert = ColbertRoute(store, collection)
        self._retriever = Retriever(store, collection, self._colbert, lambda: self.settings)
        self._lanes = Lanes()
        self._spec: C.CollectionSpec | None = None
        self._saved_defaults: dict[str, Any] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, collection: str | None = None) -> HybridSearcher:
        from hybrid_search.factory import build_encoder, build_reranker, build_store

        return cls(
            build_store(settings),
            build_encoder(settings),
            build_reranker(settings),
            collection=collection or settings.collection,
            settings=settings,
        )

    def __enter__(self) -> HybridSearcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.stop_threads()
        self.store.close()

    def give_way(self) -> None:
        """For background work sharing this searcher's process (ingest jobs): wait while
        interactive searches run, at most `lanes.YIELD_S`."""
        self._lanes.give_way()

    def stop_threads(self) -> None:
        """Stop the searcher's thread pools, leaving the store open (it may be shared)."""
        self._lanes.shutdown()

    # -- public API -------------------------------------------------------------------------

    def search(self, query: str | SearchRequest, **options: Any) -> SearchResponse:
        """Search one query. Options are SearchOptions fields (top_k, routes, filter, rerank...)."""
        if isinstance(query, SearchRequest):
            request = query
        else:
            request = validated(SearchRequest, {"query": query, **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"query"}))
        return self._run_with_defaults([request.query], opts, request.model_fields_set)[0]

    def search_many(
        self,
        queries: Sequence[str] | BatchSearchRequest,
        *,
        background: bool = False,
        checkpoint: Callable[[], None] | None = None,
        **options: Any,
    ) -> list[SearchResponse]:
        """Search a batch; the queries are encoded in one model call.

        `background`: bulk work that gives way to interactive searches (`retrieval.lanes`): it
        runs in a low-priority thread and waits at its stage boundaries while interactive
        searches run; the answers are the same. `checkpoint` runs at those boundaries too and
        may raise to stop the batch (the service's deadline and client-gone check).
        """
        if isinstance(queries, BatchSearchRequest):
            request = queries
        else:
            request = validated(BatchSearchRequest, {"queries": as_queries(queries), **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"queries"}))
        fields_set = request.model_fields_set
        if not background:
            return self._run_with_defaults(request.queries, opts, fields_set)
        return self._lanes.run_background(
            lambda lane: self._run_with_defaults(request.queries, opts, fields_set, lane),
            checkpoint,
        )

    def _run_with_defaults(
        self,
        queries: list[str],
        opts: SearchOptions,
        fields_set: set[str],
        lane: Lane | None = None,
    ) -> list[SearchResponse]:
        """`_run` with the collection's saved defaults (`tune --save`) filling what the request
        left unset (read once per searcher, like the spec); each response names them."""
        if self._saved_defaults is None:
            self.spec()  # CollectionNotFoundError first
            self._saved_defaults = self.store.search_defaults(self.collection)
        opts, applied = apply_saved_defaults(
            opts, fields_set, self._saved_defaults, self.available_routes()
        )
        if lane is not None:
            responses = self._run(queries, opts, lane)
        else:
            with self._lanes.interactive_search():
                responses = self._run(queries, opts, self._lanes.interactive)
        for r in responses:
            r.defaults_applied = dict(applied)
        return responses

    def spec(self) -> C.CollectionSpec:
        if self._spec is None:
            self._spec = self.store.describe(self.collection)
        return self._spec

    def available_routes(self) -> list[str]:
        reps = self.encoder.representations
        out: list[str] = [r for r in ALL_ROUTES if r == "bm25" or _NEEDS[r] in reps]
        if self.spec().colbert_dim is None and "colbert" in out:
            out.remove("colbert")
        return out

    # -- the data path ----------------------------------------------------------------------

    def _run(self, queries: list[str], opts: SearchOptions, lane: Lane) -> list[SearchResponse]:
        t0 = time.perf_counter()
        for i, q in enumerate(queries):
            if not q.strip():
                raise InvalidRequestError(
                    "query is empty" if len(queries) == 1 else f"queries[{i}] is empty",
                    details={"field": "query"},
                )
        self.spec()  # CollectionNotFoundError until the collection exists; then cached, no RPC
        plan = make_plan(
            opts,
            self.settings,
            available=self.available_routes(),
            encoder_name=self.encoder.name,
            can_generate_colbert=self._colbert.can_generate(),
            has_reranker=self.reranker is not None,
        )
        texts, truncated = self._truncate(queries)
        lane.checkpoint()
        t_enc = time.perf_counter()
        vectors = self._encode(texts, plan.routes)
        encode_ms = ms(time.perf_counter() - t_enc)
        responses = [
            self._search_one(SearchState(q, vec, trunc, plan, lane))
            for q, vec, trunc in zip(queries, vectors, truncated, strict=True)
        ]
        for r in responses:
            r.timings_ms["encode"] = round(encode_ms / len(queries), 3)
            r.timings_ms["total"] = round(r.timings_ms["total"] + r.timings_ms["encode"], 3)
        logger.info("searched %d queries in %.1f ms", len(queries), ms(time.perf_counter() - t0))
        return responses

    def _truncate(self, queries: list[str]) -> tuple[list[str], list[bool]]:
        """Queries longer than max_query_tokens are cut there, and the response says so."""
        limit = self.settings.max_query_tokens - 2
        texts, flags = [], []
        for q in queries:  # the tokenizer (and so the model) loads only for a long query
            spans = self.encoder.tokenizer.token_spans(q) if len(q) > limit else []
            if len(spans) > limit:
                texts.append(q[: spans[limit - 1][1]])
                flags.append(True)
            else:
                texts.append(q)
                flags.append(False)
        return texts, flags

    def _encode(self, texts: list[str], routes: list[str]) -> list[QueryVectors]:
        if not any(r in _NEEDS for r in routes):
            return [QueryVectors(t) for t in texts]
        enc = self.encoder.encode_queries(texts)
        return [
            QueryVectors(
                text=t,
                dense=None if enc.dense is None else enc.dense[i],
                sparse=None if enc.sparse is None else enc.sparse[i],
                colbert=None if enc.colbert is None else enc.colbert[i],
            )
            for i, t in enumerate(texts)
        ]

    def _search_one(self, state: SearchState) -> SearchResponse:
        t_start = time.perf_counter()
        plan = state.plan
        state.lane.checkpoint()
        fused_in_store = plan.native_fusion and self._retriever.fuse_in_store(state)
        if not fused_in_store:
            self._retriever.retrieve(state)
        with state.timed("fuse"):
            if not fused_in_store:
                self._fuse(state)
            if plan.options.group_by_doc:
                state.fused = _best_chunk_per_doc(state.fused, state.keys)
        head = state.fused[: plan.head_size]
        explaining = None
        if plan.options.explain and head:
            explaining = explain.start(
                state,
                head,
                store=self.store,
                collection=self.collection,
                colbert=self._colbert,
                pool=state.lane.routes,
            )
        head = self._with_rows(state, head, explaining)
        state.reasons += [f"route {n} failed: {m}" for n, m in state.route_messages().items()]
        if state.truncated:
            state.reasons.append(f"query truncated to {self.settings.max_query_tokens} tokens")
        state.degraded = bool(state.errors)
        if plan.rerank and head:
            state.lane.checkpoint()
            with state.timed("rerank"):
                head = self._rerank(state, head)
        final = head[plan.offset : plan.offset + plan.top_k]
        if explaining is not None and final:
            with state.timed("explain"):
                explain.finish(
                    state, final, explaining, store=self.store, collection=self.collection
                )
        hits = [_hit(h, state.rows[h.key], state.rerank_scores.get(h.key)) for h in final]
        if (o := plan.options).highlight:
            with state.timed("highlight"):
                hits = highlight_hits(state.query.text, hits, self.spec(), o.snippet_chars)
        notes = (
            []
            if hits
            else empty_result_notes(
                self.store, self.collection, plan.scope.tenant, plan.scope.filter
            )
        )
        state.timings["total"] = ms(time.perf_counter() - t_start)
        return SearchResponse(
            query=state.original,
            hits=hits,
            offset=plan.offset,
            timings_ms=state.timings,
            fusion=state.fusion,
            routes=state.answered,
            route_errors=state.route_messages(),
            route_error_codes={r: e.code for r, e in state.errors.items()},
            reranked=state.reranked,
            degraded=state.degraded,
            reasons=state.reasons,
            query_truncated=state.truncated,
            notes=notes,
        )

    def _fuse(self, state: SearchState) -> None:
        o = state.plan.options
        fusion = make_fusion(o.fusion, k=o.rrf_k or self.settings.rrf_k, weights=o.weights)
        ranked = state.ranked
        state.fusion = fusion.name
        # grouping by document looks past the head; otherwise only the head is ever read
        everything = sum(len(v) for v in ranked.values()) or 1
        state.fused = fusion.fuse(
            {name: [RouteHit(c.pk, c.score) for c in lst] for name, lst in ranked.items()},
            limit=everything if o.group_by_doc else min(everything, state.plan.head_size),
        )

    def _with_rows(
        self, state: SearchState, head: list[FusedHit], explaining: explain.Explanation | None
    ) -> list[FusedHit]:
        """The fused head, its stored fields read in one call where routes shipped keys only
        (with the dense and sparse vectors when a hit is to be explained on a route that did not
        reach it, and the BM25 scores). A chunk deleted between the search and this read is
        dropped from the answer."""
        missing = [h.key for h in head if h.key not in state.rows]
        if missing:
            vectors = explaining is not None and explain.needs_vectors(state, head)
            with state.timed("fetch"):
                found = None
                if explaining is not None:
                    found = explain.read_rows(
                        state,
                        explaining,
                        missing,
                        store=self.store,
                        collection=self.collection,
                        with_vectors=vectors,
                    )
                if found is None:
                    found = self.store.get_rows(self.collection, missing, with_vectors=vectors)
            state.rows.update(found)
        return [h for h in head if h.key in state.rows]

    def _rerank(self, state: SearchState, head: list[FusedHit]) -> list[FusedHit]:
        """The reranked head; on a deadline or a reranker failure the fused order, and why."""
        plan = state.plan
        to_score = head[: plan.rerank_top_n]
        try:
            scores = self._rerank_scores(state, [state.rows[h.key] for h in to_score])
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
                [h.key for h in to_score],
                scores,
                weight=plan.options.rerank_weight,
                k=self.settings.rrf_k,
            )
            return [by_key[key] for key in order] + head[len(to_score) :]
        return sorted(to_score, key=lambda h: -scores[h.key]) + head[len(to_score) :]

    def _rerank_scores(self, state: SearchState, rows: list[StoredChunk]) -> dict[str, float]:
        assert self.reranker is not None
        reranker, query = self.reranker, state.query.text
        deadline = time.monotonic() + state.plan.rerank_timeout_s
        passages = [r.search_text for r in rows]
        future = state.lane.rerank.submit(
            lambda: reranker.score(
                query, passages, normalize=self.settings.rerank_normalize, deadline=deadline
            )
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


def _hit(h: FusedHit, row: StoredChunk, rerank: float | None) -> SearchHit:
    return SearchHit(
        doc_id=row.doc_id,
        chunk_id=row.chunk_id,
        chunk_index=row.chunk_index,
        title=row.title,
        text=row.text,
        metadata=row.metadata,
        routes={
            name: RouteScore(rank=rank, score=score) for name, (rank, score) in h.routes.items()
        },
        fused_score=h.score,
        rerank_score=rerank,
    )


def _best_chunk_per_doc(fused: list[FusedHit], keys: dict[str, Candidate]) -> list[FusedHit]:
    """Fused order is kept; a document appears once, as its best-fused chunk."""
    seen: set[str] = set()
    out = []
    for h in fused:
        doc = keys[h.key].doc_id
        if doc not in seen:
            seen.add(doc)
            out.append(h)
    return out
