"""The Route protocol. The values routes exchange live in `store/types.py`, which the store
imports too; they are re-exported here for route authors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hybrid_search.store.types import Candidate, QueryVectors, RouteError, Scope

__all__ = ["Candidate", "QueryVectors", "Route", "RouteError", "Scope"]


class Route(Protocol):
    """Searches one representation. `search` answers a batch of queries with one store call
    where the route can, and returns one ranked list (best first) per query."""

    name: str

    def search(
        self, queries: Sequence[QueryVectors], *, limit: int, scope: Scope
    ) -> list[list[Candidate]]: ...
