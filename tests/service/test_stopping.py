"""Stopping inside one document: a client that leaves mid-document, and jobs cancelled while
running or queued, stop within seconds and leave the stopped document absent."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key

KEY = "stop-key-a"
H = {"Authorization": f"Bearer {KEY}"}
#: ~1 MB of text in one document: many encode batches
BIG = " ".join(f"token{i} on vector search and ranking" for i in range(28_000))


@pytest.fixture(scope="module")
def base(tmp_path_factory, service_settings, encoder) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A real server (a disconnect needs a socket) on a free port, its jobs over 2 MB."""
    s = service_settings(
        tmp_path_factory.mktemp("stop") / "m.db",
        batch_size=8,  # the stop is checked between encode batches
        service=ServiceSettings(
            api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="A")],
            job_threshold_bytes=2_000_000,
            job_per_tenant=4,
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(s, searcher=searcher), port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    searcher.close()


def _within(seconds: float) -> float:
    """`seconds` on an idle machine, stretched by how oversubscribed the cores are now (the
    shared development machine runs several suites at once)."""
    return seconds * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _cpu_busy(seconds: float) -> float:
    """The share of one core this process used over the next `seconds`."""
    before = time.process_time()
    time.sleep(seconds)
    return (time.process_time() - before) / seconds


def test_a_client_that_leaves_mid_document_stops_it_and_leaves_nothing(base: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{base}/v1/documents",
            headers=H,
            json={"documents": [{"id": "big", "text": BIG}]},
            timeout=httpx.Timeout(30, read=1.5),
        )
    time.sleep(_within(2.0))
    assert _cpu_busy(1.0) < 0.25
    assert httpx.get(f"{base}/v1/documents/big", headers=H).status_code == 404


def test_a_running_job_cancels_within_2s_and_a_queued_one_at_once(base: str) -> None:
    docs = [{"id": f"j{i}", "text": BIG[:50_000]} for i in range(45)]
    ids = [
        httpx.post(f"{base}/v1/documents", headers=H, json={"documents": docs}, timeout=30).json()[
            "job_id"
        ]
        for _ in range(2)
    ]
    running, queued = ids
    deadline = time.monotonic() + 10
    while httpx.get(f"{base}/v1/jobs/{running}", headers=H).json()["state"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    r = httpx.delete(f"{base}/v1/jobs/{queued}", headers=H, timeout=30)
    assert r.json()["state"] == "cancelled", r.text
    started = time.monotonic()
    r = httpx.delete(f"{base}/v1/jobs/{running}", headers=H, timeout=30)
    assert r.json()["state"] == "cancelled" and time.monotonic() - started < _within(2.0), r.text
    summary = r.json()["summary"]
    assert len(summary["outcomes"]) == len(docs) and summary["inserted"] + summary["failed"] == 45
    for o in summary["outcomes"]:
        stored = httpx.get(f"{base}/v1/documents/{o['id']}", headers=H).status_code
        assert stored == (200 if o["status"] == "inserted" else 404), o
