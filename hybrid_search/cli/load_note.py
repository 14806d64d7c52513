"""On a terminal, a CLI search that loads real model weights (over 1 GB) says so once, with a
line counting the seconds: each CLI process loads its models anew, `serve` and the Python API
load them once. Nothing is written when stderr is not a terminal."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: a model directory larger than this holds real weights (BGE-M3: 2.2 GB; tiny models: 2 MB)
BIG_BYTES = 1 << 30
HINT = (
    "hybrid-search: this command loads the models anew for one search; for many searches run "
    "`hybrid-search serve` or use the Python API (HybridSearcher), which load them once\n"
)
_hinted: list[bool] = []


def model_bytes(path: str) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


@contextmanager
def note_big_load(kind: str, path: str) -> Iterator[None]:
    """`loading.load_hook` for CLI searches (see the module docstring)."""
    size = model_bytes(path) if sys.stderr.isatty() else 0
    if size <= BIG_BYTES:
        yield
        return
    if not _hinted:
        _hinted.append(True)
        sys.stderr.write(HINT)
    what, start = f"loading {kind} ({size / 2**30:.1f} GB)", time.monotonic()
    done = threading.Event()

    def tick() -> None:
        while True:
            sys.stderr.write(f"\r{what}: {time.monotonic() - start:.0f} s")
            sys.stderr.flush()
            if done.wait(1.0):
                return

    ticker = threading.Thread(target=tick, daemon=True, name="load-note")
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        sys.stderr.write(f"\r{what}: done in {time.monotonic() - start:.0f} s\n")
