"""Interactive and background lanes: where a search's parallel parts run, and who gives way.

A single search fans its routes and its rerank out to the interactive pools. A batch search is
bulk work: it runs in a low-priority thread (`threads.BACKGROUND_NICE`) with its routes and
rerank inline. Thread priorities decide who gets a core, not who holds the GIL, so a background
search also gives way at its stage boundaries while interactive searches run, for at most
`YIELD_S` each time (slowed, never starved), and runs the caller's stop check there (deadline,
client gone)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from hybrid_search.threads import InlineExecutor, background_pool

__all__ = ["YIELD_S", "Lane", "Lanes"]

T = TypeVar("T")

#: concurrent store calls of interactive searches: a search fans out at most four routes
_ROUTE_WORKERS = 4
#: concurrent reranker calls of interactive searches (one would queue behind a batch's step)
_RERANK_WORKERS = 4
#: concurrent background batches (the service's gate admits one step per tenant at a time)
_BACKGROUND_WORKERS = 2
#: the longest a background search waits at one checkpoint for interactive searches to finish
YIELD_S = 0.1


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Lane:
    """Where a request's parallel parts run (its route searches, its reranker call), and what
    it runs between stages (`checkpoint`: may raise to stop the request)."""

    routes: Executor
    rerank: Executor
    checkpoint: Callable[[], None] = _nothing


class Lanes:
    """The searcher's pools, and the count of interactive searches background work yields to."""

    def __init__(self) -> None:
        self.interactive = Lane(
            routes=ThreadPoolExecutor(max_workers=_ROUTE_WORKERS, thread_name_prefix="route"),
            rerank=ThreadPoolExecutor(max_workers=_RERANK_WORKERS, thread_name_prefix="rerank"),
        )
        self._background = background_pool(_BACKGROUND_WORKERS, "background")
        self._inline = InlineExecutor()
        self._running = 0
        self._idle = threading.Condition()

    @contextmanager
    def interactive_search(self) -> Iterator[None]:
        """Mark an interactive search as running (background checkpoints wait for it)."""
        with self._idle:
            self._running += 1
        try:
            yield
        finally:
            with self._idle:
                self._running -= 1
                if self._running == 0:
                    self._idle.notify_all()

    def run_background(
        self, search: Callable[[Lane], T], stop: Callable[[], None] | None = None
    ) -> T:
        """Run `search(lane)` in a low-priority thread, on a lane whose checkpoints call `stop`
        and then give way to interactive searches; returns (or raises) what `search` does."""

        def checkpoint() -> None:
            if stop is not None:
                stop()
                self.give_way()
                stop()  # the client may have left while this waited
            else:
                self.give_way()

        lane = Lane(routes=self._inline, rerank=self._inline, checkpoint=checkpoint)
        return self._background.submit(search, lane).result()

    def give_way(self) -> None:
        """Wait while interactive searches run, at most YIELD_S (background work calls it
        between its stages: ingest jobs between encode batches)."""
        with self._idle:
            self._idle.wait_for(lambda: self._running == 0, timeout=YIELD_S)

    def shutdown(self) -> None:
        for pool in (self.interactive.routes, self.interactive.rerank, self._background):
            pool.shutdown(wait=False, cancel_futures=True)
