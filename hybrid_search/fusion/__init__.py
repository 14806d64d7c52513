"""Fusion of ranked route lists: RRF (default), raw weighted sum, min-max weighted sum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from hybrid_search.errors import InvalidRequestError
from hybrid_search.fusion.base import FusedHit, Fusion, RouteHit, RouteKey
from hybrid_search.fusion.minmax import MinMaxFusion
from hybrid_search.fusion.rrf import DEFAULT_K, RRFFusion
from hybrid_search.fusion.weighted import DEFAULT_WEIGHTS, WeightedFusion

__all__ = [
    "DEFAULT_K",
    "DEFAULT_WEIGHTS",
    "FusedHit",
    "Fusion",
    "MinMaxFusion",
    "RRFFusion",
    "RouteHit",
    "WeightedFusion",
    "make_fusion",
]

FusionName = Literal["rrf", "weighted", "minmax"]


def make_fusion(
    name: FusionName, *, k: int = DEFAULT_K, weights: Mapping[RouteKey, float] | None = None
) -> Fusion:
    """Build a fusion method by name.

    Args:
        name: "rrf", "weighted" or "minmax".
        k: RRF constant (RRF only), default 60.
        weights: per-route weights; each method's docstring says what an unlisted route weighs
            (RRF and min-max: 1.0; weighted: 0, default `DEFAULT_WEIGHTS`).

    Returns:
        The fusion; its `name` is the one given.

    Raises:
        InvalidRequestError: unknown name, bad k or bad weights.
    """
    if name == "rrf":
        return RRFFusion(k=k, weights=weights)
    if name == "weighted":
        return WeightedFusion(weights)
    if name == "minmax":
        return MinMaxFusion(weights)
    raise InvalidRequestError(
        f"unknown fusion {name!r}; use rrf, weighted or minmax", details={"field": "fusion"}
    )
