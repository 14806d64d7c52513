"""The README's HTTP error table is what the server answers: each row's example is sent to a
real app (tiny models, Milvus Lite) and its status and code compared with the row."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hybrid_search.factory import build_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, hash_api_key
from tests.service.test_auth_tenants import make_settings

README = Path(__file__).resolve().parents[2] / "README.md"
KEY, LIMITED = "key-readme", "key-limited"
H = {"X-API-Key": KEY}
ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \| (.+) \|$", re.M)

Send = Callable[[TestClient], Any]

#: README row (status, code) -> the request that shows it
EXAMPLES: dict[tuple[int, str], Send] = {
    (422, "invalid_filter"): lambda c: c.post(
        "/v1/search",
        headers=H,
        json={"query": "q", "filter": {"field": "doc_id", "op": "like", "value": "a"}},
    ),
    (400, "invalid_request"): lambda c: c.post(
        "/v1/search", headers=H, json={"query": "q", "top_k": 101}
    ),
    (401, "unauthorized"): lambda c: c.post("/v1/search", json={"query": "q"}),
    (403, "forbidden"): lambda c: c.post(
        "/v1/search",
        headers=H,
        json={"query": "q", "filter": {"field": "tenant", "op": "eq", "value": "other"}},
    ),
    (404, "document_not_found"): lambda c: c.get("/v1/documents/nope", headers=H),
    (404, "not_found"): lambda c: c.post("/v1/serach", headers=H, json={"query": "q"}),
    (413, "payload_too_large"): lambda c: c.post(
        "/v1/documents",
        headers={**H, "content-type": "application/json"},
        content=b'{"documents": [{"id": "x", "text": "' + b"a" * 4096 + b'"}]}',
    ),
    (422, "validation_error"): lambda c: c.post("/v1/search", headers=H, json={"top_k": 3}),
    # sent to the `limited` app: the per-key limit is one setting for every key of an app
    (429, "rate_limited"): lambda c: [
        c.get("/v1/documents/nope", headers={"X-API-Key": LIMITED}) for _ in range(2)
    ][-1],
}


def readme_rows() -> list[tuple[int, str]]:
    text = README.read_text("utf-8")
    table = text.split("<!-- http-errors:start -->")[1].split("<!-- http-errors:end -->")[0]
    return [(int(status), code) for status, code, _ in ROW.findall(table)]


def serve(d: Path, tiny_models: Any, encoder: Any, **service: Any) -> Iterator[TestClient]:
    keys = [
        ApiKey(sha256=hash_api_key(KEY), tenant="t1"),
        ApiKey(sha256=hash_api_key(LIMITED), tenant="t2"),
    ]
    s = make_settings(d, tiny_models, api_keys=keys, max_body_bytes=2048, **service)
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        ok = c.post("/v1/documents", headers=H, json={"documents": [{"id": "d", "text": "x"}]})
        assert ok.status_code in (200, 202), ok.text
        yield c
    searcher.close()


@pytest.fixture(scope="module")
def client(tmp_path_factory, tiny_models, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    yield from serve(tmp_path_factory.mktemp("readme-errors"), tiny_models, encoder)


@pytest.fixture(scope="module")
def limited(tmp_path_factory, tiny_models, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("readme-limited")
    yield from serve(d, tiny_models, encoder, rate_limit_per_minute=1)


def test_every_readme_row_has_an_example() -> None:
    rows = readme_rows()
    assert len(rows) >= 8
    assert set(rows) == set(EXAMPLES)


@pytest.mark.parametrize("row", sorted(EXAMPLES))
def test_the_server_answers_as_the_readme_says(
    client: TestClient, limited: TestClient, row: tuple[int, str]
) -> None:
    status, code = row
    r = EXAMPLES[row](limited if status == 429 else client)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text


def test_top_k_has_one_limit_and_one_message(client: TestClient) -> None:
    answers = [
        client.post("/v1/search", headers=H, json={"query": "q", "top_k": k}) for k in (101, 5000)
    ]
    for k, r in zip((101, 5000), answers, strict=True):
        assert r.status_code == 400
        assert r.json()["error"]["message"] == f"top_k {k} is over this service's limit of 100"
