"""One query's state while it is searched: what the routes found, the rows read, the timings
and the failures. Owned by one search call; the steps take it and fill in their part."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from hybrid_search.errors import HybridSearchError
from hybrid_search.fusion.base import FusedHit
from hybrid_search.retrieval.lanes import Lane
from hybrid_search.retrieval.plan import Plan
from hybrid_search.store.types import Candidate, QueryVectors, StoredChunk
from schemas.api import RouteFailure


def ms(seconds: float) -> float:
    return round(seconds * 1000.0, 3)


@dataclass
class SearchState:
    """Per-request state (never shared between queries or threads of another request)."""

    original: str  # the query as the user sent it
    query: QueryVectors  # as searched (possibly truncated), encoded
    truncated: bool
    plan: Plan
    lane: Lane
    timings: dict[str, float] = field(default_factory=dict)
    #: route -> why it did not answer
    errors: dict[str, HybridSearchError] = field(default_factory=dict)
    #: route -> its ranked candidates (empty on the store-fused path)
    ranked: dict[str, list[Candidate]] = field(default_factory=dict)
    #: pk -> key fields (doc id, token count) of every candidate seen
    keys: dict[str, Candidate] = field(default_factory=dict)
    #: pk -> full stored row, read for the head only
    rows: dict[str, StoredChunk] = field(default_factory=dict)
    fused: list[FusedHit] = field(default_factory=list)
    fusion: str = ""
    answered: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    failures: list[RouteFailure] = field(default_factory=list)
    rerank_scores: dict[str, float] = field(default_factory=dict)
    reranked: bool = False
    degraded: bool = False

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the block's wall time to `timings[stage]` (also when it raises)."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = round(
                self.timings.get(stage, 0.0) + ms(time.perf_counter() - t), 3
            )

    def add_ranked(self, route: str, candidates: list[Candidate]) -> None:
        self.ranked[route] = candidates
        for c in candidates:
            self.keys.setdefault(c.pk, c)
        self.errors.pop(route, None)
