"""The one exception hierarchy of hybrid-search.

HybridSearchError                 base; .code a stable string, .retryable: may a retry help
├── ConfigError                   settings invalid or inconsistent
├── EncoderError                  model load or encode failed
│   └── ModelNotFoundError        weights neither a local dir nor loadable from the hub
├── StoreError                    a Milvus call failed (the MilvusException is kept as __cause__)
│   ├── StoreUnavailableError     transient: connect, timeout, rate limit (retryable)
│   ├── CollectionNotFoundError
│   └── SchemaMismatchError       live collection differs from schemas/collection.py or model
├── InvalidRequestError           malformed search/ingest request (bad route, top-k, empty query)
│   └── InvalidFilterError        unknown field, bad operator, wrong value type
├── RouteError                    one route cannot answer this query; the others still do
├── RerankDeadlineExceeded        the reranker passed the caller's deadline; fused order is kept
├── IngestError                   one bad input record; carries source, line and field
├── AuthError                     missing/unknown API key (401) ...
│   └── ForbiddenError            ... or a key without the right scope (403)
├── OverloadedError               the service queue is full (503 + Retry-After)
└── ClientError                   raised by the remote client only
    ├── TransportError            network or timeout (retryable)
    └── APIError                  non-2xx answer; .status_code, .code, .message, .details
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class HybridSearchError(Exception):
    """Base of every error hybrid-search raises on purpose."""

    code: str = "internal_error"
    retryable: bool = False

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class ConfigError(HybridSearchError, ValueError):
    code = "config_error"


class EncoderError(HybridSearchError):
    code = "encoder_error"


class ModelNotFoundError(EncoderError):
    code = "model_not_found"


class StoreError(HybridSearchError):
    code = "store_error"


class StoreUnavailableError(StoreError):
    code = "store_unavailable"
    retryable = True


class StoreLockedError(StoreUnavailableError):
    """Another process has the Milvus Lite file open (Milvus Lite allows one process per file)."""

    code = "store_locked"
    retryable = False


class CollectionNotFoundError(StoreError):
    code = "collection_not_found"


class SchemaMismatchError(StoreError):
    code = "schema_mismatch"


class InvalidRequestError(HybridSearchError, ValueError):
    code = "invalid_request"


class InvalidFilterError(InvalidRequestError):
    code = "invalid_filter"


class RouteError(HybridSearchError):
    """The query has nothing this route can search (no lexical weights, no token vectors), or
    the collection's layout cannot serve the route alone. Reported per route; never a 5xx."""

    code = "route_unanswerable"


class RerankDeadlineExceeded(HybridSearchError):
    """Raised between reranker batches once the caller's deadline has passed."""

    code = "rerank_deadline"


#: codes a route failure carries when the store, not the query, was the problem
STORE_FAILURE_CODES = frozenset(
    c.code for c in (StoreError, StoreUnavailableError, StoreLockedError, SchemaMismatchError)
)


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """`model.model_validate(data)` whose first error becomes an InvalidRequestError naming the
    field, so the in-process searcher and the remote client refuse a typo the same way."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        e = exc.errors()[0]
        where = ".".join(str(p) for p in e["loc"])
        got = e.get("input")
        shown = repr(got) if isinstance(got, str | int | float) else ""
        msg = f"{where}: {e['msg']}" + (f", got {shown}" if 0 < len(shown) <= 80 else "")
        raise InvalidRequestError(
            msg, details={"field": where, "errors": len(exc.errors())}
        ) from None


class IngestError(HybridSearchError):
    """One bad input record. `where` names file and line (and field) so a user can fix it."""

    code = "invalid_document"

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        doc_id: str | None = None,
    ) -> None:
        self.source, self.line, self.field, self.doc_id = source, line, field, doc_id
        where = ":".join(str(p) for p in (source, line) if p is not None)
        full = f"field '{field}': {message}" if field else message
        details = {"source": source, "line": line, "field": field, "doc_id": doc_id}
        super().__init__(
            f"{where}: {full}" if where else full,
            details={k: v for k, v in details.items() if v is not None},
        )


class AuthError(HybridSearchError):
    code = "unauthorized"


class ForbiddenError(AuthError):
    code = "forbidden"


class OverloadedError(HybridSearchError):
    code = "overloaded"
    retryable = True


class RateLimitedError(OverloadedError):
    """One API key sent more requests than its per-minute allowance (HTTP 429)."""

    code = "rate_limited"


class ClientError(HybridSearchError):
    code = "client_error"


class TransportError(ClientError):
    code = "transport_error"
    retryable = True


class APIError(ClientError):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status_code} {code}: {message}", details=details)
        self.status_code = status_code
        self.code = code
        self.retryable = status_code == 503
