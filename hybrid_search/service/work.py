"""One request's budget: a deadline and a stop flag, shared by the event loop and worker threads.

Threads cannot be interrupted, so handlers cut work into short steps and call `Work.check()`
between them. `abandoned_s`: seconds spent after the client left (the reliability suite's figure).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import anyio

from hybrid_search.service.errors import ClientGoneError, DeadlineExceededError

__all__ = ["Work"]


class Work:
    """The budget of one request. `timeout_s` None: no deadline (set one with `limit`)."""

    def __init__(
        self, timeout_s: float | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self.started = clock()
        self.deadline = math.inf
        self.timeout_s: float | None = None
        self._lock = threading.Lock()
        self.left_at: float | None = None
        self.abandoned_s = 0.0
        #: told the seconds of each abandoned thread run (the service's metrics counter)
        self.on_abandoned: Callable[[float], None] | None = None
        if timeout_s is not None:
            self.limit(timeout_s)

    def limit(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = self.started + timeout_s

    @property
    def remaining(self) -> float:
        return self.deadline - self._clock()

    @property
    def client_gone(self) -> bool:
        return self.left_at is not None

    def client_left(self) -> None:
        with self._lock:
            if self.left_at is None:
                self.left_at = self._clock()

    def check(self) -> None:
        """Raise ClientGoneError or DeadlineExceededError if the work should stop; thread-safe."""
        if self.left_at is not None:
            raise ClientGoneError("the client closed the connection; the work was stopped")
        if self._clock() >= self.deadline:
            raise DeadlineExceededError(
                f"the request ran out of its {self.timeout_s:g}s deadline",
                details={"deadline_s": self.timeout_s},
            )

    def stop_reason(self) -> str | None:
        """ "cancelled" (the client left), "deadline", or None: the form the ingest job takes."""
        if self.left_at is not None:
            return "cancelled"
        return "deadline" if self._clock() >= self.deadline else None

    async def wait_for(self, event: anyio.Event) -> None:
        """Wait for `event`; DeadlineExceededError if the deadline comes first (leave the queue)."""
        with anyio.move_on_after(max(0.0, self.remaining)):
            await event.wait()
        if not event.is_set():
            self.check()
            raise DeadlineExceededError(  # the clock said no time left but check() disagreed
                "the request ran out of its deadline while queued",
                details={"deadline_s": self.timeout_s},
            )

    def account(self, began: float) -> None:
        """A worker thread of this request that started at `began` (this clock) returned: the
        part of its run after the client left counts as abandoned, and is reported."""
        left = self.left_at
        if left is None:
            return
        seconds = max(0.0, self._clock() - max(left, began))
        with self._lock:
            self.abandoned_s += seconds
        if self.on_abandoned is not None and seconds > 0:
            self.on_abandoned(seconds)

    def now(self) -> float:
        return self._clock()
