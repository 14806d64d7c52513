"""Strict at the door: no type coercion, no empty filter, one code per malformed body in any
encoding the parser accepts, no redirect built from Host, job ids that count nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.service.jobs import JobQueue
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key
from schemas.documents import IngestSummary

KEY = "door-key-a"
H = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = service_settings(
        tmp_path_factory.mktemp("door") / "m.db",
        service=ServiceSettings(api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="A")]),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        docs: list[dict[str, object]] = [
            {"id": f"d{i}", "text": f"door document number {i} about milvus"} for i in range(6)
        ]
        docs.append({"id": "other", "text": "a note on pandas", "metadata": {"kind": "x"}})
        assert c.post("/v1/documents", headers=H, json={"documents": docs}).status_code == 200
        yield c
    searcher.close()


def _code(r: object) -> tuple[int, str]:
    return r.status_code, r.json()["error"]["code"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "body",
    [
        {"query": "q", "top_k": "10"},
        {"query": "q", "top_k": True},
        {"query": "q", "candidates": "100"},
        {"query": "q", "rerank": "yes"},
        {"query": "q", "filter": {}},
    ],
)
def test_lenient_search_inputs_are_422(client: TestClient, body: dict[str, object]) -> None:
    assert _code(client.post("/v1/search", headers=H, json=body)) == (422, "validation_error")


def test_a_numeric_document_id_is_422_and_nothing_is_stored(client: TestClient) -> None:
    r = client.post("/v1/documents", headers=H, json={"documents": [{"id": 5, "text": "five"}]})
    assert _code(r) == (422, "validation_error") and "documents[0].id" in r.text
    assert client.get("/v1/documents/5", headers=H).status_code == 404


@pytest.mark.parametrize(
    "raw",
    [b'{"query": "\xff"}', b'{"query": ', b"\xff\xfe{\x00", b"[1]", b""],
    ids=["not-utf8", "truncated", "broken-utf16", "array", "empty"],
)
def test_every_malformed_body_is_422_validation_error(client: TestClient, raw: bytes) -> None:
    r = client.post("/v1/search", headers={**H, "content-type": "application/json"}, content=raw)
    assert _code(r) == (422, "validation_error")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32", "utf-16-be"])
def test_the_depth_guard_reads_every_encoding_the_parser_accepts(
    client: TestClient, encoding: str
) -> None:
    deep = '{"query": "q", "filter": ' + "[" * 5000 + "]" * 5000 + "}"
    raw = deep.encode(encoding)
    r = client.post("/v1/search", headers={**H, "content-type": "application/json"}, content=raw)
    assert _code(r) == (400, "invalid_request") and "deeper" in r.text
    ok = json.dumps({"query": "milvus", "top_k": 2}).encode(encoding)
    r = client.post("/v1/search", headers={**H, "content-type": "application/json"}, content=ok)
    assert r.status_code == 200, r.text


def test_a_trailing_slash_is_not_redirected_to_the_callers_host(client: TestClient) -> None:
    r = client.post(
        "/v1/search/",
        headers={**H, "host": "evil.example"},
        json={"query": "q"},
        follow_redirects=False,
    )
    assert r.status_code == 404 and "location" not in r.headers


def test_job_ids_are_random() -> None:
    queue = JobQueue(lambda job: IngestSummary(), workers=1, per_tenant=10)
    try:
        ids = [queue.submit("A", 1, []).id for _ in range(3)]
    finally:
        queue.close()
    assert len({i[:8] for i in ids}) == 3 and all(len(i) == 32 for i in ids)


def test_bulk_delete_by_ids_and_by_filter_gives_one_outcome_per_id(client: TestClient) -> None:
    def delete(body: dict[str, object]) -> object:
        return client.request("DELETE", "/v1/documents", headers=H, json=body)

    r = delete({"ids": ["d0", "d1", "nope"]})
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert [(o["id"], o["status"]) for o in r.json()["outcomes"]] == [  # type: ignore[attr-defined]
        ("d0", "deleted"),
        ("d1", "deleted"),
        ("nope", "not_found"),
    ]
    r = delete({"filter": {"field": "doc_id", "op": "eq", "value": "d2"}})
    assert r.json() == {"deleted": 1, "outcomes": [{"id": "d2", "status": "deleted"}]}  # type: ignore[attr-defined]
    for gone in ("d0", "d1", "d2"):
        assert client.get(f"/v1/documents/{gone}", headers=H).status_code == 404
    assert client.get("/v1/documents/d3", headers=H).status_code == 200
    tenant_filter = {"filter": {"field": "tenant", "op": "eq", "value": "B"}}
    assert _code(delete(tenant_filter)) == (403, "forbidden")
    for bad in ({"filter": {}}, {"ids": []}, {"ids": ["d3"], "filter": {"field": "doc_id"}}, {}):
        assert _code(delete(bad)) == (422, "validation_error"), bad
