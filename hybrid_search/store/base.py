"""The VectorStore protocol: the few general verbs, modelled on pymilvus' `MilvusClient`, that
ingest, search and the service build on (the reads they need are functions over them in `ops`).
Calls name a collection and a `Scope` and answer with `types` values, so nothing outside `store/`
speaks a backend's language; the tests prove a numpy twin ranks alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, Unpack

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import CollectionNotFoundError
from hybrid_search.retry import RetryCounter
from hybrid_search.store.types import (
    Candidate,
    ChunkRow,
    FieldName,
    FieldOptions,
    FusedOptions,
    FusedResult,
    Health,
    QueryVectors,
    Scope,
    StoredChunk,
)
from schemas.collection import CollectionSpec
from schemas.filters import Filter


class VectorStore(Protocol):
    """Where chunks and their vectors live. Every read and write names its tenant; every
    failure leaves as a `StoreError` (transient ones as `StoreUnavailableError`)."""

    #: retries of transient errors so far (the ingest summary reports them)
    retries: RetryCounter

    def close(self) -> None: ...

    def health(self, name: str | None = None) -> Health:
        """What the store is, reached now (a `StoreError` when it cannot be), and `name`'s load
        state ("Loaded" when it can serve searches)."""
        ...

    def ensure_collection(self, spec: CollectionSpec) -> None: ...

    def describe(self, name: str) -> CollectionSpec: ...

    def drop(self, name: str) -> None: ...

    def sync(self, spec: CollectionSpec, *, reload: bool = False) -> None:
        """Seal fresh writes (searches see unflushed rows too), or with `reload` load the
        collection and its token vectors again (after a server restart)."""
        ...

    def search_defaults(self, name: str, save: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The search options `hybrid-search tune --save` recorded for `name` ({} if none);
        `save` records new ones first (replacing earlier ones; {} clears)."""
        ...

    def upsert(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str] | None = None,
    ) -> None:
        """Without `hashes`, step 1 of a document write: the rows' ColBERT token vectors, before
        any chunk row. With them, step 2: make each document's new version (its hash) the only
        one, crash-safely; a long document's rows may follow in calls whose `hashes` omit it."""
        ...

    def delete(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        """Chunks and token vectors of the documents; returns how many were present."""
        ...

    def get_rows(
        self,
        name: str,
        pks: Sequence[str],
        *,
        with_vectors: bool = False,
        filter: Filter | None = None,
    ) -> dict[str, StoredChunk]:
        """Chunks by primary key that meet `filter` (absent keys are left out); `with_vectors`
        adds the stored dense and sparse vectors."""
        ...

    def query(
        self, name: str, scope: Scope, fields: Sequence[str], *, tokens: bool = False
    ) -> list[dict[str, Any]]:
        """Rows in `scope` as {field: value} (`schemas.collection` names; `[COUNT]` answers
        one row with the count). `tokens` reads the token vector rows' doc id and tenant
        instead; a scope with tenant "" covers every tenant."""
        ...

    def search_field(
        self,
        name: str,
        route: FieldName | Literal["colbert"],
        queries: Sequence[QueryVectors],
        **options: Unpack[FieldOptions],
    ) -> list[list[Candidate]]:
        """Best `limit` chunks per query on one field, raw scores (higher is better): inner
        product for dense and sparse, BM25 for bm25, best token match for colbert (up to 2 x
        `limit`, where the token layout allows it). A RouteError when no query can take it."""
        ...

    def fused_search(
        self,
        name: str,
        query: QueryVectors,
        depth: Mapping[FieldName, int],
        **options: Unpack[FusedOptions],
    ) -> FusedResult:
        """The routes in `depth` fused by unweighted RRF(k) inside the store, in one call. A
        route the query cannot take is left out and reported in `errors`."""
        ...

    def score_token_vectors(
        self,
        name: str,
        tenant: str,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        """MaxSim of the query's token vectors against each chunk's stored ones (chunks with no
        stored tokens are left out), scored on the stored form (`hybrid_search.tokens`).
        `token_counts` (from the chunk rows) lets a store read by key instead of filtering."""
        ...

    def read_token_vectors(
        self,
        name: str,
        tenant: str,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        """Each chunk's stored token vectors as float32, decoded as MaxSim sees them: written
        back through `upsert` they store the same form (how `migrate` copies them)."""
        ...


def has_collection(store: VectorStore, name: str) -> bool:
    """Whether `name` exists in the store: `describe` without the not-found error (a collection
    another program wrote exists too: its schema error is raised, not hidden)."""
    try:
        store.describe(name)
    except CollectionNotFoundError:
        return False
    return True
