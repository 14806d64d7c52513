"""The reads callers need, written once over the `VectorStore` verbs for every store."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import (
    COUNT,
    Candidate,
    DocState,
    FieldName,
    QueryVectors,
    Scope,
    ScoredRows,
    StoredChunk,
    StoreStats,
    doc_id_of,
)
from schemas import collection as C

_STATE_FIELDS = [C.DOC_ID_FIELD, C.CONTENT_HASH_FIELD, C.CHUNK_COUNT_FIELD]
#: what `get_chunks` returns: a hit's fields plus the completeness fields
_CHUNK_FIELDS = [*C.HIT_FIELDS, C.CHUNK_COUNT_FIELD, C.CONTENT_HASH_FIELD]


def count_chunks(store: VectorStore, name: str, scope: Scope, *, tokens: bool = False) -> int:
    """How many chunks (`tokens`: token vector rows) `scope` holds."""
    return sum(int(r[COUNT]) for r in store.query(name, scope, [COUNT], tokens=tokens))


def doc_states(
    store: VectorStore, name: str, tenant: str, doc_ids: Sequence[str]
) -> dict[str, DocState]:
    states: dict[str, DocState] = {}
    if not doc_ids:
        return states
    for row in store.query(name, Scope(tenant, doc_ids=tuple(doc_ids)), _STATE_FIELDS):
        st = states.setdefault(row[C.DOC_ID_FIELD], DocState())
        st.hashes.add(row[C.CONTENT_HASH_FIELD])
        st.chunk_count = max(st.chunk_count, int(row[C.CHUNK_COUNT_FIELD]))
        st.rows += 1
    return states


def docs_with_token_vectors(
    store: VectorStore, name: str, tenant: str, doc_ids: Sequence[str]
) -> set[str]:
    """The documents among `doc_ids` that have token vectors stored (with or without chunk
    rows: a write cut off before its commit leaves token vectors only)."""
    if not doc_ids:
        return set()
    scope = Scope(tenant, doc_ids=tuple(doc_ids))
    return {str(r[C.DOC_ID_FIELD]) for r in store.query(name, scope, [C.DOC_ID_FIELD], tokens=True)}


def iter_doc_ids(store: VectorStore, name: str, tenant: str) -> Iterator[str]:
    for row in store.query(name, Scope(tenant, first_chunks=True), [C.DOC_ID_FIELD]):
        yield row[C.DOC_ID_FIELD]


def stats(store: VectorStore, name: str, tenant: str | None = None) -> StoreStats:
    """Documents, chunks and token vector rows of one tenant (None: all of them)."""
    scope = Scope(tenant or "")
    has_tokens = bool(store.describe(name).colbert_dim)
    return StoreStats(
        documents=count_chunks(store, name, Scope(scope.tenant, first_chunks=True)),
        chunks=count_chunks(store, name, scope),
        colbert_rows=count_chunks(store, name, scope, tokens=True) if has_tokens else None,
    )


def get_chunks(store: VectorStore, name: str, tenant: str, doc_id: str) -> list[StoredChunk]:
    """A document's chunks in order (without vectors)."""
    rows = store.query(name, Scope(tenant, doc_ids=(doc_id,)), _CHUNK_FIELDS)
    return sorted((stored_chunk(r) for r in rows), key=lambda c: c.chunk_index)


def get_keys(store: VectorStore, name: str, scope: Scope) -> dict[str, Candidate]:
    """The key fields (doc id, token count) of the chunks in `scope` (scored 0)."""
    return {str(r[C.PK_FIELD]): key_fields(r) for r in store.query(name, scope, C.KEY_FIELDS)}


def score_rows(
    store: VectorStore,
    name: str,
    route: FieldName,
    query: QueryVectors,
    scope: Scope,
    *,
    with_vectors: bool = False,
) -> ScoredRows:
    """The chunks `scope.pks` (within `scope`) as `get_rows` reads them, scored on `route` as
    `search_field` scores them: one search restricted to the keys that returns their rows, then
    a read by key of the few it did not reach. Milvus Lite pays ~3 ms per call, so for an
    explained head this halves the calls after fusion."""
    assert scope.pks is not None
    pks = list(dict.fromkeys(scope.pks))
    if not pks:
        return ScoredRows({}, {})
    hits = store.search_field(
        name,
        route,
        [query],
        scope=scope.only(pks),
        limit=len(pks),
        with_token_counts=False,
        with_rows=True,
        with_vectors=with_vectors,
    )[0]
    rows = {h.pk: h.row for h in hits if h.row is not None}
    scores = {h.pk: h.score for h in hits}
    # the rest by key, kept within the scope: pks begin with their tenant (`chunk_pk`)
    rest = [pk for pk in pks if pk not in rows and pk.startswith(f"{scope.tenant}/")]
    if rest:
        rows.update(store.get_rows(name, rest, with_vectors=with_vectors, filter=scope.filter))
    return ScoredRows(rows, scores)


def can_search_tokens(store: VectorStore, name: str) -> bool:
    """Whether the collection's token layout has an index to search (float32, one token a row)."""
    spec = store.describe(name)
    return bool(spec.colbert_dim) and spec.colbert_storage == "float32" and spec.colbert_block == 1


def search_tokens(
    store: VectorStore, name: str, tokens: FloatArray, *, tenant: str, limit: int
) -> list[str]:
    """Chunk pks whose stored token vectors are nearest to `tokens`, best first (a RouteError
    where the token layout has no index to search)."""
    query = QueryVectors("", colbert=tokens)
    hits = store.search_field(name, "colbert", [query], scope=Scope(tenant), limit=limit)[0]
    return [h.pk for h in hits]


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


def stored_chunk(row: dict[str, Any]) -> StoredChunk:
    """A row (any superset of HIT_FIELDS, optionally dense and sparse) as a StoredChunk."""
    dense, sparse = row.get(C.DENSE_FIELD), row.get(C.SPARSE_FIELD)
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
