"""Dense, sparse and BM25 routes: one Milvus ANN search over one vector field each.

Routes return keys and scores only (plus what grouping and ColBERT need): stored text for a
hundred candidates per route costs more to ship than the search itself, and only the fused head
is ever shown. The searcher reads full rows for that head in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hybrid_search.retrieval.base import Candidate, QueryVectors, RouteError
from hybrid_search.store.milvus import MilvusStore
from schemas import collection as C


class FieldRoute:
    """A route that is a single `search` on `field` with the query data `pick` extracts.

    Scores are the raw route scores, higher is better: inner product for dense and sparse,
    BM25 for bm25 (Milvus Lite returns BM25 negated as a distance; the sign is undone here).
    """

    def __init__(
        self,
        name: str,
        store: MilvusStore,
        collection: str,
        field: str,
        pick: Callable[[QueryVectors], Any],
        params: Callable[[int], dict[str, Any]],
    ) -> None:
        self.name = name
        self._store, self._collection, self._field = store, collection, field
        self._pick, self._params = pick, params

    def _nothing_to_search(self) -> RouteError:
        return RouteError(f"{self.name}: the query has nothing this route can search")

    def request(self, query: QueryVectors, *, limit: int, expr: str | None) -> Any:
        """This route as one `AnnSearchRequest` of a Milvus `hybrid_search` call."""
        from pymilvus import AnnSearchRequest

        data = self._pick(query)
        if data is None:
            raise self._nothing_to_search()
        return AnnSearchRequest(
            data=[data], anns_field=self._field, param=self._params(limit), limit=limit, expr=expr
        )

    def search(
        self, queries: Sequence[QueryVectors], *, limit: int, expr: str | None
    ) -> list[list[Candidate]]:
        data = [self._pick(q) for q in queries]
        answerable = [i for i, d in enumerate(data) if d is not None]
        out: list[list[Candidate]] = [[] for _ in queries]
        if not answerable:
            raise self._nothing_to_search()
        hits = self._store.search(
            self._collection,
            field=self._field,
            data=[data[i] for i in answerable],
            limit=limit,
            expr=expr,
            output_fields=C.KEY_FIELDS,
            params=self._params(limit),
        )
        for i, per_query in zip(answerable, hits, strict=True):
            out[i] = [
                Candidate(
                    h[C.PK_FIELD],
                    abs(float(h["distance"])) if self.name == "bm25" else float(h["distance"]),
                    dict(h["entity"]),
                )
                for h in per_query
            ]
        return out


def _dense(q: QueryVectors) -> Any:
    return None if q.dense is None else q.dense.tolist()


def _sparse(q: QueryVectors) -> Any:
    return q.sparse or None  # an all-unknown-token query has no lexical weights


def _bm25(q: QueryVectors) -> Any:
    return q.text if q.text.strip() else None


def dense_route(store: MilvusStore, collection: str) -> FieldRoute:
    # ef >= limit is required by HNSW; 64 floor keeps recall high for small k
    return FieldRoute(
        "dense",
        store,
        collection,
        C.DENSE_FIELD,
        _dense,
        lambda k: {"metric_type": "IP", "params": {"ef": max(64, k)}},
    )


def sparse_route(store: MilvusStore, collection: str) -> FieldRoute:
    return FieldRoute(
        "sparse",
        store,
        collection,
        C.SPARSE_FIELD,
        _sparse,
        lambda k: {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
    )


def bm25_route(store: MilvusStore, collection: str) -> FieldRoute:
    return FieldRoute(
        "bm25",
        store,
        collection,
        C.BM25_FIELD,
        _bm25,
        lambda k: {"metric_type": "BM25", "params": {}},
    )
