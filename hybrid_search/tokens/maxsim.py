"""MaxSim of one query against many candidates at once, on packed document tokens.

score(q, D) = sum_i max_j <q_i, d_j> / |q|, as `BGEM3FlagModel.colbert_score` computes it. The
candidates' tokens are laid end to end and expanded a block (`block_tokens`) at a time: one
matrix product per block, then a per-candidate max with `np.maximum.reduceat`. For `binary`
the product runs on the 0/1 bits: <q, (2b - 1)/sqrt(d)> = (2 <q, b> - sum(q)) / sqrt(d).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from typing import Any

import numpy as np

from hybrid_search.tokens.codec import FloatArray, PackedTokens, StorageKind, decode, encode

#: document tokens expanded to float32 per matrix product (2048 x 1024 x 4 B = 8 MiB: the
#: fastest block size on one thread, docs/design.md)
BLOCK_TOKENS = 2048


@cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        return ThreadpoolController()
    except ImportError:  # optional: without it BLAS keeps its own thread count
        return None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the products on one BLAS thread: OpenBLAS's threads on a busy machine made MaxSim
    several times slower (docs/design.md), and the search runs its routes in threads already."""
    ctl = _blas_controller()
    with nullcontext() if ctl is None else ctl.limit(limits=1, user_api="blas"):
        yield


def maxsim_by_key(query: FloatArray, docs: Mapping[str, PackedTokens]) -> dict[str, float]:
    """MaxSim of `query` against each keyed document (chunk -> packed tokens), batched."""
    if not docs:
        return {}
    scores = maxsim_many(query, list(docs.values()))
    return dict(zip(docs, scores.tolist(), strict=True))


def maxsim_float32(query: FloatArray, vectors: Mapping[str, FloatArray]) -> dict[str, float]:
    """MaxSim of `query` against float32 token matrices (chunk -> (n, dim)), batched."""
    out = maxsim_by_key(query, {pk: encode(v, "float32") for pk, v in vectors.items() if len(v)})
    return {pk: out.get(pk, 0.0) for pk in vectors}


def maxsim(query: FloatArray, doc: PackedTokens) -> float:
    """MaxSim of one query against one document."""
    return float(maxsim_many(query, [doc])[0])


def maxsim_many(
    query: FloatArray, docs: Sequence[PackedTokens], *, block_tokens: int = BLOCK_TOKENS
) -> FloatArray:
    """MaxSim of `query` (n_q, dim) against every document; 0.0 for a document without tokens."""
    q = np.ascontiguousarray(query, dtype=np.float32)
    scores = np.zeros(len(docs), dtype=np.float32)
    if len(q) == 0 or not docs:
        return scores
    kinds = {d.kind for d in docs}
    if len(kinds) > 1:
        raise ValueError(f"documents of several storage kinds in one call: {sorted(kinds)}")
    for d in docs:
        if d.dim != q.shape[1]:
            raise ValueError(f"query tokens have dim {q.shape[1]}, document tokens {d.dim}")
    scorer = _GroupScorer(q, docs[0].kind, block_tokens)
    group: list[int] = []
    size = 0
    with one_blas_thread():
        for i, d in enumerate(docs):
            if len(d) == 0:
                continue
            if group and size + len(d) > block_tokens:
                scorer.score(docs, group, scores)
                group, size = [], 0
            group.append(i)
            size += len(d)
        if group:
            scorer.score(docs, group, scores)
    return scores


class _GroupScorer:
    """Scores groups of documents into buffers allocated once per call: a fresh 8 MiB array per
    block is mmap'ed and page-faulted by the allocator each time, which cost as much as the
    product itself (docs/design.md)."""

    def __init__(self, q: FloatArray, kind: StorageKind, block_tokens: int) -> None:
        self.q, self.kind = q, kind
        dim = q.shape[1]
        self.scale = np.float32(math.sqrt(dim))
        self.q_sum = q.sum(axis=1, keepdims=True)
        self.expanded = np.empty((block_tokens, dim), dtype=np.float32)
        self.sim = np.empty((len(q), block_tokens), dtype=np.float32)

    def score(self, docs: Sequence[PackedTokens], group: list[int], out: FloatArray) -> None:
        parts = [docs[i] for i in group]
        data = np.concatenate([p.data for p in parts]) if len(parts) > 1 else parts[0].data
        n, dim = len(data), parts[0].dim
        if n > len(self.expanded):  # one document longer than a block: its own buffers
            self.expanded = np.empty((n, dim), dtype=np.float32)
            self.sim = np.empty((len(self.q), n), dtype=np.float32)
        sim = self.sim[:, :n]
        if self.kind == "binary":
            bits = self.expanded[:n]
            np.copyto(bits, np.unpackbits(data, axis=1, count=dim))
            np.matmul(self.q, bits.T, out=sim)
            sim *= 2.0
            sim -= self.q_sum
            sim /= self.scale
        else:
            np.matmul(self.q, decode(PackedTokens(self.kind, dim, data)).T, out=sim)
        starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        best = np.maximum.reduceat(sim, starts, axis=1)  # (n_q, len(group))
        out[group] = best.sum(axis=0) / len(self.q)
