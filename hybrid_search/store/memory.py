"""InMemoryStore: the VectorStore as numpy brute force, for tests and for proving the search
logic independent of Milvus (tests/store/test_congruence.py runs the same scenarios on both).

Exact where Milvus is exact on small data: dense is the inner product, sparse the dot product
(chunks sharing no term are not returned, as Milvus' inverted index does not return them), token
search and MaxSim over the stored token vectors, kept as the collection's `colbert_storage`
kind keeps them (`hybrid_search.tokens.codec`: binary sign bits, int8, float32) and read back as
the float32 matrices MilvusStore's reads return. BM25 follows `store/local.py`, close to
but not identical with Milvus' analyzer and per-segment statistics. Thread-safe; one process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import CollectionNotFoundError, HybridSearchError, RouteError
from hybrid_search.fusion import make_fusion
from hybrid_search.fusion.base import RouteHit
from hybrid_search.retry import RetryCounter
from hybrid_search.store.local import BM25Index, analyze, matches
from hybrid_search.store.schema import check_spec
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
    field_query,
)
from hybrid_search.tokens.codec import check_kind, decode, encode
from schemas.collection import CollectionSpec

__all__ = ["InMemoryStore"]


@dataclass
class _Tokens:
    doc_id: str
    tenant: str
    content_hash: str
    vectors: FloatArray


@dataclass
class _Collection:
    spec: CollectionSpec
    chunks: dict[str, StoredChunk] = field(default_factory=dict)
    tokens: dict[str, _Tokens] = field(default_factory=dict)
    bm25: BM25Index | None = None  # rebuilt lazily after a write
    defaults: dict[str, Any] = field(default_factory=dict)  # `tune --save`'s search options


class InMemoryStore:
    """Collections in dicts; every search scans the rows in scope."""

    def __init__(self) -> None:
        self.retries = RetryCounter()
        self._collections: dict[str, _Collection] = {}
        self._lock = threading.RLock()

    # -- connection -------------------------------------------------------------------------

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

    def deployment(self) -> str:
        return "in-memory store"

    @property
    def is_embedded(self) -> bool:
        return True

    def load_state(self, collection: str) -> str:
        return "Loaded" if collection in self._collections else "NotExist"

    def reload(self, spec: CollectionSpec) -> None:
        self._get(spec.name)

    def flush(self, spec: CollectionSpec) -> None:
        self._get(spec.name)

    # -- schema -----------------------------------------------------------------------------

    def ensure_collection(self, spec: CollectionSpec) -> None:
        with self._lock:
            found = self._collections.get(spec.name)
            if found is None:
                self._collections[spec.name] = _Collection(spec)
            else:
                check_spec(spec, found.spec)

    def describe(self, name: str) -> CollectionSpec:
        return self._get(name).spec

    def has_collection(self, name: str) -> bool:
        return name in self._collections

    def search_defaults(self, name: str) -> dict[str, Any]:
        return dict(self._get(name).defaults)

    def save_search_defaults(self, name: str, defaults: Mapping[str, Any]) -> None:
        self._get(name).defaults = dict(defaults)

    def drop(self, name: str) -> None:
        with self._lock:
            self._collections.pop(name, None)

    def _get(self, name: str) -> _Collection:
        found = self._collections.get(name)
        if found is None:
            raise CollectionNotFoundError(
                f"collection '{name}' not found in the in-memory store",
                details={"collection": name},
            )
        return found

    # -- writes -----------------------------------------------------------------------------

    def write_token_vectors(self, spec: CollectionSpec, rows: Sequence[ChunkRow]) -> None:
        if not spec.colbert_dim:
            return
        c = self._get(spec.name)
        kind = check_kind(spec.colbert_storage)
        with self._lock:
            for r in rows:
                if r.colbert is not None:  # stored as the kind stores them: what a read returns
                    vectors = decode(encode(np.asarray(r.colbert, dtype=np.float32), kind))
                    c.tokens[r.pk] = _Tokens(r.doc_id, r.tenant, r.content_hash, vectors)

    def commit_documents(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        """MilvusStore's commit at once: the new chunk rows, and no row of another version."""
        c = self._get(spec.name)
        new = set(hashes.values())
        with self._lock:
            for r in rows:
                c.chunks[r.pk] = _stored(r)
            _remove(c, lambda t, d, h: t == tenant and d in hashes and h not in new)

    def write_documents(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str],
    ) -> None:
        self.write_token_vectors(spec, rows)
        self.commit_documents(spec, tenant, rows, hashes)

    def delete_documents(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        c = self._get(name)
        ids = set(doc_ids)
        with self._lock:
            present = {ch.doc_id for ch in c.chunks.values() if ch.tenant == tenant}
            _remove(c, lambda t, d, h: t == tenant and d in ids)
        return len(present & ids)

    # -- reads ------------------------------------------------------------------------------

    def _in(self, name: str, tenant: str | None) -> list[StoredChunk]:
        c = self._get(name)
        with self._lock:
            return [ch for ch in c.chunks.values() if tenant is None or ch.tenant == tenant]

    def doc_states(self, name: str, tenant: str, doc_ids: Sequence[str]) -> dict[str, DocState]:
        ids = set(doc_ids)
        states: dict[str, DocState] = {}
        for ch in self._in(name, tenant):
            if ch.doc_id in ids:
                st = states.setdefault(ch.doc_id, DocState())
                st.hashes.add(ch.content_hash)
                st.chunk_count = max(st.chunk_count, ch.chunk_count)
                st.rows += 1
        return states

    def docs_with_token_vectors(self, name: str, tenant: str, doc_ids: Sequence[str]) -> set[str]:
        c, ids = self._get(name), set(doc_ids)
        with self._lock:
            return {t.doc_id for t in c.tokens.values() if t.tenant == tenant and t.doc_id in ids}

    def iter_doc_ids(self, name: str, tenant: str) -> Iterator[str]:
        return iter(sorted(ch.doc_id for ch in self._in(name, tenant) if ch.chunk_index == 0))

    def stats(self, name: str, tenant: str | None = None) -> StoreStats:
        c = self._get(name)
        chunks = self._in(name, tenant)
        blocks = None
        if c.spec.colbert_dim:
            block = c.spec.colbert_block
            with self._lock:
                tokens = [t for t in c.tokens.values() if tenant is None or t.tenant == tenant]
            blocks = sum(-(-len(t.vectors) // block) for t in tokens)
        docs = sum(1 for ch in chunks if ch.chunk_index == 0)
        return StoreStats(documents=docs, chunks=len(chunks), colbert_rows=blocks)

    def get_chunks(self, name: str, tenant: str, doc_id: str) -> list[StoredChunk]:
        rows = [ch for ch in self._in(name, tenant) if ch.doc_id == doc_id]
        return sorted((_without_vectors(ch) for ch in rows), key=lambda ch: ch.chunk_index)

    def get_rows(
        self, name: str, pks: Sequence[str], *, with_vectors: bool = False
    ) -> dict[str, StoredChunk]:
        c = self._get(name)
        with self._lock:
            found = {pk: c.chunks[pk] for pk in pks if pk in c.chunks}
        return found if with_vectors else {pk: _without_vectors(ch) for pk, ch in found.items()}

    def get_keys(self, name: str, scope: Scope) -> dict[str, Candidate]:
        return {ch.pk: _key(ch) for ch in self._scoped(name, scope)}

    def count_chunks(self, name: str, scope: Scope) -> int:
        return len(self._scoped(name, scope))

    def _scoped(self, name: str, scope: Scope) -> list[StoredChunk]:
        pks = set(scope.pks) if scope.pks is not None else None
        out = []
        for ch in self._in(name, scope.tenant):
            if pks is not None and ch.pk not in pks:
                continue
            if scope.filter is not None and not matches(scope.filter, _filter_fields(ch)):
                continue
            out.append(ch)
        return out

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
        rows = self._scoped(name, scope)
        out: list[list[Candidate]] = []
        answered = 0
        for q in queries:
            try:
                data = field_query(route, q)
            except RouteError:
                out.append([])
                continue
            answered += 1
            scored = [(self._score(name, route, data, ch), ch) for ch in rows]
            kept = [(s, ch) for s, ch in scored if _reaches(route, s)]
            kept.sort(key=lambda t: (-t[0], t[1].pk))
            out.append([_key(ch, s, with_token_counts) for s, ch in kept[:limit]])
        if not answered:
            raise RouteError(f"{route}: the query has nothing this route can search")
        return out

    def score_rows(
        self,
        name: str,
        route: FieldName,
        query: QueryVectors,
        scope: Scope,
        *,
        with_vectors: bool = False,
    ) -> ScoredRows:
        assert scope.pks is not None
        data = field_query(route, query)
        rows = self._scoped(name, scope)
        scored = {ch.pk: self._score(name, route, data, ch) for ch in rows}
        kept = {pk: s for pk, s in scored.items() if _reaches(route, s)}
        read = {ch.pk: ch if with_vectors else _without_vectors(ch) for ch in rows}
        return ScoredRows(read, kept)

    def _score(
        self,
        name: str,
        route: FieldName,
        data: FloatArray | dict[int, float] | str,
        ch: StoredChunk,
    ) -> float:
        if route == "dense":
            assert isinstance(data, np.ndarray) and ch.dense is not None
            return float(np.dot(data, ch.dense))
        if route == "sparse":
            assert isinstance(data, dict) and ch.sparse is not None
            stored = ch.sparse
            return float(sum(w * stored.get(t, 0.0) for t, w in data.items()))
        assert isinstance(data, str)
        index, spec = self._bm25(name), self.describe(name)
        return index.score(analyze(data, spec.analyzer, spec.stop_words), ch.pk)

    def _bm25(self, name: str) -> BM25Index:
        c = self._get(name)
        with self._lock:
            if c.bm25 is None:
                spec = c.spec
                c.bm25 = BM25Index(
                    {
                        pk: analyze(ch.search_text, spec.analyzer, spec.stop_words)
                        for pk, ch in c.chunks.items()
                    }
                )
            return c.bm25

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
        """Each route searched, then the project's RRF (which equals Milvus' RRFRanker)."""
        ranked: dict[str, list[Candidate]] = {}
        errors: dict[str, HybridSearchError] = {}
        for route, d in depth.items():
            try:
                ranked[route] = self.search_field(name, route, [query], scope=scope, limit=d)[0]
            except RouteError as exc:
                errors[route] = exc
        keys = {c.pk: c for lst in ranked.values() for c in lst}
        fused = make_fusion("rrf", k=k).fuse(
            {r: [RouteHit(c.pk, c.score) for c in lst] for r, lst in ranked.items()},
            limit=limit,
        )
        hits = [replace(h, routes={}) for h in fused]
        rows = self.get_rows(name, [h.key for h in hits]) if with_rows else {}
        return FusedResult(hits, {h.key: keys[h.key] for h in hits}, rows, list(ranked), errors)

    def can_search_tokens(self, name: str) -> bool:
        spec = self.describe(name)
        return bool(spec.colbert_dim) and spec.colbert_block == 1

    def search_tokens(self, name: str, tokens: FloatArray, *, tenant: str, limit: int) -> list[str]:
        """The best token match per chunk, as MilvusStore's token search (exact here)."""
        if not self.can_search_tokens(name):
            raise RouteError(
                "colbert: this collection packs token vectors in blocks, so ColBERT can only "
                "rescore other routes' candidates"
            )
        c = self._get(name)
        with self._lock:
            stored = [(pk, t.vectors) for pk, t in c.tokens.items() if t.tenant == tenant]
        best = {pk: float((tokens @ v.T).max()) for pk, v in stored if len(v)}
        return [pk for pk, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[: limit * 2]]

    def score_token_vectors(
        self,
        name: str,
        tenant: str,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        from hybrid_search.tokens import maxsim_float32

        return maxsim_float32(query, self.fetch_token_vectors(name, tenant, chunk_pks))

    def fetch_token_vectors(
        self,
        name: str,
        tenant: str,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        c = self._get(name)
        with self._lock:
            return {
                pk: c.tokens[pk].vectors
                for pk in chunk_pks
                if pk in c.tokens and c.tokens[pk].tenant == tenant
            }


def _remove(c: _Collection, gone: Callable[[str, str, str], bool]) -> None:
    """Drop every chunk row and token matrix for which gone(tenant, doc_id, content_hash)."""
    c.tokens = {pk: t for pk, t in c.tokens.items() if not gone(t.tenant, t.doc_id, t.content_hash)}
    c.chunks = {
        pk: ch for pk, ch in c.chunks.items() if not gone(ch.tenant, ch.doc_id, ch.content_hash)
    }
    c.bm25 = None


def _stored(r: ChunkRow) -> StoredChunk:
    return StoredChunk(
        pk=r.pk,
        chunk_id=r.chunk_id,
        doc_id=r.doc_id,
        tenant=r.tenant,
        chunk_index=r.chunk_index,
        title=r.title,
        text=r.text,
        search_text=r.search_text,
        metadata=dict(r.metadata),
        token_count=r.stored_token_count,
        chunk_count=r.chunk_count,
        content_hash=r.content_hash,
        dense=np.asarray(r.dense, dtype=np.float32),
        sparse={int(t): float(w) for t, w in r.sparse.items()},
    )


def _reaches(route: FieldName, score: float) -> bool:
    """Whether the route's search returns a chunk it scored so: dense returns any chunk, sparse
    and BM25 only the chunks sharing a term with the query (as Milvus does)."""
    return route == "dense" or score > 0


def _without_vectors(ch: StoredChunk) -> StoredChunk:
    return replace(ch, dense=None, sparse=None)


def _key(ch: StoredChunk, score: float = 0.0, with_token_count: bool = True) -> Candidate:
    return Candidate(ch.pk, score, ch.doc_id, ch.token_count if with_token_count else None)


def _filter_fields(ch: StoredChunk) -> dict[str, object]:
    return {
        "doc_id": ch.doc_id,
        "tenant": ch.tenant,
        "chunk_index": ch.chunk_index,
        "title": ch.title,
        "metadata": ch.metadata,
    }
