"""Weighted sum of raw route scores: BGE-M3's hybrid score (Chen et al., 2024), Milvus's
`WeightedRanker(..., norm_score=False)`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
    """score(d) = Σ_r w_r · s_r(d) on raw scores, no normalisation.

    A route missing from `weights` contributes 0, and so does a route that did not return d
    (its score there is unknown, not low). This is exactly Milvus's
    `WeightedRanker(w1, w2, ..., norm_score=False)` (checked against Milvus Lite in
    `tests/fusion/test_fusion.py`). FlagEmbedding's compute_score further divides by Σ w, which
    rescales scores but never changes the order.
    """

    name = "weighted"

    def __init__(self, weights: Mapping[RouteKey, float] | None = None) -> None:
        """Set up the weighted sum.

        Args:
            weights: route -> weight (>= 0); default `DEFAULT_WEIGHTS`.

        Raises:
            InvalidRequestError: a weight is negative or not finite.
        """
        self.weights = check_weights(DEFAULT_WEIGHTS) if weights is None else check_weights(weights)

    def fuse(self, ranked: Mapping[str, Sequence[RouteHit]], limit: int) -> list[FusedHit]:
        """Fuse ranked lists.

        Args:
            ranked: route name -> hits, best first, with raw scores (higher is better).
            limit: most hits to return (>= 0).

        Returns:
            Hits by fused score desc (ties: best rank asc, then key asc).

        Raises:
            ValueError: a score is NaN or infinite.
        """
        check_scores(ranked)
        seen = collect(ranked)
        scores = {
            key: math.fsum(self.weights.get(r, 0.0) * s for r, (_, s) in routes.items())
            for key, routes in seen.items()
        }
        return rank_fused(scores, seen, limit)
