"""The VectorStore protocol: everything ingest, search and the service ask of a store.

Two implementations: `MilvusStore` (Milvus Lite, standalone, cluster; `store/milvus.py`) and
`InMemoryStore` (numpy brute force; `store/memory.py`), proven to rank alike by
`tests/store/test_congruence.py`. Nothing outside `store/` speaks a backend's language: calls
name a collection and a `Scope` (tenant + typed filter), and answer with the dataclasses of
`store/types.py`.

Token vectors (ColBERT) go through three calls, so a compressed or server-side token store
plugs in behind them: `write_token_vectors` (float32 matrices in `ChunkRow.colbert`),
`fetch_token_vectors` (float32 `(n_tokens, dim)` matrices back, decoded however they were
stored) and `search_tokens` (candidate generation, where the layout allows it). How they are
stored is the collection's `CollectionSpec.colbert_storage`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from hybrid_search.encoders.base import FloatArray
from hybrid_search.retry import RetryCounter
from hybrid_search.store.types import (
    Candidate,
    ChunkRow,
    DocState,
    FieldName,
    FusedResult,
    QueryVectors,
    Scope,
    ScoredRows,
    StoredChunk,
    StoreStats,
)
from schemas.collection import CollectionSpec

__all__ = ["ChunkRow", "DocState", "StoreStats", "VectorStore"]


class VectorStore(Protocol):
    """Where chunks and their vectors live. Every read and write names its tenant; every
    failure leaves as a `StoreError` (transient ones as `StoreUnavailableError`)."""

    #: retries of transient errors so far (the ingest summary reports them)
    retries: RetryCounter

    # -- connection -------------------------------------------------------------------------

    def ping(self) -> None: ...

    def close(self) -> None: ...

    def deployment(self) -> str:
        """What this store is, for logs and /readyz (e.g. "Milvus Lite at ./m.db")."""
        ...

    @property
    def is_embedded(self) -> bool:
        """One process only (Milvus Lite, in-memory): never share it between workers."""
        ...

    def load_state(self, collection: str) -> str:
        """ "Loaded" when `collection` can serve searches; otherwise the backend's state."""
        ...

    def reload(self, spec: CollectionSpec) -> None:
        """Load the collection and its token vectors again (after a server restart)."""
        ...

    def flush(self, spec: CollectionSpec) -> None:
        """Seal fresh writes (an optimisation; searches see unflushed rows too)."""
        ...

    # -- schema -----------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None: ...

    def describe(self, name: str) -> CollectionSpec: ...

    def has_collection(self, name: str) -> bool: ...

    def search_defaults(self, name: str) -> dict[str, Any]:
        """The search options `hybrid-search tune --save` recorded for `name` ({} if none)."""
        ...

    def save_search_defaults(self, name: str, defaults: Mapping[str, Any]) -> None:
        """Record search options as `name`'s defaults (replacing earlier ones; {} clears)."""
        ...

    def drop(self, name: str) -> None: ...

    # -- writes -----------------------------------------------------------------------------

    def write_token_vectors(self, spec: CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        """Step 1 of a document write: the rows' ColBERT token vectors, before any chunk row."""
        ...

    def commit_documents(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        """Step 2: make each document's new version (its hash) the only one, crash-safely."""
        ...

    def write_documents(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        """Both steps, for rows that carry their token vectors."""
        ...

    def delete_documents(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        """Chunks and token vectors of the documents; returns how many were present."""
        ...

    # -- reads ------------------------------------------------------------------------------

    def doc_states(self, name: str, tenant: str, doc_ids: Sequence[str]) -> dict[str, DocState]: ...

    def docs_with_token_vectors(self, name: str, tenant: str, doc_ids: Sequence[str]) -> set[str]:
        """The documents among `doc_ids` that have token vectors stored (with or without chunk
        rows: a write cut off before its commit leaves token vectors only)."""
        ...

    def iter_doc_ids(self, name: str, tenant: str) -> Iterator[str]: ...

    def stats(self, name: str, tenant: str | None = None) -> StoreStats: ...

    def get_chunks(self, name: str, tenant: str, doc_id: str) -> list[StoredChunk]:
        """A document's chunks in order (without vectors)."""
        ...

    def get_rows(
        self, name: str, pks: Sequence[str], *, with_vectors: bool = False
    ) -> dict[str, StoredChunk]:
        """Chunks by primary key (absent keys are left out); `with_vectors` adds the stored
        dense and sparse vectors."""
        ...

    def score_rows(
        self,
        name: str,
        route: FieldName,
        query: QueryVectors,
        scope: Scope,
        *,
        with_vectors: bool = False,
    ) -> ScoredRows:
        """The chunks `scope.pks` (within `scope`) read as `get_rows` does, with their score on
        `route` for `query`, equal to what `search_field` gives them. For a route that needs
        the store's corpus statistics (BM25) this is what an explained search asks: one call
        where the backend allows it instead of a read and a search.

        Raises:
            RouteError: the query has nothing this route can search.
        """
        ...

    def get_keys(self, name: str, scope: Scope) -> dict[str, Candidate]:
        """The key fields (doc id, token count) of the chunks in `scope` (scored 0)."""
        ...

    def count_chunks(self, name: str, scope: Scope) -> int:
        """How many chunks `scope` holds (why a search came back empty)."""
        ...

    # -- search -----------------------------------------------------------------------------

    def search_field(
        self,
        name: str,
        route: FieldName,
        queries: Sequence[QueryVectors],
        *,
        scope: Scope,
        limit: int,
        with_token_counts: bool = True,
    ) -> list[list[Candidate]]:
        """Best `limit` chunks per query on one field: inner product for dense and sparse, BM25
        over the analysed text for bm25. Raw scores, higher is better. Each hit's token count
        (which ColBERT's rescoring needs) only `with_token_counts`: a field less to ship.

        Raises:
            RouteError: no query has anything this route can search.
        """
        ...

    def fused_search(
        self,
        name: str,
        query: QueryVectors,
        depth: Mapping[FieldName, int],
        *,
        scope: Scope,
        k: int,
        limit: int,
        with_rows: bool,
    ) -> FusedResult:
        """The routes in `depth` fused by unweighted RRF(k) inside the store, in one call. A
        route the query cannot take is left out and reported in `errors`."""
        ...

    def search_tokens(self, name: str, tokens: FloatArray, *, tenant: str, limit: int) -> list[str]:
        """Chunk pks whose stored token vectors are nearest to `tokens`, best first.

        Raises:
            RouteError: this collection's token layout has no token index to search.
        """
        ...

    def can_search_tokens(self, name: str) -> bool: ...

    def fetch_token_vectors(
        self,
        name: str,
        tenant: str,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        """Each chunk's stored token vectors as one float32 `(n_tokens, dim)` matrix, in token
        order (decoded from the collection's `colbert_storage`). `token_counts` (from the chunk
        rows) lets a store read by key instead of filtering."""
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
        stored tokens are left out), scored on the stored form (`hybrid_search.tokens`)."""
        ...
