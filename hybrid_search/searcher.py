"""HybridSearcher: encode the query -> run the routes in Milvus -> fuse -> rerank -> explain.

The one object that owns the encoder, the reranker and the Milvus client; safe to share across
threads (the encoder and reranker serialise their own model calls, the Milvus client is
thread-safe). Depends on protocols only; `from_settings` builds the real components.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import (
    CollectionNotFoundError,
    HybridSearchError,
    InvalidRequestError,
    StoreError,
    validated,
)
from hybrid_search.fusion import make_fusion
from hybrid_search.fusion.base import FusedHit, RouteHit
from hybrid_search.rerank.base import RerankDeadlineExceeded, Reranker
from hybrid_search.retrieval.base import Candidate, QueryVectors, Route, RouteError
from hybrid_search.retrieval.colbert import ColbertRoute
from hybrid_search.retrieval.fields import bm25_route, dense_route, sparse_route
from hybrid_search.retrieval.native import MilvusRRF, NativeResult
from hybrid_search.settings import Settings
from hybrid_search.store.filters import (
    and_expressions,
    compile_filter,
    parse_filter,
    string_list_literal,
    string_literal,
)
from hybrid_search.store.milvus import MilvusStore
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


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


@dataclass
class _Plan:
    routes: list[str]
    depth: dict[str, int]
    expr: str | None
    tenant: str
    top_k: int
    rerank: bool
    rerank_top_n: int
    rerank_timeout_s: float
    options: SearchOptions


class HybridSearcher:
    """In-process search client. `search` for one query, `search_many` for a batch."""

    def __init__(
        self,
        store: MilvusStore,
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
        field_routes = {
            "dense": dense_route(store, collection),
            "sparse": sparse_route(store, collection),
            "bm25": bm25_route(store, collection),
        }
        self._routes: dict[str, Route] = dict(field_routes)
        self._native = MilvusRRF(store, collection, field_routes)
        self._colbert = ColbertRoute(store, collection)
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="route")
        self._rerank_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rerank")
        self._spec: C.CollectionSpec | None = None

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
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._rerank_pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()

    # -- public API -------------------------------------------------------------------------

    def search(self, query: str | SearchRequest, **options: Any) -> SearchResponse:
        """Search one query. Options are SearchOptions fields (top_k, routes, filter, rerank...)."""
        if isinstance(query, SearchRequest):
            request = query
        else:
            request = validated(SearchRequest, {"query": query, **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"query"}))
        return self._run([request.query], opts)[0]

    def search_many(
        self, queries: Sequence[str] | BatchSearchRequest, **options: Any
    ) -> list[SearchResponse]:
        """Search a batch; the queries are encoded in one model call."""
        if isinstance(queries, BatchSearchRequest):
            request = queries
        else:
            request = validated(BatchSearchRequest, {"queries": as_queries(queries), **options})
        opts = SearchOptions.model_validate(request.model_dump(exclude={"queries"}))
        return self._run(request.queries, opts)

    # -- planning ---------------------------------------------------------------------------

    def spec(self) -> C.CollectionSpec:
        if self._spec is None:
            self._spec = self.store.describe(self.collection)
        return self._spec

    def available_routes(self) -> list[str]:
        reps = self.encoder.representations
        spec = self.spec()
        out: list[str] = [r for r in ALL_ROUTES if r == "bm25" or _NEEDS[r] in reps]
        if spec.colbert_dim is None and "colbert" in out:
            out.remove("colbert")
        return out

    def _plan(self, opts: SearchOptions) -> _Plan:
        s = self.settings
        available = self.available_routes()
        routes: list[str] = list(opts.routes) if opts.routes else available
        unavailable = [r for r in routes if r not in available]
        if unavailable:
            raise InvalidRequestError(
                f"routes {unavailable} are not available with encoder '{self.encoder.name}' "
                f"(available: {available})",
                details={"field": "routes", "available": available},
            )
        if routes == ["colbert"] and not self._colbert.can_generate():
            raise InvalidRequestError(
                "route 'colbert' alone needs a collection ingested with colbert_block_tokens=1 "
                "(one row per token, searchable); this one packs token vectors in blocks, so "
                "ColBERT rescores the candidates of at least one other route",
                details={"field": "routes"},
            )
        default_depth = max(s.candidates_per_route, opts.top_k)
        if isinstance(opts.candidates, int):
            depth = dict.fromkeys(routes, opts.candidates)
        else:
            depth = {r: (opts.candidates or {}).get(r, default_depth) for r in routes}  # type: ignore[call-overload]
        tenant = opts.tenant or s.tenant
        user_expr = compile_filter(parse_filter(opts.filter)) if opts.filter else None
        expr = and_expressions(f"{C.TENANT_FIELD} == {string_literal(tenant)}", user_expr)
        return _Plan(
            routes=routes,
            depth=depth,
            expr=expr,
            tenant=tenant,
            top_k=opts.top_k,
            rerank=opts.rerank and self.reranker is not None,
            rerank_top_n=max(opts.rerank_top_n or s.rerank_top_n, 1),
            rerank_timeout_s=(opts.rerank_timeout_ms / 1000.0)
            if opts.rerank_timeout_ms
            else s.rerank_timeout_s,
            options=opts,
        )

    # -- the data path ----------------------------------------------------------------------

    def _run(self, queries: list[str], opts: SearchOptions) -> list[SearchResponse]:
        t0 = time.perf_counter()
        for i, q in enumerate(queries):
            if not q.strip():
                raise InvalidRequestError(
                    "query is empty" if len(queries) == 1 else f"queries[{i}] is empty",
                    details={"field": "query"},
                )
        self.spec()  # CollectionNotFoundError until the collection exists; then cached, no RPC
        plan = self._plan(opts)
        texts, truncated = self._truncate(queries)
        t_enc = time.perf_counter()
        vectors = self._encode(texts, plan.routes)
        encode_ms = _ms(time.perf_counter() - t_enc)
        responses = [
            self._search_one(q, text, vec, trunc, plan)
            for q, text, vec, trunc in zip(queries, texts, vectors, truncated, strict=True)
        ]
        for r in responses:
            r.timings_ms["encode"] = round(encode_ms / len(queries), 3)
            r.timings_ms["total"] = round(r.timings_ms["total"] + r.timings_ms["encode"], 3)
        logger.info("searched %d queries in %.1f ms", len(queries), _ms(time.perf_counter() - t0))
        return responses

    def _truncate(self, queries: list[str]) -> tuple[list[str], list[bool]]:
        """Queries longer than max_query_tokens are cut there, and the response says so."""
        limit = self.settings.max_query_tokens - 2
        tok = self.encoder.tokenizer
        texts, flags = [], []
        for q in queries:
            spans = tok.token_spans(q) if len(q) > limit else []
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

    def _search_one(
        self, original: str, text: str, q: QueryVectors, truncated: bool, plan: _Plan
    ) -> SearchResponse:
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        errors: dict[str, str] = {}
        head_size = max(plan.top_k, plan.rerank_top_n) if plan.rerank else plan.top_k
        ranked: dict[str, list[Candidate]] = {}
        fused_by_milvus = self._fused_by_milvus(q, plan, head_size, timings, errors)
        if fused_by_milvus is not None:
            fusion_name, fused, rows = self._native.name, fused_by_milvus.hits, fused_by_milvus.rows
            answered = fused_by_milvus.answered
            t = time.perf_counter()
        else:
            ranked, rows = self._retrieve(q, plan, timings, errors)
            answered = [r for r in plan.routes if r in ranked]
            t = time.perf_counter()
            fusion = make_fusion(
                plan.options.fusion,
                k=plan.options.rrf_k or self.settings.rrf_k,
                weights=plan.options.weights,
            )
            fusion_name = fusion.name
            fused = fusion.fuse(
                {name: [RouteHit(c.pk, c.score) for c in lst] for name, lst in ranked.items()},
                limit=sum(len(v) for v in ranked.values()) or 1,
            )
        if plan.options.group_by_doc:
            fused = _best_chunk_per_doc(fused, rows)
        timings["fuse"] = _ms(time.perf_counter() - t)
        head = self._with_rows(fused, head_size, rows, timings)

        reasons: list[str] = [f"route {n} failed: {m}" for n, m in errors.items()]
        if truncated:
            reasons.append(f"query truncated to {self.settings.max_query_tokens} tokens")
        degraded = bool(errors)
        rerank_scores: dict[str, float] = {}
        reranked = False
        if plan.rerank and head:
            to_score = head[: plan.rerank_top_n]
            t = time.perf_counter()
            try:
                rerank_scores = self._rerank(text, [rows[h.key] for h in to_score], plan)
                reranked = True
            except RerankDeadlineExceeded:
                degraded = True
                reasons.append(
                    f"rerank deadline of {plan.rerank_timeout_s * 1000:.0f} ms passed; "
                    "fused order kept"
                )
            except HybridSearchError as exc:
                degraded = True
                reasons.append(f"rerank failed ({exc.message}); fused order kept")
            timings["rerank"] = _ms(time.perf_counter() - t)
            if reranked:
                head = sorted(to_score, key=lambda h: -rerank_scores[h.key]) + head[len(to_score) :]
        final = head[: plan.top_k]
        if plan.options.explain and final:
            t = time.perf_counter()
            self._explain(q, final, ranked, rows, plan)
            timings["explain"] = _ms(time.perf_counter() - t)
        hits = [self._hit(h, rows[h.key], rerank_scores.get(h.key)) for h in final]
        timings["total"] = _ms(time.perf_counter() - t_start)
        return SearchResponse(
            query=original,
            hits=hits,
            timings_ms=timings,
            fusion=fusion_name,
            routes=answered,
            route_errors=errors,
            reranked=reranked,
            degraded=degraded,
            reasons=reasons,
            query_truncated=truncated,
        )

    def _fused_by_milvus(
        self,
        q: QueryVectors,
        plan: _Plan,
        head_size: int,
        timings: dict[str, float],
        errors: dict[str, str],
    ) -> NativeResult | None:
        """Routes and RRF in one Milvus `hybrid_search`, where nothing needs per-route detail:
        no explanations, no ColBERT, unweighted RRF over two or more routes. None: take the
        per-route path (also when the call fails, so each route reports its own error)."""
        o = plan.options
        if (
            o.explain
            or o.fusion != "rrf"
            or "colbert" in plan.routes
            or len(plan.routes) < 2
            or any(w != 1.0 for r, w in (o.weights or {}).items() if r in plan.routes)
        ):
            return None
        # grouping needs every candidate's document: keys for all, full rows for the head later
        group = o.group_by_doc
        t = time.perf_counter()
        try:
            result = self._native.search(
                q,
                depth={r: plan.depth[r] for r in plan.routes},
                expr=plan.expr,
                k=o.rrf_k or self.settings.rrf_k,
                limit=sum(plan.depth[r] for r in plan.routes) if group else head_size,
                output_fields=C.KEY_FIELDS if group else C.HIT_FIELDS,
            )
        except CollectionNotFoundError:
            raise
        except StoreError as exc:
            logger.warning("hybrid_search failed, searching route by route: %s", exc)
            return None
        timings["hybrid_search"] = _ms(time.perf_counter() - t)
        errors.update(result.errors)
        return result

    def _retrieve(
        self, q: QueryVectors, plan: _Plan, timings: dict[str, float], errors: dict[str, str]
    ) -> tuple[dict[str, list[Candidate]], dict[str, dict[str, Any]]]:
        """Each route's ranked candidates (Milvus routes in parallel, then ColBERT over their
        heads) and the key fields of every candidate."""
        ranked: dict[str, list[Candidate]] = {}
        rows: dict[str, dict[str, Any]] = {}

        def timed(name: str, fn: Any) -> tuple[list[Candidate] | None, float]:
            t = time.perf_counter()
            try:
                return fn(), time.perf_counter() - t
            except RouteError as exc:
                errors[name] = str(exc)
            except CollectionNotFoundError:
                raise
            except StoreError as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
            return None, time.perf_counter() - t

        futures: dict[str, Future[tuple[list[Candidate] | None, float]]] = {}
        for name in plan.routes:
            if name == "colbert":
                continue
            route = self._routes[name]
            futures[name] = self._pool.submit(
                timed,
                name,
                lambda route=route, name=name: route.search(
                    [q], limit=plan.depth[name], expr=plan.expr
                )[0],
            )
        colbert_gen: Future[tuple[list[Candidate] | None, float]] | None = None
        if "colbert" in plan.routes and (len(plan.routes) == 1 or self._colbert.can_generate()):
            colbert_gen = self._pool.submit(
                timed,
                "colbert",
                lambda: [
                    Candidate(pk, 0.0)
                    for pk in self._colbert.generate(
                        q, limit=plan.depth["colbert"], tenant=plan.tenant
                    )
                ],
            )
        for name, fut in futures.items():
            result, seconds = fut.result()
            timings[name] = _ms(seconds)
            if result is not None:
                ranked[name] = result
                for c in result:
                    rows.setdefault(c.pk, c.row)
        if "colbert" in plan.routes:
            generated, gen_s = colbert_gen.result() if colbert_gen is not None else ([], 0.0)
            t = time.perf_counter()
            if generated is not None or "colbert" not in errors:
                per_route = self.settings.colbert_rescore_per_route
                pool = [c.pk for lst in ranked.values() for c in lst[:per_route]] + [
                    c.pk for c in generated or []
                ]
                result, _score_s = timed(
                    "colbert",
                    lambda: self._colbert.score(
                        q,
                        pool,
                        rows=rows,
                        expr=plan.expr,
                        tenant=plan.tenant,
                        limit=plan.depth["colbert"],
                    ),
                )
                if result is not None:
                    ranked["colbert"] = result
                    errors.pop("colbert", None)
            timings["colbert"] = _ms(gen_s + time.perf_counter() - t)
        return ranked, rows

    def _with_rows(
        self,
        fused: list[FusedHit],
        size: int,
        rows: dict[str, dict[str, Any]],
        timings: dict[str, float],
    ) -> list[FusedHit]:
        """The fused head, its stored fields read in one call where routes shipped keys only.
        A chunk deleted between the search and this read is dropped from the answer."""
        head = fused[:size]
        missing = [h.key for h in head if C.TEXT_FIELD not in rows.get(h.key, {})]
        if not missing:
            return head
        t = time.perf_counter()
        found = self.store.get_rows(self.collection, missing)
        for pk, row in found.items():
            rows[pk] = {**rows.get(pk, {}), **row}
        timings["fetch"] = _ms(time.perf_counter() - t)
        return [h for h in head if C.TEXT_FIELD in rows.get(h.key, {})]

    def _explain(
        self,
        q: QueryVectors,
        hits: list[FusedHit],
        ranked: dict[str, list[Candidate]],
        rows: dict[str, dict[str, Any]],
        plan: _Plan,
    ) -> None:
        """Score returned hits on the routes that did not reach them (rank None), so every hit
        explains itself on every route; fusion has already happened and is not touched."""
        jobs = {}
        for name in ranked:
            missing = [h.key for h in hits if name not in h.routes]
            if not missing:
                continue
            if name == "colbert":
                jobs[name] = self._pool.submit(
                    self._colbert.score,
                    q,
                    missing,
                    rows=rows,
                    expr=plan.expr,
                    tenant=plan.tenant,
                    limit=len(missing),
                )
            else:
                expr = and_expressions(plan.expr, f"{C.PK_FIELD} in {string_list_literal(missing)}")
                jobs[name] = self._pool.submit(
                    self._search_route, self._routes[name], q, len(missing), expr
                )
        for name, fut in jobs.items():
            try:
                found = {c.pk: c.score for c in fut.result()}
            except HybridSearchError as exc:  # an explanation never fails the search
                logger.warning("explaining route %s failed: %s", name, exc)
                continue
            for h in hits:
                if name not in h.routes and h.key in found:
                    h.routes[name] = (None, found[h.key])

    @staticmethod
    def _search_route(
        route: Route, q: QueryVectors, limit: int, expr: str | None
    ) -> list[Candidate]:
        return route.search([q], limit=limit, expr=expr)[0]

    def _rerank(self, query: str, rows: list[dict[str, Any]], plan: _Plan) -> dict[str, float]:
        assert self.reranker is not None
        reranker = self.reranker
        deadline = time.monotonic() + plan.rerank_timeout_s
        passages = [str(r[C.SEARCH_TEXT_FIELD]) for r in rows]
        future = self._rerank_pool.submit(
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
        except RerankDeadlineExceeded:
            raise
        except Exception as exc:  # a reranker bug must not empty the answer
            from hybrid_search.errors import EncoderError

            raise EncoderError(f"{type(exc).__name__}: {exc}") from exc
        return {str(r[C.PK_FIELD]): s for r, s in zip(rows, scores, strict=True)}

    @staticmethod
    def _hit(h: FusedHit, row: dict[str, Any], rerank: float | None) -> SearchHit:
        return SearchHit(
            doc_id=row[C.DOC_ID_FIELD],
            chunk_id=row[C.CHUNK_ID_FIELD],
            chunk_index=int(row[C.CHUNK_INDEX_FIELD]),
            title=row[C.TITLE_FIELD],
            text=row[C.TEXT_FIELD],
            metadata=row.get(C.METADATA_FIELD) or {},
            routes={
                name: RouteScore(rank=rank, score=score) for name, (rank, score) in h.routes.items()
            },
            fused_score=h.score,
            rerank_score=rerank,
        )


def _best_chunk_per_doc(fused: list[FusedHit], rows: dict[str, dict[str, Any]]) -> list[FusedHit]:
    """Fused order is kept; a document appears once, as its best-fused chunk."""
    seen: set[str] = set()
    out = []
    for h in fused:
        doc = rows[h.key][C.DOC_ID_FIELD]
        if doc not in seen:
            seen.add(doc)
            out.append(h)
    return out
