"""Reads of the chunks collection: queries by expression, counts, and rows as typed values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import pks_expr
from hybrid_search.store.ops import stored_chunk
from hybrid_search.store.types import StoredChunk
from schemas import collection as C

_PAGE = 4096
_VECTOR_FIELDS = [C.DENSE_FIELD, C.SPARSE_FIELD]


def query_all(
    conn: MilvusConnection, name: str, expr: str, fields: Sequence[str]
) -> list[dict[str, Any]]:
    """All rows matching expr. Milvus caps one query at 16384 rows; beyond that a query
    iterator pages by primary key (Milvus Lite lacks its timestamp call and falls back to a
    slower client-side path, so callers keep their queries under the cap where they can)."""
    conn.ensure_loaded(name)
    out_fields = list(dict.fromkeys([C.PK_FIELD, *fields]))
    total = count(conn, name, expr)
    if total == 0:
        return []
    if total <= QUERY_CAP:
        return list(
            conn.call(
                lambda: conn.client.query(
                    name, filter=expr, output_fields=out_fields, limit=QUERY_CAP
                ),
                f"query {name}",
            )
        )

    def run() -> list[dict[str, Any]]:
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
    conn.ensure_loaded(name)
    where = f"({pks_expr(pks)}) and ({expr})" if expr else pks_expr(pks)
    out_fields = list(dict.fromkeys([C.PK_FIELD, *fields]))
    return list(
        conn.call(
            lambda: conn.client.query(name, filter=where, output_fields=out_fields, limit=len(pks)),
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


def get_rows(
    conn: MilvusConnection,
    name: str,
    pks: Sequence[str],
    *,
    with_vectors: bool = False,
    expr: str = "",
) -> dict[str, StoredChunk]:
    """Rows by key (and `expr`, a further condition they must meet)."""
    rows = query_keys(conn, name, pks, row_fields(with_vectors), expr)
    return {str(r[C.PK_FIELD]): stored_chunk(r) for r in rows}


def row_fields(with_vectors: bool) -> list[str]:
    """The fields a `StoredChunk` is read from (a hit's, plus dense and sparse if asked)."""
    return [*C.HIT_FIELDS, *(_VECTOR_FIELDS if with_vectors else ())]


def key_output(with_token_counts: bool) -> list[str]:
    """What a search returns per hit for `key_fields`: the key, and the token count if asked."""
    return [C.PK_FIELD, C.TOKEN_COUNT_FIELD] if with_token_counts else [C.PK_FIELD]
