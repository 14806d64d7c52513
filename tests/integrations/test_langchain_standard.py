"""LangChain's own standard retriever suite (langchain-tests' RetrieversIntegrationTests) against
HybridSearchRetriever over a real `hybrid-search serve`: once with the sync remote client, once
with both clients (ainvoke then awaits the async one natively)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import RetrieversIntegrationTests

from hybrid_search.client import AsyncHybridSearchClient, HybridSearchClient
from hybrid_search.integrations.langchain import HybridSearchRetriever

pytestmark = pytest.mark.slow


@pytest.mark.anyio
class _Live(RetrieversIntegrationTests):
    clients: dict[str, Any]

    @pytest.fixture(autouse=True)
    def _clients(self, live_service) -> Iterator[None]:  # type: ignore[no-untyped-def]
        sync = HybridSearchClient(live_service.url, live_service.api_key, timeout=60)
        # no keep-alive: each test's event loop ends with no connection left on it to close
        ahttp = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
        aclient = AsyncHybridSearchClient(live_service.url, live_service.api_key, http_client=ahttp)
        self.clients = {"client": sync, "async_client": aclient}
        yield
        sync.close()
        asyncio.run(ahttp.aclose())

    @property
    def retriever_constructor(self) -> type[HybridSearchRetriever]:
        return HybridSearchRetriever

    @property
    def retriever_query_example(self) -> str:
        return "hybrid search ranked lists"


class TestSyncClient(_Live):
    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"client": self.clients["client"], "search_kwargs": {"rerank": False}}


class TestSyncAndAsyncClients(_Live):
    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {**self.clients, "search_kwargs": {"k": 4}}
