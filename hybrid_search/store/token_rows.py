"""ColBERT token vectors in Milvus: the one module that writes, reads, deletes and searches them.

A storage kind (`CollectionSpec.colbert_storage`, recorded in the collection) is a
`Float32Blocks` or a subclass; `token_rows_packed.token_storage(conn, spec)` picks it. Callers
only ever see float32 `(n_tokens, dim)` matrices: a kind encodes on `write` and decodes on
`fetch` however it stores them. The store keeps token vectors consistent with chunk rows through
`delete` (by an expression over doc_id / tenant / content_hash, which every kind's rows must
carry).

`float32`: a companion collection `C_colbert` with one row per block of
up to `colbert_block` token vectors of a chunk, concatenated into one FLOAT_VECTOR (the last
block zero-padded); blocks cut the row count (Milvus' per-row cost dominates writes). With
`colbert_block=1` the rows are HNSW-indexed, so ColBERT can also generate candidates.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import RouteError
from hybrid_search.store import reads
from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import and_expressions, pks_expr, tenant_expr
from hybrid_search.store.schema import create_indexed
from hybrid_search.store.types import ChunkRow
from hybrid_search.store.writes import delete, upsert_batched
from hybrid_search.version import __version__
from schemas import collection as C
from schemas import descriptions as D


class Float32Blocks:
    """Token vectors as float32, `colbert_block` per row of the companion collection; the
    packed kinds (`token_rows_packed.PackedTextBlocks`) subclass it, so it is the interface."""

    kind = "float32"

    def __init__(self, conn: MilvusConnection, *, tokens_per_query_token: int = 32) -> None:
        self._conn = conn
        self._per_token = tokens_per_query_token

    def collections(self, spec: C.CollectionSpec) -> list[str]:
        return [spec.colbert_collection]

    def exists(self, spec: C.CollectionSpec) -> bool:
        return self._conn.has_collection(spec.colbert_collection)

    def create(self, spec: C.CollectionSpec) -> None:
        assert spec.colbert_dim is not None
        create_token_collection(
            self._conn,
            spec,
            vector_dim=spec.colbert_dim * spec.colbert_block,
            vector_index=spec.colbert_index,
            meta={"storage": self.kind},
        )

    def write(self, spec: C.CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        assert spec.colbert_dim is not None
        upsert_batched(
            self._conn,
            spec.colbert_collection,
            _block_rows(rows, spec.colbert_block),
            4 * spec.colbert_dim * spec.colbert_block,
        )

    def delete(self, spec: C.CollectionSpec, expr: str, what: str) -> None:
        delete(self._conn, spec.colbert_collection, expr, what)

    def fetch(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        """With `token_counts` the block rows' primary keys are known and fetched by key, in
        groups that each fit one query (measured 2x faster than filtering on chunk_pk on Milvus
        Lite); without, by chunk_pk."""
        if not chunk_pks:
            return {}
        block, collection = spec.colbert_block, spec.colbert_collection
        fields = [C.TOKEN_CHUNK_FIELD, C.BLOCK_INDEX_FIELD, C.BLOCK_TOKENS_FIELD, C.COLBERT_FIELD]
        per_chunk: dict[str, list[tuple[int, FloatArray]]] = {}
        self._conn.ensure_loaded(collection)
        for group in _groups(chunk_pks, block, token_counts):
            if token_counts is not None:
                # keys begin with "{tenant}/" (tenants cannot contain "/"), so they confine
                # the read to the tenant already; adding the tenant condition made Milvus Lite
                # scan instead of looking keys up (measured 2.5 s vs 0.3 s for 3k rows)
                prefix = f"{tenant}/" if tenant is not None else ""
                keys = [
                    f"{pk}:{b}"
                    for pk in group
                    if pk.startswith(prefix)
                    for b in range(-(-token_counts.get(pk, 0) // block))
                ]
                rows = reads.query_keys(self._conn, collection, keys, fields) if keys else []
            else:
                expr = and_expressions(tenant_expr(tenant), pks_expr(group, C.TOKEN_CHUNK_FIELD))
                rows = reads.query_all(self._conn, collection, expr or "", fields)
            for row in rows:
                vectors = np.asarray(row[C.COLBERT_FIELD], dtype=np.float32).reshape(block, -1)
                per_chunk.setdefault(row[C.TOKEN_CHUNK_FIELD], []).append(
                    (int(row[C.BLOCK_INDEX_FIELD]), vectors[: int(row[C.BLOCK_TOKENS_FIELD])])
                )
        return {
            pk: np.concatenate([v for _, v in sorted(items, key=lambda t: t[0])])
            for pk, items in per_chunk.items()
        }

    def score(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        from hybrid_search.tokens import maxsim_float32

        return maxsim_float32(query, self.fetch(spec, tenant, chunk_pks, token_counts))

    def search(
        self, spec: C.CollectionSpec, tokens: FloatArray, tenant: str, limit: int
    ) -> list[str]:
        """Chunk pks whose tokens are nearest to the query's tokens, by best token match (ColBERT
        v1's end-to-end retrieval, Khattab & Zaharia, SIGIR 2020)."""
        if spec.colbert_block != 1:
            raise RouteError(
                "colbert: this collection packs token vectors in blocks, so ColBERT can only "
                "rescore other routes' candidates; add another route (or ingest with "
                "colbert_block_tokens=1 for ColBERT candidate generation)"
            )
        k = min(max(self._per_token, limit), QUERY_CAP)
        collection = spec.colbert_collection
        self._conn.ensure_loaded(collection)
        hits = self._conn.call(
            lambda: self._conn.client.search(
                collection,
                data=[v.tolist() for v in tokens],
                anns_field=C.COLBERT_FIELD,
                limit=k,
                filter=tenant_expr(tenant) or "",
                output_fields=[C.TOKEN_CHUNK_FIELD],
                search_params={"metric_type": "IP", "params": {"ef": max(64, k)}},
            ),
            f"search {collection}",
        )
        best: dict[str, float] = {}
        for per_token in hits:
            for h in per_token:
                pk = h["entity"][C.TOKEN_CHUNK_FIELD]
                best[pk] = max(best.get(pk, -1.0), float(h["distance"]))
        return [pk for pk, _ in sorted(best.items(), key=lambda kv: -kv[1])[: limit * 2]]


def _groups(
    chunk_pks: Sequence[str], block: int, token_counts: Mapping[str, int] | None
) -> Iterator[list[str]]:
    """Chunks in groups whose block rows fit one query (unknown counts: one chunk per group)."""
    group: list[str] = []
    budget = 0
    for pk in chunk_pks:
        n = -(-(token_counts or {}).get(pk, QUERY_CAP * block) // block)  # blocks, rounded up
        if group and budget + n > QUERY_CAP:
            yield group
            group, budget = [], 0
        group.append(pk)
        budget += n
    if group:
        yield group


def block_row(r: ChunkRow, b: int, tokens: int) -> dict[str, Any]:
    """The key and bookkeeping fields of block `b` of a chunk's tokens, alike in every kind."""
    return {
        C.TOKEN_PK_FIELD: f"{r.pk}:{b}",
        C.TOKEN_CHUNK_FIELD: r.pk,
        C.DOC_ID_FIELD: r.doc_id,
        C.TENANT_FIELD: r.tenant,
        C.BLOCK_INDEX_FIELD: b,
        C.BLOCK_TOKENS_FIELD: tokens,
        C.CONTENT_HASH_FIELD: r.content_hash,
    }


def _block_rows(rows: Sequence[ChunkRow], block: int) -> Iterator[dict[str, Any]]:
    for r in rows:
        if r.colbert is None:
            continue
        tokens = np.asarray(r.colbert, dtype=np.float32)
        for b, start in enumerate(range(0, len(tokens), block)):
            part = tokens[start : start + block]
            padded = np.zeros((block, tokens.shape[1]), dtype=np.float32)
            padded[: len(part)] = part
            yield {**block_row(r, b, len(part)), C.COLBERT_FIELD: padded.reshape(-1)}


def create_token_collection(
    conn: MilvusConnection,
    spec: C.CollectionSpec,
    *,
    vector_dim: int,
    vector_index: Mapping[str, Any],
    meta: Mapping[str, Any],
    payload: tuple[str, int] | None = None,
) -> None:
    """The companion collection of every token storage kind: the same key and bookkeeping
    fields, so deletes, replaces and recovery treat the kinds alike, plus the kind's own vector
    field and, for packed kinds, a VARCHAR payload (name, max length)."""
    from pymilvus import DataType

    def create() -> None:
        s = conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(
            C.TOKEN_PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=C.MAX_PK_BYTES + 16
        )
        s.add_field(C.TOKEN_CHUNK_FIELD, DataType.VARCHAR, max_length=C.MAX_PK_BYTES)
        s.add_field(C.DOC_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES)
        s.add_field(C.TENANT_FIELD, DataType.VARCHAR, max_length=64, is_partition_key=True)
        s.add_field(C.BLOCK_INDEX_FIELD, DataType.INT64)
        s.add_field(C.BLOCK_TOKENS_FIELD, DataType.INT64)
        s.add_field(C.CONTENT_HASH_FIELD, DataType.VARCHAR, max_length=64)
        if payload is not None:
            s.add_field(payload[0], DataType.VARCHAR, max_length=payload[1])
        s.add_field(C.COLBERT_FIELD, DataType.FLOAT_VECTOR, dim=vector_dim)
        ip = conn.client.prepare_index_params()
        ip.add_index(C.COLBERT_FIELD, **vector_index)
        ip.add_index(C.TOKEN_CHUNK_FIELD, index_type="INVERTED")
        ip.add_index(C.DOC_ID_FIELD, index_type="INVERTED")
        full_meta = {"role": "colbert", "chunks": spec.name, **meta}
        described = (D.colbert_collection(spec, __version__), D.colbert_fields(spec))
        create_indexed(conn, spec.colbert_collection, s, ip, full_meta, described=described)

    conn.call(create, f"create {spec.colbert_collection}")


#: what every storage kind offers (the packed kinds subclass Float32Blocks)
TokenStorage = Float32Blocks
