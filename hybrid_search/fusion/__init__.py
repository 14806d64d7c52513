"""Fusion of ranked route lists: RRF (default), raw weighted sum, min-max weighted sum."""

from __future__ import annotations

from collections.abc import Mapping

from hybrid_search.errors import InvalidRequestError
from hybrid_search.fusion.base import FusedHit, Fusion, RouteHit, RouteKey
from hybrid_search.fusion.rrf import DEFAULT_K, RRFFusion
from hybrid_search.fusion.weighted import DEFAULT_WEIGHTS, MinMaxFusion, WeightedFusion
from schemas.api import FusionName

__all__ = ["DEFAULT_K", "DEFAULT_WEIGHTS", "FusedHit", "Fusion", "MinMaxFusion", "RRFFusion"]
__all__ += ["RouteHit", "WeightedFusion", "make_fusion"]


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
