"""Explanations: each returned hit scored on every answered route, also beyond a route's depth
(rank None), after fusion. Dense and sparse come from the head's stored vectors, ColBERT from one
fetch of its token vectors, BM25 from the head's read (it needs corpus statistics); each equals
the store search's score for that chunk (`tests/test_searcher.py`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, cast

import numpy as np

from hybrid_search.errors import HybridSearchError
from hybrid_search.fusion.base import FusedHit
from hybrid_search.retrieval.request import SearchState
from hybrid_search.store.ops import score_rows
from hybrid_search.store.types import Candidate, FieldName, QueryVectors, Scope, StoredChunk

if TYPE_CHECKING:
    from hybrid_search.retrieval.engine import Engine

logger = logging.getLogger(__name__)

#: routes scored from the head's stored vectors (the rest ask the store)
LOCAL_ROUTES = ("dense", "sparse")
#: the route the head's read scores as it reads (`store.ops.score_rows`)
READ_ROUTE: FieldName = "bm25"


def local_score(route: str, q: QueryVectors, row: StoredChunk) -> float | None:
    """The route's score for a stored chunk, or None when the row lacks what it needs or the
    store's search would not return the chunk (a sparse vector sharing no term)."""
    if route == "dense" and q.dense is not None and row.dense is not None:
        return float(np.dot(q.dense, row.dense))
    if route == "sparse" and q.sparse and row.sparse is not None:
        stored = row.sparse
        score = sum(w * stored.get(t, 0.0) for t, w in q.sparse.items())
        return float(score) if score > 0 else None
    return None


@dataclass
class Explanation:
    """Store scores asked for early (`start`) or by the head's read; `finish` adds local ones."""

    jobs: dict[str, Future[list[Candidate]]] = field(default_factory=dict)
    #: the route `read_rows` scores (its hits' rows are all still to be read), if any
    read_route: FieldName | None = None
    read_scores: dict[str, float] | None = None


def start(e: Engine, state: SearchState, head: list[FusedHit]) -> Explanation:
    """Ask the store in the background for the head's scores that cannot be computed locally
    (ColBERT; BM25 unless the head's read scores it), so they overlap the row read."""
    q, scope, pool = state.query, state.plan.scope, state.lane.routes
    out = Explanation()
    for route in state.ranked:
        missing = unreached(state, head, route)
        if not missing or route in LOCAL_ROUTES:
            continue
        if route == READ_ROUTE and not any(pk in state.rows for pk in missing):
            out.read_route = READ_ROUTE
        elif route == "colbert":
            out.jobs[route] = pool.submit(
                e.colbert.score, q, missing, keys=state.keys, scope=scope, limit=len(missing)
            )
        else:
            out.jobs[route] = pool.submit(_store_scores, e, route, q, scope.only(missing))
    return out


def read_rows(
    e: Engine, state: SearchState, started: Explanation, pks: list[str], with_vectors: bool
) -> dict[str, StoredChunk] | None:
    """The head's rows scored on `started.read_route`; None: read them plainly."""
    route = started.read_route
    if route is None:
        return None
    scope = state.plan.scope.only(pks)
    try:
        read = score_rows(
            e.store, e.collection, route, state.query, scope, with_vectors=with_vectors
        )
    except HybridSearchError as exc:  # an explanation never fails the search
        logger.warning("explaining route %s failed: %s", route, exc)
        return None
    started.read_scores = read.scores
    return read.rows


def finish(e: Engine, state: SearchState, hits: list[FusedHit], started: Explanation) -> None:
    """Fill `hits[i].routes[route] = (None, score)` for every answered route that lacks it."""
    q, scope = state.query, state.plan.scope
    found: dict[str, dict[str, float]] = {}
    for route in LOCAL_ROUTES:
        missing = unreached(state, hits, route)
        if not missing:
            continue
        if all(_has_vector(route, state.rows.get(pk)) for pk in missing):
            local = {pk: local_score(route, q, state.rows[pk]) for pk in missing}
            found[route] = {pk: s for pk, s in local.items() if s is not None}
        else:  # a store that returned no vectors: ask its search
            found[route] = _scores(route, partial(_store_scores, e, route, q, scope.only(missing)))
    for route, fut in started.jobs.items():
        found[route] = _scores(route, fut.result)
    if started.read_route is not None and started.read_scores is not None:
        found[started.read_route] = started.read_scores
    for route, scores in found.items():
        for h in hits:
            if route not in h.routes and h.key in scores:
                h.routes[route] = (None, scores[h.key])


def unreached(state: SearchState, hits: list[FusedHit], route: str) -> list[str]:
    """The hits an answered route did not reach."""
    return [h.key for h in hits if route not in h.routes] if route in state.ranked else []


def needs_vectors(state: SearchState, head: list[FusedHit]) -> bool:
    """Whether a head hit is to be scored locally, so its read must bring the stored vectors."""
    return any(unreached(state, head, route) for route in LOCAL_ROUTES)


def _scores(route: str, get: Callable[[], list[Candidate]]) -> dict[str, float]:
    try:
        return {c.pk: c.score for c in get()}
    except HybridSearchError as exc:  # an explanation never fails the search
        logger.warning("explaining route %s failed: %s", route, exc)
        return {}


def _store_scores(e: Engine, route: str, q: QueryVectors, scope: Scope) -> list[Candidate]:
    assert scope.pks is not None
    field = cast(FieldName, route)
    return e.store.search_field(
        e.collection, field, [q], scope=scope, limit=len(scope.pks), with_token_counts=False
    )[0]


def _has_vector(route: str, row: StoredChunk | None) -> bool:
    return row is not None and (row.dense if route == "dense" else row.sparse) is not None
