"""The shapes fusion works on, and the steps every fusion method shares: collect, sort, cut."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from hybrid_search.errors import InvalidRequestError

#: route names as callers type them (`str`, or a Literal of the known routes)
RouteKey = TypeVar("RouteKey", bound=str)


@dataclass(frozen=True, slots=True)
class RouteHit:
    """One candidate from one retrieval route."""

    key: str  # the chunk's primary key
    score: float  # raw route score, higher is better


@dataclass(frozen=True, slots=True)
class FusedHit:
    """One candidate after fusion, with where it came from (for explanations)."""

    key: str
    score: float  # fused score
    #: route -> (1-based rank, raw score) for the routes that found it; rank None: scored only
    #: for the explanation, after fusion (see HybridSearcher._explain)
    routes: dict[str, tuple[int | None, float]]


class Fusion(Protocol):
    """Ranked route lists (best first) -> at most `limit` hits in `rank_fused`'s order. A key
    repeated in a route counts at its first position; a route without a key adds nothing for
    it. Implementations are pure and thread-safe."""

    name: str

    def fuse(self, ranked: Mapping[str, Sequence[RouteHit]], limit: int) -> list[FusedHit]: ...


def check_weights(weights: Mapping[RouteKey, float] | None) -> dict[str, float]:
    """Copy route weights, refusing ones that make the order meaningless (< 0, NaN, inf)."""
    out: dict[str, float] = {}
    for route, w in (weights or {}).items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidRequestError(
                f"weight for route {route!r} must be a finite number >= 0, got {w!r}",
                details={"field": "weights"},
            )
        out[route] = float(w)
    return out


def collect(ranked: Mapping[str, Sequence[RouteHit]]) -> dict[str, dict[str, tuple[int, float]]]:
    """key -> {route -> (1-based rank, raw score)}; a key repeated in a route keeps its first."""
    seen: dict[str, dict[str, tuple[int, float]]] = {}
    for route, hits in ranked.items():
        for rank, hit in enumerate(hits, start=1):
            routes = seen.setdefault(hit.key, {})
            if route not in routes:
                routes[route] = (rank, hit.score)
    return seen


def check_scores(ranked: Mapping[str, Sequence[RouteHit]]) -> None:
    """Score-based fusion needs finite scores: one NaN would make the sort order arbitrary."""
    for route, hits in ranked.items():
        for hit in hits:
            if not math.isfinite(hit.score):
                raise ValueError(f"route {route!r} returned a non-finite score for {hit.key!r}")


def rank_fused(
    scores: Mapping[str, float], seen: Mapping[str, dict[str, tuple[int, float]]], limit: int
) -> list[FusedHit]:
    """By fused score desc, then best rank asc (a route's top beats a score gathered low in
    several routes), then key (a total order); keep `limit`."""
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    order = sorted(
        scores,
        key=lambda key: (-scores[key], min(rank for rank, _ in seen[key].values()), key),
    )
    return [FusedHit(key, scores[key], dict(seen[key])) for key in order[:limit]]
