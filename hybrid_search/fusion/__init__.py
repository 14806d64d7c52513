"""Fusion of ranked route lists: RRF (Cormack, Clarke & Büttcher, SIGIR 2009; default), raw
weighted sum (BGE-M3's hybrid score, Chen et al., 2024) and min-max weighted sum."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from hybrid_search.errors import InvalidRequestError
from hybrid_search.fusion.base import (
    FusedHit,
    Fusion,
    RouteHit,
    RouteKey,
    check_scores,
    check_weights,
    collect,
    rank_fused,
)
from schemas.api import FusionName

__all__ = ["DEFAULT_K", "DEFAULT_WEIGHTS", "FusedHit", "Fusion", "MinMaxFusion", "RRFFusion"]
__all__ += ["RouteHit", "WeightedFusion", "make_fusion"]

#: k = 60 is the paper's value and Milvus's RRFRanker default; it damps the head of each list so
#: that one route's first place cannot outvote agreement lower down in the others
DEFAULT_K = 60


class RRFFusion:
    """score(d) = Σ_r w_r / (k + rank_r(d)) over the routes r that returned d: ranks only, so
    incomparable scores fuse without calibration. All weights 1 (the default for an unlisted
    route; Milvus has no weights) equal Milvus's `RRFRanker(k)` (`tests/fusion/test_fusion.py`)."""

    name = "rrf"

    def __init__(self, k: int = DEFAULT_K, weights: Mapping[RouteKey, float] | None = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int | float) or not math.isfinite(k) or k <= 0:
            raise InvalidRequestError(f"RRF k must be > 0, got {k!r}", details={"field": "rrf_k"})
        self.k = k
        self.weights = check_weights(weights)

    def fuse(self, ranked: Mapping[str, Sequence[RouteHit]], limit: int) -> list[FusedHit]:
        seen = collect(ranked)
        scores = {
            key: math.fsum(
                self.weights.get(r, 1.0) / (self.k + rank) for r, (rank, _) in routes.items()
            )
            for key, routes in seen.items()
        }
        return rank_fused(scores, seen, limit)


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


def make_fusion(
    name: FusionName, *, k: int = DEFAULT_K, weights: Mapping[RouteKey, float] | None = None
) -> Fusion:
    """The fusion method `name`; an unlisted route weighs 1.0 in RRF and min-max, 0 in weighted."""
    if name == "rrf":
        return RRFFusion(k=k, weights=weights)
    if name == "weighted":
        return WeightedFusion(weights)
    if name == "minmax":
        return MinMaxFusion(weights)
    raise InvalidRequestError(
        f"unknown fusion {name!r}; use rrf, weighted or minmax", details={"field": "fusion"}
    )
