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
    """Merges ranked lists from several routes into one ranked list.

    Callers may rely on: input lists are best-first; ranks are 1-based; a key repeated within
    one route counts only at its first (best) position; a route that did not return a key
    contributes nothing for it; the output is sorted by fused score descending, then best rank
    over routes ascending, then key ascending, so equal inputs give the same order every time;
    at most `limit` hits. Implementations are pure and thread-safe.
    """

    name: str

    def fuse(self, ranked: Mapping[str, Sequence[RouteHit]], limit: int) -> list[FusedHit]: ...


def check_weights(weights: Mapping[RouteKey, float] | None) -> dict[str, float]:
    """Copy route weights, refusing ones that would make the fused order meaningless.

    Raises:
        InvalidRequestError: a weight is negative, NaN or infinite.
    """
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
    """Score-based fusion needs finite scores: one NaN would make the sort order arbitrary.

    Raises:
        ValueError: a route returned a NaN or infinite score.
    """
    for route, hits in ranked.items():
        for hit in hits:
            if not math.isfinite(hit.score):
                raise ValueError(f"route {route!r} returned a non-finite score for {hit.key!r}")


def rank_fused(
    scores: Mapping[str, float], seen: Mapping[str, dict[str, tuple[int, float]]], limit: int
) -> list[FusedHit]:
    """Sort by fused score desc, then best rank over routes asc, then key asc; keep `limit`.

    The best-rank tie-break prefers a candidate some route put near its top over one that only
    reached the same score by appearing low in several routes; the key makes the order total.
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    order = sorted(
        scores,
        key=lambda key: (-scores[key], min(rank for rank, _ in seen[key].values()), key),
    )
    return [FusedHit(key, scores[key], dict(seen[key])) for key in order[:limit]]
