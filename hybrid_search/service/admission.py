"""Admission by tenant: bounded worker-thread slots and queue, each tenant's share bounded.

One shared gate let one tenant's burst fill every slot while the others got 503s for minutes
(docs/design.md): over its share a tenant gets 429 at once, and freed slots go round-robin to
tenants with waiting work. A running thread keeps its slot until it returns, so callers cut long
work into short jobs that check their `Work` in between.
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
    """Runs blocking jobs in threads under per-tenant and global bounds. Create it in the event
    loop that uses it: bookkeeping never awaits between a check and its update, so needs no lock."""

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
        self.running = 0  # jobs holding a slot, all tenants
        self.waiting = 0

    def load(self, tenant: str) -> tuple[int, int]:
        """(running, waiting) jobs of one tenant."""
        t = self._tenants.get(tenant)
        return (t.running, len(t.waiting)) if t else (0, 0)

    async def run(self, tenant: str, fn: Callable[[], T], work: Work | None = None) -> T:
        """Run `fn` in a worker thread once given a slot; TenantBusyError (429) over the tenant's
        share, OverloadedError (503) with the queue full, `work`'s errors while queued."""
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
            self.running -= 1
            self._dispatch()
            if t.running == 0 and not t.waiting:
                self._tenants.pop(tenant, None)

    def _may_start(self, t: _Tenant) -> bool:
        # a tenant with work already queued waits its turn behind it
        return (
            self.running < self.max_concurrency
            and t.running < self.tenant_running
            and not t.waiting
        )

    def _start(self, t: _Tenant) -> None:
        t.running += 1
        self.running += 1

    async def _wait(self, tenant: str, t: _Tenant, work: Work | None) -> None:
        if self.waiting >= self.max_queue:
            raise OverloadedError(
                f"server busy: {self.running} requests running and {self.waiting} queued; "
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
        self.waiting += 1
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
                self.running -= 1
                self._dispatch()
            else:
                t.waiting.remove(turn)
                self.waiting -= 1
            raise

    def _dispatch(self) -> None:
        """Give free slots to waiting tenants in turn (round robin over `_turns`)."""
        skipped = 0
        while self.running < self.max_concurrency and self._turns and skipped < len(self._turns):
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
            self.waiting -= 1
            self._start(t)
            turn.set()
            if not t.waiting:
                self._turns.remove(tenant)
