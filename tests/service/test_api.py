"""Every endpoint and every error status of the service, on a real Milvus Lite with tiny models.

One app per module (models, Milvus Lite and the collection are built once); the collection
starts empty, so the first POST /v1/documents proves ingest works on an empty Milvus.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.errors import StoreUnavailableError
from hybrid_search.factory import build_store
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key

KEY = "test-key-tenant-a"
HEADERS = {"Authorization": f"Bearer {KEY}"}
DOCS = [
    {
        "id": "milvus",
        "title": "Milvus vector database",
        "text": "Milvus supports partitions, scalar filters and hybrid search over vector fields.",
        "metadata": {"lang": "en", "year": 2021},
    },
    {
        "id": "bm25",
        "title": "Okapi BM25",
        "text": "BM25 scores a document by term frequency and inverse document frequency.",
        "lang": "en",
    },
    {
        "id": "panda",
        "title": "熊猫",
        "text": "熊猫主要生活在四川的山区，以竹子为主要食物。Pandas eat bamboo.",
        "lang": "zh",
    },
    {
        "id": "dir/with/slash.md",
        "title": "Nested",
        "text": "A document whose id looks like a path.",
        "lang": "en",
    },
]


@pytest.fixture(scope="module")
def env(
    tmp_path_factory, tiny_models, service_settings, encoder
) -> Iterator[tuple[TestClient, HybridSearcher]]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("api")
    s = service_settings(
        d / "m.db",
        reranker_model=str(tiny_models.reranker_model),
        service=ServiceSettings(
            api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="A", name="a")],
            max_body_bytes=64 * 1024,
            max_query_chars=200,
            max_top_k=20,
            max_batch=3,
            max_documents_per_request=6,
            retry_after_s=3,
        ),
    )
    reranker = BGEReranker(str(tiny_models.reranker_model), device="cpu")
    searcher = HybridSearcher(
        build_store(s), encoder, reranker, collection=s.collection, settings=s
    )
    assert not searcher.store.has_collection(s.collection)  # the lifespan creates it
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as client:
        r = client.post("/v1/documents", json={"documents": DOCS}, headers=HEADERS)
        assert r.status_code == 200, r.text
        assert r.json()["inserted"] == len(DOCS)
        yield client, searcher
    searcher.close()


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


# -- operations ----------------------------------------------------------------------------


def test_health_ready_and_openapi(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "ready": True,
        "checks": {"milvus": "ok", "collection": "ok", "models": "ok"},
        "deployment": "milvus-lite",
    }
    spec = client.get("/openapi.json").json()
    for path in (
        "/v1/search",
        "/v1/search/batch",
        "/v1/documents",
        "/v1/documents/{doc_id}",
        "/v1/rag/context",
        "/healthz",
        "/readyz",
        "/metrics",
    ):
        assert path in spec["paths"], path
    assert {
        "SearchRequest",
        "SearchResponse",
        "RagRequest",
        "RagResponse",
        "IngestSummary",
        "ErrorResponse",
    } <= set(spec["components"]["schemas"])
    assert spec["paths"]["/v1/search"]["post"]["operationId"] == "search"
    assert client.get("/docs").status_code == 200


def test_readyz_names_the_failed_check(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, searcher = env

    def down(name: str | None = None) -> None:
        raise StoreUnavailableError("connection refused")

    monkeypatch.setattr(searcher.store, "health", down)
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["ready"] is False and r.json()["checks"]["milvus"] == "unreachable"


# -- search --------------------------------------------------------------------------------


def test_search_answers_like_the_in_process_searcher(env) -> None:  # type: ignore[no-untyped-def]
    client, searcher = env
    r = client.post(
        "/v1/search", json={"query": "hybrid search vector database", "top_k": 3}, headers=HEADERS
    )
    assert r.status_code == 200, r.text
    body = r.json()
    local = searcher.search("hybrid search vector database", top_k=3, tenant="A")
    assert [h["chunk_id"] for h in body["hits"]] == [h.chunk_id for h in local.hits]
    assert [h["fused_score"] for h in body["hits"]] == pytest.approx(
        [h.fused_score for h in local.hits]
    )
    assert body["reranked"] is True and "x-request-id" in r.headers
    assert {"encode", "fuse", "total"} <= set(body["timings_ms"])


def test_batch_search(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.post(
        "/v1/search/batch",
        json={"queries": ["panda bamboo", "BM25"], "top_k": 2, "rerank": False},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["query"] for x in results] == ["panda bamboo", "BM25"]
    assert all(len(x["hits"]) <= 2 for x in results) and "total" in r.json()["timings_ms"]


def test_rag_context_cites_hits_within_budget(env) -> None:  # type: ignore[no-untyped-def]
    client, searcher = env
    r = client.post(
        "/v1/rag/context",
        json={"query": "Milvus hybrid search", "top_k": 4, "token_budget": 60},
        headers=HEADERS,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["citations"] and body["context"].startswith("[1] ")
    assert body["tokens"] <= 60 == body["token_budget"]
    assert searcher.encoder.tokenizer.count_tokens(body["context"]) == body["tokens"]
    for c in body["citations"]:
        assert c["marker"] in body["context"]


# -- documents -----------------------------------------------------------------------------


def test_get_document_returns_chunks_without_vectors(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.get("/v1/documents/milvus", headers=HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["doc_id"] == "milvus"
    chunk = body["chunks"][0]
    assert set(chunk) == {"chunk_id", "chunk_index", "title", "text", "metadata"}
    assert chunk["chunk_id"] == "milvus#0" and chunk["metadata"] == {"lang": "en", "year": 2021}
    slash = client.get("/v1/documents/dir%2Fwith%2Fslash.md", headers=HEADERS)
    assert slash.status_code == 200 and slash.json()["doc_id"] == "dir/with/slash.md"


def test_unknown_document_is_404(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    err = error(client.get("/v1/documents/nope", headers=HEADERS), 404, "document_not_found")
    assert err["details"] == {"doc_id": "nope"}
    error(client.delete("/v1/documents/nope", headers=HEADERS), 404, "document_not_found")


def test_upsert_is_idempotent_and_delete_removes(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    doc = {"id": "temp", "text": "A temporary document about quantum tunnelling."}
    first = client.post("/v1/documents", json={"documents": [doc]}, headers=HEADERS).json()
    again = client.post("/v1/documents", json={"documents": [doc]}, headers=HEADERS).json()
    assert (first["inserted"], again["inserted"], again["unchanged"]) == (1, 0, 1)
    changed = client.post(
        "/v1/documents",
        json={"documents": [{**doc, "text": "Now about tunnelling microscopes."}]},
        headers=HEADERS,
    ).json()
    assert changed["replaced"] == 1
    r = client.delete("/v1/documents/temp", headers=HEADERS)
    assert r.status_code == 200 and r.json() == {"doc_id": "temp", "deleted": True}
    error(client.get("/v1/documents/temp", headers=HEADERS), 404, "document_not_found")


def test_bad_items_are_reported_per_item_and_good_ones_written(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    docs: list[Any] = [
        {"id": "ok-1", "text": "Fine document."},
        {"id": "no-text"},
        "not an object",
        {"id": "blank", "text": "   "},
    ]
    r = client.post("/v1/documents", json={"documents": docs}, headers=HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["documents"], body["inserted"], body["failed"]) == (1, 1, 3)
    lines = sorted((e["line"], e.get("field")) for e in body["errors"])
    assert lines == [(1, "text"), (2, None), (3, "text")]
    assert all(e["source"] == "request" for e in body["errors"])
    client.delete("/v1/documents/ok-1", headers=HEADERS)


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body.documents"),
        ({"documents": []}, "body.documents"),
        ({"documents": "x"}, "body.documents"),
        ({"documents": [{"id": "a", "text": "b"}], "extra": 1}, "body.extra"),
    ],
)
def test_bad_envelope_is_422_with_field_paths(env, body, field) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    err = error(client.post("/v1/documents", json=body, headers=HEADERS), 422, "validation_error")
    assert err["details"]["errors"][0]["field"] == field


def test_too_many_documents_is_400(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    docs = [{"id": f"x{i}", "text": "t"} for i in range(7)]
    err = error(
        client.post("/v1/documents", json={"documents": docs}, headers=HEADERS),
        400,
        "invalid_request",
    )
    assert err["details"] == {"field": "documents", "limit": 6}


# -- request errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, status, code, field",
    [
        ({"query": "q", "top_k": 21}, 400, "invalid_request", "top_k"),
        ({"query": "x" * 201}, 400, "invalid_request", "query"),
        ({"query": "   "}, 422, "validation_error", None),
        ({"query": "q", "top_k": 0}, 422, "validation_error", None),
        ({"query": "q", "routes": ["telepathy"]}, 422, "validation_error", None),
        ({"query": "q", "unknown_option": 1}, 422, "validation_error", None),
        ({"top_k": 3}, 422, "validation_error", None),
    ],
)
def test_search_request_errors(env, body, status, code, field) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    err = error(client.post("/v1/search", json=body, headers=HEADERS), status, code)
    if field:
        assert err["details"]["field"] == field
    else:
        assert err["details"]["errors"][0]["field"].startswith("body")


def test_invalid_filter_is_422(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.post(
        "/v1/search",
        json={"query": "q", "filter": {"field": "no_such_field", "op": "eq", "value": 1}},
        headers=HEADERS,
    )
    error(r, 422, "invalid_filter")


def test_malformed_json_is_422(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.post(
        "/v1/search", content=b'{"query": ', headers={**HEADERS, "Content-Type": "application/json"}
    )
    err = error(r, 422, "validation_error")
    assert err["details"]["errors"][0]["type"] == "json_invalid"


def test_batch_limits(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    err = error(
        client.post("/v1/search/batch", json={"queries": ["a", "b", "c", "d"]}, headers=HEADERS),
        400,
        "invalid_request",
    )
    assert err["details"]["field"] == "queries"
    err = error(
        client.post("/v1/search/batch", json={"queries": ["a", "y" * 201]}, headers=HEADERS),
        400,
        "invalid_request",
    )
    assert err["details"]["field"] == "queries[1]"
    error(
        client.post("/v1/search/batch", json={"queries": []}, headers=HEADERS),
        422,
        "validation_error",
    )


def test_body_too_large_is_413(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    big = json.dumps({"documents": [{"id": "big", "text": "x" * 70_000}]}).encode()
    err = error(
        client.post(
            "/v1/documents", content=big, headers={**HEADERS, "Content-Type": "application/json"}
        ),
        413,
        "payload_too_large",
    )
    assert err["details"]["max_bytes"] == 64 * 1024

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    r = client.post(
        "/v1/documents", content=chunks(), headers={**HEADERS, "Content-Type": "application/json"}
    )
    error(r, 413, "payload_too_large")


def test_missing_or_bad_key_is_401(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.post("/v1/search", json={"query": "q"})
    error(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    error(
        client.post("/v1/search", json={"query": "q"}, headers={"Authorization": "Bearer wrong"}),
        401,
        "unauthorized",
    )
    error(
        client.get("/v1/documents/milvus", headers={"Authorization": "Basic abc"}),
        401,
        "unauthorized",
    )
    assert client.get("/v1/documents/milvus", headers={"X-API-Key": KEY}).status_code == 200


def test_unknown_path_and_method_use_the_error_body(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    error(client.get("/v2/nothing"), 404, "not_found")
    error(client.get("/v1/search", headers=HEADERS), 405, "method_not_allowed")


def test_store_unavailable_is_503_with_retry_after_and_no_internals(env, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    client, searcher = env

    def boom(*a: Any, **k: Any) -> Any:
        raise StoreUnavailableError(
            "Milvus at /secret/path/milvus.db unavailable: connection refused"
        )

    monkeypatch.setattr(searcher, "search", boom)
    r = client.post("/v1/search", json={"query": "q"}, headers=HEADERS)
    error(r, 503, "store_unavailable")
    assert r.headers["retry-after"] == "3"
    assert "/secret/path" not in r.text


def test_unexpected_error_is_a_generic_500_logged_server_side(env, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    client, searcher = env

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(searcher, "search", boom)
    with caplog.at_level("ERROR", logger="hybrid_search.service"):
        r = client.post("/v1/search", json={"query": "q"}, headers=HEADERS)
    err = error(r, 500, "internal_error")
    assert err["message"] == "internal server error"
    assert "hunter2" not in r.text and "Traceback" not in r.text
    assert err["details"]["request_id"] == r.headers["x-request-id"]
    assert any(
        "hunter2" in (rec.exc_text or "") or "hunter2" in str(rec.exc_info)
        for rec in caplog.records
    )


def test_metrics_count_requests_stages_and_errors(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    client.post("/v1/search", json={"query": "Milvus", "top_k": 2}, headers=HEADERS)
    fast = {"query": "Milvus", "routes": ["dense", "bm25"], "explain": False, "rerank": False}
    client.post("/v1/search", json=fast, headers=HEADERS)  # one Milvus hybrid_search
    client.post("/v1/search", json={"query": "q"})  # 401
    client.get("/v1/documents/some-id", headers=HEADERS)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert (
        'hybrid_search_http_requests_total{endpoint="/v1/search",method="POST",status="200"}'
        in text
    )
    assert 'hybrid_search_errors_total{code="unauthorized"}' in text
    for stage in ("encode", "dense", "bm25", "fuse", "fetch", "rerank", "explain", "total"):
        assert f'hybrid_search_stage_duration_seconds_count{{stage="{stage}"}}' in text, stage
    assert 'hybrid_search_stage_duration_seconds_count{stage="hybrid_search"} 1.0' in text
    assert "hybrid_search_http_requests_in_flight" in text
    assert "hybrid_search_jobs_waiting 0.0" in text
    assert 'endpoint="/v1/documents/{doc_id:path}"' in text  # templates, never ids


def test_a_route_with_nothing_to_search_is_a_200_that_says_why(env) -> None:  # type: ignore[no-untyped-def]
    client, _ = env
    r = client.post("/v1/search", json={"query": "😀😀😀", "routes": ["sparse"]}, headers=HEADERS)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["hits"] == [] and body["degraded"] is True
    assert "sparse" in body["route_errors"]
