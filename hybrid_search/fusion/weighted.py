"""Weighted sums of route scores: raw (BGE-M3's hybrid score, Chen et al., 2024; Milvus's
`WeightedRanker(..., norm_score=False)`) and min-max normalised."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from hybrid_search.fusion.base import (
    FusedHit,
    RouteHit,
    RouteKey,
    check_scores,
    check_weights,
    collect,
    rank_fused,
)

#: the weights FlagEmbedding's README passes to BGEM3FlagModel.compute_score for
#: dense / sparse / ColBERT. BM25 has no weight: its raw scores are unbounded (often 5-30)
#: while BGE-M3's are about 0-1, so any raw weight would let it drown the others; give it one
#: explicitly, or use min-max or RRF fusion when mixing BM25 in.
DEFAULT_WEIGHTS: Mapping[str, float] = {"dense": 0.4, "sparse": 0.2, "colbert": 0.4}


class WeightedFusion:
    """score(d) = Σ_r w_r · s_r(d) on raw scores; a route missing from `weights` or not returning
    d adds 0 (unknown, not low). Exactly Milvus's `WeightedRanker(..., norm_score=False)`
    (`tests/fusion/test_fusion.py`); FlagEmbedding's further division by Σ w keeps the order."""

    name = "weighted"
    #: what a route missing from `weights` weighs
    unlisted = 0.0

    def __init__(self, weights: Mapping[RouteKey, float] | None = None) -> None:
        self.weights = check_weights(DEFAULT_WEIGHTS) if weights is None else check_weights(weights)

    def _normalise(self, ranked: Mapping[str, Sequence[RouteHit]]) -> Callable[[str, float], float]:
        return lambda route, score: score

    def fuse(self, ranked: Mapping[str, Sequence[RouteHit]], limit: int) -> list[FusedHit]:
        check_scores(ranked)
        seen, norm = collect(ranked), self._normalise(ranked)
        scores = {
            key: math.fsum(
                self.weights.get(r, self.unlisted) * norm(r, s) for r, (_, s) in routes.items()
            )
            for key, routes in seen.items()
        }
        return rank_fused(scores, seen, limit)


class MinMaxFusion(WeightedFusion):
    """score(d) = Σ_r w_r · (s_r(d) − min_r) / (max_r − min_r) over the routes that returned d:
    each route's list spans [0, 1], so BM25 mixes with cosine. All-equal scores map to 1.0
    (returning a candidate is evidence). Unlisted routes weigh 1.0: by default CombSUM on min-max
    scores (Fox & Shaw, TREC-2 1994)."""

    name = "minmax"
    unlisted = 1.0

    def __init__(self, weights: Mapping[RouteKey, float] | None = None) -> None:
        self.weights = check_weights(weights)

    def _normalise(self, ranked: Mapping[str, Sequence[RouteHit]]) -> Callable[[str, float], float]:
        bounds = {
            route: (min(h.score for h in hits), max(h.score for h in hits))
            for route, hits in ranked.items()
            if hits
        }

        def norm(route: str, score: float) -> float:
            lo, hi = bounds[route]
            return 1.0 if hi == lo else (score - lo) / (hi - lo)

        return norm
