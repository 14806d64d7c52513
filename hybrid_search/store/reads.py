"""Reads of the chunks collection: queries by expression, counts, and rows as typed values."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from hybrid_search.store.connection import QUERY_CAP, MilvusConnection
from hybrid_search.store.expressions import docs_expr, first_chunks_expr, pks_expr
from hybrid_search.store.types import Candidate, DocState, StoredChunk, doc_id_of
from schemas import collection as C

_PAGE = 4096
#: what `get_chunks` returns: a hit's fields plus the completeness fields
_CHUNK_FIELDS = [*C.HIT_FIELDS, C.CHUNK_COUNT_FIELD, C.CONTENT_HASH_FIELD]
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


def doc_states(
    conn: MilvusConnection, name: str, tenant: str, doc_ids: Sequence[str]
) -> dict[str, DocState]:
    states: dict[str, DocState] = {}
    if not doc_ids:
        return states
    fields = [C.DOC_ID_FIELD, C.CONTENT_HASH_FIELD, C.CHUNK_COUNT_FIELD]
    for row in query_all(conn, name, docs_expr(tenant, doc_ids), fields):
        st = states.setdefault(row[C.DOC_ID_FIELD], DocState())
        st.hashes.add(row[C.CONTENT_HASH_FIELD])
        st.chunk_count = max(st.chunk_count, int(row[C.CHUNK_COUNT_FIELD]))
        st.rows += 1
    return states


def iter_doc_ids(conn: MilvusConnection, name: str, tenant: str) -> Iterator[str]:
    for row in query_all(conn, name, first_chunks_expr(tenant), [C.DOC_ID_FIELD]):
        yield row[C.DOC_ID_FIELD]


def get_chunks(conn: MilvusConnection, name: str, tenant: str, doc_id: str) -> list[StoredChunk]:
    rows = query_all(conn, name, docs_expr(tenant, [doc_id]), _CHUNK_FIELDS)
    return sorted((stored_chunk(r) for r in rows), key=lambda c: c.chunk_index)


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


def key_fields(row: dict[str, Any], score: float = 0.0) -> Candidate:
    """A row's key as a Candidate; the document comes from the key when the row lacks it."""
    pk = str(row[C.PK_FIELD])
    count = row.get(C.TOKEN_COUNT_FIELD)
    return Candidate(
        pk,
        score,
        str(row.get(C.DOC_ID_FIELD) or doc_id_of(pk)),
        None if count is None else int(count),
    )


def key_output(with_token_counts: bool) -> list[str]:
    """What a search returns per hit for `key_fields`: the key, and the token count if asked."""
    return [C.PK_FIELD, C.TOKEN_COUNT_FIELD] if with_token_counts else [C.PK_FIELD]


def stored_chunk(row: dict[str, Any]) -> StoredChunk:
    """A Milvus row (any superset of HIT_FIELDS) as a StoredChunk."""
    dense = row.get(C.DENSE_FIELD)
    sparse = row.get(C.SPARSE_FIELD)
    return StoredChunk(
        pk=str(row[C.PK_FIELD]),
        chunk_id=str(row[C.CHUNK_ID_FIELD]),
        doc_id=str(row[C.DOC_ID_FIELD]),
        tenant=str(row[C.TENANT_FIELD]),
        chunk_index=int(row[C.CHUNK_INDEX_FIELD]),
        title=str(row[C.TITLE_FIELD]),
        text=str(row[C.TEXT_FIELD]),
        search_text=str(row[C.SEARCH_TEXT_FIELD]),
        metadata=dict(row.get(C.METADATA_FIELD) or {}),
        token_count=int(row.get(C.TOKEN_COUNT_FIELD) or 0),
        chunk_count=int(row.get(C.CHUNK_COUNT_FIELD) or 0),
        content_hash=str(row.get(C.CONTENT_HASH_FIELD) or ""),
        dense=None if dense is None else np.asarray(dense, dtype=np.float32),
        sparse=None if sparse is None else {int(k): float(v) for k, v in sparse.items()},
    )
