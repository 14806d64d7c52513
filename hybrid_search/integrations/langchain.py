"""LangChain retriever over hybrid-search: pip install "hybrid-search[langchain]".

The hit count is `k` (or `top_k`), as LangChain spells it: `invoke` keywords win over the
constructor's `k`, which wins over `search_kwargs`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import AliasChoices, ConfigDict, Field

from hybrid_search.integrations.options import hit_metadata, is_async, merge_options, sync_search
from schemas.api import SearchHit, SearchResponse

__all__ = ["HybridSearchRetriever", "hit_to_document"]


def hit_to_document(hit: SearchHit) -> Document:
    """One hit as a LangChain Document (metadata: see `options.hit_metadata`)."""
    return Document(page_content=hit.text, metadata=hit_metadata(hit), id=hit.chunk_id)


class HybridSearchRetriever(BaseRetriever):
    """Retrieves hybrid-search hits as LangChain Documents, in the service's rank order.

    `client`: a HybridSearcher, HybridSearchClient or AsyncHybridSearchClient; `async_client`:
    an optional async twin for `ainvoke`; `search_kwargs` (or `search_options`, its earlier
    name): SearchOptions fields passed on every call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    client: Any
    async_client: Any = None
    k: int | None = Field(None, ge=1)
    search_kwargs: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("search_kwargs", "search_options")
    )

    def _options(self, call: dict[str, Any]) -> dict[str, Any]:
        call.pop("verbose", None)  # LangChain's own flag, read by its callback manager
        return merge_options(self.search_kwargs, self.k, call, call_name="invoke")

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        response = sync_search(self.client, query, self._options(kwargs), "ainvoke")
        return [hit_to_document(h) for h in response.hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        client = self.async_client if self.async_client is not None else self.client
        if is_async(client):
            response: SearchResponse = await client.search(query, **self._options(kwargs))
            return [hit_to_document(h) for h in response.hits]
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )
