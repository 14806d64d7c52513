"""POST /v1/files: uploaded files read by the same readers, as a job, one outcome per file."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.benchmarks.render import render_markdown, render_pdf
from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key

KEY = "files-key-tenant-a"
HEADERS = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_models, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("files")
    s = service_settings(
        d / "m.db",
        reranker_model=str(tiny_models.reranker_model),
        service=ServiceSettings(
            api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="A", name="a")],
            max_body_bytes=256 * 1024,
            max_file_bytes=64 * 1024,
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        yield c
    searcher.close()


def _wait(client: TestClient, job_id: str) -> dict[str, Any]:
    for _ in range(600):
        job = client.get(f"/v1/jobs/{job_id}", headers=HEADERS).json()
        if job["state"] not in ("queued", "running"):
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_files_job_one_outcome_per_file(client: TestClient) -> None:
    from reportlab.pdfgen import canvas

    enc = io.BytesIO()
    c = canvas.Canvas(enc, encrypt="pw")
    c.drawString(72, 720, "secret")
    c.showPage()
    c.save()
    files = [
        ("files", ("report.pdf", render_pdf("Report", ["BM25 and dense vectors, page one."]))),
        ("files", ("guide.md", render_markdown("Guide", ["Install with pip."]))),
        ("files", ("locked.pdf", enc.getvalue())),
    ]
    r = client.post("/v1/files", files=files, headers=HEADERS)
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["job_id"])
    assert job["state"] == "done", job
    outcomes = job["summary"]["outcomes"]
    assert [(o["id"], o["status"]) for o in outcomes[:2]] == [
        ("report.pdf", "inserted"),
        ("guide.md", "inserted"),
    ]
    assert outcomes[2]["status"] == "failed"
    assert outcomes[2]["error"].startswith("locked.pdf: encrypted PDF")
    doc = client.get("/v1/documents/guide.md", headers=HEADERS).json()
    assert doc["chunks"][0]["title"] == "Guide"  # stored under the key's tenant
    assert client.get("/v1/documents/locked.pdf", headers=HEADERS).status_code == 404

    again = _wait(
        client, client.post("/v1/files", files=files[:2], headers=HEADERS).json()["job_id"]
    )
    assert again["summary"]["unchanged"] == 2 and again["summary"]["chunks"] == 0


def test_file_limits_name_the_file(client: TestClient) -> None:
    big = ("files", ("big.txt", b"x" * (64 * 1024 + 1)))
    r = client.post("/v1/files", files=[("files", ("ok.txt", b"fine")), big], headers=HEADERS)
    assert r.status_code == 413 and "big.txt" in r.json()["error"]["message"]
    assert r.json()["error"]["details"]["file"] == "big.txt"
    many = [("files", (f"f{i}.txt", b"y" * 60_000)) for i in range(5)]
    assert client.post("/v1/files", files=many, headers=HEADERS).status_code == 413
    assert client.post("/v1/files", files=[big]).status_code == 401
