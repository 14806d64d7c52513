"""Reranking that cannot silently replace a good first stage: the reranker's order fused with
the first stage's by weighted RRF (`rerank_mode="fuse"`).

A cross-encoder can lower nDCG@10 after a strong first stage (BAAI's own tables: SciFact
74.64 -> 73.08 with bge-reranker-v2-m3). Fusing keeps what both orders agree on at the top:

    score(d) = 1 / (k + rank_first(d)) + weight / (k + rank_rerank(d))

over the reranked head only (ranks 1-based within it); weight 0 keeps the first stage, a large
weight approaches the reranker's order. RRF: Cormack, Clarke & Büttcher, SIGIR 2009.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from hybrid_search.fusion.rrf import DEFAULT_K

__all__ = ["DEFAULT_RERANK_WEIGHT", "fuse_with_rerank"]

#: the reranker counts as much as the first stage: either can lift a document, neither alone
#: can bury one the other put on top
DEFAULT_RERANK_WEIGHT = 1.0


def fuse_with_rerank(
    first_stage: Sequence[str],
    rerank_scores: Mapping[str, float],
    *,
    weight: float = DEFAULT_RERANK_WEIGHT,
    k: int = DEFAULT_K,
) -> list[str]:
    """The head's keys (`first_stage`, best first) by fused score descending, ties in the first
    stage's order; every key needs a reranker score, `weight` (>= 0) weighs the reranker's list
    against the first stage's 1, `k` (> 0) is RRF's constant.

    Raises:
        ValueError: a key without a reranker score, a duplicate key, a bad weight or k."""
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f"rerank weight must be a finite number >= 0, got {weight}")
    if k < 1:
        raise ValueError(f"RRF k must be >= 1, got {k}")
    if len(set(first_stage)) != len(first_stage):
        raise ValueError("first_stage holds a key twice")
    missing = [key for key in first_stage if key not in rerank_scores]
    if missing:
        raise ValueError(f"no reranker score for {missing[:3]}")
    first_rank = {key: i for i, key in enumerate(first_stage, start=1)}
    # the reranker's order; equal scores keep the first stage's order
    by_reranker = sorted(first_stage, key=lambda key: (-rerank_scores[key], first_rank[key]))
    rerank_rank = {key: i for i, key in enumerate(by_reranker, start=1)}
    fused = {
        key: 1.0 / (k + first_rank[key]) + weight / (k + rerank_rank[key]) for key in first_stage
    }
    return sorted(first_stage, key=lambda key: (-fused[key], first_rank[key]))
