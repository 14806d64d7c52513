"""Compressed ColBERT token storage kinds `binary` and `int8` (`hybrid_search.tokens`).

Milvus Lite has no binary or int8 vector type; a VARCHAR holding the packed bytes as 7-bit ASCII
costs 8/7 of the packed size (the layouts compared: docs/benchmarks.md) and reads back as one
string per row. Each row of the companion collection `C_colbert` holds up to `tokens_per_row`
packed tokens of one chunk, with the float32 layout's key and bookkeeping fields (`block_row`),
so deletes, replaces and crash recovery treat both alike. A 2-dimensional placeholder vector
satisfies Milvus' one-vector-field rule and is never searched: these rows are read by key, so
ColBERT rescores; candidate generation needs `float32` with `colbert_block_tokens=1`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import RouteError, SchemaMismatchError
from hybrid_search.store import reads
from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import and_expressions, pks_expr, tenant_expr
from hybrid_search.store.token_rows import (
    Float32Blocks,
    TokenStorage,
    block_row,
    create_token_collection,
)
from hybrid_search.store.types import ChunkRow
from hybrid_search.store.writes import upsert_batched
from hybrid_search.tokens import (
    PackedTokens,
    StorageKind,
    bytes_per_token,
    decode,
    encode,
    from_text,
    maxsim_by_key,
    text_length,
    to_text,
)
from schemas import collection as C

PAYLOAD_FIELD = "tokens"  # up to tokens_per_row packed tokens as 7-bit ASCII
PLACEHOLDER = [1.0, 0.0]
_FIELDS = [C.TOKEN_CHUNK_FIELD, C.BLOCK_INDEX_FIELD, C.BLOCK_TOKENS_FIELD, PAYLOAD_FIELD]
#: row groups read one after another while the previous group is scored
SCORE_GROUPS = 3
#: VARCHAR bytes a row's payload may use (Milvus' limit is 65,535)
_MAX_TEXT = 65_535


def tokens_per_row(kind: str, dim: int) -> int:
    """Tokens of one chunk per row: as many as fit one VARCHAR (part of the on-disk format)."""
    return max(1, (_MAX_TEXT * 7 // 8) // bytes_per_token(kind, dim))


class PackedTextBlocks(Float32Blocks):
    """Token vectors packed as `kind` (binary or int8), several per VARCHAR row."""

    def __init__(self, conn: MilvusConnection, kind: StorageKind) -> None:
        super().__init__(conn)
        self.kind = kind
        self._kind: StorageKind = kind

    def create(self, spec: C.CollectionSpec) -> None:
        assert spec.colbert_dim is not None
        per_row = tokens_per_row(self.kind, spec.colbert_dim)
        width = text_length(per_row * bytes_per_token(self.kind, spec.colbert_dim))
        create_token_collection(
            self._conn,
            spec,
            vector_dim=len(PLACEHOLDER),
            vector_index=C.COLBERT_BLOCK_INDEX,
            meta={"storage": self.kind, "tokens_per_row": per_row},
            payload=(PAYLOAD_FIELD, width),
        )

    def write(self, spec: C.CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        assert spec.colbert_dim is not None
        per_row = tokens_per_row(self.kind, spec.colbert_dim)
        row_bytes = text_length(per_row * bytes_per_token(self.kind, spec.colbert_dim))
        upsert_batched(self._conn, spec.colbert_collection, self._rows(rows, per_row), row_bytes)

    def _rows(self, rows: Sequence[ChunkRow], per_row: int) -> Iterator[dict[str, Any]]:
        for r in rows:
            if r.colbert is None:
                continue
            packed = encode(np.asarray(r.colbert, dtype=np.float32), self._kind)
            for b, start in enumerate(range(0, len(packed), per_row)):
                part = packed.data[start : start + per_row]
                yield {
                    **block_row(r, b, len(part)),
                    PAYLOAD_FIELD: to_text(part),
                    C.COLBERT_FIELD: PLACEHOLDER,
                }

    def fetch_packed(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None,
    ) -> dict[str, PackedTokens]:
        """Each chunk's tokens in packed form, read by key when the token counts are known
        (by chunk pk otherwise); one string per row, decoded by numpy."""
        if not chunk_pks:
            return {}
        if token_counts is None:
            expr = and_expressions(
                tenant_expr(tenant), pks_expr(list(dict.fromkeys(chunk_pks)), C.TOKEN_CHUNK_FIELD)
            )
            self._conn.ensure_loaded(spec.colbert_collection)
            rows = reads.query_all(self._conn, spec.colbert_collection, expr or "", _FIELDS)
            return self._unpack(spec, rows)
        return self._read_keys(spec, self._row_keys(spec, tenant, chunk_pks, token_counts))

    def _row_keys(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int],
    ) -> list[list[str]]:
        """Per chunk, the keys of its rows (a chunk's tokens fill ceil(count / per row) rows)."""
        assert spec.colbert_dim is not None
        per_row = tokens_per_row(self.kind, spec.colbert_dim)
        prefix = f"{tenant}/" if tenant is not None else ""
        return [
            [f"{pk}:{b}" for b in range(-(-token_counts.get(pk, 0) // per_row))]
            for pk in dict.fromkeys(chunk_pks)
            if pk.startswith(prefix)
        ]

    def _read_keys(self, spec: C.CollectionSpec, keys: list[list[str]]) -> dict[str, PackedTokens]:
        flat = [k for chunk in keys for k in chunk]
        self._conn.ensure_loaded(spec.colbert_collection)
        rows: list[dict[str, Any]] = []
        for start in range(0, len(flat), QUERY_CAP):
            page = flat[start : start + QUERY_CAP]
            rows += reads.query_keys(self._conn, spec.colbert_collection, page, _FIELDS)
        return self._unpack(spec, rows)

    def _unpack(
        self, spec: C.CollectionSpec, rows: list[dict[str, Any]]
    ) -> dict[str, PackedTokens]:
        assert spec.colbert_dim is not None
        dim = spec.colbert_dim
        width = bytes_per_token(self.kind, dim)
        per_chunk: dict[str, list[tuple[int, np.ndarray]]] = {}
        for row in rows:
            n = int(row[C.BLOCK_TOKENS_FIELD])
            data = from_text(row[PAYLOAD_FIELD], n * width).reshape(n, width)
            per_chunk.setdefault(str(row[C.TOKEN_CHUNK_FIELD]), []).append(
                (int(row[C.BLOCK_INDEX_FIELD]), data)
            )
        out: dict[str, PackedTokens] = {}
        for pk, parts in per_chunk.items():
            parts.sort(key=lambda t: t[0])
            data = parts[0][1] if len(parts) == 1 else np.concatenate([p for _, p in parts])
            out[pk] = PackedTokens(self._kind, dim, data)
        return out

    def fetch(
        self,
        spec: C.CollectionSpec,
        tenant: str | None,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        """Decoded as MaxSim sees them: +-1/sqrt(dim) per sign bit, or scale * int8."""
        packed = self.fetch_packed(spec, tenant, chunk_pks, token_counts)
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
            packed = self.fetch_packed(spec, tenant, chunk_pks, None)
            return maxsim_by_key(query, packed)
        groups = _split(self._row_keys(spec, tenant, chunk_pks, token_counts), SCORE_GROUPS)
        out: dict[str, float] = {}
        if not groups:
            return out
        with ThreadPoolExecutor(1, thread_name_prefix="colbert-read") as reader:
            pending = reader.submit(self._read_keys, spec, groups[0])
            for nxt in groups[1:]:
                packed = pending.result()
                pending = reader.submit(self._read_keys, spec, nxt)
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
