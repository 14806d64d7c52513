"""API keys and tenant isolation: key A never sees, gets, deletes or filters into tenant B."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.errors import AuthError, ConfigError, ForbiddenError
from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import NO_KEYS_WARNING, create_app
from hybrid_search.service.auth import (
    Authenticator,
    Principal,
    check_filter_scope,
    is_loopback_host,
)
from hybrid_search.settings import ApiKey, ServiceSettings, Settings, hash_api_key

KEY_A, KEY_B, KEY_ADMIN = "key-of-tenant-a", "key-of-tenant-b", "key-of-the-admin"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"X-API-Key": KEY_B}
ADMIN = {"Authorization": f"Bearer {KEY_ADMIN}"}
KEYS = [
    ApiKey(sha256=hash_api_key(KEY_A), tenant="A", name="a"),
    ApiKey(sha256=hash_api_key(KEY_B), tenant="B", name="b"),
    ApiKey(sha256=hash_api_key(KEY_ADMIN), admin=True, name="ops"),
]
SECRET_B = "Bravo confidential zebra migration report"


def make_settings(d: Any, tiny_models: Any, **service: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(d / "m.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        max_chunk_tokens=64,
        chunk_overlap_tokens=8,
        service=ServiceSettings(**service),
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    s = make_settings(tmp_path_factory.mktemp("tenants"), tiny_models, api_keys=KEYS)
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as client:
        ra = client.post(
            "/v1/documents",
            headers=A,
            json={
                "documents": [
                    {"id": "shared", "text": "Alpha shared document about zebra migration."},
                    {"id": "a-only", "text": "Alpha notes on zebra stripes."},
                ]
            },
        )
        rb = client.post(
            "/v1/documents",
            headers=B,
            json={
                "documents": [
                    {"id": "shared", "text": SECRET_B},
                    {"id": "b-only", "text": SECRET_B + " appendix"},
                ]
            },
        )
        assert ra.json()["inserted"] == 2 and rb.json()["inserted"] == 2, (ra.text, rb.text)
        yield client
    searcher.close()


def code(r: Any) -> str:
    return str(r.json()["error"]["code"])


def test_each_key_searches_only_its_tenant(env) -> None:  # type: ignore[no-untyped-def]
    for headers, mine in ((A, {"shared", "a-only"}), (B, {"shared", "b-only"})):
        r = env.post(
            "/v1/search",
            headers=headers,
            json={"query": "zebra migration", "top_k": 10, "rerank": False},
        )
        assert r.status_code == 200, r.text
        assert {h["doc_id"] for h in r.json()["hits"]} == mine
    hits_a = env.post(
        "/v1/search", headers=A, json={"query": SECRET_B, "top_k": 10, "rerank": False}
    ).json()["hits"]
    assert all(SECRET_B not in h["text"] for h in hits_a)
    batch = env.post(
        "/v1/search/batch", headers=A, json={"queries": [SECRET_B, "zebra"], "rerank": False}
    ).json()
    assert all(
        h["doc_id"] != "b-only" and SECRET_B not in h["text"]
        for res in batch["results"]
        for h in res["hits"]
    )
    rag = env.post(
        "/v1/rag/context", headers=A, json={"query": SECRET_B, "token_budget": 500}
    ).json()
    assert SECRET_B not in rag["context"]


def test_same_id_in_two_tenants_stays_separate(env) -> None:  # type: ignore[no-untyped-def]
    a = env.get("/v1/documents/shared", headers=A).json()
    b = env.get("/v1/documents/shared", headers=B).json()
    assert "Alpha" in a["chunks"][0]["text"] and b["chunks"][0]["text"] == SECRET_B


def test_a_cannot_get_or_delete_b_documents(env) -> None:  # type: ignore[no-untyped-def]
    r = env.get("/v1/documents/b-only", headers=A)
    assert r.status_code == 404 and code(r) == "document_not_found"
    r = env.delete("/v1/documents/b-only", headers=A)
    assert r.status_code == 404
    assert env.get("/v1/documents/b-only", headers=B).status_code == 200  # untouched


def test_body_or_query_tenant_of_another_tenant_is_403(env) -> None:  # type: ignore[no-untyped-def]
    attempts = [
        env.post("/v1/search", headers=A, json={"query": "zebra", "tenant": "B"}),
        env.post("/v1/search/batch", headers=A, json={"queries": ["zebra"], "tenant": "B"}),
        env.post("/v1/rag/context", headers=A, json={"query": "zebra", "tenant": "B"}),
        env.post(
            "/v1/documents",
            headers=A,
            json={"documents": [{"id": "x", "text": "planted"}], "tenant": "B"},
        ),
        env.get("/v1/documents/b-only?tenant=B", headers=A),
        env.delete("/v1/documents/b-only?tenant=B", headers=A),
    ]
    for r in attempts:
        assert r.status_code == 403, r.text
        assert code(r) == "forbidden"
    assert env.get("/v1/documents/x", headers=B).status_code == 404  # nothing was planted
    own = env.post("/v1/search", headers=A, json={"query": "zebra", "tenant": "A", "rerank": False})
    assert own.status_code == 200  # naming one's own tenant is fine


@pytest.mark.parametrize(
    "flt",
    [
        {"field": "tenant", "op": "eq", "value": "B"},
        {
            "or": [
                {"field": "doc_id", "op": "eq", "value": "b-only"},
                {"field": "tenant", "op": "in", "value": ["B"]},
            ]
        },
    ],
)
def test_filters_on_tenant_are_403(env, flt) -> None:  # type: ignore[no-untyped-def]
    r = env.post("/v1/search", headers=A, json={"query": "zebra", "filter": flt})
    assert r.status_code == 403 and code(r) == "forbidden"


def test_filter_for_b_doc_id_finds_nothing_for_a(env) -> None:  # type: ignore[no-untyped-def]
    r = env.post(
        "/v1/search",
        headers=A,
        json={
            "query": "zebra",
            "rerank": False,
            "filter": {"field": "doc_id", "op": "eq", "value": "b-only"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["hits"] == []


def test_admin_may_name_any_tenant(env) -> None:  # type: ignore[no-untyped-def]
    r = env.get("/v1/documents/b-only?tenant=B", headers=ADMIN)
    assert r.status_code == 200 and r.json()["chunks"][0]["text"].startswith(SECRET_B)
    hits = env.post(
        "/v1/search", headers=ADMIN, json={"query": "zebra", "tenant": "A", "rerank": False}
    ).json()["hits"]
    assert {h["doc_id"] for h in hits} == {"shared", "a-only"}
    default = env.post("/v1/search", headers=ADMIN, json={"query": "zebra", "rerank": False}).json()
    assert default["hits"] == []  # the service's default tenant holds nothing here


def test_key_checks(env) -> None:  # type: ignore[no-untyped-def]
    assert env.post("/v1/search", json={"query": "q"}).status_code == 401
    r = env.post(
        "/v1/search",
        headers={"Authorization": f"Bearer {KEY_A}", "X-API-Key": KEY_B},
        json={"query": "q"},
    )
    assert r.status_code == 401 and "different keys" in r.json()["error"]["message"]
    assert (
        env.post(
            "/v1/search", headers={"Authorization": f"Bearer {KEY_A}x"}, json={"query": "q"}
        ).status_code
        == 401
    )
    assert (
        env.post(
            "/v1/search", headers={"Authorization": "Bearer "}, json={"query": "q"}
        ).status_code
        == 401
    )


# -- units: the authenticator and the loopback rule ------------------------------------------


def test_authenticator_maps_keys_to_principals() -> None:
    auth = Authenticator(KEYS, "default")
    assert auth.authenticate(f"Bearer {KEY_A}", None) == Principal("A", False, "a")
    assert auth.authenticate(None, KEY_ADMIN) == Principal(None, True, "ops")
    with pytest.raises(AuthError):
        auth.authenticate(None, None)
    with pytest.raises(AuthError):
        auth.authenticate(None, "nope")
    open_auth = Authenticator([], "solo")
    assert open_auth.open and open_auth.authenticate(None, None) == Principal(
        "solo", False, "anonymous"
    )


def test_principal_tenant_rules() -> None:
    a = Principal("A", False, "a")
    assert a.tenant_for(None, "default") == "A" == a.tenant_for("A", "default")
    with pytest.raises(ForbiddenError):
        a.tenant_for("B", "default")
    admin = Principal(None, True, "ops")
    assert (
        admin.tenant_for("B", "default") == "B" and admin.tenant_for(None, "default") == "default"
    )


def test_inconsistent_keys_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="neither"):
        Authenticator([ApiKey(sha256=hash_api_key("k"))], "default")
    with pytest.raises(ConfigError, match="twice"):
        Authenticator([ApiKey(sha256=hash_api_key("k"), tenant="A")] * 2, "default")


def test_check_filter_scope_ignores_other_fields() -> None:
    check_filter_scope({"and": [{"field": "doc_id", "op": "eq", "value": "tenant"}]})
    with pytest.raises(ForbiddenError):
        check_filter_scope({"and": [{"not": {"field": "tenant", "op": "eq", "value": "A"}}]})


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("127.0.0.2", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host, loopback) -> None:  # type: ignore[no-untyped-def]
    assert is_loopback_host(host) is loopback


def test_no_keys_refuses_a_public_host(tmp_path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="without API keys"):
        create_app(make_settings(tmp_path, tiny_models, host="0.0.0.0"))
    create_app(make_settings(tmp_path, tiny_models, host="0.0.0.0", api_keys=KEYS))  # keys: fine


def test_no_keys_is_single_tenant_on_loopback(tmp_path, tiny_models, encoder, caplog) -> None:  # type: ignore[no-untyped-def]
    s = make_settings(tmp_path, tiny_models)
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="hybrid_search.service"),
            TestClient(create_app(s, searcher=searcher)) as client,
        ):
            r = client.post(
                "/v1/documents", json={"documents": [{"id": "d", "text": "solo document"}]}
            )
            assert r.status_code == 200 and r.json()["inserted"] == 1
            assert client.get("/v1/documents/d").status_code == 200
            assert (
                client.post("/v1/search", json={"query": "solo", "tenant": "other"}).status_code
                == 403
            )
        assert any(NO_KEYS_WARNING in rec.getMessage() for rec in caplog.records)
        assert [
            r["doc_id"]
            for r in searcher.store.client.query(
                s.collection, filter='tenant == "default"', output_fields=["doc_id"]
            )
        ] == ["d"]
    finally:
        searcher.close()
