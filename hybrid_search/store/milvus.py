"""MilvusStore: the VectorStore on Milvus Lite (a local file URI), standalone or cluster.

A facade over the modules that each do one job: `connection` (the client, retries, reloads),
`schema` (collections and their recorded spec), `reads`, `writes`, `search`, and `tokens`
(ColBERT token vectors, by storage kind). Every pymilvus exception leaves as a StoreError.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Unpack

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import RouteError, SchemaMismatchError
from hybrid_search.store import reads, schema, search, writes
from hybrid_search.store.connection import ConnectOptions, MilvusConnection
from hybrid_search.store.expressions import first_chunks_expr, scope_expr, tenant_expr
from hybrid_search.store.tokens import TokenStorage, token_storage
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
from schemas import collection as C

__all__ = ["MilvusStore"]


class MilvusStore:
    """One MilvusClient shared by all threads (its gRPC channel is thread-safe)."""

    def __init__(self, uri: str, **options: Unpack[ConnectOptions]) -> None:
        self._conn = MilvusConnection(uri, **options)
        self.uri = self._conn.uri  # redacted: safe to log
        self.is_lite = self._conn.is_lite
        self.retries = self._conn.retries
        #: the raw MilvusClient, for tests and the benchmarks' bare-pymilvus baseline only
        self.client: Any = self._conn.client
        self._specs: dict[str, C.CollectionSpec] = {}

    # -- connection -------------------------------------------------------------------------

    def ping(self) -> None:
        self._conn.ping()

    def close(self) -> None:
        self._conn.close()

    def deployment(self) -> str:
        return self._conn.deployment()

    @property
    def is_embedded(self) -> bool:
        return self.is_lite

    def load_state(self, collection: str) -> str:
        return self._conn.load_state(collection)

    def reload(self, spec: C.CollectionSpec) -> None:
        for name in self._collections(spec):
            self._conn.load(name)

    def flush(self, spec: C.CollectionSpec) -> None:
        for name in self._collections(spec):
            self._conn.flush(name)

    def _with_tokens(self, name: str) -> tuple[C.CollectionSpec, TokenStorage | None]:
        """A collection's recorded spec and the token storage its ColBERT kind reads with."""
        spec = self.describe(name)
        return spec, token_storage(self._conn, spec)

    def _collections(self, spec: C.CollectionSpec) -> list[str]:
        tokens = token_storage(self._conn, spec)
        return [spec.name, *(tokens.collections(spec) if tokens else [])]

    # -- schema -----------------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        return self._conn.has_collection(name)

    def list_collections(self, prefix: str = "") -> list[str]:
        """The names of the database's collections that start with `prefix`, sorted."""
        names = self._conn.call(lambda: self.client.list_collections(), "list collections")
        return sorted(str(n) for n in names if str(n).startswith(prefix))

    def ensure_collection(self, spec: C.CollectionSpec) -> None:
        """Create the collections if missing; otherwise prove they match the spec."""
        tokens = token_storage(self._conn, spec)
        if self.has_collection(spec.name):
            schema.check_spec(spec, self.describe(spec.name))
            if tokens is not None and not tokens.exists(spec):
                raise SchemaMismatchError(
                    f"collection '{spec.name}' exists but its ColBERT companion "
                    f"'{spec.colbert_collection}' is missing; drop '{spec.name}' and re-ingest"
                )
        else:
            if tokens is not None:
                tokens.create(spec)
            schema.create_chunks(self._conn, spec)
        for name in self._collections(spec):
            self._conn.ensure_loaded(name)

    def describe(self, name: str) -> C.CollectionSpec:
        """The recorded spec (cached: a collection's spec never changes while it exists)."""
        cached = self._specs.get(name)
        if cached is None:
            cached = self._specs[name] = schema.describe(self._conn, name)
        return cached

    def search_defaults(self, name: str) -> dict[str, Any]:
        self.describe(name)  # CollectionNotFoundError / SchemaMismatchError first
        return schema.search_defaults(self._conn, name)

    def save_search_defaults(self, name: str, defaults: Mapping[str, Any]) -> None:
        self.describe(name)
        schema.save_search_defaults(self._conn, name, dict(defaults))

    def drop(self, name: str) -> None:
        for n in (name, name + C.COLBERT_SUFFIX):
            if self.has_collection(n):
                self._conn.call(lambda n=n: self.client.drop_collection(n), f"drop {n}")  # type: ignore[misc]
            self._conn.forget(n)
            self._specs.pop(n, None)

    # -- writes -----------------------------------------------------------------------------

    def write_token_vectors(self, spec: C.CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        tokens = token_storage(self._conn, spec)
        if tokens is not None:
            tokens.write(spec, rows)

    def commit_documents(
        self,
        spec: C.CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        writes.commit_documents(
            self._conn, spec, token_storage(self._conn, spec), tenant, rows, hashes
        )

    def write_documents(
        self,
        spec: C.CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        self.write_token_vectors(spec, rows)
        self.commit_documents(spec, tenant, rows, hashes)

    def delete_documents(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        spec, tokens = self._with_tokens(name)
        return writes.delete_documents(self._conn, name, tokens, spec, tenant, doc_ids)

    # -- reads ------------------------------------------------------------------------------

    def query_all(self, name: str, expr: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Raw rows by a Milvus expression: for tests and diagnostics inside the store's
        package; everything else reads through the typed calls."""
        return reads.query_all(self._conn, name, expr, fields)

    def count(self, name: str, expr: str = "") -> int:
        return reads.count(self._conn, name, expr)

    def doc_states(self, name: str, tenant: str, doc_ids: Sequence[str]) -> dict[str, DocState]:
        return reads.doc_states(self._conn, name, tenant, doc_ids)

    def docs_with_token_vectors(self, name: str, tenant: str, doc_ids: Sequence[str]) -> set[str]:
        spec, tokens = self._with_tokens(name)
        return tokens.docs_present(spec, tenant, doc_ids) if tokens else set()

    def iter_doc_ids(self, name: str, tenant: str) -> Iterator[str]:
        return reads.iter_doc_ids(self._conn, name, tenant)

    def stats(self, name: str, tenant: str | None = None) -> StoreStats:
        spec, tokens = self._with_tokens(name)
        return StoreStats(
            documents=self.count(name, first_chunks_expr(tenant)),
            chunks=self.count(name, tenant_expr(tenant) or ""),
            colbert_rows=tokens.count(spec, tenant) if tokens else None,
        )

    def get_chunks(self, name: str, tenant: str, doc_id: str) -> list[StoredChunk]:
        return reads.get_chunks(self._conn, name, tenant, doc_id)

    def get_rows(
        self, name: str, pks: Sequence[str], *, with_vectors: bool = False
    ) -> dict[str, StoredChunk]:
        return reads.get_rows(self._conn, name, pks, with_vectors=with_vectors)

    def score_rows(
        self,
        name: str,
        route: FieldName,
        query: QueryVectors,
        scope: Scope,
        *,
        with_vectors: bool = False,
    ) -> ScoredRows:
        return search.score_rows(self._conn, name, route, query, scope, with_vectors=with_vectors)

    def get_keys(self, name: str, scope: Scope) -> dict[str, Candidate]:
        rows = reads.query_all(self._conn, name, scope_expr(scope), C.KEY_FIELDS)
        return {str(r[C.PK_FIELD]): reads.key_fields(r) for r in rows}

    def count_chunks(self, name: str, scope: Scope) -> int:
        return self.count(name, scope_expr(scope))

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
        return search.search_field(
            self._conn,
            name,
            route,
            queries,
            scope=scope,
            limit=limit,
            with_token_counts=with_token_counts,
        )

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
        return search.fused_search(
            self._conn, name, query, depth, scope=scope, k=k, limit=limit, with_rows=with_rows
        )

    def can_search_tokens(self, name: str) -> bool:
        spec, tokens = self._with_tokens(name)
        return tokens is not None and tokens.can_search(spec)

    def search_tokens(self, name: str, tokens: FloatArray, *, tenant: str, limit: int) -> list[str]:
        spec, storage = self._with_tokens(name)
        if storage is None:
            raise RouteError(f"colbert: collection '{name}' stores no token vectors")
        return storage.search(spec, tokens, tenant, limit)

    def fetch_token_vectors(
        self,
        name: str,
        tenant: str,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        spec, tokens = self._with_tokens(name)
        return tokens.fetch(spec, tenant, chunk_pks, token_counts) if tokens else {}

    def score_token_vectors(
        self,
        name: str,
        tenant: str,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        spec, tokens = self._with_tokens(name)
        return tokens.score(spec, tenant, query, chunk_pks, token_counts) if tokens else {}
