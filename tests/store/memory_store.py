"""InMemoryStore: the VectorStore as numpy brute force, for proving the search logic
independent of Milvus (test_congruence.py runs the same scenarios on both).

Exact where Milvus is exact on small data: dense is the inner product, sparse the dot product
(chunks sharing no term are not returned, as Milvus' inverted index does not return them), token
search and MaxSim over the stored token vectors, kept as the collection's `colbert_storage`
kind keeps them (`hybrid_search.tokens.codec`) and read back as float32 matrices.

Filters follow Milvus' semantics as far as the congruence tests reach: a condition on a
metadata key a row lacks, or of another value type, is unknown (so `ne` / `nin` do not match
it either), and so is its negation: `not`, `and` and `or` follow three-valued logic.

BM25 is the formula Milvus' BM25 function uses (Robertson/Sparck Jones idf with +1 inside the
log, k1=1.2, b=0.75; tf, document length and average length over the analysed `search_text`),
with corpus statistics over the whole collection. The analyzer approximates Milvus' default
`jieba` tokenizer + lowercase with Python's jieba (Milvus runs the Rust port jieba-rs) and keeps
tokens with a letter or digit; other analyzers split on non-word characters. Measured on Milvus
Lite 3.x: with the jieba tokenizer the `{"type": "stop", "stop_words": ["_english_"]}` filter
removes nothing (a BM25 query "and" or "the" matches every chunk holding the word), so stop
words are kept here too, to rank as Milvus does; Milvus Lite 2.5 removes them (`jieba_stops`). Scores agree only approximately; the
congruence tests say how far.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.errors import CollectionNotFoundError, HybridSearchError, RouteError
from hybrid_search.fusion import make_fusion
from hybrid_search.fusion.base import RouteHit
from hybrid_search.retry import RetryCounter
from hybrid_search.store.schema import check_spec
from hybrid_search.store.types import (
    COUNT,
    Candidate,
    ChunkRow,
    FieldName,
    FusedResult,
    Health,
    QueryVectors,
    Scope,
    StoredChunk,
    doc_id_of,
    field_query,
)
from hybrid_search.tokens import maxsim_float32
from hybrid_search.tokens.codec import check_kind, decode, encode
from schemas.collection import CollectionSpec
from schemas.filters import AndFilter, Condition, Filter, NotFilter, OrFilter, Scalar

#: Lucene's English stop words, the list Milvus' `_english_` names
ENGLISH_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
BM25_K1 = 1.2
BM25_B = 0.75
_WORD = re.compile(r"\w", re.UNICODE)
_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


# -- filters -----------------------------------------------------------------------------------


def matches(f: Filter, fields: dict[str, Any]) -> bool:
    """Whether a row (`doc_id`, `tenant`, `chunk_index`, `title`, `metadata`) passes `f`."""
    return _truth(f, fields) is True


def _truth(f: Filter, fields: dict[str, Any]) -> bool | None:
    """Three-valued, as Milvus Lite 3.x evaluates: a condition on a metadata key the row lacks
    (or of another type) is unknown (None), and so is its negation."""
    if isinstance(f, AndFilter | OrFilter):
        got = [_truth(c, fields) for c in (f.all_of if isinstance(f, AndFilter) else f.any_of)]
        decisive = isinstance(f, OrFilter)  # True decides an or, False an and
        if decisive in got:
            return decisive
        return None if None in got else not decisive
    if isinstance(f, NotFilter):
        inner = _truth(f.negated, fields)
        return None if inner is None else not inner
    return _condition(f, fields)


def _condition(c: Condition, fields: dict[str, Any]) -> bool | None:
    found, value = _lookup(c.field, fields)
    if not found:
        return None
    if c.op in ("in", "nin"):
        values = c.value if isinstance(c.value, list) else [c.value]
        hit = any(_same_type(value, v) and value == v for v in values)
        if c.op == "in":
            return hit or (None if not any(_same_type(value, v) for v in values) else False)
        return None if not all(_same_type(value, v) for v in values) else not hit
    want = c.value
    if isinstance(want, list) or not _same_type(value, want):
        return None
    if c.op == "eq":
        return bool(value == want)
    if c.op == "ne":
        return bool(value != want)
    if c.op == "gt":
        return bool(value > want)
    if c.op == "gte":
        return bool(value >= want)
    if c.op == "lt":
        return bool(value < want)
    return bool(value <= want)


def _lookup(field: str, fields: dict[str, Any]) -> tuple[bool, Any]:
    if not field.startswith("metadata."):
        return field in fields, fields.get(field)
    node: Any = fields.get("metadata") or {}
    for key in field[len("metadata.") :].split("."):
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _same_type(a: Any, b: Scalar) -> bool:
    """Milvus compares JSON values of one kind: numbers with numbers, strings with strings,
    booleans with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


# -- BM25 --------------------------------------------------------------------------------------


def analyze(
    text: str, analyzer: str = "jieba", stop_words: bool = True, jieba_stops: bool = False
) -> list[str]:
    """Tokens as the collection's BM25 analyzer would cut them (approximately, see above);
    `jieba_stops`: the stop filter applies after jieba too, as on Milvus Lite 2.5."""
    if analyzer == "jieba":
        import jieba

        raw: Iterable[str] = jieba.lcut(text)
    else:
        raw = _SPLIT.split(text)
    tokens = [t.strip().lower() for t in raw]
    tokens = [t for t in tokens if t and _WORD.search(t)]
    if analyzer == "jieba" and not jieba_stops:  # Milvus Lite 3.x keeps stop words here
        return tokens
    stop = ENGLISH_STOP_WORDS if stop_words or analyzer == "english" else frozenset()
    return [t for t in tokens if t not in stop]


class BM25Index:
    """Term statistics of a set of analysed documents; `score` is Milvus' BM25."""

    def __init__(self, docs: dict[str, Sequence[str]]) -> None:
        self.tf = {pk: Counter(tokens) for pk, tokens in docs.items()}
        self.length = {pk: len(tokens) for pk, tokens in docs.items()}
        self.n = len(docs)
        self.avg = (sum(self.length.values()) / self.n) if self.n else 0.0
        self.df: Counter[str] = Counter()
        for counts in self.tf.values():
            self.df.update(counts.keys())

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def score(self, query: Sequence[str], pk: str) -> float:
        counts, length = self.tf[pk], self.length[pk]
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / self.avg) if self.avg else BM25_K1
        total = 0.0
        for term in query:
            tf = counts.get(term, 0)
            if tf:
                total += self.idf(term) * tf * (BM25_K1 + 1.0) / (tf + norm)
        return total


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

    def __init__(self, *, jieba_stops: bool = False) -> None:
        self.jieba_stops = jieba_stops
        self.retries = RetryCounter()
        self._collections: dict[str, _Collection] = {}
        self._lock = threading.RLock()

    def close(self) -> None:
        return None

    def health(self, name: str | None = None) -> Health:
        state = None if name is None else "Loaded" if name in self._collections else "NotExist"
        return Health("in-memory store", True, state)

    def sync(self, spec: CollectionSpec, *, reload: bool = False) -> None:
        self._get(spec.name)

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

    def search_defaults(self, name: str, save: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if save is not None:
            self._get(name).defaults = dict(save)
        return dict(self._get(name).defaults)

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

    def upsert(
        self,
        spec: CollectionSpec,
        tenant: str,
        rows: Sequence[ChunkRow],
        hashes: Mapping[str, str] | None = None,
    ) -> None:
        """Token vectors (stored as the kind stores them), or MilvusStore's commit at once: the
        new chunk rows, and no row of another version."""
        c = self._get(spec.name)
        with self._lock:
            if hashes is None:
                kind = check_kind(spec.colbert_storage)
                for r in rows:
                    if spec.colbert_dim and r.colbert is not None:
                        vectors = decode(encode(np.asarray(r.colbert, dtype=np.float32), kind))
                        c.tokens[r.pk] = _Tokens(r.doc_id, r.tenant, r.content_hash, vectors)
                return
            new = set(hashes.values())
            for r in rows:
                c.chunks[r.pk] = _stored(r)
            _remove(c, lambda t, d, h: t == tenant and d in hashes and h not in new)

    def delete(self, name: str, tenant: str, doc_ids: Sequence[str]) -> int:
        c = self._get(name)
        ids = set(doc_ids)
        with self._lock:
            present = {ch.doc_id for ch in c.chunks.values() if ch.tenant == tenant}
            _remove(c, lambda t, d, h: t == tenant and d in ids)
        return len(present & ids)

    def get_rows(
        self,
        name: str,
        pks: Sequence[str],
        *,
        with_vectors: bool = False,
        filter: Filter | None = None,
    ) -> dict[str, StoredChunk]:
        c = self._get(name)
        with self._lock:
            found = [c.chunks[pk] for pk in pks if pk in c.chunks]
        found = [ch for ch in found if filter is None or matches(filter, _filter_fields(ch))]
        return {ch.pk: ch if with_vectors else _without_vectors(ch) for ch in found}

    def query(
        self, name: str, scope: Scope, fields: Sequence[str], *, tokens: bool = False
    ) -> list[dict[str, Any]]:
        c = self._get(name)
        if tokens:
            docs = set(scope.doc_ids or ())
            with self._lock:
                found = [
                    t
                    for t in c.tokens.values()
                    if (not scope.tenant or t.tenant == scope.tenant)
                    and (scope.doc_ids is None or t.doc_id in docs)
                ]
            if list(fields) == [COUNT]:
                block = c.spec.colbert_block
                return [{COUNT: sum(-(-len(t.vectors) // block) for t in found)}]
            return [{"doc_id": t.doc_id, "tenant": t.tenant} for t in found]
        rows = self._scoped(name, scope)
        if list(fields) == [COUNT]:
            return [{COUNT: len(rows)}]
        return [{f: getattr(ch, f) for f in fields} for ch in rows]

    def _scoped(self, name: str, scope: Scope) -> list[StoredChunk]:
        pks = set(scope.pks) if scope.pks is not None else None
        docs = set(scope.doc_ids) if scope.doc_ids is not None else None
        c = self._get(name)
        with self._lock:
            rows = list(c.chunks.values())
        return [
            ch
            for ch in rows
            if (not scope.tenant or ch.tenant == scope.tenant)
            and (pks is None or ch.pk in pks)
            and (docs is None or ch.doc_id in docs)
            and (not scope.first_chunks or ch.chunk_index == 0)
            and (scope.filter is None or matches(scope.filter, _filter_fields(ch)))
        ]

    def search_field(
        self,
        name: str,
        route: FieldName | Literal["colbert"],
        queries: Sequence[QueryVectors],
        *,
        scope: Scope,
        limit: int,
        with_token_counts: bool = True,
        with_rows: bool = False,
        with_vectors: bool = False,
    ) -> list[list[Candidate]]:
        if route == "colbert":
            return [self._search_tokens(name, q, scope.tenant, limit) for q in queries]
        rows = self._scoped(name, scope)
        out: list[list[Candidate]] = []
        answered = 0
        for q in queries:
            try:
                data = field_query(route, q)
            except RouteError:
                if len(queries) == 1:  # as store/search.py: the route's own words
                    raise
                out.append([])
                continue
            answered += 1
            scored = [(self._score(name, route, data, ch), ch) for ch in rows]
            kept = [(s, ch) for s, ch in scored if _reaches(route, s)]
            kept.sort(key=lambda t: (-t[0], t[1].pk))
            out.append(
                [
                    Candidate(
                        ch.pk,
                        s,
                        ch.doc_id,
                        ch.token_count if with_token_counts else None,
                        (ch if with_vectors else _without_vectors(ch)) if with_rows else None,
                    )
                    for s, ch in kept[:limit]
                ]
            )
        if not answered:
            raise RouteError(f"{route}: the query has nothing this route can search")
        return out

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
        tokens = analyze(data, spec.analyzer, spec.stop_words, self.jieba_stops)
        return index.score(tokens, ch.pk)

    def _bm25(self, name: str) -> BM25Index:
        c = self._get(name)
        with self._lock:
            if c.bm25 is None:
                spec = c.spec
                c.bm25 = BM25Index(
                    {
                        pk: analyze(
                            ch.search_text, spec.analyzer, spec.stop_words, self.jieba_stops
                        )
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

    def _search_tokens(
        self, name: str, q: QueryVectors, tenant: str, limit: int
    ) -> list[Candidate]:
        """The best token match per chunk, as MilvusStore's token search (exact here)."""
        spec = self.describe(name)
        if not (spec.colbert_dim and spec.colbert_block == 1):
            raise RouteError(
                "colbert: this collection packs token vectors in blocks, so ColBERT can only "
                "rescore other routes' candidates"
            )
        if q.colbert is None:
            return []
        stored = self.token_vectors(name, tenant)
        best = {pk: float((q.colbert @ v.T).max()) for pk, v in stored.items() if len(v)}
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[: limit * 2]
        return [Candidate(pk, s, doc_id_of(pk)) for pk, s in ranked]

    def score_token_vectors(
        self,
        name: str,
        tenant: str,
        query: FloatArray,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, float]:
        stored = self.token_vectors(name, tenant)
        return maxsim_float32(query, {pk: stored[pk] for pk in chunk_pks if pk in stored})

    def read_token_vectors(
        self,
        name: str,
        tenant: str,
        chunk_pks: Sequence[str],
        token_counts: Mapping[str, int] | None = None,
    ) -> dict[str, FloatArray]:
        stored = self.token_vectors(name, tenant)
        return {pk: stored[pk] for pk in chunk_pks if pk in stored}

    def token_vectors(self, name: str, tenant: str) -> dict[str, FloatArray]:
        """The tenant's stored token vectors by chunk key (float32, as decoded)."""
        c = self._get(name)
        with self._lock:
            return {pk: t.vectors for pk, t in c.tokens.items() if t.tenant == tenant}


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


def _filter_fields(ch: StoredChunk) -> dict[str, object]:
    return {
        "doc_id": ch.doc_id,
        "tenant": ch.tenant,
        "chunk_index": ch.chunk_index,
        "title": ch.title,
        "metadata": ch.metadata,
    }


def write_documents(
    store: Any, spec: CollectionSpec, tenant: str, rows: Sequence[ChunkRow], hashes: Any
) -> None:
    """Both steps of a document write, for rows that carry their token vectors."""
    store.upsert(spec, tenant, rows)
    store.upsert(spec, tenant, rows, hashes)


def fetch_token_vectors(
    store: Any,
    name: str,
    tenant: str,
    pks: Sequence[str],
    token_counts: Mapping[str, int] | None = None,
) -> dict[str, FloatArray]:
    """Each chunk's stored token vectors as float32 `(n_tokens, dim)`, decoded as stored."""
    if isinstance(store, InMemoryStore):
        stored = store.token_vectors(name, tenant)
        return {pk: stored[pk] for pk in pks if pk in stored}
    from hybrid_search.store.token_rows import token_storage

    spec = store.describe(name)
    storage = token_storage(store._conn, spec)
    return storage.fetch(spec, tenant, pks, token_counts) if storage else {}
