"""What a new HTTP user trips on, sent as they send it: a mistyped path, a broken JSON body, a
`collection` in the body, and dropping their own documents (never another tenant's)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.factory import build_reranker, build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, hash_api_key
from tests.service.test_auth_tenants import make_settings

A, B, READ, ADMIN = ({"X-API-Key": k} for k in ("key-a", "key-b", "key-read", "key-admin"))
KEYS = [
    ApiKey(sha256=hash_api_key("key-a"), tenant="team-a"),
    ApiKey(sha256=hash_api_key("key-b"), tenant="team-b"),
    ApiKey(sha256=hash_api_key("key-read"), tenant="team-b", write=False),
    ApiKey(sha256=hash_api_key("key-admin"), admin=True),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_models, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = make_settings(tmp_path_factory.mktemp("edges"), tiny_models, api_keys=KEYS)
    searcher = HybridSearcher(
        build_store(s), encoder, build_reranker(s), collection=s.collection, settings=s
    )
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        yield c
    searcher.close()


def post_docs(c: TestClient, headers: dict[str, str], *ids: str) -> None:
    docs = [{"id": i, "text": f"Milvus is a vector database, {i}."} for i in ids]
    r = c.post("/v1/documents", headers=headers, json={"documents": docs})
    assert r.status_code == 200 and r.json()["inserted"] == len(ids), r.text


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    return r.json()["error"]  # type: ignore[no-any-return]


def test_an_unknown_path_names_it_and_the_endpoints(client: TestClient) -> None:
    body = error(client.post("/v1/serach", headers=A, json={"query": "q"}), 404, "not_found")
    assert "/v1/serach" in body["message"] and "/docs" in body["message"]
    assert body["details"]["path"] == "/v1/serach"
    assert {"/v1/search", "/v1/documents", "/v1/collection"} <= set(body["details"]["endpoints"]), (
        body
    )


def test_a_malformed_body_says_where_the_json_breaks(client: TestClient) -> None:
    sent = b'{\n  "query": "vector database",\n  "top_k": 3,\n}'
    r = client.post("/v1/search", headers={**A, "content-type": "application/json"}, content=sent)
    body = error(r, 422, "validation_error")
    assert body["message"].startswith("body: not valid JSON: ")
    assert "at line 4 column 1" in body["message"], body["message"]
    assert "JSON decode error" not in body["message"]
    for raw, where in (
        ("this is not json", "line 1 column 1"),
        ('{"query": "z", "top_k": 5', "column 26"),
    ):
        r = client.post(
            "/v1/search", headers={**A, "content-type": "application/json"}, content=raw
        )
        assert where in error(r, 422, "validation_error")["message"], raw


def test_a_collection_in_the_body_says_the_server_chooses_it(client: TestClient) -> None:
    r = client.post("/v1/search", headers=A, json={"query": "q", "collection": "kb"})
    body = error(r, 422, "validation_error")
    assert "serve --collection" in body["message"] and "HYBRID_SEARCH_COLLECTION" in body["message"]
    assert body["message"].startswith("body.collection: ")


def test_a_tenant_key_drops_only_its_own_documents(client: TestClient) -> None:
    post_docs(client, A, "a1", "a2")
    post_docs(client, B, "b1")
    error(client.delete("/v1/collection", headers=READ), 403, "forbidden")
    error(client.delete("/v1/collection?tenant=team-b", headers=A), 403, "forbidden")
    error(client.delete("/v1/collection"), 401, "unauthorized")

    r = client.delete("/v1/collection", headers=A)
    assert r.status_code == 200, r.text
    served = client.app.state.settings.collection  # type: ignore[attr-defined]
    assert r.json() == {"collection": served, "tenant": "team-a", "deleted": 2}
    error(client.get("/v1/documents/a1", headers=A), 404, "document_not_found")
    assert client.get("/v1/documents/b1", headers=B).status_code == 200
    hits = client.post("/v1/search", headers=B, json={"query": "Milvus", "rerank": False})
    assert [h["doc_id"] for h in hits.json()["hits"]] == ["b1"]

    r = client.delete("/v1/collection?tenant=team-b", headers=ADMIN)
    assert r.json()["deleted"] == 1 and r.json()["tenant"] == "team-b"


def readme_curls() -> list[list[str]]:
    """The README's curl commands after `KEY=...`, each as its words (continuations joined)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text("utf-8")
    block = text.split("KEY=...", 1)[1].split("```", 1)[0].split("\n", 1)[1]
    lines = block.replace("\\\n", " ").replace(";", "\n").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip()]


def test_the_readme_curls_write_then_find_team_as_document(client: TestClient) -> None:
    client.delete("/v1/collection", headers=A)  # team-a starts empty, as on a new service
    answers = []
    for words in readme_curls():
        url = next(w for w in words if w.startswith("localhost:8000"))
        method = (
            words[words.index("-X") + 1] if "-X" in words else "POST" if "-d" in words else "GET"
        )
        headers = dict(
            words[i + 1].replace("$KEY", "key-a").split(": ", 1)
            for i, w in enumerate(words)
            if w == "-H"
        )
        body = words[words.index("-d") + 1].encode() if "-d" in words else None
        r = client.request(
            method, url.removeprefix("localhost:8000"), headers=headers, content=body
        )
        assert r.status_code == 200, (words, r.text)
        answers.append(r)
    assert answers[0].json()["inserted"] == 1
    hits = answers[1].json()["hits"]  # the first search finds what was just written
    assert [h["doc_id"] for h in hits] == ["d1"] and hits[0]["rerank_score"] is not None
