"""The retrieval step of a search: the routes in the store (in parallel), ColBERT over their
heads, or all routes fused inside the store in one call. Routes ship keys and raw scores only
(higher is better): rows are read for the fused head alone, which is all an answer shows."""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import Any

from hybrid_search.errors import CollectionNotFoundError, HybridSearchError, RouteError, StoreError
from hybrid_search.retrieval.colbert import ColbertRoute
from hybrid_search.retrieval.request import SearchState, ms
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import FIELD_ROUTES, Candidate, FieldName

logger = logging.getLogger(__name__)


class Retriever:
    """Runs a plan's routes against one collection; shared by the searcher's requests."""

    def __init__(self, store: VectorStore, collection: str, colbert: ColbertRoute) -> None:
        self._store, self._collection, self._colbert = store, collection, colbert

    def fuse_in_store(self, state: SearchState) -> bool:
        """Routes and RRF in one store call; False (also on failure): go route by route."""
        plan, o = state.plan, state.plan.options
        group = o.group_by_doc  # grouping needs every candidate's document: keys for all
        depth: dict[FieldName, int] = {r: plan.depth[r] for r in FIELD_ROUTES if r in plan.routes}
        try:
            with state.timed("hybrid_search"):
                result = self._store.fused_search(
                    self._collection,
                    state.query,
                    depth,
                    scope=plan.scope,
                    k=plan.rrf_k,
                    limit=sum(depth.values()) if group else plan.head_size,
                    with_rows=not group,
                )
        except CollectionNotFoundError:
            raise
        except StoreError as exc:
            logger.warning("hybrid_search failed, searching route by route: %s", exc)
            del state.timings["hybrid_search"]
            return False
        state.fusion, state.fused, state.answered = "rrf", result.hits, result.answered
        state.keys.update(result.keys)
        state.rows.update(result.rows)
        state.errors.update(result.errors)
        return True

    def retrieve(self, state: SearchState) -> None:
        """Store routes in parallel on the request's lane, then ColBERT over their heads."""
        plan, q, pool = state.plan, state.query, state.lane.routes
        colbert = "colbert" in plan.routes  # its rescoring reads the candidates' token counts
        futures: dict[str, Future[tuple[list[Candidate] | HybridSearchError, float]]] = {}
        for field in FIELD_ROUTES:
            if field in plan.routes:
                futures[field] = pool.submit(
                    _attempt,
                    lambda field=field: self._store.search_field(
                        self._collection,
                        field,
                        [q],
                        scope=plan.scope,
                        limit=plan.depth[field],
                        with_token_counts=colbert,
                    )[0],
                )
        generated: Future[tuple[list[str] | HybridSearchError, float]] | None = None
        if colbert and (len(plan.routes) == 1 or self._colbert.can_generate()):
            generated = pool.submit(
                _attempt,
                lambda: self._colbert.generate(
                    q, limit=plan.depth["colbert"], tenant=plan.scope.tenant
                ),
            )
        for name, fut in futures.items():
            result, seconds = fut.result()
            state.timings[name] = ms(seconds)
            if isinstance(result, HybridSearchError):
                state.errors[name] = result
            else:
                state.add_ranked(name, result)
        if colbert:
            self._rescore_colbert(state, generated)
        state.answered = [r for r in plan.routes if r in state.ranked]

    def _rescore_colbert(
        self,
        state: SearchState,
        generated: Future[tuple[list[str] | HybridSearchError, float]] | None,
    ) -> None:
        plan, q = state.plan, state.query
        pool: list[str] = []
        gen_s = 0.0
        if generated is not None:
            found, gen_s = generated.result()
            if isinstance(found, HybridSearchError):
                state.errors["colbert"] = found
                state.timings["colbert"] = ms(gen_s)
                return
            pool = found
        t = time.perf_counter()
        per_route = plan.colbert_rescore_per_route
        pool = [c.pk for lst in state.ranked.values() for c in lst[:per_route]] + pool
        result, _ = _attempt(
            lambda: self._colbert.score(
                q, pool, keys=state.keys, scope=plan.scope, limit=plan.depth["colbert"]
            )
        )
        if isinstance(result, HybridSearchError):
            state.errors["colbert"] = result
        else:
            state.add_ranked("colbert", result)
        state.timings["colbert"] = ms(gen_s + time.perf_counter() - t)


def _attempt(fn: Any) -> tuple[Any, float]:
    """(result or the error that stops only this route, seconds); a missing collection raises."""
    t = time.perf_counter()
    try:
        return fn(), time.perf_counter() - t
    except CollectionNotFoundError:
        raise
    except HybridSearchError as exc:
        if not isinstance(exc, StoreError | RouteError):
            raise
        return exc, time.perf_counter() - t
