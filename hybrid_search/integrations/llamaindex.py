"""LlamaIndex retriever over hybrid-search: pip install "hybrid-search[llamaindex]".

Each hit becomes a `NodeWithScore` (node id: the chunk id; SOURCE: the document) whose metadata
carries the explanation, kept out of the text LlamaIndex embeds or shows an LLM.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from hybrid_search.integrations.options import hit_metadata, is_async, merge_options, sync_search
from schemas.api import SearchHit, SearchResponse

__all__ = ["EXPLANATION_KEYS", "HybridSearchLlamaRetriever", "hit_to_node"]

#: metadata keys that explain a hit; an LLM or an embedder has no use for them
EXPLANATION_KEYS = ("doc_id", "chunk_id", "chunk_index", "routes", "fused_score", "rerank_score")


def hit_to_node(hit: SearchHit) -> NodeWithScore:
    """One hit as a scored node; the score is the rerank score when reranking ran, else the
    fused score (the one the hits are ordered by)."""
    node = TextNode(
        id_=hit.chunk_id,
        text=hit.text,
        metadata=hit_metadata(hit),
        excluded_embed_metadata_keys=list(EXPLANATION_KEYS),
        excluded_llm_metadata_keys=list(EXPLANATION_KEYS),
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=hit.doc_id)},
    )
    score = hit.rerank_score if hit.rerank_score is not None else hit.fused_score
    return NodeWithScore(node=node, score=score)


class HybridSearchLlamaRetriever(BaseRetriever):
    """Retrieves hybrid-search hits as LlamaIndex nodes, in the service's rank order.

    `client`: a HybridSearcher, HybridSearchClient or AsyncHybridSearchClient (then only
    `aretrieve` works); `async_client`: an optional async twin for `aretrieve`;
    `similarity_top_k`: the hit count; `search_kwargs`: SearchOptions fields for every call.
    """

    def __init__(
        self,
        client: Any,
        *,
        async_client: Any = None,
        similarity_top_k: int | None = None,
        search_kwargs: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if similarity_top_k is not None and similarity_top_k < 1:
            raise ValueError(f"similarity_top_k must be >= 1, got {similarity_top_k}")
        self.client = client
        self.async_client = async_client
        self.similarity_top_k = similarity_top_k
        self.search_kwargs = dict(search_kwargs or {})
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _options(self) -> dict[str, Any]:
        return merge_options(self.search_kwargs, self.similarity_top_k, {}, call_name="retrieve")

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        response = sync_search(self.client, query_bundle.query_str, self._options(), "aretrieve")
        return [hit_to_node(h) for h in response.hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        client = self.async_client if self.async_client is not None else self.client
        if not is_async(client):
            return self._retrieve(query_bundle)
        response: SearchResponse = await client.search(query_bundle.query_str, **self._options())
        return [hit_to_node(h) for h in response.hits]
