"""Remote client for the HTTP service with `HybridSearcher`'s method names and responses, so code
switches between in-process and remote search by swapping one object; no torch, no pymilvus.

A non-2xx answer raises `APIError` with the server's error code; a network failure or timeout
`TransportError`; bad options `InvalidRequestError` before any request. Only 503s, connection
errors and timeouts are retried (every endpoint is safe to repeat: a repeated delete whose first
attempt succeeded unseen answers 404), honouring `Retry-After` up to `max_retry_wait_s`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from hybrid_search.errors import APIError, InvalidRequestError, TransportError, validated
from schemas.api import (
    BatchSearchRequest,
    BatchSearchResponse,
    SearchRequest,
    SearchResponse,
    as_queries,
)
from schemas.documents import Document, IngestSummary
from schemas.rag import RagRequest, RagResponse
from schemas.service import (
    DeleteResponse,
    DocumentResponse,
    HealthResponse,
    ReadyResponse,
)

__all__ = ["AsyncHybridSearchClient", "HybridSearchClient"]

#: seconds per request; a cold reranker on CPU can take several seconds for a large top-n
DEFAULT_TIMEOUT_S = 60.0
#: retries after the first attempt (so up to 4 attempts)
DEFAULT_RETRIES = 3
#: the longest single wait, whatever Retry-After says: a caller should not hang for minutes
DEFAULT_MAX_RETRY_WAIT_S = 30.0

M = TypeVar("M", bound=BaseModel)
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, TransportError):
        return True
    return isinstance(exc, APIError) and exc.status_code == 503


def _body(model: BaseModel) -> dict[str, Any]:
    """Only what the caller set, so the server's defaults apply to the rest."""
    return model.model_dump(mode="json", exclude_unset=True)


def _doc_path(doc_id: str) -> str:
    # '/' and '.' are escaped too, so ids like "a/b" or ".." stay one path segment
    return "/v1/documents/" + quote(doc_id, safe="").replace(".", "%2E")


def _tenant_params(tenant: str | None) -> dict[str, str] | None:
    return {"tenant": tenant} if tenant is not None else None


def _api_error(response: httpx.Response) -> APIError:
    code, message, details = f"http_{response.status_code}", "", {}
    try:
        err = response.json()["error"]
        code = str(err["code"])
        message = str(err.get("message", ""))
        details = dict(err.get("details") or {})
    except (ValueError, KeyError, TypeError):
        message = response.text[:500] or response.reason_phrase
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        with contextlib.suppress(ValueError):  # an HTTP-date: the exponential wait applies
            details.setdefault("retry_after_s", float(retry_after))
    return APIError(response.status_code, code, message, details)


@contextlib.contextmanager
def _transport_errors(method: str, path: str) -> Iterator[None]:
    """httpx's network failures and timeouts as TransportError (retryable)."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise TransportError(f"{method} {path} timed out: {exc}") from exc
    except httpx.RequestError as exc:
        raise TransportError(f"{method} {path} failed: {type(exc).__name__}: {exc}") from exc


class _BaseClient(Generic[H]):
    """Everything but the I/O. `api_key` goes as a Bearer token; `http_client` (a FastAPI
    TestClient works) stays the caller's, with its own timeouts; `timeout` is per request."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        http_client: H | None = None,
        timeout: float | None = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        max_retry_wait_s: float = DEFAULT_MAX_RETRY_WAIT_S,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait_s = max_retry_wait_s
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns = http_client is None
        self._http: H = http_client if http_client is not None else self._open(timeout)

    def _open(self, timeout: float | None) -> H:
        raise NotImplementedError

    def _wait(self, state: RetryCallState) -> float:
        """Retry-After when the server sent one, else jittered exponential; both capped."""
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, APIError):
            hinted = exc.details.get("retry_after_s")
            if isinstance(hinted, int | float):
                return min(max(float(hinted), 0.0), self.max_retry_wait_s)
        backoff: float = 0.2 * 2.0 ** (state.attempt_number - 1)
        return min(backoff + random.uniform(0, backoff), self.max_retry_wait_s)

    def _retry_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.retries + 1),
            "retry": retry_if_exception(_retryable),
            "wait": self._wait,
            "reraise": True,
        }

    @staticmethod
    def _search(query: str | SearchRequest, options: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(query, SearchRequest):
            return _body(query)
        return _body(validated(SearchRequest, {"query": query, **options}))

    @staticmethod
    def _batch(
        queries: Sequence[str] | BatchSearchRequest, options: Mapping[str, Any]
    ) -> dict[str, Any]:
        if isinstance(queries, BatchSearchRequest):
            return _body(queries)
        return _body(validated(BatchSearchRequest, {"queries": as_queries(queries), **options}))

    @staticmethod
    def _rag(query: str, token_budget: int, options: Mapping[str, Any]) -> dict[str, Any]:
        data = {"query": query, "token_budget": token_budget, **options}
        return _body(validated(RagRequest, data))

    @staticmethod
    def _documents(
        docs: Iterable[Document | Mapping[str, Any]], tenant: str | None
    ) -> dict[str, Any]:
        if isinstance(docs, str | bytes | Mapping):
            raise InvalidRequestError(
                f"documents: expected a list of documents, got one {type(docs).__name__}",
                details={"field": "documents"},
            )
        # anything but a Document or a mapping goes as it is: the service reports it by index
        items = [
            d.model_dump(mode="json")
            if isinstance(d, Document)
            else (dict(d) if isinstance(d, Mapping) else d)
            for d in docs
        ]
        return {"documents": items} | ({} if tenant is None else {"tenant": tenant})


class HybridSearchClient(_BaseClient[httpx.Client]):
    """Synchronous client, thread-safe (httpx.Client is); close it or use it as a context."""

    def _open(self, timeout: float | None) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        for attempt in Retrying(**self._retry_kwargs()):
            with attempt, _transport_errors(method, path):
                url = self.base_url + path
                response = self._http.request(method, url, headers=self._headers, **kwargs)
                if not response.is_success:
                    raise _api_error(response)
        return model.model_validate(response.json())

    def search(self, query: str | SearchRequest, **options: Any) -> SearchResponse:
        """Search one query; options are SearchOptions fields (top_k, routes, filter, ...)."""
        return self._request(
            "POST", "/v1/search", SearchResponse, json=self._search(query, options)
        )

    def search_many(
        self, queries: Sequence[str] | BatchSearchRequest, **options: Any
    ) -> list[SearchResponse]:
        """Search a batch with shared options, in one request."""
        batch = self._request(
            "POST", "/v1/search/batch", BatchSearchResponse, json=self._batch(queries, options)
        )
        return batch.results

    def rag_context(self, query: str, *, token_budget: int = 2048, **options: Any) -> RagResponse:
        """Search and pack the hits into a cited context of at most `token_budget` tokens."""
        body = self._rag(query, token_budget, options)
        return self._request("POST", "/v1/rag/context", RagResponse, json=body)

    def upsert_documents(
        self, docs: Iterable[Document | Mapping[str, Any]], *, tenant: str | None = None
    ) -> IngestSummary:
        """Insert or replace documents; per-document problems come back in the summary."""
        body = self._documents(docs, tenant)
        return self._request("POST", "/v1/documents", IngestSummary, json=body)

    def get_document(self, doc_id: str, *, tenant: str | None = None) -> DocumentResponse:
        """A document's chunks; APIError 404 if the tenant has no such document."""
        params = _tenant_params(tenant)
        return self._request("GET", _doc_path(doc_id), DocumentResponse, params=params)

    def delete_document(self, doc_id: str, *, tenant: str | None = None) -> DeleteResponse:
        """Delete a document; APIError 404 if the tenant has no such document."""
        params = _tenant_params(tenant)
        return self._request("DELETE", _doc_path(doc_id), DeleteResponse, params=params)

    def health(self) -> HealthResponse:
        """`GET /healthz`: the process answers."""
        return self._request("GET", "/healthz", HealthResponse)

    def ready(self) -> ReadyResponse:
        """`GET /readyz` without retries; a 503 comes back as `ready=False`, not an error."""
        with _transport_errors("GET", "/readyz"):
            response = self._http.get(self.base_url + "/readyz", headers=self._headers)
        if response.status_code not in (200, 503):
            raise _api_error(response)
        return ReadyResponse.model_validate(response.json())


class AsyncHybridSearchClient(_BaseClient[httpx.AsyncClient]):
    """The asyncio twin of HybridSearchClient (same arguments, awaitable methods)."""

    def _open(self, timeout: float | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, model: type[M], **kwargs: Any) -> M:
        async for attempt in AsyncRetrying(**self._retry_kwargs()):
            with attempt, _transport_errors(method, path):
                url = self.base_url + path
                response = await self._http.request(method, url, headers=self._headers, **kwargs)
                if not response.is_success:
                    raise _api_error(response)
        return model.model_validate(response.json())

    async def search(self, query: str | SearchRequest, **options: Any) -> SearchResponse:
        body = self._search(query, options)
        return await self._request("POST", "/v1/search", SearchResponse, json=body)

    async def search_many(
        self, queries: Sequence[str] | BatchSearchRequest, **options: Any
    ) -> list[SearchResponse]:
        body = self._batch(queries, options)
        batch = await self._request("POST", "/v1/search/batch", BatchSearchResponse, json=body)
        return batch.results

    async def rag_context(
        self, query: str, *, token_budget: int = 2048, **options: Any
    ) -> RagResponse:
        body = self._rag(query, token_budget, options)
        return await self._request("POST", "/v1/rag/context", RagResponse, json=body)

    async def upsert_documents(
        self, docs: Iterable[Document | Mapping[str, Any]], *, tenant: str | None = None
    ) -> IngestSummary:
        body = self._documents(docs, tenant)
        return await self._request("POST", "/v1/documents", IngestSummary, json=body)

    async def get_document(self, doc_id: str, *, tenant: str | None = None) -> DocumentResponse:
        params = _tenant_params(tenant)
        return await self._request("GET", _doc_path(doc_id), DocumentResponse, params=params)

    async def delete_document(self, doc_id: str, *, tenant: str | None = None) -> DeleteResponse:
        params = _tenant_params(tenant)
        return await self._request("DELETE", _doc_path(doc_id), DeleteResponse, params=params)

    async def health(self) -> HealthResponse:
        return await self._request("GET", "/healthz", HealthResponse)
