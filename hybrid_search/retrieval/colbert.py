"""ColBERT late interaction: MaxSim as `BGEM3FlagModel.colbert_score` computes it (per query
token the best inner product with any passage token, averaged over query tokens: in [-1, 1]).
Candidates: the other routes' union (rescoring) and, with `colbert_block_tokens=1`, the store's
token search (ColBERT v1's end-to-end retrieval, Khattab & Zaharia, SIGIR 2020)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hybrid_search.encoders.base import FloatArray
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import Candidate, QueryVectors, RouteError, Scope


def _tokens(query: QueryVectors) -> FloatArray:
    if query.colbert is None or len(query.colbert) == 0:
        raise RouteError("colbert: the query has no token vectors")
    return query.colbert


class ColbertRoute:
    name = "colbert"

    def __init__(self, store: VectorStore, collection: str) -> None:
        self._store = store
        self._collection = collection

    def can_generate(self) -> bool:
        return ops.can_search_tokens(self._store, self._collection)

    def generate(self, query: QueryVectors, *, limit: int, tenant: str) -> list[str]:
        """Chunk pks whose tokens are nearest to the query's tokens, by best token match."""
        return ops.search_tokens(
            self._store, self._collection, _tokens(query), tenant=tenant, limit=limit
        )

    def score(
        self,
        query: QueryVectors,
        candidates: Iterable[str],
        *,
        keys: Mapping[str, Candidate],
        scope: Scope,
        limit: int,
    ) -> list[Candidate]:
        """Exact MaxSim, best first; keys not known yet are read through the scope (its filter)."""
        tokens = _tokens(query)
        pks = list(dict.fromkeys(candidates))
        known = {pk: keys[pk] for pk in pks if pk in keys and keys[pk].token_count is not None}
        missing = [pk for pk in pks if pk not in known]
        if missing:
            known.update(ops.get_keys(self._store, self._collection, scope.only(missing)))
            pks = [pk for pk in pks if pk in known]
        counts = {pk: known[pk].token_count or 0 for pk in pks}
        scores = self._store.score_token_vectors(
            self._collection, scope.tenant, tokens, pks, counts
        )
        scored = [
            Candidate(pk, scores[pk], known[pk].doc_id, known[pk].token_count)
            for pk in pks
            if pk in scores
        ]
        scored.sort(key=lambda c: -c.score)
        return scored[:limit]
