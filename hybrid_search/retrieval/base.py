"""The Route protocol and the values routes exchange."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hybrid_search.encoders.base import FloatArray, SparseVector


class RouteError(Exception):
    """One route could not answer this query; the others still do."""


@dataclass(slots=True)
class QueryVectors:
    """One query, encoded; a representation the encoder lacks is None."""

    text: str
    dense: FloatArray | None = None
    sparse: SparseVector | None = None
    colbert: FloatArray | None = None


@dataclass(slots=True)
class Candidate:
    """A chunk a route returned: its primary key, raw route score and stored fields."""

    pk: str
    score: float
    row: dict[str, Any] = field(default_factory=dict)


class Route(Protocol):
    """Searches one representation. `search` answers a batch of queries with one Milvus call
    where the route can, and returns one ranked list (best first) per query."""

    name: str

    def search(
        self, queries: Sequence[QueryVectors], *, limit: int, expr: str | None
    ) -> list[list[Candidate]]: ...
