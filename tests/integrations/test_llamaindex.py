"""HybridSearchLlamaRetriever: LlamaIndex's conventions (similarity_top_k, QueryBundle,
NodeWithScore, native aretrieve), against fakes and against a real `hybrid-search serve`."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.schema import MetadataMode, NodeRelationship, QueryBundle
from test_langchain import FakeAsyncSearcher, FakeSearcher  # this directory is on sys.path

from hybrid_search.client import AsyncHybridSearchClient, HybridSearchClient
from hybrid_search.errors import InvalidRequestError
from hybrid_search.integrations.llamaindex import HybridSearchLlamaRetriever


def test_nodes_carry_text_ids_scores_source_and_the_explanation() -> None:
    fake = FakeSearcher()
    retriever = HybridSearchLlamaRetriever(fake, similarity_top_k=2, search_kwargs={"rerank": True})
    nodes = retriever.retrieve("hybrid search")
    assert fake.calls == [("hybrid search", {"rerank": True, "top_k": 2})]
    assert [n.node.node_id for n in nodes] == ["milvus#0", "bm25#1"]
    assert [n.node.get_content() for n in nodes] == [
        "Milvus supports hybrid search.",
        "BM25 ranks by term frequency.",
    ]
    # rerank score when reranking ran, else the fused score: the order the hits came in
    assert [n.score for n in nodes] == [1.5, 0.0164]
    meta = nodes[0].node.metadata
    assert meta["routes"] == {"dense": {"rank": 1, "score": 0.9}, "bm25": {"rank": 2, "score": 3.1}}
    assert (meta["doc_id"], meta["title"], meta["lang"]) == ("milvus", "Milvus", "en")
    assert nodes[0].node.relationships[NodeRelationship.SOURCE].node_id == "milvus"
    # the explanation stays out of what an LLM is shown; title and user metadata stay in
    llm_text = nodes[0].node.get_content(metadata_mode=MetadataMode.LLM)
    assert "title: Milvus" in llm_text and "lang: en" in llm_text
    assert "fused_score" not in llm_text and "routes" not in llm_text


def test_query_bundle_and_count_precedence() -> None:
    fake = FakeSearcher()
    HybridSearchLlamaRetriever(fake, search_kwargs={"k": 7}).retrieve(QueryBundle("bundle"))
    HybridSearchLlamaRetriever(fake, similarity_top_k=3, search_kwargs={"top_k": 7}).retrieve("s")
    assert fake.calls == [("bundle", {"top_k": 7}), ("s", {"top_k": 3})]
    with pytest.raises(ValueError, match="similarity_top_k must be >= 1"):
        HybridSearchLlamaRetriever(fake, similarity_top_k=0)
    with pytest.raises(InvalidRequestError, match="search_kwargs: k=1 and top_k=2"):
        HybridSearchLlamaRetriever(fake, search_kwargs={"k": 1, "top_k": 2}).retrieve("q")


def test_aretrieve_awaits_the_async_client() -> None:
    sync, aclient = FakeSearcher(), FakeAsyncSearcher()
    retriever = HybridSearchLlamaRetriever(sync, async_client=aclient, similarity_top_k=1)
    nodes = asyncio.run(retriever.aretrieve("a"))
    assert [n.node.node_id for n in nodes] == ["milvus#0", "bm25#1"]
    assert aclient.calls == [("a", {"top_k": 1})] and sync.calls == []
    only_async = HybridSearchLlamaRetriever(FakeAsyncSearcher())
    with pytest.raises(TypeError, match="aretrieve"):
        only_async.retrieve("q")
    assert len(asyncio.run(only_async.aretrieve("q"))) == 2


@pytest.mark.slow
def test_live_service_similarity_top_k_sync_and_async(live_service) -> None:  # type: ignore[no-untyped-def]
    query = "hybrid search ranked lists"
    with HybridSearchClient(live_service.url, live_service.api_key, timeout=60) as client:
        for k in (1, 3):
            nodes = HybridSearchLlamaRetriever(client, similarity_top_k=k).retrieve(query)
            assert len(nodes) == k
            direct = client.search(query, top_k=k)
            assert [n.node.node_id for n in nodes] == [h.chunk_id for h in direct.hits]
            assert [n.score for n in nodes] == pytest.approx(
                [
                    h.rerank_score if h.rerank_score is not None else h.fused_score
                    for h in direct.hits
                ]
            )
            assert all(n.node.metadata["routes"] for n in nodes)

        async def run() -> list[str]:
            async with AsyncHybridSearchClient(
                live_service.url, live_service.api_key, timeout=60
            ) as aclient:
                retriever = HybridSearchLlamaRetriever(
                    client,
                    async_client=aclient,
                    similarity_top_k=3,
                    search_kwargs={"rerank": False},
                )
                return [n.node.node_id for n in await retriever.aretrieve(query)]

        ids = asyncio.run(run())
        assert ids == [h.chunk_id for h in client.search(query, top_k=3, rerank=False).hits]


def test_imports_without_torch_or_pymilvus() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import hybrid_search.integrations.llamaindex, "
        "hybrid_search.integrations.langchain; "
        "bad = [m for m in ('torch', 'pymilvus', 'transformers') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
