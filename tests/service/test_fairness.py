"""Deadlines, departed clients, per-document outcomes and large writes as jobs, over HTTP.

Real Milvus Lite with tiny models; small settings (a job threshold of 2 KB, batch steps of one
query) so each behaviour shows in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key

KEY_A, KEY_B = "fair-key-a", "fair-key-b"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}


def _app(tmp, service_settings, encoder, **service: Any) -> tuple[TestClient, HybridSearcher]:  # type: ignore[no-untyped-def]
    s = service_settings(
        tmp / "m.db",
        service=ServiceSettings(
            api_keys=[
                ApiKey(sha256=hash_api_key(KEY_A), tenant="A", name="a"),
                ApiKey(sha256=hash_api_key(KEY_B), tenant="B", name="b"),
            ],
            **service,
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    return TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False), searcher


@pytest.fixture(scope="module")
def client(tmp_path_factory, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    c, searcher = _app(
        tmp_path_factory.mktemp("fair"),
        service_settings,
        encoder,
        job_threshold_bytes=2000,
        batch_step=1,
    )
    with c:
        docs = [{"id": f"a{i}", "text": f"vector search tenant document {i}"} for i in range(8)]
        assert c.post("/v1/documents", headers=A, json={"documents": docs}).status_code == 200
        yield c
    searcher.close()


def test_every_write_answers_one_outcome_per_document(client: TestClient) -> None:
    docs: list[Any] = [
        {"id": "a0", "text": "vector search tenant document 0"},  # unchanged
        {"id": "a1", "text": "changed text"},  # replaced
        {"id": "n1", "text": "new"},  # inserted
        {"id": "bad", "text": ""},  # failed
        "not an object",
    ]
    r = client.post("/v1/documents", headers=A, json={"documents": docs})
    assert r.status_code == 200, r.text
    outcomes = r.json()["outcomes"]
    assert [(o["index"], o["status"]) for o in outcomes] == [
        (0, "unchanged"),
        (1, "replaced"),
        (2, "inserted"),
        (3, "failed"),
        (4, "failed"),
    ], outcomes
    assert "empty" in outcomes[3]["error"] and outcomes[4]["id"] is None


def test_a_large_write_is_a_job_that_reports_its_outcomes(client: TestClient) -> None:
    docs = [{"id": f"big{i}", "text": "long text " * 100} for i in range(4)] + [{"id": "x"}]
    r = client.post("/v1/documents", headers=A, json={"documents": docs})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["state"] in ("queued", "running") and job["total"] == 5
    deadline = time.monotonic() + 120
    while job["state"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.get(f"/v1/jobs/{job['job_id']}", headers=A).json()
    assert job["state"] == "done" and job["done"] == 5, job
    statuses = [o["status"] for o in job["summary"]["outcomes"]]
    assert statuses == ["inserted"] * 4 + ["failed"], statuses
    # another tenant cannot see it, and an unknown id is a 404 too
    assert client.get(f"/v1/jobs/{job['job_id']}", headers=B).status_code == 404
    assert client.get("/v1/jobs/nope", headers=A).json()["error"]["code"] == "job_not_found"


def test_a_client_that_leaves_stops_its_batch(client: TestClient) -> None:
    queries = [f"vector search {i}" for i in range(64)]
    started = time.monotonic()
    r = client.post("/v1/search/batch", headers=A, json={"queries": queries, "rerank": False})
    full_s = time.monotonic() - started
    assert r.status_code == 200 and len(r.json()["results"]) == 64

    body = json.dumps({"queries": queries, "rerank": False}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/search/batch",
        "raw_path": b"/v1/search/batch",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {KEY_A}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    leave_after = min(0.3, full_s / 4)

    async def call() -> float:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await anyio.sleep(leave_after)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        t0 = time.monotonic()
        await client.app(scope, receive, send)  # type: ignore[arg-type]
        return time.monotonic() - t0

    took = client.portal.call(call)  # type: ignore[union-attr]
    # nobody is left to read it; at most a 499 went into the void
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] in ([], [499])
    assert took < leave_after + full_s / 2, (took, full_s)
    metrics = client.get("/metrics").text
    assert 'status="499"' in metrics
    abandoned = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("hybrid_search_abandoned_work_seconds_total")
    ]
    assert abandoned and abandoned[0] < full_s / 2, (abandoned, full_s)


def test_past_its_deadline_a_batch_answers_504_with_its_progress(  # type: ignore[no-untyped-def]
    tmp_path, service_settings, encoder
) -> None:
    c, searcher = _app(tmp_path, service_settings, encoder, search_deadline_s=0.3, batch_step=1)
    try:
        with c:
            queries = [f"query number {i}" for i in range(64)]
            r = c.post("/v1/search/batch", headers=A, json={"queries": queries, "rerank": False})
            assert r.status_code == 504, r.text
            err = r.json()["error"]
            assert err["code"] == "deadline_exceeded"
            assert err["details"]["total"] == 64 and err["details"]["completed"] < 64, err
    finally:
        searcher.close()
