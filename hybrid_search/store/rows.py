"""Rows in and out of a collection: queries by expression or key, counts, batched upserts and
deletes, each one call through `MilvusConnection`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from itertools import islice
from typing import Any

from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import pks_expr
from hybrid_search.store.types import ChunkRow
from schemas import collection as C

_PAGE = 4096
#: bytes of vectors per insert call, well under gRPC's 64 MiB message cap
_WRITE_BYTES = 8 * 1024 * 1024
#: rows per insert call: Milvus Lite converts a call's rows in stretches that hold its GIL, and
#: the byte cap alone let 20,000 tiny-model rows go in one call (docs/evaluation.md)
_WRITE_ROWS = 256


def query_all(
    conn: MilvusConnection, name: str, expr: str, fields: Sequence[str]
) -> list[dict[str, Any]]:
    """All rows matching expr. Milvus caps one query at 16384 rows; beyond that a query
    iterator pages by primary key (Milvus Lite lacks its timestamp call and falls back to a
    slower client-side path, so callers keep their queries under the cap where they can)."""
    total = count(conn, name, expr)
    if total <= QUERY_CAP:
        return _query(conn, name, expr, fields, QUERY_CAP) if total else []

    def run() -> list[dict[str, Any]]:
        out_fields = list(dict.fromkeys([C.PK_FIELD, *fields]))
        it = conn.client.query_iterator(
            name, batch_size=_PAGE, filter=expr, output_fields=out_fields
        )
        rows: list[dict[str, Any]] = []
        try:
            while batch := it.next():
                rows.extend(batch)
        finally:
            it.close()
        return rows

    return conn.call(run, f"query iterator {name}")


def query_keys(
    conn: MilvusConnection, name: str, pks: Sequence[str], fields: Sequence[str], expr: str = ""
) -> list[dict[str, Any]]:
    """Rows by primary key in one query (callers ask for a page, far under the cap). Primary
    keys carry the tenant, so callers add no tenant condition: next to `pk in [...]` it made
    Milvus Lite scan instead of looking the keys up."""
    if not pks:
        return []
    where = f"({pks_expr(pks)}) and ({expr})" if expr else pks_expr(pks)
    return _query(conn, name, where, fields, len(pks))


def _query(
    conn: MilvusConnection, name: str, expr: str, fields: Sequence[str], limit: int
) -> list[dict[str, Any]]:
    conn.ensure_loaded(name)
    out_fields = list(dict.fromkeys([C.PK_FIELD, *fields]))
    return list(
        conn.call(
            lambda: conn.client.query(name, filter=expr, output_fields=out_fields, limit=limit),
            f"query {name}",
        )
    )


def count(conn: MilvusConnection, name: str, expr: str = "") -> int:
    conn.ensure_loaded(name)
    rows = conn.call(
        lambda: conn.client.query(name, filter=expr, output_fields=["count(*)"]),
        f"count {name}",
    )
    return int(rows[0]["count(*)"]) if rows else 0


def upsert_batched(
    conn: MilvusConnection, name: str, rows: Iterable[dict[str, Any]], row_bytes: int
) -> None:
    """Upsert in calls of at most _WRITE_ROWS rows and _WRITE_BYTES (`row_bytes`: a row's vector
    bytes)."""
    per_call = max(1, min(_WRITE_ROWS, _WRITE_BYTES // (row_bytes + 256)))
    left = iter(rows)
    while batch := list(islice(left, per_call)):
        conn.call(partial(conn.client.upsert, name, batch), f"upsert {len(batch)} rows into {name}")


def delete(conn: MilvusConnection, name: str, expr: str, what: str) -> None:
    conn.call(lambda: conn.client.delete(name, filter=expr), f"{what} in {name}")


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
