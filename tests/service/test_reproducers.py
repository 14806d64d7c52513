"""The hostile-tenant reproducers, each pinned as a test: none may answer 500.

One app on a real Milvus Lite with tiny models, two tenant keys; every test sends what the
attack sent and checks the answer is a clear, serialisable 2xx/4xx that says what was done.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.service.limits import MAX_JSON_DEPTH, json_depth_over
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key, redact_uri
from schemas.documents import MAX_METADATA_DEPTH
from schemas.filters import MAX_FILTER_COMPARISONS, filter_cost_problem

KEY_A, KEY_B = "repro-key-a", "repro-key-b"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"Authorization": f"Bearer {KEY_B}"}
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_store

    s = service_settings(
        tmp_path_factory.mktemp("repro") / "m.db",
        service=ServiceSettings(
            api_keys=[
                ApiKey(sha256=hash_api_key(KEY_A), tenant="A", name="a"),
                ApiKey(sha256=hash_api_key(KEY_B), tenant="B", name="b"),
            ]
        ),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        yield c
    searcher.close()


def _nested(levels: int) -> dict[str, object]:
    """`{"k": {"k": ... {"k": 1}}}` with `levels` objects, built without recursion."""
    inner: dict[str, object] = {"k": 1}
    for _ in range(levels - 1):
        inner = {"k": inner}
    return inner


def test_1_a_lone_surrogate_id_fails_that_document_only(client: TestClient) -> None:
    """The attack: `[{"id": "ok-1", ...}, {"id": "\\udfff", ...}]` gave 500 with ok-1 written."""
    for key in ("id", "_id"):
        bad = '{"' + key + '": "\\udfff", "text": "x"}'
        raw = '{"documents": [{"id": "ok-1", "text": "written anyway"}, ' + bad + "]}"
        r = client.post("/v1/documents", headers={**A, **JSON}, content=raw.encode())
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["failed"] == 1 and body["documents"] == 1, body
        assert body["errors"][0]["doc_id"] == "\\udfff", body  # shown escaped, never dropped
        assert "unicode" in body["errors"][0]["message"]
    # the document that was accepted is really stored, so the answer told the truth
    assert client.get("/v1/documents/ok-1", headers=A).status_code == 200


def test_1_error_bodies_that_echo_input_are_serialisable(client: TestClient) -> None:
    raw = b'{"documents": [{"id": "a", "text": "t"}], "tenant": "\\udfff"}'
    r = client.post("/v1/documents", headers={**A, **JSON}, content=raw)
    assert r.status_code in (403, 422), r.text
    json.loads(r.content.decode("utf-8"))


def test_2_deep_metadata_is_refused_before_anything_recurses(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """The attack: metadata nested 500-950 levels gave 500 and ~185 KB of traceback."""
    for levels in (500, 950, 100_000):
        doc = {"id": "deep", "text": "t", "metadata": "__M__"}
        raw = json.dumps({"documents": [doc]}).replace(
            '"__M__"', '{"k": ' * levels + "1" + "}" * levels
        )
        with caplog.at_level(logging.ERROR):
            r = client.post("/v1/documents", headers={**A, **JSON}, content=raw.encode())
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"] == {"field": "body", "limit": MAX_JSON_DEPTH}
        assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text


def test_2_metadata_deeper_than_its_limit_fails_one_document(client: TestClient) -> None:
    docs = [
        {"id": "fine", "text": "ok", "metadata": _nested(MAX_METADATA_DEPTH)},
        {"id": "too-deep", "text": "ok", "metadata": _nested(MAX_METADATA_DEPTH + 1)},
    ]
    r = client.post("/v1/documents", headers=A, json={"documents": docs})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["failed"] == 1 and body["errors"][0]["doc_id"] == "too-deep", body
    assert f"deeper than {MAX_METADATA_DEPTH}" in body["errors"][0]["message"]


def test_2_the_depth_check_reads_json_text_exactly() -> None:
    assert not json_depth_over(b'{"a": "[[[[\\"[[[", "b": [[1]]}', 3)
    assert json_depth_over(b'{"a": "[[[[\\"[[[", "b": [[[1]]]}', 3)
    assert not json_depth_over(b'["\\\\", [[]]]', 3)  # an escaped backslash ends no string
    assert json_depth_over(b"[" * 1_000_000, MAX_JSON_DEPTH)
    started = time.perf_counter()
    assert not json_depth_over(b'{"x": [1, "]"]}, ' * 1_000_000, 2)
    assert time.perf_counter() - started < 5.0  # ~17 MB; the loaded CI machine is slow


def test_7_the_key_is_checked_before_the_body_is_read(client: TestClient) -> None:
    """The attack: invalid JSON without a key got 422; a 16 MiB keyless body cost ~0.4 s."""
    r = client.post("/v1/search", headers=JSON, content=b"{not json")
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/v1/documents", headers={"X-API-Key": "wrong", **JSON}, content=b"[[[")
    assert r.status_code == 401, r.text
    big = b'{"documents": [' + b'{"id": "x", "text": "y"},' * 700_000 + b"1]}"
    started = time.perf_counter()
    r = client.post("/v1/documents", headers=JSON, content=big)
    assert r.status_code == 401 and r.headers["connection"] == "close", r.text
    assert time.perf_counter() - started < 2.0


def test_6_credentials_never_reach_a_logged_uri() -> None:
    assert (
        redact_uri("https://root:Milvus@milvus.example:19530") == "https://***@milvus.example:19530"
    )
    assert redact_uri("http://h:19530/db?token=secret") == "http://h:19530/db?***"
    assert redact_uri("./data/milvus.db") == "./data/milvus.db"


def test_6_a_failed_connection_names_the_server_without_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from hybrid_search.errors import StoreError
    from hybrid_search.settings import RetrySettings
    from hybrid_search.store.milvus import MilvusStore

    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as info:
        MilvusStore(
            "http://root:s3cret-pw@127.0.0.1:9/?token=t0ken",
            retry=RetrySettings(attempts=1),
            timeout_s=2.0,
        )
    text = f"{info.value} {info.value.details} {caplog.text}"
    assert "127.0.0.1:9" in str(info.value) and "***@" in str(info.value)
    assert "s3cret-pw" not in text and "t0ken" not in text


def test_6_metrics_labels_come_from_templates_and_a_fixed_method_set(client: TestClient) -> None:
    client.request("BREW", "/v1/search", headers=A)
    client.post("/v1/search", content=b"{}")  # 401 from the guard, before routing
    client.get("/v1/documents/%ED%BF%BFsecret-id", headers=A)
    text = client.get("/metrics").text
    lines = [ln for ln in text.splitlines() if ln.startswith("hybrid_search_http_requests_total")]
    assert any('method="other"' in ln for ln in lines), lines
    assert not any("BREW" in ln or "secret-id" in ln for ln in lines), lines
    assert any('endpoint="unmatched"' in ln and 'status="401"' in ln for ln in lines), lines
    assert any('endpoint="/v1/documents/{doc_id:path}"' in ln for ln in lines), lines


def test_5_filters_over_the_cost_bounds_are_refused_by_path(client: TestClient) -> None:
    """The attack: an `in` of 1,024 strings of 15,000 bytes took 6-13 s a search (~30 ms plain)."""
    huge = {
        "field": "metadata.k",
        "op": "in",
        "value": [f"{i:05d}" + "x" * 14_995 for i in range(1024)],
    }
    started = time.perf_counter()
    r = client.post("/v1/search", headers=A, json={"query": "x", "filter": huge})
    assert r.status_code == 422 and time.perf_counter() - started < 5.0, r.text
    assert r.json()["error"]["details"]["path"] == "filter.value"
    many = {
        "field": "metadata.k",
        "op": "in",
        "value": [str(i) for i in range(MAX_FILTER_COMPARISONS + 1)],
    }
    r = client.post("/v1/search", headers=A, json={"query": "x", "filter": many})
    assert r.status_code == 422 and "compares metadata" in r.json()["error"]["message"], r.text
    ok = [
        {
            "field": "metadata.k",
            "op": "in",
            "value": [str(i) for i in range(MAX_FILTER_COMPARISONS)],
        },
        {"field": "doc_id", "op": "in", "value": [f"id-{i:012d}" for i in range(1024)]},
    ]
    for flt in ok:
        r = client.post(
            "/v1/search", headers=A, json={"query": "x", "filter": flt, "rerank": False}
        )
        assert r.status_code == 200, r.text


def test_5_the_cost_walk_counts_without_recursing() -> None:
    deep: dict[str, object] = {"field": "doc_id", "op": "eq", "value": "a"}
    for _ in range(100_000):
        deep = {"not": deep}
    assert filter_cost_problem(deep) is not None  # nodes, found without a RecursionError
    wide = {"or": [{"field": "title", "op": "eq", "value": "t" * 2000}] * 40}
    assert "add up to" in (filter_cost_problem(wide) or ("", ""))[1]
    assert filter_cost_problem({"field": "metadata.a", "op": "eq", "value": 1}) is None
    # the in-process API and the CLI check the same bounds (parse_filter)
    from hybrid_search.errors import InvalidFilterError
    from hybrid_search.filtering import parse_filter

    many = {"field": "metadata.k", "op": "in", "value": list(range(MAX_FILTER_COMPARISONS + 1))}
    with pytest.raises(InvalidFilterError, match=r"filter\.value: filter compares metadata"):
        parse_filter(many)
