"""Writes to a Milvus Lite server seal its collections every SEAL_ROWS rows: Lite walks every
unsealed row in Python on each sparse and BM25 search, so a service's bulk write slowed every
other search; an embedded Lite is sealed when its process closes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hybrid_search.store import milvus, ops
from hybrid_search.store.milvus import MilvusStore
from hybrid_search.store.types import Scope
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import SourceDoc
from schemas.documents import Document
from tests.reliability.procs import MilvusServer


def _ingest(store: Any, encoder: Any, spec: Any, docs: list[SourceDoc]) -> None:
    opts = IngestOptions(max_chunk_tokens=16, chunk_overlap_tokens=0, window_documents=1)
    summary = IngestJob(store, encoder, spec, opts).run(docs)
    assert summary.failed == 0 and summary.inserted == len(docs)


@pytest.fixture(scope="module")
def lite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    server = MilvusServer.started_in(tmp_path_factory.mktemp("lite-server"))
    yield server
    server.stop()


def _flushes(store: MilvusStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    flushed: list[str] = []
    flush = store._conn.flush
    monkeypatch.setattr(store._conn, "flush", lambda name: (flushed.append(name), flush(name)))
    return flushed


def test_a_write_seals_the_collection_and_its_tokens_every_seal_rows(  # type: ignore[no-untyped-def]
    lite_server, encoder, spec, monkeypatch
) -> None:
    store = MilvusStore(lite_server.uri)
    assert not store.is_lite and store._conn.shared_lite_server()  # known by its version
    store.ensure_collection(spec)
    flushed = _flushes(store, monkeypatch)
    text = " ".join(f"word{i} 向量 检索" for i in range(12))  # several chunks of 16 tokens
    monkeypatch.setattr(milvus, "SEAL_ROWS", 10**6)
    _ingest(store, encoder, spec, [SourceDoc(Document(id="a", text=text), "a")])
    per_doc = ops.count_chunks(store, spec.name, Scope("default"))
    assert per_doc > 1 and flushed == []

    monkeypatch.setattr(milvus, "SEAL_ROWS", per_doc + 1)
    _ingest(store, encoder, spec, [SourceDoc(Document(id="b", text=text), "b")])
    assert flushed == [spec.name, spec.colbert_collection]  # 2 * per_doc unsealed: sealed
    _ingest(store, encoder, spec, [SourceDoc(Document(id="c", text=text), "c")])
    assert len(flushed) == 2  # the count began again at the seal

    hits = store.client.search(spec.name, data=["word3"], anns_field="bm25", limit=20)[0]
    assert {str(h.id).split("/")[1].split("#")[0] for h in hits} == {"a", "b", "c"}
    store.close()


def test_an_embedded_lite_is_sealed_by_its_process_not_by_writes(  # type: ignore[no-untyped-def]
    store, encoder, spec, monkeypatch
) -> None:
    assert store.is_lite and not store._conn.shared_lite_server()
    flushed = _flushes(store, monkeypatch)
    monkeypatch.setattr(milvus, "SEAL_ROWS", 1)
    text = " ".join(f"word{i} 向量 检索" for i in range(12))
    _ingest(store, encoder, spec, [SourceDoc(Document(id="a", text=text), "a")])
    assert flushed == []
