"""ColBERT-only candidate generation filters by tenant inside the token search, so a tenant with
many near-identical documents cannot crowd another tenant's documents out of its own results."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key

A = {"Authorization": "Bearer colbert-a"}
B = {"Authorization": "Bearer colbert-b"}


def test_colbert_alone_finds_the_callers_documents_under_a_crowd(  # type: ignore[no-untyped-def]
    tmp_path, service_settings, encoder
) -> None:
    s = service_settings(
        tmp_path / "m.db",
        colbert_block_tokens=1,
        service=ServiceSettings(
            api_keys=[
                ApiKey(sha256=hash_api_key("colbert-a"), tenant="A"),
                ApiKey(sha256=hash_api_key("colbert-b"), tenant="B"),
            ]
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    query = "zebra migration across the savanna"
    crowd = [{"id": f"a{i}", "text": f"{query} {query} number {i}"} for i in range(60)]
    mine = [
        {"id": "b-zebra", "text": "notes on zebra migration and the savanna"},
        {"id": "b-other", "text": "a report about rivers"},
    ]
    try:
        with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
            assert c.post("/v1/documents", headers=A, json={"documents": crowd}).status_code == 200
            assert c.post("/v1/documents", headers=B, json={"documents": mine}).status_code == 200
            r = c.post(
                "/v1/search",
                headers=B,
                json={"query": query, "routes": ["colbert"], "top_k": 2, "rerank": False},
            )
            assert r.status_code == 200, r.text
            found = {h["doc_id"] for h in r.json()["hits"]}
            assert found == {"b-zebra", "b-other"}, r.json()
    finally:
        searcher.close()
