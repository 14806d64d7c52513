"""Min-max normalised weighted sum: routes on different scales (BM25 vs cosine) made comparable."""

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


class MinMaxFusion:
    """score(d) = Σ_r w_r · (s_r(d) − min_r) / (max_r − min_r), over the routes that returned d.

    min_r and max_r are taken over route r's returned list, so each route spans [0, 1] and a
    BM25 route can be mixed with cosine routes. A route whose scores are all equal (one hit, or
    ties) maps them to 1.0: returning a candidate is evidence, and 0 would erase it. A route
    that did not return d contributes 0. A route missing from `weights` gets 1.0, so the default
    is the plain sum of normalised scores (CombSUM on min-max scores, Fox & Shaw, TREC-2 1994).
    """

    name = "minmax"

    def __init__(self, weights: Mapping[RouteKey, float] | None = None) -> None:
        """Set up min-max fusion.

        Args:
            weights: route -> weight (>= 0); unlisted routes weigh 1.0.

        Raises:
            InvalidRequestError: a weight is negative or not finite.
        """
        self.weights = check_weights(weights)

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
        bounds = {
            route: (min(h.score for h in hits), max(h.score for h in hits))
            for route, hits in ranked.items()
            if hits
        }

        def norm(route: str, score: float) -> float:
            lo, hi = bounds[route]
            return 1.0 if hi == lo else (score - lo) / (hi - lo)

        scores = {
            key: math.fsum(self.weights.get(r, 1.0) * norm(r, s) for r, (_, s) in routes.items())
            for key, routes in seen.items()
        }
        return rank_fused(scores, seen, limit)
