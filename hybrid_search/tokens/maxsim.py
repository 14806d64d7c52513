"""MaxSim of one query against many candidates at once, on packed document tokens.

score(q, D) = sum_i max_j <q_i, d_j> / |q|, as `BGEM3FlagModel.colbert_score` computes it. The
candidates' tokens are laid end to end and expanded a block (`block_tokens`) at a time: one
matrix product per block, then a per-candidate max with `np.maximum.reduceat`. For `binary`
the product runs on the 0/1 bits: <q, (2b - 1)/sqrt(d)> = (2 <q, b> - sum(q)) / sqrt(d).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hybrid_search.tokens.codec import FloatArray, PackedTokens, decode

#: document tokens expanded to float32 per matrix product (8192 x 1024 x 4 B = 32 MiB)
BLOCK_TOKENS = 8192


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
