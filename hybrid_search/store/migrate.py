"""Copy a collection to another Milvus without re-encoding (`hybrid-search migrate`).

Built on the `VectorStore` verbs, so every tenancy mode and token storage kind copies alike: the
spec and search defaults, then the chunks the target lacks in this version, in windows of keys,
each written as ingest writes (token vectors, then the chunk commit), so a killed run leaves whole
windows and a re-run copies only what is missing. Last, counts, sampled vectors and the top hits
of searches built from them are compared on both sides (see `NOTE` for BM25 and dense).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hybrid_search.errors import RouteError, SchemaMismatchError
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import (
    FIELD_ROUTES,
    Candidate,
    ChunkRow,
    FieldName,
    QueryVectors,
    Scope,
    StoredChunk,
)
from schemas import collection as C

#: the mean top-10 overlap each route must reach: sparse and ColBERT (both sides rescore the same
#: keys, whatever the token layout) are exact; the dense HNSW graph is built anew on the target,
#: so its approximate top 10 may differ by a hit (0.975 on random 1024-dim vectors); BM25 free
REQUIRED_OVERLAP = {"dense": 0.9, "sparse": 1.0, "colbert": 1.0}
NOTE = (
    "BM25 top hits may differ: each engine computes BM25 statistics itself (Milvus Lite per "
    "segment), so its overlap is reported, not required; the dense index is rebuilt on the "
    "target, so its approximate top 10 may differ by a hit"
)


@dataclass(slots=True)
class MigrateReport:
    collection: str
    copied: int = 0  # chunks written by this run
    present: int = 0  # chunks the target already held in the same version
    windows: int = 0
    seconds: float = 0.0
    #: tenant -> {"documents"|"chunks"|"token_rows": [source, target]}
    counts: dict[str, dict[str, list[int | None]]] = field(default_factory=dict)
    #: every key on both sides, with the same version (content hash and chunk count)
    rows_equal: bool = True
    #: the sampled chunks' stored text, dense, sparse and token vectors
    vectors_equal: bool = True
    #: route -> mean share of the source's top 10 that the target returns too
    overlap: dict[str, float] = field(default_factory=dict)
    note: str = NOTE

    @property
    def ok(self) -> bool:
        same = all(a == b for c in self.counts.values() for a, b in c.values())
        agree = all(v >= REQUIRED_OVERLAP.get(r, 0.0) for r, v in self.overlap.items())
        return same and agree and self.rows_equal and self.vectors_equal


def migrate(
    source: VectorStore,
    target: VectorStore,
    name: str,
    *,
    window: int = 128,
    samples: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> MigrateReport:
    """Copy collection `name` from `source` to `target`, then compare them (`report.ok`); a
    differing collection of that name on the target is a SchemaMismatchError, never overwritten."""
    started = time.perf_counter()
    spec = source.describe(name)
    try:
        target.ensure_collection(spec)
    except SchemaMismatchError as exc:
        problems = (exc.details or {}).get("problems") or [exc.message]
        raise SchemaMismatchError(
            f"the target already holds a collection '{name}' that differs from the source "
            f"({'; '.join(problems)}); refusing to overwrite it: migrate to another URI or "
            "drop it there first",
            details={"collection": name, "problems": problems},
        ) from None
    spec = target.describe(name)
    target.search_defaults(name, save=source.search_defaults(name))
    have, want = _versions(target, name), _versions(source, name)
    todo = sorted(pk for pk, v in want.items() if have.get(pk) != v)
    report = MigrateReport(name, present=len(want) - len(todo))
    for start in range(0, len(todo), window):
        report.copied += _copy(source, target, spec, todo[start : start + window], want)
        report.windows += 1
        if progress is not None:
            progress(report.copied, len(todo))
    target.sync(spec)
    report.rows_equal = _versions(target, name) == want
    _compare(source, target, name, sorted(want), samples, report)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _versions(store: VectorStore, name: str) -> dict[str, tuple[str, int]]:
    """Every chunk's key, content hash and document chunk count, over all tenants (what
    `get_rows` leaves out)."""
    rows = store.query(name, Scope(""), [C.CONTENT_HASH_FIELD, C.CHUNK_COUNT_FIELD])
    return {
        str(r[C.PK_FIELD]): (str(r[C.CONTENT_HASH_FIELD]), int(r[C.CHUNK_COUNT_FIELD]))
        for r in rows
    }


def _copy(
    source: VectorStore,
    target: VectorStore,
    spec: C.CollectionSpec,
    pks: list[str],
    versions: dict[str, tuple[str, int]],
) -> int:
    """One window: per tenant, token vectors first, then the chunk rows committed."""
    tenants: dict[str, list[StoredChunk]] = {}
    for chunk in source.get_rows(spec.name, pks, with_vectors=True).values():
        chunk.content_hash, chunk.chunk_count = versions[chunk.pk]
        tenants.setdefault(chunk.tenant, []).append(chunk)
    for tenant, chunks in tenants.items():
        tokens = _tokens(source, spec, tenant, chunks)
        rows = [_row(c, tokens.get(c.pk)) for c in chunks]
        target.upsert(spec, tenant, rows)
        target.upsert(spec, tenant, rows, {c.doc_id: c.content_hash for c in chunks})
    return sum(len(c) for c in tenants.values())


def _tokens(
    store: VectorStore, spec: C.CollectionSpec, tenant: str, chunks: list[StoredChunk]
) -> dict[str, np.ndarray]:
    if not spec.colbert_dim:
        return {}
    counts = {c.pk: c.token_count for c in chunks}
    return store.read_token_vectors(spec.name, tenant, list(counts), counts)


def _row(c: StoredChunk, tokens: np.ndarray | None) -> ChunkRow:
    assert c.dense is not None and c.sparse is not None
    sparse = {} if c.sparse == C.EMPTY_SPARSE_ROW else c.sparse
    return ChunkRow(
        c.tenant, c.doc_id, c.chunk_index, c.chunk_count, c.title, c.text, c.search_text,
        c.metadata, c.content_hash, c.dense, sparse, tokens, c.token_count,
    )  # fmt: skip


def _compare(
    source: VectorStore,
    target: VectorStore,
    name: str,
    keys: list[str],
    samples: int,
    report: MigrateReport,
) -> None:
    """Counts per tenant; for sampled chunks, stored vectors and the top 10 of searches made
    from them (their dense and sparse vectors, their first words, their token vectors)."""
    for tenant in sorted({pk.partition("/")[0] for pk in keys}):
        a, b = ops.stats(source, name, tenant), ops.stats(target, name, tenant)
        report.counts[tenant] = {
            "documents": [a.documents, b.documents],
            "chunks": [a.chunks, b.chunks],
            "token_rows": [a.colbert_rows, b.colbert_rows],
        }
    picked = keys[:: max(1, len(keys) // max(1, samples))][:samples]
    src = source.get_rows(name, picked, with_vectors=True)
    dst = target.get_rows(name, picked, with_vectors=True)
    spec = source.describe(name)
    overlaps: dict[str, list[float]] = {}
    for pk, c in src.items():
        tokens = {s: _tokens(s, spec, c.tenant, [c]).get(pk) for s in (source, target)}
        t = dst.get(pk)
        report.vectors_equal &= (
            t is not None
            and _same(c.dense, t.dense)
            and c.sparse == t.sparse
            and c.search_text == t.search_text
            and _same(tokens[source], tokens[target])
        )
        sparse = None if c.sparse == C.EMPTY_SPARSE_ROW else c.sparse
        q = QueryVectors(" ".join(c.search_text.split()[:12]), c.dense, sparse, tokens[source])
        for route in FIELD_ROUTES:
            try:
                hits = [_top(s, name, route, q, c.tenant) for s in (source, target)]
            except RouteError:  # a chunk with no lexical weight
                continue
            overlaps.setdefault(route, []).append(_overlap(*hits))
        if q.colbert is not None:  # both sides rescore the source's dense top 50: exact
            pool = {h.pk: h.token_count or 0 for h in _hits(source, name, "dense", q, c.tenant, 50)}
            hits = [_rescored(s, name, c.tenant, q.colbert, pool) for s in (source, target)]
            overlaps.setdefault("colbert", []).append(_overlap(*hits))
    report.overlap = {r: round(float(np.mean(v)), 4) for r, v in overlaps.items()}


def _overlap(a: list[str], b: list[str]) -> float:
    return len(set(a) & set(b)) / len(a) if a else 1.0


def _same(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-6, atol=0))


def _hits(
    store: VectorStore, name: str, route: FieldName, q: QueryVectors, tenant: str, limit: int
) -> list[Candidate]:
    return store.search_field(name, route, [q], scope=Scope(tenant), limit=limit)[0]


def _top(
    store: VectorStore, name: str, route: FieldName, q: QueryVectors, tenant: str
) -> list[str]:
    return [h.pk for h in _hits(store, name, route, q, tenant, 10)]


def _rescored(
    store: VectorStore, name: str, tenant: str, tokens: np.ndarray, pool: dict[str, int]
) -> list[str]:
    """The top 10 of `pool` by MaxSim on the stored token vectors."""
    scores = store.score_token_vectors(name, tenant, tokens, list(pool), pool)
    return sorted(scores, key=lambda pk: (-scores[pk], pk))[:10]
