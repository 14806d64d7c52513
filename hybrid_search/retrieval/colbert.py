"""ColBERT late interaction over the token vectors stored in the companion collection.

Score = MaxSim as `BGEM3FlagModel.colbert_score` computes it: for every query token the best
inner product with any passage token, summed and divided by the number of query tokens. Vectors
are L2-normalised by BGE-M3, so each term is a cosine and the score lies in [-1, 1].

Candidates come from the union of the other routes' candidates (rescoring) and, when the
collection stores one token vector per row (`colbert_block_tokens=1`), from the route's own
generator, which searches the token collection with every query token vector and keeps the
chunks those nearest tokens belong to (ColBERT v1's end-to-end retrieval, Khattab & Zaharia,
SIGIR 2020). With packed blocks (the default) there is no token index to search, so ColBERT
only rescores. Either way candidates are then scored exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.retrieval.base import Candidate, QueryVectors, RouteError
from hybrid_search.store.filters import and_expressions, string_list_literal, string_literal
from hybrid_search.store.milvus import MilvusStore
from schemas import collection as C


def maxsim(query: FloatArray, passage: FloatArray) -> float:
    """colbert_score(q, p) = sum_i max_j <q_i, p_j> / |q|."""
    if len(query) == 0 or len(passage) == 0:
        return 0.0
    return float((query @ passage.T).max(axis=1).sum() / len(query))


class ColbertRoute:
    name = "colbert"

    def __init__(
        self, store: MilvusStore, collection: str, *, tokens_per_query_token: int = 32
    ) -> None:
        self._store = store
        self._collection = collection
        self._token_collection = collection + C.COLBERT_SUFFIX
        self._per_token = tokens_per_query_token

    def can_generate(self) -> bool:
        return self._store.describe(self._collection).colbert_block == 1

    def generate(self, query: QueryVectors, *, limit: int, tenant: str | None) -> list[str]:
        """Chunk pks whose tokens are nearest to the query's tokens, by best token match."""
        if query.colbert is None or len(query.colbert) == 0:
            raise RouteError("colbert: the query has no token vectors")
        if not self.can_generate():
            raise RouteError(
                "colbert: this collection packs token vectors in blocks, so ColBERT can only "
                "rescore other routes' candidates; add another route (or ingest with "
                "colbert_block_tokens=1 for ColBERT candidate generation)"
            )
        k = max(self._per_token, limit)
        hits = self._store.search(
            self._token_collection,
            field=C.COLBERT_FIELD,
            data=[v.tolist() for v in query.colbert],
            limit=min(k, 16_384),
            expr=f"{C.TENANT_FIELD} == {string_literal(tenant)}" if tenant else None,
            output_fields=[C.TOKEN_CHUNK_FIELD],
            params={"metric_type": "IP", "params": {"ef": max(64, k)}},
        )
        best: dict[str, float] = {}
        for per_token in hits:
            for h in per_token:
                pk = h["entity"][C.TOKEN_CHUNK_FIELD]
                best[pk] = max(best.get(pk, -1.0), float(h["distance"]))
        return [pk for pk, _ in sorted(best.items(), key=lambda kv: -kv[1])[: limit * 2]]

    def score(
        self,
        query: QueryVectors,
        candidates: Iterable[str],
        *,
        rows: dict[str, dict[str, object]],
        expr: str | None,
        tenant: str | None,
        limit: int,
    ) -> list[Candidate]:
        """Exact MaxSim over the candidates; fetches missing rows through the full filter."""
        if query.colbert is None or len(query.colbert) == 0:
            raise RouteError("colbert: the query has no token vectors")
        pks = list(dict.fromkeys(candidates))
        missing = [pk for pk in pks if pk not in rows]
        if missing:
            found = self._store.query_all(
                self._collection,
                and_expressions(expr, f"{C.PK_FIELD} in {string_list_literal(missing)}") or "",
                C.KEY_FIELDS,
            )
            for r in found:
                rows[r[C.PK_FIELD]] = r
            pks = [pk for pk in pks if pk in rows]
        counts = {pk: int(rows[pk].get(C.TOKEN_COUNT_FIELD) or 0) for pk in pks}  # type: ignore[call-overload]
        vectors = self._store.fetch_colbert(self._collection, pks, tenant, counts)
        scored = [
            Candidate(pk, maxsim(query.colbert, vectors[pk]), rows[pk])
            for pk in pks
            if pk in vectors
        ]
        scored.sort(key=lambda c: -c.score)
        return scored[:limit]

    def search(
        self, queries: Sequence[QueryVectors], *, limit: int, expr: str | None
    ) -> list[list[Candidate]]:
        """Candidate generation plus exact scoring, for when ColBERT is the only route."""
        return [
            self.score(
                q,
                self.generate(q, limit=limit, tenant=None),
                rows={},
                expr=expr,
                tenant=None,
                limit=limit,
            )
            for q in queries
        ]


def as_array(vectors: Sequence[Sequence[float]]) -> FloatArray:
    return np.asarray(vectors, dtype=np.float32)
