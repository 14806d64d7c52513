"""Dense, sparse and BM25 routes: one store search over one stored field each.

Routes return keys and scores only (plus what grouping and ColBERT need): stored text for a
hundred candidates per route costs more to ship than the search itself, and only the fused head
is ever shown. The searcher reads full rows for that head in one call.
"""

from __future__ import annotations

from collections.abc import Sequence

from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import FIELD_ROUTES, Candidate, FieldName, QueryVectors, Scope


class FieldRoute:
    """A route that is a single `VectorStore.search_field` on one field. Scores are the raw
    route scores, higher is better: inner product for dense and sparse, BM25 for bm25."""

    def __init__(self, name: FieldName, store: VectorStore, collection: str) -> None:
        self.name: FieldName = name
        self._store, self._collection = store, collection

    def search(
        self,
        queries: Sequence[QueryVectors],
        *,
        limit: int,
        scope: Scope,
        with_token_counts: bool = True,
    ) -> list[list[Candidate]]:
        return self._store.search_field(
            self._collection,
            self.name,
            queries,
            scope=scope,
            limit=limit,
            with_token_counts=with_token_counts,
        )


def field_routes(store: VectorStore, collection: str) -> dict[FieldName, FieldRoute]:
    return {name: FieldRoute(name, store, collection) for name in FIELD_ROUTES}
