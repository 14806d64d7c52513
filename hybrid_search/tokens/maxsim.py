"""MaxSim of one query against many candidates at once, on packed document tokens.

score(q, D) = sum_i max_j <q_i, d_j> / |q|, as `BGEM3FlagModel.colbert_score` computes it. The
candidates' tokens are laid end to end and expanded a block (`block_tokens`) at a time: one
matrix product per block, then a per-candidate max with `np.maximum.reduceat`. For `binary`
the product runs on the 0/1 bits: <q, (2b - 1)/sqrt(d)> = (2 <q, b> - sum(q)) / sqrt(d).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

from hybrid_search.tokens.codec import FloatArray, PackedTokens, decode

#: document tokens expanded to float32 per matrix product (2048 x 1024 x 4 B = 8 MiB: fastest
#: of 1,024-8,192 measured for 120 candidates at 1024 dims on one thread)
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
    """Run the products on one BLAS thread: OpenBLAS's threads on a busy 2-core machine made
    MaxSim 3-20x slower (measured: 120 candidates at 1024 dims, 1.9-7.2 s on 2 threads vs
    0.5-0.8 s on one, load average 13), and the search runs its routes in threads already."""
    ctl = _blas_controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def maxsim_float32(query: FloatArray, vectors: Mapping[str, FloatArray]) -> dict[str, float]:
    """MaxSim of `query` against float32 token matrices (chunk -> (n, dim)), batched."""
    pks = [pk for pk, v in vectors.items() if len(v)]
    docs = [PackedTokens("float32", int(vectors[pk].shape[1]), _bytes(vectors[pk])) for pk in pks]
    scores = maxsim_many(query, docs) if docs else np.zeros(0, np.float32)
    out = dict(zip(pks, scores.tolist(), strict=True))
    return {pk: out.get(pk, 0.0) for pk in vectors}


def _bytes(x: FloatArray) -> Any:
    a = np.ascontiguousarray(x, dtype=np.float32)
    return a.view(np.uint8).reshape(len(a), -1)


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
    group: list[int] = []
    size = 0
    with one_blas_thread():
        for i, d in enumerate(docs):
            if len(d) == 0:
                continue
            if group and size + len(d) > block_tokens:
                _score_group(q, docs, group, scores)
                group, size = [], 0
            group.append(i)
            size += len(d)
        if group:
            _score_group(q, docs, group, scores)
    return scores


def _score_group(
    q: FloatArray, docs: Sequence[PackedTokens], group: list[int], out: FloatArray
) -> None:
    parts = [docs[i] for i in group]
    data = np.concatenate([p.data for p in parts]) if len(parts) > 1 else parts[0].data
    kind, dim = parts[0].kind, parts[0].dim
    if kind == "binary":
        bits = np.unpackbits(data, axis=1, count=dim).astype(np.float32)
        sim = (2.0 * (q @ bits.T) - q.sum(axis=1, keepdims=True)) / np.float32(math.sqrt(dim))
    else:
        sim = q @ decode(PackedTokens(kind, dim, data)).T
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
    best = np.maximum.reduceat(sim, starts, axis=1)  # (n_q, len(group))
    out[group] = best.sum(axis=0) / len(q)
