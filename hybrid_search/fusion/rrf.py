"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009), as Milvus's RRFRanker."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from hybrid_search.errors import InvalidRequestError
from hybrid_search.fusion.base import (
    FusedHit,
    RouteHit,
    RouteKey,
    check_weights,
    collect,
    rank_fused,
)

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
