"""HybridSearchRetriever: hits become LangChain Documents, sync and async, local or remote."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

pytest.importorskip("langchain_core")

from hybrid_search.client import AsyncHybridSearchClient, HybridSearchClient
from hybrid_search.integrations.langchain import HybridSearchRetriever
from schemas.api import RouteScore, SearchHit, SearchResponse


def make_response(query: str) -> SearchResponse:
    return SearchResponse(
        query=query,
        hits=[
            SearchHit(
                doc_id="milvus",
                chunk_id="milvus#0",
                chunk_index=0,
                title="Milvus",
                text="Milvus supports hybrid search.",
                metadata={"lang": "en", "title": "user title loses"},
                routes={
                    "dense": RouteScore(rank=1, score=0.9),
                    "bm25": RouteScore(rank=2, score=3.1),
                },
                fused_score=0.0325,
                rerank_score=1.5,
            ),
            SearchHit(
                doc_id="bm25",
                chunk_id="bm25#1",
                chunk_index=1,
                title="",
                text="BM25 ranks by term frequency.",
                metadata={},
                routes={"bm25": RouteScore(rank=1, score=4.0)},
                fused_score=0.0164,
                rerank_score=None,
            ),
        ],
        timings_ms={"total": 1.0},
        fusion="rrf",
        routes=["dense", "bm25"],
    )


class FakeSearcher:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def search(self, query: str, **options: Any) -> SearchResponse:
        self.calls.append((query, options))
        return make_response(query)


class FakeAsyncSearcher(FakeSearcher):
    async def search(self, query: str, **options: Any) -> SearchResponse:  # type: ignore[override]
        self.calls.append((query, options))
        return make_response(query)


def test_documents_carry_text_ids_scores_and_routes() -> None:
    fake = FakeSearcher()
    retriever = HybridSearchRetriever(client=fake, search_options={"top_k": 2, "rerank": True})
    docs = retriever.invoke("hybrid search")
    assert fake.calls == [("hybrid search", {"top_k": 2, "rerank": True})]
    assert [d.page_content for d in docs] == [
        "Milvus supports hybrid search.",
        "BM25 ranks by term frequency.",
    ]
    first = docs[0].metadata
    assert first["doc_id"] == "milvus" and first["chunk_id"] == "milvus#0"
    assert first["title"] == "Milvus"  # ours wins over user metadata of the same name
    assert first["lang"] == "en"
    assert first["routes"] == {
        "dense": {"rank": 1, "score": 0.9},
        "bm25": {"rank": 2, "score": 3.1},
    }
    assert (first["fused_score"], first["rerank_score"]) == (0.0325, 1.5)
    assert docs[1].metadata["rerank_score"] is None
    assert docs[0].id == "milvus#0"


def test_async_path_awaits_an_async_client_and_runs_a_sync_one_in_a_thread() -> None:
    fake_async = FakeAsyncSearcher()
    docs = asyncio.run(HybridSearchRetriever(client=fake_async).ainvoke("q"))
    assert [d.metadata["doc_id"] for d in docs] == ["milvus", "bm25"]
    assert fake_async.calls == [("q", {})]
    fake = FakeSearcher()
    docs = asyncio.run(HybridSearchRetriever(client=fake).ainvoke("q2"))
    assert len(docs) == 2 and fake.calls == [("q2", {})]


def test_sync_call_with_an_async_client_says_what_to_do() -> None:
    with pytest.raises(TypeError, match="ainvoke"):
        HybridSearchRetriever(client=FakeAsyncSearcher()).invoke("q")


def _handler(request: httpx.Request) -> httpx.Response:
    import json

    body = json.loads(request.content)
    assert request.url.path == "/v1/search"
    assert request.headers["authorization"] == "Bearer k"
    return httpx.Response(200, json=make_response(body["query"]).model_dump(mode="json"))


def test_remote_clients_plug_in_unchanged() -> None:
    http = httpx.Client(transport=httpx.MockTransport(_handler))
    remote = HybridSearchClient("http://svc", "k", http_client=http)
    docs = HybridSearchRetriever(client=remote, search_options={"top_k": 2}).invoke("remote q")
    assert [d.metadata["chunk_id"] for d in docs] == ["milvus#0", "bm25#1"]

    async def run() -> list[str]:
        ahttp = httpx.AsyncClient(transport=httpx.MockTransport(_handler))
        client = AsyncHybridSearchClient("http://svc", "k", http_client=ahttp)
        out = await HybridSearchRetriever(client=client).ainvoke("async remote")
        await ahttp.aclose()
        return [d.metadata["doc_id"] for d in out]

    assert asyncio.run(run()) == ["milvus", "bm25"]


def test_k_precedence_invoke_over_constructor_over_search_kwargs() -> None:
    fake = FakeSearcher()
    retriever = HybridSearchRetriever(client=fake, k=3, search_kwargs={"k": 5, "routes": ["bm25"]})
    retriever.invoke("a")
    retriever.invoke("b", k=1)
    retriever.invoke("c", top_k=2, fusion="minmax")
    HybridSearchRetriever(client=fake, search_kwargs={"k": 5}).invoke("d")
    HybridSearchRetriever(client=fake, search_options={"top_k": 6}).invoke("e")  # earlier name
    assert fake.calls == [
        ("a", {"routes": ["bm25"], "top_k": 3}),
        ("b", {"routes": ["bm25"], "top_k": 1}),
        ("c", {"routes": ["bm25"], "top_k": 2, "fusion": "minmax"}),
        ("d", {"top_k": 5}),
        ("e", {"top_k": 6}),
    ]


def test_k_and_top_k_that_disagree_are_refused_by_name() -> None:
    from hybrid_search.errors import InvalidRequestError

    retriever = HybridSearchRetriever(client=FakeSearcher())
    with pytest.raises(InvalidRequestError, match=r"invoke: k=1 and top_k=2 disagree"):
        retriever.invoke("q", k=1, top_k=2)
    bad = HybridSearchRetriever(client=FakeSearcher(), search_kwargs={"k": 1, "top_k": 3})
    with pytest.raises(InvalidRequestError, match="search_kwargs: k=1 and top_k=3"):
        bad.invoke("q")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        HybridSearchRetriever(client=FakeSearcher(), k=0)


def test_ainvoke_uses_the_async_client_and_invoke_the_sync_one() -> None:
    sync, aclient = FakeSearcher(), FakeAsyncSearcher()
    retriever = HybridSearchRetriever(client=sync, async_client=aclient, k=2)
    asyncio.run(retriever.ainvoke("async q", k=1))
    retriever.invoke("sync q")
    assert aclient.calls == [("async q", {"top_k": 1})]
    assert sync.calls == [("sync q", {"top_k": 2})]
    # a sync client alone serves ainvoke in a thread, per-call options included
    asyncio.run(HybridSearchRetriever(client=sync).ainvoke("threaded", k=4))
    assert sync.calls[-1] == ("threaded", {"top_k": 4})
