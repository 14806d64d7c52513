"""The HTTP service with HYBRID_SEARCH_TENANCY=collection: two tenants' keys write, search,
read and delete through the API; each tenant's documents live in its own Milvus collection and
its searches (every route) return only its own documents; a tenant with no data searches
empty, without an error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, Settings, hash_api_key
from hybrid_search.store import ops
from hybrid_search.store.tenancy import CollectionPerTenantStore, tenant_collection

TENANTS = {"Acme-1": "key-acme", "beta_2": "key-beta", "empty": "key-empty"}
DOCS = {
    "Acme-1": [
        {"id": "same-id", "text": "Zebra migration across the savanna river."},
        {"id": "acme-lions", "text": "Lions hunt zebras near the savanna river."},
    ],
    "beta_2": [
        {"id": "same-id", "text": "Glaciers retreat in the Alps as the climate warms."},
        {"id": "beta-ice", "text": "Ice cores record the climate of the glacier."},
    ],
}
QUERY = "zebra savanna glacier climate"  # words of both tenants: every route matches in each


def headers(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TENANTS[tenant]}"}


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path_factory.mktemp("tenancy_api") / "m.db"),
        embedding_model=str(tiny_models.embedding_model),
        device="cpu",
        max_chunk_tokens=64,
        chunk_overlap_tokens=8,
        colbert_block_tokens=1,  # token rows: ColBERT can be searched alone
        tenancy="collection",
        service=ServiceSettings(
            api_keys=[
                ApiKey(sha256=hash_api_key(key), tenant=tenant) for tenant, key in TENANTS.items()
            ]
        ),
    )
    store = build_store(s)
    assert isinstance(store, CollectionPerTenantStore)
    searcher = HybridSearcher(store, encoder, None, collection=s.collection, settings=s)
    try:
        with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
            for tenant, docs in DOCS.items():
                r = c.post("/v1/documents", headers=headers(tenant), json={"documents": docs})
                assert r.status_code == 200 and r.json()["inserted"] == len(docs), r.text
            yield {"client": c, "store": store, "collection": s.collection}
    finally:
        searcher.close()


def search(c: TestClient, tenant: str, routes: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": QUERY, "rerank": False, "top_k": 10}
    if routes is not None:
        body["routes"] = routes
    r = c.post("/v1/search", headers=headers(tenant), json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


@pytest.mark.parametrize("routes", [["dense"], ["sparse"], ["bm25"], ["colbert"], None])
def test_each_key_searches_only_its_tenants_collection(env, routes) -> None:  # type: ignore[no-untyped-def]
    c = env["client"]
    for tenant, docs in DOCS.items():
        body = search(c, tenant, routes)
        assert not body["route_errors"], body["route_errors"]
        found = {(h["doc_id"], h["text"]) for h in body["hits"]}
        assert found and found <= {(d["id"], d["text"]) for d in docs}, (tenant, routes, found)
    empty = search(c, "empty", routes)
    assert empty["hits"] == [] and not empty["route_errors"]


def test_the_tenants_rows_are_in_two_collections(env) -> None:  # type: ignore[no-untyped-def]
    store, name = env["store"], env["collection"]
    assert store.tenant_collections(name) == sorted(tenant_collection(name, t) for t in DOCS)
    for tenant, docs in DOCS.items():
        assert ops.stats(store.inner, tenant_collection(name, tenant)).documents == len(docs)
    assert ops.stats(store, name).documents == sum(len(d) for d in DOCS.values())
    assert ops.stats(store.inner, name).chunks == 0
    assert not store.inner.has_collection(tenant_collection(name, "empty"))


def test_get_and_delete_stay_within_the_tenant(env) -> None:  # type: ignore[no-untyped-def]
    c = env["client"]
    r = c.get("/v1/documents/same-id", headers=headers("beta_2"))
    assert r.status_code == 200 and "Glaciers" in r.json()["chunks"][0]["text"], r.text
    assert c.get("/v1/documents/acme-lions", headers=headers("beta_2")).status_code == 404
    assert c.delete("/v1/documents/same-id", headers=headers("beta_2")).status_code == 200
    assert c.get("/v1/documents/same-id", headers=headers("beta_2")).status_code == 404
    r = c.get("/v1/documents/same-id", headers=headers("Acme-1"))
    assert r.status_code == 200 and "Zebra" in r.json()["chunks"][0]["text"], r.text
    assert c.delete("/v1/documents/same-id", headers=headers("empty")).status_code == 404
