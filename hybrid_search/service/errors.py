"""Every error leaves the service as `{"error": {"code", "message", "details"}}`, from one table.

5xx answers never carry exception text: a fixed sentence, and the request id the real error is
logged with (also in the `X-Request-ID` header).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hybrid_search.errors import (
    AuthError,
    CollectionNotFoundError,
    ConfigError,
    EncoderError,
    ForbiddenError,
    HybridSearchError,
    IngestError,
    InvalidFilterError,
    InvalidRequestError,
    OverloadedError,
    RateLimitedError,
    SchemaMismatchError,
    StoreError,
    StoreUnavailableError,
)
from hybrid_search.service.metrics import Metrics
from schemas.documents import safe_text

__all__ = [
    "STATUS",
    "CatchAllMiddleware",
    "ClientGoneError",
    "DeadlineExceededError",
    "DocumentNotFoundError",
    "JobNotFoundError",
    "PayloadTooLargeError",
    "TenantBusyError",
    "error_response",
    "exception_response",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)


class DocumentNotFoundError(HybridSearchError):
    """The caller's tenant holds no such document (another tenant's is never revealed)."""

    code = "document_not_found"


class PayloadTooLargeError(HybridSearchError):
    code = "payload_too_large"


class TenantBusyError(RateLimitedError):
    """This tenant holds its whole share of slots and queue; other tenants are still admitted."""

    code = "tenant_busy"


class DeadlineExceededError(HybridSearchError):
    """The request's server-side deadline passed; `details` says what was done before it stopped."""

    code = "deadline_exceeded"


class ClientGoneError(HybridSearchError):
    """The client left; its work was stopped (logged as nginx's 499: nobody reads an answer)."""

    code = "client_closed_request"


class JobNotFoundError(HybridSearchError):
    """No ingest job with this id for this tenant (finished jobs are kept for a while)."""

    code = "job_not_found"


@dataclass(frozen=True)
class StatusRule:
    """`public`: the message clients see instead of the exception's own."""

    status: int
    public: str | None = None


_INTERNAL = "internal server error"

#: exception class -> HTTP status, looked up along the MRO (a subclass gets its parent's)
STATUS: dict[type[HybridSearchError], StatusRule] = {
    InvalidFilterError: StatusRule(422),
    InvalidRequestError: StatusRule(400),
    IngestError: StatusRule(422),
    ForbiddenError: StatusRule(403),
    AuthError: StatusRule(401),
    DocumentNotFoundError: StatusRule(404),
    CollectionNotFoundError: StatusRule(404, "collection not found; ingest documents first"),
    PayloadTooLargeError: StatusRule(413),
    DeadlineExceededError: StatusRule(504),
    ClientGoneError: StatusRule(499),
    JobNotFoundError: StatusRule(404),
    RateLimitedError: StatusRule(429),
    OverloadedError: StatusRule(503),
    StoreUnavailableError: StatusRule(503, "the vector store is unavailable; retry later"),
    SchemaMismatchError: StatusRule(500, _INTERNAL),
    ConfigError: StatusRule(500, _INTERNAL),
    EncoderError: StatusRule(500, _INTERNAL),
    StoreError: StatusRule(500, _INTERNAL),
    HybridSearchError: StatusRule(500, _INTERNAL),
}


def error_response(
    app: Any,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The error body every handler returns; also counts the error by code."""
    metrics = getattr(getattr(app, "state", None), "metrics", None)
    if isinstance(metrics, Metrics):
        metrics.errors.labels(code).inc()
    return JSONResponse(
        _serialisable({"error": {"code": code, "message": message, "details": details or {}}}),
        status_code=status,
        headers=headers,
    )


def _serialisable(value: Any, depth: int = 0) -> Any:
    """`value` with every string made safe for UTF-8 (error texts echo input, and JSON input may
    carry lone surrogates such as "\\udfff") and anything not JSON shown as its type name. Error
    details are ours and shallow; past 16 levels the rest is cut rather than recursed into."""
    if isinstance(value, str):
        return safe_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= 16:
        return "..."
    if isinstance(value, dict):
        return {safe_text(str(k)): _serialisable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_serialisable(v, depth + 1) for v in value]
    return type(value).__name__


async def _our_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HybridSearchError)
    return exception_response(request, exc)


def exception_response(request: Request, exc: HybridSearchError) -> JSONResponse:
    """The answer to one of our exceptions (Retry-After on 429/503, WWW-Authenticate on 401)."""
    m = next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)
    headers: dict[str, str] = {}
    details = dict(exc.details)
    if m.status in (429, 503):
        settings = getattr(request.app.state, "settings", None)
        default = settings.service.retry_after_s if settings is not None else 1
        headers["Retry-After"] = str(exc.details.get("retry_after_s") or default)
    if m.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if m.status >= 500:
        rid = request.scope.get("request_id", "")
        log = logger.warning if m.status in (503, 504) else logger.error
        log(
            "%s %s -> %d %s [%s]: %s",
            request.method,
            request.url.path,
            m.status,
            exc.code,
            rid,
            exc,
        )
        if m.public is not None:
            details = {"request_id": rid}
    return error_response(
        request.app, m.status, exc.code, m.public or exc.message, details, headers or None
    )


#: a body with thousands of bad items lists the first ones only
_MAX_LISTED_ERRORS = 50


def _field(loc: Any) -> str:
    return ".".join(str(p) for p in loc)


#: fields a client may send by habit, and where the server takes them from instead
_NOT_IN_A_BODY = {
    "collection": "the collection is chosen by the server (`hybrid-search serve --collection "
    "NAME` or HYBRID_SEARCH_COLLECTION), not by a request; leave 'collection' out",
}


def _message(e: Any, body: Any) -> str:
    """Pydantic's message, or ours where it says too little (broken JSON, server-set fields)."""
    loc = e.get("loc", ())
    if e.get("type") == "json_invalid" and isinstance(body, str) and len(loc) == 2:
        pos = int(loc[1])
        line, column = body.count("\n", 0, pos) + 1, pos - body.rfind("\n", 0, pos)
        reason = (e.get("ctx") or {}).get("error", "invalid JSON")
        return f"not valid JSON: {reason} at line {line} column {column} (character {pos})"
    if e.get("type") == "extra_forbidden" and loc and loc[-1] in _NOT_IN_A_BODY:
        return _NOT_IN_A_BODY[loc[-1]]
    return str(e.get("msg", ""))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": "body" if e.get("type") == "json_invalid" else _field(e.get("loc", ())),
            "message": _message(e, exc.body),
            "type": e.get("type"),
        }
        for e in exc.errors()[:_MAX_LISTED_ERRORS]
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    if len(exc.errors()) > 1:
        message += f" (and {len(exc.errors()) - 1} more)"
    return error_response(request.app, 422, "validation_error", message, {"errors": errors})


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    details: dict[str, Any] = {}
    if exc.status_code == 404 and message == "Not Found":  # no route has this path
        path = request.url.path
        endpoints = sorted(request.app.openapi()["paths"])  # the documented ones, as /docs
        message = f"no endpoint at {path}; see /docs for the endpoints and their methods"
        details = {"path": path, "endpoints": endpoints}
    return error_response(
        request.app, exc.status_code, code, message, details, dict(exc.headers or {}) or None
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HybridSearchError, _our_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class CatchAllMiddleware:
    """Gives each request an id and turns an unexpected exception into a logged, generic 500
    (before Starlette's ServerErrorMiddleware would answer plain text and log it twice)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            logger.exception("unhandled error on %s %s [%s]", scope["method"], scope["path"], rid)
            if started:  # the status line is gone; all we can do is drop the connection
                raise
            response = error_response(
                scope.get("app"), 500, "internal_error", _INTERNAL, {"request_id": rid}
            )
            await response(scope, receive, send_with_id)
