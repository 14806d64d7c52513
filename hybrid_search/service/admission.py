"""Admission by tenant: bounded slots and queue, each tenant's share bounded, served in turns.

Model inference and Milvus calls block, so they run in worker threads, `max_concurrency` at a
time. One gate for everyone let one tenant's burst fill every slot and the whole queue while
the others got 503s for minutes (docs/design.md). Here each tenant may hold
at most `tenant_running` slots and `tenant_queue` queue places; over its share it gets 429 +
Retry-After at once while the others are still admitted, and a freed slot goes to the tenants
with waiting work in round-robin order, not first come first served.

A queued request whose deadline passes, or whose client leaves, gives its place up at once. A
running job is a thread and cannot be interrupted: it keeps its slot until it returns, so the
bound holds for threads, not only requests. Long work is cut into short jobs by the callers
(sub-batches, ingest windows) that check their `Work` between jobs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.to_thread

from hybrid_search.errors import OverloadedError
from hybrid_search.service.errors import TenantBusyError
from hybrid_search.service.work import Work

__all__ = ["TenantGate", "default_tenant_share"]

T = TypeVar("T")


def default_tenant_share(max_concurrency: int, max_queue: int) -> tuple[int, int]:
    """(running, queued) one tenant may hold by default: all slots but one (a single slot when
    there is one), so another tenant always finds a slot, and half the queue."""
    running = max(1, max_concurrency - 1)
    return running, max(1, math.ceil(max_queue / 2)) if max_queue else 0


@dataclass
class _Tenant:
    running: int = 0
    waiting: deque[anyio.Event] = field(default_factory=deque)


class TenantGate:
    """Runs blocking jobs in threads under per-tenant and global bounds; see the module doc.

    Create it inside the event loop that uses it (the app's lifespan). All bookkeeping happens
    on the event loop thread with no await between a check and its update, so it needs no lock.
    """

    def __init__(
        self,
        max_concurrency: int,
        max_queue: int,
        retry_after_s: int,
        *,
        tenant_running: int | None = None,
        tenant_queue: int | None = None,
    ) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        share = default_tenant_share(max_concurrency, max_queue)
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.tenant_running = min(max_concurrency, tenant_running or share[0])
        self.tenant_queue = share[1] if tenant_queue is None else tenant_queue
        self._tenants: dict[str, _Tenant] = {}
        self._turns: deque[str] = deque()  # tenants with waiting work, in serving order
        self._running = 0
        self._waiting = 0

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return self._waiting

    def load(self, tenant: str) -> tuple[int, int]:
        """(running, waiting) jobs of one tenant."""
        t = self._tenants.get(tenant)
        return (t.running, len(t.waiting)) if t else (0, 0)

    async def run(self, tenant: str, fn: Callable[[], T], work: Work | None = None) -> T:
        """Run `fn` in a worker thread once admitted and given a slot.

        Raises:
            TenantBusyError: this tenant already holds its share of slots and queue (429).
            OverloadedError: every queue place is taken (503).
            DeadlineExceededError, ClientGoneError: from `work`, while waiting for a slot.
        """
        if work is not None:
            work.check()
        t = self._tenants.setdefault(tenant, _Tenant())
        if self._may_start(t):
            self._start(t)
        else:
            await self._wait(tenant, t, work)
        began = work.now() if work is not None else 0.0
        try:
            return await anyio.to_thread.run_sync(fn)
        finally:
            if work is not None:
                work.account(began)
            t.running -= 1
            self._running -= 1
            self._dispatch()
            if t.running == 0 and not t.waiting:
                self._tenants.pop(tenant, None)

    def _may_start(self, t: _Tenant) -> bool:
        # a tenant with work already queued waits its turn behind it
        return (
            self._running < self.max_concurrency
            and t.running < self.tenant_running
            and not t.waiting
        )

    def _start(self, t: _Tenant) -> None:
        t.running += 1
        self._running += 1

    async def _wait(self, tenant: str, t: _Tenant, work: Work | None) -> None:
        if self._waiting >= self.max_queue:
            raise OverloadedError(
                f"server busy: {self._running} requests running and {self._waiting} queued; "
                f"retry in {self.retry_after_s}s",
                details={"retry_after_s": self.retry_after_s},
            )
        if len(t.waiting) >= self.tenant_queue:
            raise TenantBusyError(
                f"this tenant already has {t.running} requests running and {len(t.waiting)} "
                f"queued, its share of this service; retry in {self.retry_after_s}s",
                details={"retry_after_s": self.retry_after_s},
            )
        turn = anyio.Event()
        t.waiting.append(turn)
        self._waiting += 1
        if tenant not in self._turns:
            self._turns.append(tenant)
        try:
            if work is None:
                await turn.wait()
            else:
                await work.wait_for(turn)
        except BaseException:
            if turn.is_set():  # given a slot in the same instant: hand it on
                t.running -= 1
                self._running -= 1
                self._dispatch()
            else:
                t.waiting.remove(turn)
                self._waiting -= 1
            raise

    def _dispatch(self) -> None:
        """Give free slots to waiting tenants in turn (round robin over `_turns`)."""
        skipped = 0
        while self._running < self.max_concurrency and self._turns and skipped < len(self._turns):
            tenant = self._turns[0]
            t = self._tenants.get(tenant)
            if t is None or not t.waiting:
                self._turns.popleft()
                skipped = 0
                continue
            self._turns.rotate(-1)
            if t.running >= self.tenant_running:
                skipped += 1
                continue
            skipped = 0
            turn = t.waiting.popleft()
            self._waiting -= 1
            self._start(t)
            turn.set()
            if not t.waiting:
                self._turns.remove(tenant)
