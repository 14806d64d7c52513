"""The ingest job rides out a Milvus restart: retries exhausted, collections back released."""

from __future__ import annotations

from typing import Any

import pytest
from pymilvus.exceptions import MilvusException

from hybrid_search.errors import StoreError, StoreUnavailableError
from hybrid_search.retry import RetryCounter, call_with_recovery, needs_reload
from hybrid_search.store import ops
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import record_from_object


def released() -> StoreError:
    cause = MilvusException(
        code=101, message="Collection 'c' is in state 'released'; call load() before search"
    )
    err = StoreError(f"Milvus call failed: count c: {cause}")
    err.__cause__ = cause
    return err


def test_needs_reload_recognises_a_released_collection() -> None:
    assert needs_reload(released())
    assert not needs_reload(StoreError("schema mismatch"))
    assert not needs_reload(ValueError("call load() before"))  # not a Milvus error


def test_call_with_recovery_runs_again_only_when_recovered() -> None:
    calls: list[int] = []
    counter = RetryCounter()

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise released()
        return "ok"

    assert call_with_recovery(flaky, needs_reload, attempts=3, what="x", counter=counter) == "ok"
    assert (len(calls), counter.count) == (3, 2)
    calls.clear()
    with pytest.raises(StoreError):
        call_with_recovery(flaky, lambda e: False, attempts=3, what="x")
    calls.clear()
    with pytest.raises(StoreError):  # attempts bound the runs
        call_with_recovery(flaky, needs_reload, attempts=2, what="x")
    assert len(calls) == 2


class FlakyStore:
    """The real store, except that each kind of call fails once as after a Milvus restart."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.failures = {
            "query": released(),  # the document states' read
            "commit": StoreUnavailableError("down"),
        }
        self.loaded: list[str] = []

    def sync(self, spec: Any, *, reload: bool = False) -> None:
        if reload:
            self.loaded.append(spec.name)
        self._store.sync(spec, reload=reload)

    def upsert(self, spec: Any, tenant: str, rows: Any, hashes: Any = None) -> None:
        if hashes is not None and (err := self.failures.pop("commit", None)) is not None:
            raise err
        self._store.upsert(spec, tenant, rows, hashes)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if name not in self.failures:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if (err := self.failures.pop(name, None)) is not None:
                raise err
            return attr(*args, **kwargs)

        return call


def test_ingest_survives_a_restarted_milvus(store, encoder, spec, settings) -> None:  # type: ignore[no-untyped-def]
    flaky = FlakyStore(store)
    opts = IngestOptions(max_chunk_tokens=settings.max_chunk_tokens, chunk_overlap_tokens=16)
    docs = [
        record_from_object({"id": f"d{i}", "text": f"text {i} " * 20}, "t", i) for i in range(5)
    ]
    summary = IngestJob(flaky, encoder, spec, opts).run(docs)  # type: ignore[arg-type]
    assert (summary.inserted, summary.failed, summary.retries) == (5, 0, 2), summary
    assert spec.name in flaky.loaded and not flaky.failures
    assert ops.stats(store, spec.name).documents == 5


def test_documents_cut_off_before_their_commit_are_counted_redone(
    store, encoder, spec, settings
) -> None:  # type: ignore[no-untyped-def]
    """A run killed between the token vectors and the commit leaves ColBERT rows without
    chunks; the next run writes those documents again and says so in `redone`."""
    opts = IngestOptions(max_chunk_tokens=settings.max_chunk_tokens, chunk_overlap_tokens=16)
    docs = [
        record_from_object({"id": f"r{i}", "text": f"redo {i} " * 20}, "t", i) for i in range(4)
    ]

    class DiesAtCommit:
        def __init__(self, inner: Any) -> None:
            self._inner = inner

        def upsert(self, spec: Any, tenant: str, rows: Any, hashes: Any = None) -> None:
            if hashes is not None:
                raise KeyboardInterrupt  # the process dies at the commit
            self._inner.upsert(spec, tenant, rows)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

    with pytest.raises(KeyboardInterrupt):
        IngestJob(DiesAtCommit(store), encoder, spec, opts).run(docs[:2])  # type: ignore[arg-type]
    assert ops.stats(store, spec.name).documents == 0 and ops.stats(store, spec.name).colbert_rows
    summary = IngestJob(store, encoder, spec, opts).run(docs)
    assert (summary.inserted, summary.redone, summary.failed) == (4, 2, 0), summary
