"""Background lanes give way to interactive searches at their checkpoints, for at most YIELD_S
each time, and run the caller's stop check there."""

from __future__ import annotations

import threading
import time

import pytest

from hybrid_search.retrieval.lanes import YIELD_S, Lane, Lanes


@pytest.fixture
def lanes():  # type: ignore[no-untyped-def]
    lanes = Lanes()
    yield lanes
    lanes.shutdown()


def _checkpoint_seconds(lanes: Lanes) -> float:
    def search(lane: Lane) -> float:
        t = time.monotonic()
        lane.checkpoint()
        return time.monotonic() - t

    return lanes.run_background(search)


def test_checkpoint_passes_at_once_when_nothing_interactive_runs(lanes) -> None:  # type: ignore[no-untyped-def]
    assert _checkpoint_seconds(lanes) < YIELD_S / 2


def test_checkpoint_waits_for_a_running_interactive_search(lanes) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()
    started = threading.Event()

    def interactive() -> None:
        with lanes.interactive_search():
            started.set()
            release.wait(5)

    t = threading.Thread(target=interactive)
    t.start()
    started.wait(5)
    threading.Timer(YIELD_S / 4, release.set).start()
    waited = _checkpoint_seconds(lanes)
    t.join()
    assert YIELD_S / 8 < waited < YIELD_S  # woken when the interactive search ended


def test_checkpoint_never_waits_longer_than_yield_s(lanes) -> None:  # type: ignore[no-untyped-def]
    with lanes.interactive_search():  # never ends during the checkpoint: no starvation
        waited = _checkpoint_seconds(lanes)
    assert YIELD_S * 0.9 <= waited < YIELD_S * 3


def test_stop_raised_at_a_checkpoint_ends_the_background_search(lanes) -> None:  # type: ignore[no-untyped-def]
    reached: list[str] = []

    def stop() -> None:
        raise TimeoutError("deadline")

    def search(lane: Lane) -> None:
        reached.append("before")
        lane.checkpoint()
        reached.append("after")

    with pytest.raises(TimeoutError, match="deadline"):
        lanes.run_background(search, stop)
    assert reached == ["before"]
