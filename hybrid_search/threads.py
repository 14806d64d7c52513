"""Bulk work (ingest jobs, batch searches) runs on threads with a higher nice value, so the
kernel gives the CPU to interactive searches first; on Linux nice is per thread, and threads
started later (torch's OpenMP workers) inherit it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["BACKGROUND_NICE", "InlineExecutor", "background_pool", "lower_thread_priority"]

#: how much lower than searches bulk work runs (nice increment of its threads)
BACKGROUND_NICE = 10

P = ParamSpec("P")
T = TypeVar("T")


def lower_thread_priority(increment: int) -> bool:
    """Raise the calling thread's nice value (at most 19; never lowered back: that needs
    privileges, so only bulk work's own threads call it). False where unsupported."""
    if not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(
            os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment)
        )
    except OSError:
        return False
    return True


def background_pool(workers: int, name: str) -> ThreadPoolExecutor:
    """A pool whose threads run at `BACKGROUND_NICE` below the process."""
    return ThreadPoolExecutor(
        max_workers=workers,
        thread_name_prefix=name,
        initializer=lower_thread_priority,
        initargs=(BACKGROUND_NICE,),
    )


class InlineExecutor(Executor):
    """Runs each submitted call at once in the submitting thread: the parallel parts of bulk
    work run in its own low-priority thread instead of the interactive pools."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the caller reads it from the future, as with a pool
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None
