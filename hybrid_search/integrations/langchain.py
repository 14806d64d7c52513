"""LangChain retriever over hybrid-search: pip install "hybrid-search[langchain]".

`client` is anything with `.search(query, **options) -> SearchResponse`: the in-process
`HybridSearcher`, the remote `HybridSearchClient`, or the `AsyncHybridSearchClient` (whose
`search` is a coroutine function and is then awaited on LangChain's async path). `async_client`
optionally adds an async twin for `ainvoke`, so one retriever serves both paths natively.

The hit count follows LangChain's convention: `k` on the constructor, `k` as an `invoke` keyword,
or `k` inside `search_kwargs` (as `VectorStoreRetriever` takes it); `top_k` works everywhere `k`
does. Precedence: `invoke` keywords, then `k`, then `search_kwargs`.
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

from hybrid_search.integrations.options import hit_metadata, is_async, merge_options
from schemas.api import SearchHit, SearchResponse

__all__ = ["HybridSearchRetriever", "hit_to_document"]


def hit_to_document(hit: SearchHit) -> Document:
    """One hit as a LangChain Document (metadata: see `options.hit_metadata`)."""
    return Document(page_content=hit.text, metadata=hit_metadata(hit), id=hit.chunk_id)


class HybridSearchRetriever(BaseRetriever):
    """Retrieves hybrid-search hits as LangChain Documents, in the service's rank order.

    Attributes:
        client: a HybridSearcher, HybridSearchClient or AsyncHybridSearchClient.
        async_client: optional AsyncHybridSearchClient used by `ainvoke` (default: `client`,
            awaited if it is async, else run in a thread).
        k: hits returned (SearchOptions.top_k); None: `search_kwargs`' or the service default.
        search_kwargs: SearchOptions fields passed on every call (routes, filter, fusion, ...);
            also accepted as `search_options`, its earlier name.
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
        if is_async(self.client):
            raise TypeError(
                "this retriever wraps an async client; call `ainvoke`, or pass a sync client"
            )
        response: SearchResponse = self.client.search(query, **self._options(kwargs))
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
