"""Hostile input found by the reliability suite, pinned as fast tests: each is a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from hybrid_search.errors import IngestError
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, hash_api_key
from ingest.readers import read_jsonl
from schemas.api import BatchSearchRequest, SearchRequest
from schemas.documents import MAX_DOCUMENT_BYTES, Document

KEY = "hardening-key"
H = {"Authorization": f"Bearer {KEY}"}


def errors(path: Path) -> list[IngestError]:
    return [r for r in read_jsonl(path) if isinstance(r, IngestError)]


def test_deeply_nested_json_is_one_bad_line_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    good = json.dumps({"id": "ok", "text": "fine"})
    path.write_bytes(b"[" * 100_000 + b"]" * 100_000 + b"\n" + good.encode() + b"\n")
    records = list(read_jsonl(path))
    assert isinstance(records[0], IngestError) and records[0].line == 1
    assert "nested too deeply" in records[0].message
    assert not isinstance(records[1], IngestError)


def test_utf16_without_bom_names_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "u16.jsonl"
    path.write_bytes(json.dumps({"id": "a", "text": "b"}).encode("utf-16-le") + b"\n")
    (err,) = errors(path)[:1]
    assert "NUL byte" in err.message and "UTF-16" in err.message and err.line == 1


def test_metadata_integers_beyond_64_bits_are_refused_by_path() -> None:
    with pytest.raises(ValidationError, match=r"metadata\.a\.1\.b is an integer outside"):
        Document(id="x", text="t", metadata={"a": [1, {"b": 2**64}]})
    Document(id="x", text="t", metadata={"a": 2**63 - 1, "b": -(2**63)})


def test_document_text_has_a_size_limit() -> None:
    with pytest.raises(ValidationError, match="split it"):
        Document(id="x", text="a" * (MAX_DOCUMENT_BYTES + 1))


def test_lone_surrogates_in_queries_are_request_errors() -> None:
    with pytest.raises(ValidationError, match="unpaired surrogate U\\+D800"):
        SearchRequest(query="a\ud800")
    with pytest.raises(ValidationError, match=r"queries\[1\]"):
        BatchSearchRequest(queries=["ok", "\udfff"])


@pytest.fixture(scope="module")
def client(tmp_path_factory, service_settings, encoder) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_store

    s = service_settings(
        tmp_path_factory.mktemp("hardening") / "m.db",
        service=ServiceSettings(api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="A")]),
    )
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as c:
        yield c
    searcher.close()


def test_http_rejects_what_would_fail_deeper(client: TestClient) -> None:
    r = client.post(
        "/v1/search",
        headers={**H, "content-type": "application/json"},
        content=b'{"query": "\\ud800 x"}',
    )
    assert r.status_code == 422 and "surrogate" in r.json()["error"]["message"], r.text
    r = client.post(
        "/v1/documents",
        headers=H,
        json={"documents": [{"id": "big", "text": "x", "n": 10**30}, {"id": "ok", "text": "y"}]},
    )
    body = r.json()
    assert (body["inserted"], body["failed"]) == (1, 1), body
    assert body["errors"][0]["field"] == "metadata" and "Exception" not in r.text
    for method in ("GET", "DELETE"):
        r = client.request(method, "/v1/documents/a%00b", headers=H)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["details"] == {"field": "doc_id"}


def test_client_refuses_a_string_or_a_single_document_where_lists_go(client: TestClient) -> None:
    from hybrid_search.client import HybridSearchClient
    from hybrid_search.errors import InvalidRequestError

    remote = HybridSearchClient("http://testserver", KEY, http_client=client, retries=0)
    with pytest.raises(InvalidRequestError, match="queries"):
        remote.search_many("abc")  # not three one-letter searches
    for docs in ("abc", {"id": "x", "text": "y"}):
        with pytest.raises(InvalidRequestError, match="expected a list of documents"):
            remote.upsert_documents(docs)  # type: ignore[arg-type]
    summary = remote.upsert_documents([7, {"id": "fine", "text": "ok"}])  # type: ignore[list-item]
    assert (summary.inserted, summary.failed) == (1, 1)
    assert summary.errors[0].line == 0 and "got int" in summary.errors[0].message


def test_degraded_answers_show_no_store_internals_and_empty_ones_are_503() -> None:
    from hybrid_search.errors import StoreUnavailableError
    from hybrid_search.service.api import _public
    from schemas.api import SearchHit, SearchResponse

    leak = "StoreError: Milvus call failed: search svc.dense: <MilvusException: (code=101)>"
    hit = SearchHit(
        doc_id="d",
        chunk_id="d#0",
        chunk_index=0,
        title="",
        text="t",
        metadata={},
        routes={},
        fused_score=1.0,
    )
    response = SearchResponse(
        query="q",
        hits=[hit],
        timings_ms={},
        fusion="rrf",
        routes=["bm25"],
        route_errors={"dense": leak, "sparse": "route sparse: the encoder has no sparse output"},
        route_error_codes={"dense": "store_error", "sparse": "route_unanswerable"},
        degraded=True,
        reasons=[f"route dense failed: {leak}"],
    )
    public = _public(response)
    assert "Milvus" not in public.model_dump_json() and public.degraded
    assert public.route_errors["sparse"] == response.route_errors["sparse"]
    with pytest.raises(StoreUnavailableError):
        _public(response.model_copy(update={"hits": []}))
