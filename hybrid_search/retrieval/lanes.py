"""Where a search's parallel parts run. A single search fans out to the interactive pools; a
batch runs in a low-priority thread with its routes and rerank inline. Priorities decide who gets
a core, not who holds the GIL, so a batch also waits at its stage boundaries while interactive
searches run, at most `YIELD_S` each time (slowed, never starved), and checks its stop there."""

from __future__ import annotations

import threading
import time
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
#: how long no interactive search must have run before bulk work goes on
QUIET_S = 0.02


@dataclass(frozen=True, slots=True)
class Lane:
    """Where a request's route searches and reranker call run; `checkpoint` may raise to stop."""

    routes: Executor
    rerank: Executor
    checkpoint: Callable[[], None] = lambda: None


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
        self._last_end = 0.0
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
                self._last_end = time.monotonic()

    def run_background(
        self, search: Callable[[Lane], T], stop: Callable[[], None] | None = None
    ) -> T:
        """`search(lane)` in a low-priority thread; its checkpoints call `stop` and give way."""

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
        """Wait, at most YIELD_S, until no interactive search has run for QUIET_S (called
        between bulk stages): back-to-back searches leave gaps of a millisecond, which let bulk
        work straight back in."""
        deadline = time.monotonic() + YIELD_S
        with self._idle:
            while (now := time.monotonic()) < deadline:
                if self._running == 0 and now - self._last_end >= QUIET_S:
                    return
                self._idle.wait(min(deadline - now, QUIET_S))

    def shutdown(self) -> None:
        for pool in (self.interactive.routes, self.interactive.rerank, self._background):
            pool.shutdown(wait=False, cancel_futures=True)
