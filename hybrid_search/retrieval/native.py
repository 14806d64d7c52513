"""Routes and RRF fused inside Milvus: one `hybrid_search` call with `RRFRanker`.

Used when nothing asks for per-route detail (no explanations, no ColBERT, unweighted RRF): Milvus
then runs the route searches and the fusion server-side and ships only the fused head, which is
what a bare pymilvus client would do. The fused scores equal `RRFFusion` on the same route lists
(tests/fusion proves it against Milvus Lite); what is lost is each hit's per-route rank and
score, which is why explanations switch this path off.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybrid_search.fusion.base import FusedHit
from hybrid_search.retrieval.base import QueryVectors, RouteError
from hybrid_search.retrieval.fields import FieldRoute
from hybrid_search.store.milvus import MilvusStore
from schemas import collection as C


@dataclass(slots=True)
class NativeResult:
    hits: list[FusedHit]
    rows: dict[str, dict[str, Any]]
    answered: list[str]
    errors: dict[str, str] = field(default_factory=dict)


class MilvusRRF:
    """The routes in `routes`, fused by Milvus with `RRFRanker(k)`."""

    name = "rrf"

    def __init__(self, store: MilvusStore, collection: str, routes: Mapping[str, FieldRoute]):
        self._store, self._collection, self._routes = store, collection, routes

    def search(
        self,
        query: QueryVectors,
        *,
        depth: Mapping[str, int],
        expr: str | None,
        k: int,
        limit: int,
        output_fields: Sequence[str],
    ) -> NativeResult:
        """Top `limit` fused chunks. A route that cannot take this query (say, no lexical
        weights) is left out and reported, as on the per-route path.

        Raises:
            StoreError: the hybrid_search call failed.
        """
        from pymilvus import RRFRanker

        requests, answered, errors = [], [], {}
        for name, d in depth.items():
            try:
                requests.append(self._routes[name].request(query, limit=d, expr=expr))
                answered.append(name)
            except RouteError as exc:
                errors[name] = str(exc)
        if not requests:
            return NativeResult([], {}, [], errors)
        hits = self._store.hybrid_search(
            self._collection,
            requests,
            RRFRanker(k),
            limit=min(limit, 16_384),
            output_fields=output_fields,
        )[0]
        rows = {str(h[C.PK_FIELD]): {**h["entity"], C.PK_FIELD: str(h[C.PK_FIELD])} for h in hits}
        fused = [FusedHit(str(h[C.PK_FIELD]), float(h["distance"]), {}) for h in hits]
        return NativeResult(fused, rows, answered, errors)
