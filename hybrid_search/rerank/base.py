"""The Reranker protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypedDict, Unpack


class RerankOptions(TypedDict, total=False):
    """`normalize` maps scores to [0, 1]; `deadline` is a time.monotonic() instant after which
    the reranker stops between batches with RerankDeadlineExceeded."""

    normalize: bool
    deadline: float | None


class Reranker(Protocol):
    """Scores (query, passage) pairs; higher is more relevant. Thread-safe."""

    @property
    def name(self) -> str: ...

    def score(
        self, query: str, passages: Sequence[str], **options: Unpack[RerankOptions]
    ) -> list[float]:
        """One score per passage, in order."""
