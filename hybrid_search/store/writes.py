"""Writes: upserts in size-bounded batches, the crash-safe document commit, deletes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from hybrid_search.store.connection import MilvusConnection
from hybrid_search.store.expressions import docs_expr, stale_expr
from hybrid_search.store.reads import query_all
from hybrid_search.store.types import ChunkRow
from schemas import collection as C


class _TokenDeletes(Protocol):
    """What a write needs of the token storage (`token_rows.TokenStorage`)."""

    def delete(self, spec: C.CollectionSpec, expr: str, what: str) -> None: ...


#: bytes of vectors per insert call, well under gRPC's 64 MiB message cap
_WRITE_BYTES = 8 * 1024 * 1024


def upsert_batched(
    conn: MilvusConnection, name: str, rows: Iterable[dict[str, Any]], row_bytes: int
) -> None:
    """Upsert in calls of at most _WRITE_BYTES (`row_bytes`: a row's vector bytes)."""
    per_call = max(1, _WRITE_BYTES // (row_bytes + 256))
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= per_call:
            _upsert(conn, name, batch)
            batch = []
    if batch:
        _upsert(conn, name, batch)


def _upsert(conn: MilvusConnection, name: str, batch: list[dict[str, Any]]) -> None:
    conn.call(lambda: conn.client.upsert(name, batch), f"upsert {len(batch)} rows into {name}")


def delete(conn: MilvusConnection, name: str, expr: str, what: str) -> None:
    conn.call(lambda: conn.client.delete(name, filter=expr), f"{what} in {name}")


def commit_documents(
    conn: MilvusConnection,
    spec: C.CollectionSpec,
    tokens: _TokenDeletes | None,
    tenant: str,
    rows: Sequence[ChunkRow],
    hashes: Mapping[str, str],
) -> None:
    """Make the documents' new version the only one, crash-safely.

    Order: token vectors were written first (`TokenStorage.write`) -> drop token vectors of
    other versions -> chunk rows -> drop chunk rows of other versions. A document counts as
    stored only when all `chunk_count` chunk rows carry its new hash, which implies its token
    vectors were written and old ones dropped; a crash anywhere leaves it incomplete or mixed,
    and the next run redoes it (DocState.is_complete).
    """
    if not hashes:
        return
    stale = stale_expr(tenant, dict(hashes))
    if tokens is not None:
        tokens.delete(spec, stale, "delete stale tokens")
    upsert_batched(conn, spec.name, (chunk_row(r) for r in rows), 4 * spec.dense_dim)
    delete(conn, spec.name, stale, "delete stale chunks")


def delete_documents(
    conn: MilvusConnection,
    name: str,
    tokens: _TokenDeletes | None,
    spec: C.CollectionSpec | None,
    tenant: str,
    doc_ids: Sequence[str],
) -> int:
    """Chunks first (the document leaves search at once), then token vectors; idempotent."""
    if not doc_ids:
        return 0
    expr = docs_expr(tenant, doc_ids)
    present = {r[C.DOC_ID_FIELD] for r in query_all(conn, name, expr, [C.DOC_ID_FIELD])}
    delete(conn, name, expr, "delete documents")
    if tokens is not None and spec is not None:
        tokens.delete(spec, expr, "delete documents")
    return len(present)


def chunk_row(r: ChunkRow) -> dict[str, Any]:
    return {
        C.PK_FIELD: r.pk,
        C.CHUNK_ID_FIELD: r.chunk_id,
        C.DOC_ID_FIELD: r.doc_id,
        C.TENANT_FIELD: r.tenant,
        C.CHUNK_INDEX_FIELD: r.chunk_index,
        C.CHUNK_COUNT_FIELD: r.chunk_count,
        C.TITLE_FIELD: r.title,
        C.TEXT_FIELD: r.text,
        C.SEARCH_TEXT_FIELD: r.search_text,
        C.METADATA_FIELD: r.metadata,
        C.CONTENT_HASH_FIELD: r.content_hash,
        C.TOKEN_COUNT_FIELD: r.stored_token_count,
        C.DENSE_FIELD: r.dense,
        C.SPARSE_FIELD: r.sparse or C.EMPTY_SPARSE_ROW,
    }
