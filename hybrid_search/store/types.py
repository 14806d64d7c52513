"""The values the store and its callers exchange: typed dataclasses, never backend dicts, and a
`Scope` (tenant plus the typed user filter) that each store compiles or evaluates itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from hybrid_search.encoders.base import FloatArray, SparseVector
from hybrid_search.errors import HybridSearchError
from hybrid_search.errors import RouteError as RouteError
from hybrid_search.fusion.base import FusedHit
from schemas.filters import Filter

#: the `VectorStore.query` field that asks for a count
COUNT = "count(*)"

#: the routes that are one search over one stored field (ColBERT is token vectors, apart)
FieldName = Literal["dense", "sparse", "bm25"]
FIELD_ROUTES: tuple[FieldName, ...] = ("dense", "sparse", "bm25")


@dataclass(slots=True)
class QueryVectors:
    """One query, encoded; a representation the encoder lacks is None."""

    text: str
    dense: FloatArray | None = None
    sparse: SparseVector | None = None
    colbert: FloatArray | None = None


def field_query(route: FieldName, q: QueryVectors) -> FloatArray | SparseVector | str:
    """What `route` searches with for this query; a RouteError when it has nothing (no dense
    vector, no positive lexical weight, blank text)."""
    data: FloatArray | SparseVector | str | None
    if route == "dense":
        data = q.dense
    elif route == "sparse":
        data = q.sparse or None  # an all-unknown-token query has no lexical weights
    else:
        data = q.text if q.text.strip() else None
    if data is None:
        raise RouteError(f"{route}: {_NOTHING[route]}")
    return data


#: why a query has nothing for a route: the encoder's output for it, not a fault
_NOTHING = {
    "dense": "the encoder gives no dense vector",
    "sparse": "the model gives no query token a positive lexical weight, so there is nothing "
    "to match (common with the tiny random models)",
    "bm25": "the query is blank",
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a read or search may look: one tenant (the partition key), optionally narrowed by
    the user's filter and by a set of chunk primary keys."""

    tenant: str
    filter: Filter | None = None
    pks: tuple[str, ...] | None = None
    #: the store's own narrowing (not a user filter: no size limits): these documents only,
    #: and only each document's chunk 0
    doc_ids: tuple[str, ...] | None = None
    first_chunks: bool = False

    def only(self, pks: Sequence[str]) -> Scope:
        return Scope(self.tenant, self.filter, tuple(pks))


@dataclass(slots=True)
class Candidate:
    """A chunk a route returned: its key, raw route score (higher is better), and what grouping
    and ColBERT need (its document, and how many token vectors it stored: None when the search
    was not asked for it, `with_token_counts=False`)."""

    pk: str
    score: float
    doc_id: str = ""
    token_count: int | None = None
    row: StoredChunk | None = None  # when the search was asked for rows (`with_rows`)


@dataclass(slots=True)
class StoredChunk:
    """A chunk as stored, without vectors unless asked for (`with_vectors`)."""

    pk: str
    chunk_id: str
    doc_id: str
    tenant: str
    chunk_index: int
    title: str
    text: str
    search_text: str
    metadata: dict[str, Any]
    token_count: int = 0
    chunk_count: int = 0
    content_hash: str = ""
    dense: FloatArray | None = None
    sparse: SparseVector | None = None


@dataclass(slots=True)
class ScoredRows:
    """Chunks read by key with their score on one route (`ops.score_rows`); a chunk the route
    does not reach (a BM25 query sharing no term) has a row and no score."""

    rows: dict[str, StoredChunk]
    scores: dict[str, float]


@dataclass(slots=True)
class ChunkRow:
    """One encoded chunk, ready to write."""

    tenant: str
    doc_id: str
    chunk_index: int
    chunk_count: int
    title: str
    text: str
    search_text: str
    metadata: dict[str, Any]
    content_hash: str
    dense: FloatArray
    sparse: SparseVector
    colbert: FloatArray | None = None
    token_count: int | None = None  # token vectors stored for the chunk when `colbert` is not here

    @property
    def chunk_id(self) -> str:
        return f"{self.doc_id}#{self.chunk_index}"

    @property
    def pk(self) -> str:
        return chunk_pk(self.tenant, self.doc_id, self.chunk_index)

    @property
    def stored_token_count(self) -> int:
        if self.token_count is not None:
            return self.token_count
        return 0 if self.colbert is None else len(self.colbert)


def chunk_pk(tenant: str, doc_id: str, index: int) -> str:
    """Tenant names cannot contain '/', so the pk is unambiguous and unique across tenants."""
    return f"{tenant}/{doc_id}#{index}"


def doc_id_of(pk: str) -> str:
    """The document of a `chunk_pk`: searches need not ship the doc_id field (on Milvus Lite a
    route's 100 hits cost ~2 ms more per returned field)."""
    _, _, rest = pk.partition("/")
    doc_id, sep, _ = rest.rpartition("#")
    if not sep:
        raise ValueError(f"{pk!r} is not a chunk key (tenant/doc_id#index)")
    return doc_id


@dataclass(slots=True)
class DocState:
    """What the store holds for one document: complete iff one hash and all chunks present."""

    hashes: set[str] = field(default_factory=set)
    chunk_count: int = 0
    rows: int = 0

    def is_complete(self, content_hash: str) -> bool:
        return self.hashes == {content_hash} and self.rows == self.chunk_count


@dataclass(slots=True)
class StoreStats:
    documents: int
    chunks: int
    colbert_rows: int | None = None  # stored rows of ColBERT token vectors (blocks, see tokens)


@dataclass(slots=True)
class Health:
    """What a store is (for logs and /readyz, e.g. "Milvus Lite at ./m.db"), whether it is one
    process only (Milvus Lite: never share it between workers), and a collection's load state."""

    deployment: str
    embedded: bool
    state: str | None = None


class FieldOptions(TypedDict):
    """`VectorStore.search_field`'s options; each hit's token count only `with_token_counts`
    (default on), its row only `with_rows` (`with_vectors` adds dense and sparse)."""

    scope: Scope
    limit: int
    with_token_counts: NotRequired[bool]
    with_rows: NotRequired[bool]
    with_vectors: NotRequired[bool]


class FusedOptions(TypedDict):
    """`VectorStore.fused_search`'s options: scope, RRF's k, the head's length, full rows."""

    scope: Scope
    k: int
    limit: int
    with_rows: bool


@dataclass(slots=True)
class FusedResult:
    """Routes fused inside the store (`VectorStore.fused_search`): the fused head, the key of
    every hit, full rows when asked for, and the routes that took part or could not."""

    hits: list[FusedHit]
    keys: dict[str, Candidate]
    rows: dict[str, StoredChunk]
    answered: list[str]
    errors: dict[str, HybridSearchError] = field(default_factory=dict)
