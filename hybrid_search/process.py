"""Process tuning for a long-running service: glibc's heap (arenas, trimming after large
writes), oneDNN's kernel cache and the GIL switch interval. Linux/glibc only where it says so;
elsewhere no-ops."""

from __future__ import annotations

import ctypes
import gc
import os
import sys


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl)
        return None


def release_memory() -> None:
    """Hand freed heap back to the system after a write (glibc keeps it in its arenas, so RSS
    would stay at its peak after a large ingest); cycles first, so what they held is freed too."""
    gc.collect()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


#: glibc's mallopt parameter for the number of malloc arenas
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Fewer glibc arenas for the worker threads: each keeps its own free fragments, which
    `malloc_trim` cannot always hand back (docs/reliability.md). True when glibc took it."""
    libc = _glibc()
    return libc is not None and libc.mallopt(_M_ARENA_MAX, arenas) == 1


#: compiled oneDNN kernels kept per process (oneDNN's default is 1,024)
KERNEL_CACHE_CAPACITY = 8
#: computations torch's oneDNN binding (ideep) keeps per input shape (its default is 1,024)
SHAPE_CACHE_CAPACITY = 8


def bound_kernel_cache(
    capacity: int = KERNEL_CACHE_CAPACITY, shapes: int = SHAPE_CACHE_CAPACITY
) -> None:
    """oneDNN compiles a kernel per operation and input shape and keeps up to 1,024 of them, and
    torch's ideep keeps up to 1,024 prepared computations per shape besides (what a bf16 encoder
    runs on): a service meets new (batch, length) shapes for hours, so RSS climbed until both
    filled. 1,500 bf16 passes of the tiny model over random shapes: +41 MiB at 64/32, +7 MiB at
    8/8, no more CPU (docs/reliability-soak.md). Read at the first forward pass, so call it
    before the models run; the environment wins."""
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(capacity))
    os.environ.setdefault("LRU_CACHE_CAPACITY", str(shapes))


#: the service's GIL switch interval (CPython's default is 5 ms)
GIL_SWITCH_INTERVAL_S = 0.001


def shorten_gil_switch_interval(seconds: float = GIL_SWITCH_INTERVAL_S) -> None:
    """A search hands the GIL between threads many times, each hand-off waiting up to the switch
    interval while another tenant's batch holds it (docs/reliability.md, noisy neighbour)."""
    sys.setswitchinterval(seconds)
