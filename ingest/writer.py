"""How an ingest job moves work: documents in windows, chunks in token-bounded batches, and one
writer thread that performs the store writes in order behind a bounded queue (so writes hide
behind encoding and at most two batches of vectors are in memory)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence

from ingest.chunking import Chunk
from ingest.readers import SourceDoc


class Writer:
    """One thread that performs the store writes in order; the first fatal error stops the job."""

    def __init__(self) -> None:
        self._q: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=2)
        self.fatal: BaseException | None = None
        self._t = threading.Thread(target=self._run, name="milvus-writer", daemon=True)
        self._t.start()

    def _run(self) -> None:
        while (task := self._q.get()) is not None:
            if self.fatal is None:
                try:
                    task()
                except BaseException as exc:  # surfaced to the caller by check()
                    self.fatal = exc

    def submit(self, task: Callable[[], object]) -> None:
        self.check()
        self._q.put(task)

    def check(self) -> None:
        if self.fatal is not None:
            raise self.fatal

    def close(self) -> None:
        self.abort()
        self.check()

    def abort(self) -> None:
        """Stop after the queued writes; the caller is already raising."""
        self._q.put(None)
        self._t.join()


def windows(docs: Iterator[SourceDoc], max_docs: int, max_chars: int) -> Iterator[list[SourceDoc]]:
    window: list[SourceDoc] = []
    chars = 0
    for item in docs:
        window.append(item)
        chars += len(item.doc.text)
        if len(window) >= max_docs or chars >= max_chars:
            yield window
            window, chars = [], 0
    if window:
        yield window


def batches(
    chunks: Sequence[tuple[int, Chunk]], budget: int, max_rows: int
) -> Iterator[list[tuple[int, Chunk]]]:
    """Longest first, so each batch pads to a similar length; rows x longest <= token budget."""
    ordered = sorted(chunks, key=lambda c: -c[1].tokens)
    batch: list[tuple[int, Chunk]] = []
    for item in ordered:
        longest = batch[0][1].tokens if batch else item[1].tokens
        if batch and ((len(batch) + 1) * longest > budget or len(batch) >= max_rows):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch
