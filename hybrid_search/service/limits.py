"""Request guards before any work: the per-key rate limit, and the body guard (key first, size,
JSON depth, then the connection watched while the app runs)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable

import anyio
import anyio.to_thread
import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hybrid_search.errors import HybridSearchError, RateLimitedError
from hybrid_search.service.auth import Authenticator, principal_for
from hybrid_search.service.errors import error_response, exception_response
from hybrid_search.service.work import Work

__all__ = [
    "MAX_JSON_DEPTH",
    "BodySizeLimitMiddleware",
    "RateLimiter",
    "admit",
    "json_depth_over",
]


class RateLimiter:
    """A token bucket per API key: `per_minute` requests a minute, bursts up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise RateLimitedError with the wait in seconds."""
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = max(1, math.ceil((1.0 - tokens) / self.rate))
                raise RateLimitedError(
                    f"rate limit of {int(self.capacity)} requests per minute for this API key "
                    f"reached; retry in {wait}s",
                    details={"retry_after_s": wait, "limit_per_minute": int(self.capacity)},
                )
            self._buckets[key] = (tokens - 1.0, now)


#: JSON nesting a request body may have. The deepest legitimate body is a filter of 8 levels
#: (two JSON levels each) inside a search request, about 20; metadata stops at 8 levels
MAX_JSON_DEPTH = 32
#: bodies up to this size are checked on the event loop (microseconds); larger ones in a thread
_INLINE_CHECK_BYTES = 64 * 1024
_KEEP = b'[]{}"'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_LEVELS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def json_depth_over(body: bytes, limit: int) -> bool:
    """True when the JSON text nests containers deeper than `limit`, found without recursion:
    strings dropped by bytes operations, brackets summed as +1/-1 in 1 MiB slices (about the
    cost of `json.loads`, docs/design.md). Unbalanced text a parser refuses may count as deep."""
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _DROP)
    if b'"' in text:
        text = b"".join(text.split(b'"')[::2])  # even parts lie outside strings
    steps = np.frombuffer(text.translate(_LEVELS), dtype=np.int8)
    level = 0
    for start in range(0, len(steps), 1 << 20):
        running = np.cumsum(steps[start : start + (1 << 20)], dtype=np.int32) + level
        if int(running.max()) > limit:
            return True
        level = int(running[-1])
    return False


class BodySizeLimitMiddleware:
    """Guards every request before the app reads its body, cheapest check first: the `/v1/` key
    and rate limit from the headers (401/429 before any body byte), 413 over `max_bytes`, 400 for
    JSON deeper than `max_json_depth`. The body is buffered and replayed, so the limit holds for
    chunked uploads too and the app never sees a partial body."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refused = admit(scope)
        if refused is not None:
            await refused(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.max_bytes:
            await self._reject(scope, receive, send, length)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away before the body ended
                await self.app(scope, _replay(message, receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._reject(scope, receive, send, size)
                return
            chunks.append(body)
            more = bool(message.get("more_body", False))
        data = b"".join(chunks)
        refused = await self._malformed(scope, data)
        if refused is not None:
            await refused(scope, receive, send)
            return
        await _watched(self.app, scope, data, receive, send)

    async def _malformed(self, scope: Scope, data: bytes) -> JSONResponse | None:
        """The refusal of a JSON body that cannot be decoded (422) or is nested too deep (400),
        read in every encoding the parser accepts, so no encoding slips past the depth guard."""
        if not data or "json" not in Headers(scope=scope).get("content-type", "json"):
            return None
        app = scope.get("app")
        try:
            encoding = json.detect_encoding(data)
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            message = f"body: not JSON text in UTF-8, UTF-16 or UTF-32 ({exc.reason})"
            errors = [{"field": "body", "message": message, "type": "json_invalid"}]
            return error_response(app, 422, "validation_error", message, {"errors": errors})
        if text.lstrip()[:1] not in ("{", "["):
            return None
        if encoding != "utf-8":
            data = text.encode("utf-8", "surrogatepass")
        if len(data) <= _INLINE_CHECK_BYTES:
            deep = json_depth_over(data, self.max_json_depth)
        else:
            deep = await anyio.to_thread.run_sync(json_depth_over, data, self.max_json_depth)
        if not deep:
            return None
        return error_response(
            app,
            400,
            "invalid_request",
            f"request body nests JSON deeper than {self.max_json_depth} levels",
            {"field": "body", "limit": self.max_json_depth},
        )

    async def _reject(self, scope: Scope, receive: Receive, send: Send, size: int) -> None:
        response = error_response(
            scope.get("app"),
            413,
            "payload_too_large",
            f"request body exceeds {self.max_bytes} bytes",
            {"max_bytes": self.max_bytes, "received_at_least": size},
            {"Connection": "close"},
        )
        await response(scope, receive, send)


def admit(scope: Scope) -> JSONResponse | None:
    """The 401/429 for a `/v1/` request's headers; None (principal left in scope state): go on."""
    app = scope.get("app")
    state = getattr(app, "state", None)
    auth = getattr(state, "auth", None)
    if not str(scope.get("path", "")).startswith("/v1/") or not isinstance(auth, Authenticator):
        return None
    try:
        principal = principal_for(state, Headers(scope=scope))
    except HybridSearchError as exc:
        response = exception_response(Request(scope), exc)
        response.headers["Connection"] = "close"  # the body stays unread
        return response
    scope.setdefault("state", {})["principal"] = principal
    return None


def _content_length(scope: Scope) -> int | None:
    try:
        return int(Headers(scope=scope)["content-length"])
    except (KeyError, ValueError):
        return None


async def _watched(app: ASGIApp, scope: Scope, body: bytes, receive: Receive, send: Send) -> None:
    """Run the app with the buffered body; a client that leaves before the answer is complete
    stops the request's `Work` at its next step and cancels the app (its queued work leaves)."""
    work = Work()
    metrics = getattr(getattr(scope.get("app"), "state", None), "metrics", None)
    if metrics is not None:
        work.on_abandoned = metrics.abandoned.inc
    state = scope.setdefault("state", {})
    state["work"] = work
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    gone = anyio.Event()
    answered = False

    async def app_receive() -> Message:
        if pending:
            return pending.pop()
        await gone.wait()
        return {"type": "http.disconnect"}

    async def app_send(message: Message) -> None:
        nonlocal answered
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered = True
        await send(message)

    try:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                if not answered:
                    work.client_left()
                    state["client_gone"] = True
                    gone.set()
                    tg.cancel_scope.cancel()

            tg.start_soon(watch)
            await app(scope, app_receive, app_send)
            tg.cancel_scope.cancel()
    except BaseExceptionGroup as group:  # the app's own error, as if no task group were here
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None  # the group only wrapped it
        raise


def _replay(message: Message, receive: Receive) -> Receive:
    pending = [message]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
