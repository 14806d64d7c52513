"""MilvusStore: the VectorStore on Milvus Lite (a local file URI), standalone or cluster; a
facade over `connection`, `schema`, `rows`, `search` and the token storage kinds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Unpack, cast

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import HybridSearchError, RouteError, SchemaMismatchError
from hybrid_search.store import rows as R
from hybrid_search.store import schema, search
from hybrid_search.store.connection import ConnectOptions, MilvusConnection
from hybrid_search.store.expressions import compile_filter, docs_expr, scope_expr, stale_expr
from hybrid_search.store.ops import stored_chunk
from hybrid_search.store.token_rows import TokenStorage, token_storage
from hybrid_search.store.types import (
    COUNT,
    Candidate,
    ChunkRow,
    FieldName,
    FieldOptions,
    FusedResult,
    Health,
    QueryVectors,
    Scope,
    StoredChunk,
    doc_id_of,
)
from schemas import collection as C
from schemas.filters import Filter

logger = logging.getLogger(__name__)

#: rows a write may leave unsealed on a Milvus Lite server: Lite walks every unsealed row in
#: Python on each sparse and BM25 search until its 128 MiB memtable fills (a Milvus server
#: indexes growing segments itself): a BM25 search took 10x longer over 256 unsealed rows, 90x
#: over 10,000, and sealing 256 rows took 19 ms (docs/evaluation.md)
SEAL_ROWS = 256


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
        self._unsealed: dict[str, int] = {}

    def close(self) -> None:
        self._conn.close()

    def health(self, name: str | None = None) -> Health:
        self._conn.ping()
        state = self._conn.load_state(name) if name is not None else None
        return Health(self._conn.deployment(), self.is_lite, state)

    def sync(self, spec: C.CollectionSpec, *, reload: bool = False) -> None:
        for name in self._collections(spec):
            (self._conn.load if reload else self._conn.flush)(name)

    def _with_tokens(self, name: str) -> tuple[C.CollectionSpec, TokenStorage | None]:
        """A collection's recorded spec and the token storage its ColBERT kind reads with."""
        spec = self.describe(name)
        return spec, token_storage(self._conn, spec)

    def _collections(self, spec: C.CollectionSpec) -> list[str]:
        tokens = token_storage(self._conn, spec)
        return [spec.name, *(tokens.collections(spec) if tokens else [])]

    def has_collection(self, name: str) -> bool:
        return self._conn.has_collection(name)

    def list_collections(self, prefix: str = "") -> list[str]:
        """The names of the database's collections that start with `prefix`, sorted."""
        names = self._conn.call(lambda: self.client.list_collections(), "list collections")
        names = [str(n) for n in names if str(n) != schema.PROPERTIES_COLLECTION]
        return sorted(n for n in names if n.startswith(prefix))

    def ensure_collection(self, spec: C.CollectionSpec) -> None:
        """Create the collections if missing; otherwise prove they match the spec."""
        tokens = token_storage(self._conn, spec)
        if self.has_collection(spec.name):
            schema.check_spec(spec, self.describe(spec.name))
            if tokens is not None and not tokens.exists(spec):
                raise SchemaMismatchError(
                    f"collection '{spec.name}' exists but its ColBERT companion "
                    f"'{spec.colbert_collection}' is missing; drop it "
                    f"(`hybrid-search drop {spec.name}`) and re-ingest"
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

    def search_defaults(self, name: str, save: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.describe(name)  # CollectionNotFoundError / SchemaMismatchError first
        if save is not None:
            schema.save_search_defaults(self._conn, name, dict(save))
        return schema.search_defaults(self._conn, name)

    def drop(self, name: str) -> None:
        for n in (name, name + C.COLBERT_SUFFIX):
            if self.has_collection(n):
                self._conn.call(partial(self.client.drop_collection, n), f"drop {n}")
                schema.forget_properties(self._conn, n)
            self._conn.forget(n)
            self._specs.pop(n, None)

    def upsert(
        self,
        spec: C.CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str] | None = None,
    ) -> None:
        """Crash-safe order: token vectors (the call without `hashes`), then other versions'
        token vectors dropped, chunk rows, other versions' chunk rows dropped. A document counts
        as stored only when all `chunk_count` rows carry its new hash (`DocState.is_complete`),
        so a crash anywhere leaves it incomplete or mixed and the next run redoes it. `hashes` {}:
        more rows of documents an earlier call began (nothing to drop)."""
        tokens = token_storage(self._conn, spec)
        if hashes is None:
            if tokens is not None:
                tokens.write(spec, rows)
            return
        stale = stale_expr(tenant, dict(hashes)) if hashes else None
        if stale is not None and tokens is not None:
            tokens.delete(spec, stale, "delete stale tokens")
        R.upsert_batched(self._conn, spec.name, map(R.chunk_row, rows), 4 * spec.dense_dim)
        if stale is not None:
            R.delete(self._conn, spec.name, stale, "delete stale chunks")
        self._seal_if_many(spec, len(rows))

    def _seal_if_many(self, spec: C.CollectionSpec, written: int) -> None:
        """On a shared Milvus Lite server, seal a collection (and its token vectors) every
        SEAL_ROWS rows. An embedded Lite is left to seal when its process closes it: sealing as
        it wrote raised a 10x ingest's peak RSS from 1.19x to 1.29x of a 1x one (bench (c))."""
        if not self._conn.shared_lite_server():
            return
        unsealed = self._unsealed.get(spec.name, 0) + written
        self._unsealed[spec.name] = unsealed
        if unsealed < SEAL_ROWS:
            return
        try:
            self.sync(spec)
            self._unsealed[spec.name] = 0
        except HybridSearchError as exc:  # the rows are written; the next write seals again
            logger.warning("sealing %s failed: %s", spec.name, exc)

    def delete(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        """Chunks first (the document leaves search at once), then token vectors; idempotent."""
        spec, tokens = self._with_tokens(name)
        if not doc_ids:
            return 0
        expr = docs_expr(tenant, doc_ids)
        present = {r[C.DOC_ID_FIELD] for r in R.query_all(self._conn, name, expr, [C.DOC_ID_FIELD])}
        R.delete(self._conn, name, expr, "delete documents")
        if tokens is not None:
            tokens.delete(spec, expr, "delete documents")
        return len(present)

    def query_all(self, name: str, expr: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Raw rows by a Milvus expression: for tests and diagnostics inside the store's
        package; everything else reads through the typed calls."""
        return R.query_all(self._conn, name, expr, fields)

    def count(self, name: str, expr: str = "") -> int:
        return R.count(self._conn, name, expr)

    def get_rows(
        self,
        name: str,
        pks: Sequence[str],
        *,
        with_vectors: bool = False,
        filter: Filter | None = None,
    ) -> dict[str, StoredChunk]:
        negation = self._conn.caps.negation
        expr = compile_filter(filter, native_not=negation) if filter is not None else ""
        found = R.query_keys(self._conn, name, pks, search.row_fields(with_vectors), expr)
        return {str(r[C.PK_FIELD]): stored_chunk(r) for r in found}

    def query(
        self, name: str, scope: Scope, fields: Sequence[str], *, tokens: bool = False
    ) -> list[dict[str, Any]]:
        target = name
        if tokens:
            spec, storage = self._with_tokens(name)
            if storage is None:
                return []
            target = spec.colbert_collection
        expr = scope_expr(scope, native_not=self._conn.caps.negation)
        if list(fields) == [COUNT]:
            return [{COUNT: self.count(target, expr)}]
        return R.query_all(self._conn, target, expr, fields)

    def search_field(
        self, name: str, route: str, queries: Sequence[QueryVectors], **opts: Unpack[FieldOptions]
    ) -> list[list[Candidate]]:
        if route == "colbert":
            spec, storage = self._with_tokens(name)
            if storage is None:
                raise RouteError(f"colbert: collection '{name}' stores no token vectors")
            found = [
                []
                if q.colbert is None
                else storage.search(spec, q.colbert, opts["scope"].tenant, opts["limit"])
                for q in queries
            ]
            return [[Candidate(pk, 0.0, doc_id_of(pk)) for pk in pks] for pks in found]
        return search.search_field(self._conn, name, cast(FieldName, route), queries, **opts)

    def fused_search(
        self, name: str, query: QueryVectors, depth: Mapping[FieldName, int], **options: Any
    ) -> FusedResult:
        return search.fused_search(self._conn, name, query, depth, **options)

    def score_token_vectors(
        self, name: str, tenant: str, query: FloatArray, *chunks: Any, **counts: Any
    ) -> dict[str, float]:
        """`chunk_pks` and `token_counts` go to the collection's token storage as given."""
        spec, tokens = self._with_tokens(name)
        return tokens.score(spec, tenant, query, *chunks, **counts) if tokens else {}

    def read_token_vectors(
        self, name: str, tenant: str, *chunks: Any, **counts: Any
    ) -> dict[str, FloatArray]:
        spec, tokens = self._with_tokens(name)
        return tokens.fetch(spec, tenant, *chunks, **counts) if tokens else {}
