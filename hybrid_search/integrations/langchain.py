"""LangChain retriever over hybrid-search: pip install "hybrid-search[langchain]".

`client` is anything with `.search(query, **options) -> SearchResponse`: the in-process
`HybridSearcher`, the remote `HybridSearchClient`, or the `AsyncHybridSearchClient` (whose
`search` is a coroutine function and is then awaited on LangChain's async path).
"""

from __future__ import annotations

import inspect
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from schemas.api import SearchHit, SearchResponse

__all__ = ["HybridSearchRetriever", "hit_to_document"]


def hit_to_document(hit: SearchHit) -> Document:
    """One hit as a LangChain Document.

    The document's own metadata is spread first, so the keys hybrid-search sets (doc_id,
    chunk_id, title, routes, fused_score, rerank_score) win over user metadata of the same name.
    """
    return Document(
        page_content=hit.text,
        metadata={
            **hit.metadata,
            "doc_id": hit.doc_id,
            "chunk_id": hit.chunk_id,
            "chunk_index": hit.chunk_index,
            "title": hit.title,
            "routes": {name: r.model_dump() for name, r in hit.routes.items()},
            "fused_score": hit.fused_score,
            "rerank_score": hit.rerank_score,
        },
        id=hit.chunk_id,
    )


class HybridSearchRetriever(BaseRetriever):
    """Retrieves hybrid-search hits as LangChain Documents, in the service's rank order.

    Attributes:
        client: a HybridSearcher, HybridSearchClient or AsyncHybridSearchClient.
        search_options: SearchOptions fields passed on every call (top_k, routes, filter, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: Any
    search_options: dict[str, Any] = Field(default_factory=dict)

    def _is_async(self) -> bool:
        return inspect.iscoroutinefunction(getattr(self.client, "search", None))

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self._is_async():
            raise TypeError(
                "this retriever wraps an async client; call `ainvoke`, or pass a sync client"
            )
        response: SearchResponse = self.client.search(query, **self.search_options)
        return [hit_to_document(h) for h in response.hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        if self._is_async():
            response: SearchResponse = await self.client.search(query, **self.search_options)
            return [hit_to_document(h) for h in response.hits]
        return await super()._aget_relevant_documents(query, run_manager=run_manager)
