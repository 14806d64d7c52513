"""The remote client: against the real app in-process (TestClient is an httpx.Client), and its
retry and error policy against scripted transports."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from hybrid_search.client import AsyncHybridSearchClient, HybridSearchClient
from hybrid_search.errors import APIError, InvalidRequestError, TransportError
from hybrid_search.factory import build_store
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.service.app import create_app
from hybrid_search.settings import ApiKey, ServiceSettings, Settings, hash_api_key
from schemas.api import SearchRequest
from schemas.documents import Document

KEY = "client-test-key"
DOCS = [
    Document(
        id="milvus",
        title="Milvus",
        text="Milvus supports hybrid search over dense and sparse vectors.",
    ),
    Document(
        id="bm25", title="BM25", text="BM25 ranks documents by term frequency and document length."
    ),
    Document(
        id="rrf",
        title="RRF",
        text="Reciprocal rank fusion combines ranked lists from several retrievers.",
    ),
]
QUERIES = ["hybrid search vectors", "term frequency ranking", "fusion of ranked lists"]


@pytest.fixture(scope="module")
def env(
    tmp_path_factory, tiny_models, encoder
) -> Iterator[tuple[HybridSearchClient, HybridSearcher, TestClient]]:  # type: ignore[no-untyped-def]
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path_factory.mktemp("client") / "m.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        max_chunk_tokens=64,
        chunk_overlap_tokens=8,
        service=ServiceSettings(api_keys=[ApiKey(sha256=hash_api_key(KEY), tenant="T")]),
    )
    reranker = BGEReranker(str(tiny_models.reranker_model), device="cpu")
    searcher = HybridSearcher(
        build_store(s), encoder, reranker, collection=s.collection, settings=s
    )
    with TestClient(create_app(s, searcher=searcher), raise_server_exceptions=False) as http:
        client = HybridSearchClient(
            "http://testserver", KEY, http_client=http, max_retry_wait_s=0.01
        )
        summary = client.upsert_documents([*DOCS[:2], DOCS[2].model_dump()])
        assert (summary.inserted, summary.failed) == (3, 0)
        yield client, searcher, http
    searcher.close()


def test_search_equals_the_in_process_searcher(env) -> None:  # type: ignore[no-untyped-def]
    client, searcher, _ = env
    for q in QUERIES:
        remote = client.search(q, top_k=3)
        local = searcher.search(q, top_k=3, tenant="T")
        assert [(h.doc_id, h.chunk_id) for h in remote.hits] == [
            (h.doc_id, h.chunk_id) for h in local.hits
        ]
        assert [h.fused_score for h in remote.hits] == pytest.approx(
            [h.fused_score for h in local.hits]
        )
        assert [h.rerank_score for h in remote.hits] == pytest.approx(
            [h.rerank_score for h in local.hits], abs=1e-5
        )
    req = client.search(SearchRequest(query=QUERIES[0], top_k=1, rerank=False))
    assert len(req.hits) == 1 and req.reranked is False


def test_search_many_and_rag_context(env) -> None:  # type: ignore[no-untyped-def]
    client, searcher, _ = env
    remote = client.search_many(QUERIES, top_k=2, rerank=False)
    local = searcher.search_many(QUERIES, top_k=2, rerank=False, tenant="T")
    assert [[h.chunk_id for h in r.hits] for r in remote] == [
        [h.chunk_id for h in r.hits] for r in local
    ]
    rag = client.rag_context("hybrid search", token_budget=40, top_k=3)
    assert rag.tokens <= 40 and rag.citations and rag.context.startswith("[1]")


def test_documents_round_trip_and_errors_keep_their_code(env) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = env
    doc = client.get_document("milvus")
    assert doc.doc_id == "milvus" and doc.chunks[0].chunk_id == "milvus#0"
    odd = "a/b?c#d.."
    assert client.upsert_documents([{"id": odd, "text": "odd id"}]).inserted == 1
    assert client.get_document(odd).doc_id == odd
    assert client.delete_document(odd).deleted
    with pytest.raises(APIError) as info:
        client.get_document(odd)
    assert (info.value.status_code, info.value.code) == (404, "document_not_found")
    with pytest.raises(APIError) as info:
        client.get_document("milvus", tenant="other")
    assert (info.value.status_code, info.value.code) == (403, "forbidden")
    bad = client.upsert_documents([{"id": "x"}])
    assert bad.failed == 1 and bad.errors[0].field == "text"


def test_health_ready_and_bad_key(env) -> None:  # type: ignore[no-untyped-def]
    client, _, http = env
    assert client.health().status == "ok"
    ready = client.ready()
    assert ready.ready and ready.deployment == "milvus-lite"
    anon = HybridSearchClient("http://testserver", "wrong", http_client=http)
    with pytest.raises(APIError) as info:
        anon.search("q")
    assert (info.value.status_code, info.value.code, info.value.retryable) == (
        401,
        "unauthorized",
        False,
    )


def test_bad_options_fail_before_any_request() -> None:
    calls: list[httpx.Request] = []
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: calls.append(r) or httpx.Response(200))
    )
    client = HybridSearchClient("http://svc", http_client=http)
    with pytest.raises(InvalidRequestError, match="top_k"):
        client.search("q", top_k=0)
    with pytest.raises(InvalidRequestError, match="no_such_option"):
        client.search("q", no_such_option=1)
    assert calls == []


# -- retry and error policy, scripted --------------------------------------------------------

OK_SEARCH = {"query": "q", "hits": [], "timings_ms": {}, "fusion": "rrf", "routes": []}


def scripted(*answers: Any) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    return httpx.MockTransport(handle), seen


def err(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": code, "details": {}}}, headers=headers
    )


def record_waits(client: Any) -> list[float]:
    """The waits the retry policy chose, without sleeping them."""
    waits: list[float] = []
    policy = client._wait
    client._wait = lambda state: waits.append(policy(state)) or 0.0
    return waits


def test_503_is_retried_honouring_retry_after_with_a_cap() -> None:
    transport, seen = scripted(
        err(503, "overloaded", **{"Retry-After": "2"}),
        err(503, "store_unavailable", **{"Retry-After": "120"}),
        httpx.Response(200, json=OK_SEARCH),
    )
    client = HybridSearchClient(
        "http://svc", "k", http_client=httpx.Client(transport=transport), max_retry_wait_s=30
    )
    waits = record_waits(client)
    assert client.search("q").query == "q"
    assert len(seen) == 3 and waits == [2.0, 30.0]
    assert seen[0].headers["authorization"] == "Bearer k"
    assert json.loads(seen[0].content) == {"query": "q"}  # only what the caller set


@pytest.mark.parametrize(
    "status, code",
    [
        (400, "invalid_request"),
        (401, "unauthorized"),
        (404, "not_found"),
        (422, "validation_error"),
        (500, "internal_error"),
    ],
)
def test_other_statuses_are_never_retried(status, code) -> None:  # type: ignore[no-untyped-def]
    transport, seen = scripted(err(status, code), httpx.Response(200, json=OK_SEARCH))
    client = HybridSearchClient("http://svc", http_client=httpx.Client(transport=transport))
    with pytest.raises(APIError) as info:
        client.search("q")
    assert (info.value.status_code, info.value.code, len(seen)) == (status, code, 1)


def test_connection_errors_and_timeouts_become_transport_errors_after_retries() -> None:
    transport, seen = scripted(
        httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ConnectError("refused")
    )
    client = HybridSearchClient(
        "http://svc", http_client=httpx.Client(transport=transport), retries=2
    )
    waits = record_waits(client)
    with pytest.raises(TransportError) as info:
        client.health()
    assert len(seen) == 3 and info.value.retryable
    assert waits[0] < waits[1] and all(0 < w <= 1.6 for w in waits)  # jittered exponential
    transport, seen = scripted(
        httpx.ReadTimeout("slow"), httpx.Response(200, json={"status": "ok"})
    )
    client = HybridSearchClient("http://svc", http_client=httpx.Client(transport=transport))
    record_waits(client)
    assert client.health().status == "ok" and len(seen) == 2


def test_non_json_error_body_still_gives_an_api_error() -> None:
    transport, _ = scripted(httpx.Response(502, text="<html>bad gateway</html>"))
    client = HybridSearchClient("http://svc", http_client=httpx.Client(transport=transport))
    with pytest.raises(APIError) as info:
        client.health()
    assert (info.value.status_code, info.value.code) == (502, "http_502")
    assert "bad gateway" in info.value.message


def test_async_client_has_the_same_policy() -> None:
    transport, seen = scripted(
        err(503, "overloaded", **{"Retry-After": "1"}),
        httpx.Response(
            200, json={"results": [OK_SEARCH, {**OK_SEARCH, "query": "r"}], "timings_ms": {}}
        ),
    )

    async def main() -> list[str]:
        async with AsyncHybridSearchClient(
            "http://svc", "k", http_client=httpx.AsyncClient(transport=transport)
        ) as client:
            waits = record_waits(client)
            results = await client.search_many(["q", "r"], top_k=2)
            assert waits == [1.0]
            return [r.query for r in results]

    assert asyncio.run(main()) == ["q", "r"]
    assert len(seen) == 2 and seen[1].url.path == "/v1/search/batch"
    assert json.loads(seen[1].content) == {"queries": ["q", "r"], "top_k": 2}
