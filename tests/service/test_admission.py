"""Admission by tenant, deadlines and abandoned work: the TenantGate and Work on their own."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest

from hybrid_search.errors import OverloadedError
from hybrid_search.service.admission import TenantGate, default_tenant_share
from hybrid_search.service.errors import (
    ClientGoneError,
    DeadlineExceededError,
    TenantBusyError,
)
from hybrid_search.service.execution import run_steps
from hybrid_search.service.work import Work


def test_a_tenant_over_its_share_gets_429_while_another_is_served() -> None:
    release = threading.Event()
    order: list[str] = []

    def job(name: str) -> str:
        order.append(name)
        release.wait(5)
        return name

    async def main() -> dict[str, Any]:
        gate = TenantGate(2, 4, retry_after_s=3)  # A may hold 1 slot and 2 queue places
        assert (gate.tenant_running, gate.tenant_queue) == (1, 2)
        out: dict[str, Any] = {}

        async def call(tenant: str, name: str) -> None:
            try:
                out[name] = await gate.run(tenant, lambda: job(name))
            except TenantBusyError as exc:
                out[name] = exc

        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(call, "A", f"a{i}")
            await anyio.sleep(0.2)
            assert gate.load("A") == (1, 2) and gate.running == 1  # one slot left free
            await call("A", "a3")  # over A's share: refused at once
            tg.start_soon(call, "B", "b0")
            await anyio.sleep(0.2)
            assert gate.load("B") == (1, 0)  # B found the slot A may not take
            release.set()
        return out

    out = anyio.run(main)
    assert isinstance(out["a3"], TenantBusyError) and out["a3"].details == {"retry_after_s": 3}
    assert out["a3"].code == "tenant_busy"
    assert [out[n] for n in ("a0", "a1", "a2", "b0")] == ["a0", "a1", "a2", "b0"]


def test_freed_slots_go_to_tenants_in_turn() -> None:
    gates: list[threading.Event] = [threading.Event() for _ in range(5)]
    order: list[str] = []

    async def main() -> None:
        gate = TenantGate(1, 8, 1, tenant_running=1, tenant_queue=4)

        async def call(tenant: str, i: int) -> None:
            def job() -> None:
                order.append(f"{tenant}{i}")
                gates[len(order) - 1].wait(5)

            await gate.run(tenant, job)

        async with anyio.create_task_group() as tg:
            for i in range(3):  # A arrives first with three
                tg.start_soon(call, "A", i)
                await anyio.sleep(0.05)
            tg.start_soon(call, "B", 0)
            tg.start_soon(call, "C", 0)
            await anyio.sleep(0.1)
            for g in gates:
                g.set()
                await anyio.sleep(0.1)

    anyio.run(main)
    # first come for A's first job, then one job per tenant in turn
    assert order == ["A0", "A1", "B0", "C0", "A2"], order


def test_the_global_queue_bound_is_a_503() -> None:
    release = threading.Event()

    async def main() -> BaseException:
        gate = TenantGate(1, 1, 2, tenant_running=1, tenant_queue=1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.run, "A", lambda: release.wait(5))
            tg.start_soon(gate.run, "B", lambda: release.wait(5))
            await anyio.sleep(0.2)
            with pytest.raises(OverloadedError) as info:
                await gate.run("C", lambda: None)
            release.set()
        assert (gate.running, gate.waiting) == (0, 0)
        return info.value

    assert not isinstance(anyio.run(main), TenantBusyError)


def test_a_queued_request_leaves_at_its_deadline_and_frees_its_place() -> None:
    release = threading.Event()

    async def main() -> None:
        gate = TenantGate(1, 4, 1, tenant_running=1, tenant_queue=4)
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.run, "A", lambda: release.wait(5))
            await anyio.sleep(0.1)
            started = time.monotonic()
            with pytest.raises(DeadlineExceededError):
                await gate.run("B", lambda: None, Work(0.3))
            assert 0.25 < time.monotonic() - started < 2.0
            assert gate.waiting == 0 and gate.load("B") == (0, 0)
            release.set()
        assert await gate.run("B", lambda: 5) == 5

    anyio.run(main)


def test_a_cancelled_waiter_gives_its_place_up() -> None:
    release = threading.Event()

    async def main() -> None:
        gate = TenantGate(1, 4, 1, tenant_running=1, tenant_queue=4)
        async with anyio.create_task_group() as tg:
            tg.start_soon(gate.run, "A", lambda: release.wait(5))
            await anyio.sleep(0.1)
            with anyio.move_on_after(0.2):
                await gate.run("B", lambda: None)
            assert gate.waiting == 0 and gate.load("B") == (0, 0)
            release.set()

    anyio.run(main)


def test_steps_stop_between_each_other_and_say_how_far_they_got() -> None:
    ran: list[int] = []

    async def main() -> None:
        gate = TenantGate(2, 4, 1)
        work = Work(0.35)

        def step(i: int) -> int:
            ran.append(i)
            time.sleep(0.1)
            return i

        with pytest.raises(DeadlineExceededError) as info:
            await run_steps(gate, "A", work, [lambda i=i: step(i) for i in range(20)])
        assert info.value.details["total"] == 20
        assert info.value.details["completed"] == len(ran) < 6

    anyio.run(main)


def test_a_departed_client_stops_the_work_and_the_rest_is_counted_abandoned() -> None:
    reported: list[float] = []
    work = Work(30)
    work.on_abandoned = reported.append
    began = work.now()
    work.client_left()
    time.sleep(0.05)
    work.account(began)
    with pytest.raises(ClientGoneError):
        work.check()
    assert work.stop_reason() == "cancelled"
    assert len(reported) == 1 and 0.04 < reported[0] < 1.0 and work.abandoned_s == reported[0]


def test_default_share_leaves_a_slot_for_others() -> None:
    assert default_tenant_share(2, 16) == (1, 8)
    assert default_tenant_share(1, 0) == (1, 0)
    assert default_tenant_share(8, 3) == (7, 2)
