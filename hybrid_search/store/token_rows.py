"""ColBERT token vectors in Milvus: the one module that writes, reads, deletes and searches them.

Every storage kind (`CollectionSpec.colbert_storage`) keeps a chunk's tokens, several per row, in
a companion collection `C_colbert` with the same key and bookkeeping fields, so deletes, replaces
and crash recovery treat the kinds alike. `float32` rows are zero-padded blocks of one vector
(with one token per block, HNSW-indexed for candidate generation); `binary` and `int8`, which
Milvus Lite cannot store as vectors, are 7-bit ASCII VARCHARs (8/7 of the packed size,
docs/benchmarks.md) beside a never-searched placeholder vector, and only rescore.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import RouteError, SchemaMismatchError
from hybrid_search.store import rows as R
from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import and_expressions, pks_expr, tenant_expr
from hybrid_search.store.schema import create_indexed, tenant_field
from hybrid_search.store.schema import vector_index as schema_vector_index
from hybrid_search.store.types import ChunkRow
from hybrid_search.tokens import (
    PackedTokens,
    StorageKind,
    bytes_per_token,
    decode,
    encode,
    from_text,
    maxsim_by_key,
    maxsim_float32,
    text_length,
    to_text,
)
from hybrid_search.version import __version__
from schemas import collection as C
from schemas import descriptions as D

PAYLOAD_FIELD = "tokens"  # up to tokens_per_row packed tokens as 7-bit ASCII
PLACEHOLDER = [1.0, 0.0]
#: row groups read one after another while the previous group is scored
SCORE_GROUPS = 3
#: VARCHAR bytes a row's payload may use (Milvus' limit is 65,535)
_MAX_TEXT = 65_535
_BOOKKEEPING = (C.TOKEN_CHUNK_FIELD, C.BLOCK_INDEX_FIELD, C.BLOCK_TOKENS_FIELD)


def tokens_per_row(kind: str, dim: int) -> int:
    """Tokens of one chunk per row: as many as fit one VARCHAR (part of the on-disk format)."""
    return max(1, (_MAX_TEXT * 7 // 8) // bytes_per_token(kind, dim))


class Float32Blocks:
    """Token vectors as float32, `colbert_block` per row; `PackedTextBlocks` subclasses it, so
    it is the interface of every kind."""

    kind: StorageKind = "float32"
    _fields: tuple[str, ...] = (*_BOOKKEEPING, C.COLBERT_FIELD)

    def __init__(self, conn: MilvusConnection, *, tokens_per_query_token: int = 32) -> None:
        self._conn = conn
        self._per_token = tokens_per_query_token

    def per_row(self, spec: C.CollectionSpec) -> int:
        return spec.colbert_block

    def collections(self, spec: C.CollectionSpec) -> list[str]:
        return [spec.colbert_collection]

    def exists(self, spec: C.CollectionSpec) -> bool:
        return self._conn.has_collection(spec.colbert_collection)

    def create(self, spec: C.CollectionSpec) -> None:
        assert spec.colbert_dim is not None
        dim = spec.colbert_dim * spec.colbert_block
        _create_collection(self._conn, spec, dim, spec.colbert_index, {"storage": self.kind})

    def write(self, spec: C.CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        assert spec.colbert_dim is not None
        block, name = spec.colbert_block, spec.colbert_collection
        found = (
            (r, np.asarray(r.colbert, dtype=np.float32)) for r in rows if r.colbert is not None
        )
        out = (
            {**block_row(r, b, len(part)), C.COLBERT_FIELD: _padded(part, block)}
            for r, tokens in found
            for b, part in enumerate(_parts(tokens, block))
        )
        R.upsert_batched(self._conn, name, out, 4 * spec.colbert_dim * block)

    def delete(self, spec: C.CollectionSpec, expr: str, what: str) -> None:
        R.delete(self._conn, spec.colbert_collection, expr, what)

    def fetch(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        return self._by_chunk(spec, self._read(spec, tenant, chunk_pks, token_counts))

    def score(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
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
                search_params={"metric_type": "IP", "params": C.ann_params(k)},
            ),
            f"search {collection}",
        )
        best: dict[str, float] = {}
        for per_token in hits:
            for h in per_token:
                pk = h["entity"][C.TOKEN_CHUNK_FIELD]
                best[pk] = max(best.get(pk, -1.0), float(h["distance"]))
        return [pk for pk, _ in sorted(best.items(), key=lambda kv: -kv[1])[: limit * 2]]

    def _read(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None,
    ) -> list[dict[str, Any]]:
        """The chunks' rows, by key when the token counts are known (measured 2x faster than
        filtering on chunk_pk on Milvus Lite), by chunk_pk otherwise."""
        if not chunk_pks:
            return []
        if token_counts is not None:
            keys = self._row_keys(spec, tenant, chunk_pks, token_counts)
            return self._read_keys(spec, keys)
        chunks = pks_expr(list(dict.fromkeys(chunk_pks)), C.TOKEN_CHUNK_FIELD)
        expr = and_expressions(tenant_expr(tenant), chunks) or ""
        return R.query_all(self._conn, spec.colbert_collection, expr, self._fields)

    def _row_keys(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int],
    ) -> list[list[str]]:
        """Per chunk, the keys of its rows (ceil(count / per row) of them). Keys begin with
        "{tenant}/", so they confine the read to the tenant: a tenant condition next to them
        made Milvus Lite scan instead of looking keys up (2.5 s vs 0.3 s for 3k rows)."""
        per_row = self.per_row(spec)
        prefix = f"{tenant}/" if tenant is not None else ""
        return [
            [f"{pk}:{b}" for b in range(-(-token_counts.get(pk, 0) // per_row))]
            for pk in dict.fromkeys(chunk_pks)
            if pk.startswith(prefix)
        ]

    def _read_keys(self, spec: C.CollectionSpec, keys: list[list[str]]) -> list[dict[str, Any]]:
        flat = [k for chunk in keys for k in chunk]
        name = spec.colbert_collection
        return [
            row
            for start in range(0, len(flat), QUERY_CAP)
            for row in R.query_keys(self._conn, name, flat[start : start + QUERY_CAP], self._fields)
        ]

    def _tokens(self, spec: C.CollectionSpec, row: dict[str, Any]) -> np.ndarray:
        """One row's tokens as stored (float32 here, packed bytes in the packed kinds)."""
        vectors = np.asarray(row[C.COLBERT_FIELD], dtype=np.float32)
        return vectors.reshape(spec.colbert_block, -1)[: int(row[C.BLOCK_TOKENS_FIELD])]

    def _by_chunk(self, spec: C.CollectionSpec, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Each chunk's rows' tokens, joined in block order."""
        parts: dict[str, list[tuple[int, np.ndarray]]] = {}
        for row in rows:
            parts.setdefault(str(row[C.TOKEN_CHUNK_FIELD]), []).append(
                (int(row[C.BLOCK_INDEX_FIELD]), self._tokens(spec, row))
            )
        for found in parts.values():
            found.sort(key=lambda t: t[0])
        return {
            pk: p[0][1] if len(p) == 1 else np.concatenate([a for _, a in p])
            for pk, p in parts.items()
        }


class PackedTextBlocks(Float32Blocks):
    """Token vectors packed as `kind` (binary or int8), `tokens_per_row` per VARCHAR row."""

    _fields: tuple[str, ...] = (*_BOOKKEEPING, PAYLOAD_FIELD)

    def __init__(self, conn: MilvusConnection, kind: StorageKind) -> None:
        super().__init__(conn)
        self.kind = kind

    def per_row(self, spec: C.CollectionSpec) -> int:
        assert spec.colbert_dim is not None
        return tokens_per_row(self.kind, spec.colbert_dim)

    def _width(self, spec: C.CollectionSpec) -> int:
        """Payload characters of a full row."""
        assert spec.colbert_dim is not None
        return text_length(self.per_row(spec) * bytes_per_token(self.kind, spec.colbert_dim))

    def create(self, spec: C.CollectionSpec) -> None:
        meta = {"storage": self.kind, "tokens_per_row": self.per_row(spec)}
        payload = (PAYLOAD_FIELD, self._width(spec))
        index = C.COLBERT_BLOCK_INDEX
        _create_collection(self._conn, spec, len(PLACEHOLDER), index, meta, payload)

    def write(self, spec: C.CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        per_row = self.per_row(spec)
        found = (
            (r, encode(np.asarray(r.colbert, dtype=np.float32), self.kind))
            for r in rows
            if r.colbert is not None
        )
        out = (
            {
                **block_row(r, b, len(part)),
                PAYLOAD_FIELD: to_text(part),
                C.COLBERT_FIELD: PLACEHOLDER,
            }
            for r, packed in found
            for b, part in enumerate(_parts(packed.data, per_row))
        )
        R.upsert_batched(self._conn, spec.colbert_collection, out, self._width(spec))

    def fetch(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        """Decoded as MaxSim sees them: +-1/sqrt(dim) per sign bit, or scale * int8."""
        packed = self._packed(spec, self._read(spec, tenant, chunk_pks, token_counts))
        return {pk: decode(p) for pk, p in packed.items()}

    def score(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        """MaxSim on the packed tokens. With known token counts the rows are read in a few
        groups, the next group's read overlapping this group's MaxSim: reading (Milvus, gRPC,
        text decode) and the products take similar time, and each can have a core."""
        if token_counts is None:
            return maxsim_by_key(
                query, self._packed(spec, self._read(spec, tenant, chunk_pks, None))
            )

        def read(keys: list[list[str]]) -> dict[str, PackedTokens]:
            return self._packed(spec, self._read_keys(spec, keys))

        groups = _split(self._row_keys(spec, tenant, chunk_pks, token_counts), SCORE_GROUPS)
        out: dict[str, float] = {}
        if not groups:
            return out
        with ThreadPoolExecutor(1, thread_name_prefix="colbert-read") as reader:
            pending = reader.submit(read, groups[0])
            for nxt in groups[1:]:
                packed = pending.result()
                pending = reader.submit(read, nxt)
                out.update(maxsim_by_key(query, packed))
            out.update(maxsim_by_key(query, pending.result()))
        return out

    def search(
        self, spec: C.CollectionSpec, tokens: FloatArray, tenant: str, limit: int
    ) -> list[str]:
        raise RouteError(
            f"colbert: collection '{spec.name}' stores {self.kind} token vectors, which ColBERT "
            "can only use to rescore other routes' candidates; add another route (or ingest "
            "with colbert_storage=float32 and colbert_block_tokens=1 for ColBERT candidate "
            "generation)"
        )

    def _tokens(self, spec: C.CollectionSpec, row: dict[str, Any]) -> np.ndarray:
        assert spec.colbert_dim is not None
        n, width = int(row[C.BLOCK_TOKENS_FIELD]), bytes_per_token(self.kind, spec.colbert_dim)
        return from_text(row[PAYLOAD_FIELD], n * width).reshape(n, width)

    def _packed(
        self, spec: C.CollectionSpec, rows: list[dict[str, Any]]
    ) -> dict[str, PackedTokens]:
        assert spec.colbert_dim is not None
        dim = spec.colbert_dim
        return {
            pk: PackedTokens(self.kind, dim, data)
            for pk, data in self._by_chunk(spec, rows).items()
        }


def _parts(tokens: np.ndarray, per_row: int) -> list[np.ndarray]:
    return [tokens[start : start + per_row] for start in range(0, len(tokens), per_row)]


def _padded(part: np.ndarray, block: int) -> np.ndarray:
    padded = np.zeros((block, part.shape[1]), dtype=np.float32)
    padded[: len(part)] = part
    return padded.reshape(-1)


def _split(keys: list[list[str]], parts: int) -> list[list[list[str]]]:
    """Chunks' key lists in up to `parts` groups of about equal row counts (a chunk whole)."""
    total = sum(len(k) for k in keys)
    if not total:
        return []
    size = -(-total // parts)
    groups: list[list[list[str]]] = [[]]
    rows = 0
    for chunk in keys:
        if rows >= size:
            groups.append([])
            rows = 0
        groups[-1].append(chunk)
        rows += len(chunk)
    return groups


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


def _create_collection(
    conn: MilvusConnection,
    spec: C.CollectionSpec,
    vector_dim: int,
    vector_index: Mapping[str, Any],
    meta: Mapping[str, Any],
    payload: tuple[str, int] | None = None,
) -> None:
    """The companion collection of every kind: the key and bookkeeping fields, the kind's
    vector field and, for packed kinds, a VARCHAR payload (name, max length)."""
    from pymilvus import DataType

    def create() -> None:
        s = conn.client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field(
            C.TOKEN_PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=C.MAX_PK_BYTES + 16
        )
        s.add_field(C.TOKEN_CHUNK_FIELD, DataType.VARCHAR, max_length=C.MAX_PK_BYTES)
        s.add_field(C.DOC_ID_FIELD, DataType.VARCHAR, max_length=C.MAX_ID_BYTES)
        ip = conn.client.prepare_index_params()
        tenant_field(conn, s, ip)
        s.add_field(C.BLOCK_INDEX_FIELD, DataType.INT64)
        s.add_field(C.BLOCK_TOKENS_FIELD, DataType.INT64)
        s.add_field(C.CONTENT_HASH_FIELD, DataType.VARCHAR, max_length=64)
        if payload is not None:
            s.add_field(payload[0], DataType.VARCHAR, max_length=payload[1])
        s.add_field(C.COLBERT_FIELD, DataType.FLOAT_VECTOR, dim=vector_dim)
        ip.add_index(C.COLBERT_FIELD, **schema_vector_index(conn, dict(vector_index)))
        ip.add_index(C.TOKEN_CHUNK_FIELD, index_type="INVERTED")
        ip.add_index(C.DOC_ID_FIELD, index_type="INVERTED")
        full_meta = {"role": "colbert", "chunks": spec.name, **meta}
        described = (D.colbert_collection(spec, __version__), D.colbert_fields(spec))
        create_indexed(conn, spec.colbert_collection, s, ip, full_meta, described)

    conn.call(create, f"create {spec.colbert_collection}")


#: what every storage kind offers (the packed kinds subclass Float32Blocks)
TokenStorage = Float32Blocks

#: storage kind -> its implementation; a new kind registers here and records its name in
#: `CollectionSpec.colbert_storage`
TOKEN_STORAGES: dict[str, Callable[[MilvusConnection], TokenStorage]] = {
    "float32": Float32Blocks,
    "binary": lambda conn: PackedTextBlocks(conn, "binary"),
    "int8": lambda conn: PackedTextBlocks(conn, "int8"),
}


def token_storage(conn: MilvusConnection, spec: C.CollectionSpec) -> TokenStorage | None:
    """The collection's token storage; None when it stores no token vectors."""
    if not spec.colbert_dim:
        return None
    kind = TOKEN_STORAGES.get(spec.colbert_storage)
    if kind is None:
        raise SchemaMismatchError(
            f"collection '{spec.name}' stores ColBERT vectors as '{spec.colbert_storage}', "
            f"which this version cannot read (known: {sorted(TOKEN_STORAGES)}); drop it "
            f"(`hybrid-search drop {spec.name}`) and re-ingest",
            details={"collection": spec.name, "colbert_storage": spec.colbert_storage},
        )
    return kind(conn)
