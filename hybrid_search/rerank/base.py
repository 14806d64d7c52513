"""The Reranker protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hybrid_search.errors import RerankDeadlineExceeded

__all__ = ["RerankDeadlineExceeded", "Reranker"]


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant. Thread-safe."""

    @property
    def name(self) -> str: ...

    def score(
        self,
        query: str,
        passages: Sequence[str],
        *,
        normalize: bool = False,
        deadline: float | None = None,
    ) -> list[float]:
        """One score per passage, in order. `deadline` is a time.monotonic() instant after which
        the reranker stops between batches with RerankDeadlineExceeded."""
        ...
