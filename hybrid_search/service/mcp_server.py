"""The MCP server, over stdio (`hybrid-search mcp`) or streamable HTTP at `/mcp`.

Every tool calls the service's own `/v1` routes in-process with the caller's key, so auth, tenant
binding, limits and error codes are exactly the HTTP API's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import mcp_types as types
from fastapi import FastAPI
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import BaseModel
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from hybrid_search.errors import AuthError
from hybrid_search.service.auth import Authenticator, Principal
from hybrid_search.service.errors import error_response
from hybrid_search.version import __version__
from schemas.api import SearchRequest
from schemas.rag import RagRequest
from schemas.service import UpsertDocumentsRequest

__all__ = ["build_server", "mount_mcp", "serve_stdio"]

_KEY_HEADERS = ("authorization", "x-api-key")
_SEARCH_FIELDS = ("query", "top_k", "offset", "routes", "fusion", "filter", "rerank")


def _schema(model: type[BaseModel], keep: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A tool's input schema from the request model (`tenant` never: the key decides it)."""
    schema = model.model_json_schema()
    props = {k: v for k, v in schema["properties"].items() if k != "tenant"}
    if keep is not None:
        props = {k: v for k, v in props.items() if k in keep}
    schema["properties"] = props
    schema["required"] = [k for k in schema.get("required", []) if k in props]
    return schema


_DOC_SCHEMA = {
    "type": "object",
    "properties": {"doc_id": {"type": "string"}},
    "required": ["doc_id"],
}
TOOLS = {
    "search": types.Tool(
        name="search",
        description="Hybrid search (dense, sparse, ColBERT, BM25; fused and reranked). Each hit "
        "says its rank and score on every route (rank null: the route missed it).",
        input_schema=_schema(SearchRequest, _SEARCH_FIELDS),
    ),
    "rag_context": types.Tool(
        name="rag_context",
        description="Search, then pack the best passages into a context of at most token_budget "
        "tokens, each opened by a citation marker such as [1].",
        input_schema=_schema(RagRequest, (*_SEARCH_FIELDS, "token_budget")),
    ),
    "get_document": types.Tool(
        name="get_document",
        description="A stored document's chunks (title, text, metadata) by its id.",
        input_schema=_DOC_SCHEMA,
    ),
    "ingest_documents": types.Tool(
        name="ingest_documents",
        description="Insert or replace documents ({id, title, text, metadata}); unchanged ones "
        "are skipped. Each document gets its own outcome.",
        input_schema=_schema(UpsertDocumentsRequest),
    ),
}


def _compact_hit(hit: dict[str, Any]) -> dict[str, Any]:
    """A hit short enough for a model's context: scores, per-route [rank, score], a snippet."""
    highlight = hit.get("highlight") or {}
    return {
        "doc_id": hit["doc_id"],
        "title": hit["title"],
        "fused_score": round(hit["fused_score"], 4),
        "rerank_score": hit["rerank_score"] and round(hit["rerank_score"], 4),
        "routes": {r: [v["rank"], round(v["score"], 4)] for r, v in hit["routes"].items()},
        "snippet": highlight.get("snippet") or hit["text"][:300],
    }


def _request(name: str, args: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    if name == "search":
        return "POST", "/v1/search", {"highlight": True, **args}
    if name == "rag_context":
        return "POST", "/v1/rag/context", args
    if name == "get_document":
        return "GET", f"/v1/documents/{args.get('doc_id', '')}", None
    return "POST", "/v1/documents", args


def _shape(name: str, body: dict[str, Any]) -> dict[str, Any]:
    if name == "search":
        keep = ("query", "offset", "fusion", "routes", "reranked", "degraded", "reasons")
        return {**{k: body[k] for k in keep}, "hits": [_compact_hit(h) for h in body["hits"]]}
    if name == "rag_context":
        return {k: body[k] for k in ("context", "citations", "tokens", "omitted", "degraded")}
    return body


def build_server(app: FastAPI, fixed_headers: Mapping[str, str] | None = None) -> Server[Any]:
    """The MCP server over `app`'s `/v1` routes. `fixed_headers`: the key for stdio (one caller);
    None: each HTTP request's own Authorization / X-API-Key headers."""
    auth: Authenticator = app.state.auth

    def headers(ctx: Any) -> dict[str, str]:
        if fixed_headers is not None:
            return dict(fixed_headers)
        request = ctx.request
        return {k: request.headers[k] for k in _KEY_HEADERS if k in request.headers}

    def principal(h: Mapping[str, str]) -> Principal:
        return auth.authenticate(h.get("authorization"), h.get("x-api-key"))

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        writer = principal(headers(ctx)).write
        return types.ListToolsResult(
            tools=[t for n, t in TOOLS.items() if writer or n != "ingest_documents"]
        )

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        h, name = headers(ctx), params.name
        if name not in TOOLS or (name == "ingest_documents" and not principal(h).write):
            return _error("not_found", f"no tool {name!r} for this key")
        method, path, body = _request(name, dict(params.arguments or {}))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mcp") as client:
            response = await client.request(method, path, json=body, headers=h, timeout=None)
        data = response.json()
        if response.status_code >= 400:
            err = data.get("error", {})
            return _error(err.get("code", "error"), err.get("message", ""), err.get("details"))
        shaped = _shape(name, data)
        text = json.dumps(shaped, ensure_ascii=False)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=shaped
        )

    return Server(
        "hybrid-search", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool
    )


def _error(code: str, message: str, details: Any = None) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{code}: {message}")],
        structured_content={"code": code, "message": message, "details": details or {}},
        is_error=True,
    )


def mount_mcp(app: FastAPI) -> Callable[[], AbstractAsyncContextManager[None]]:
    """Route `/mcp` (stateless streamable HTTP) on `app`; returns the context manager the app's
    lifespan enters. A request without a valid key gets the API's 401 before any MCP work."""
    auth: Authenticator = app.state.auth
    loopback = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
    server = build_server(app)

    def manager() -> StreamableHTTPSessionManager:
        return StreamableHTTPSessionManager(
            server,
            stateless=True,
            json_response=True,
            # without keys anything on this machine may call: refuse pages from other origins
            security_settings=TransportSecuritySettings(
                enable_dns_rebinding_protection=auth.open,
                allowed_hosts=loopback,
                allowed_origins=[f"http://{h}" for h in loopback],
            ),
        )

    door = _Door(app, auth, manager)
    app.router.routes.append(Route("/mcp", endpoint=door, methods=["GET", "POST", "DELETE"]))
    return door.run


class _Door:
    """The ASGI app at `/mcp` (a class: Starlette runs a plain function as a request handler).
    A session manager runs once and a lifespan may run again, so each run gets its own."""

    def __init__(
        self, app: FastAPI, auth: Authenticator, manager: Callable[[], StreamableHTTPSessionManager]
    ):
        self.app, self.auth, self.new_manager = app, auth, manager
        self.manager: StreamableHTTPSessionManager | None = None

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        self.manager = self.new_manager()
        async with self.manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        h = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self.auth.authenticate(h.get("authorization"), h.get("x-api-key"))
        except AuthError as exc:
            refusal = error_response(self.app, 401, exc.code, exc.message, exc.details)
            await refusal(scope, receive, send)
            return
        assert self.manager is not None, "the app's lifespan starts the MCP session manager"
        await self.manager.handle_request(scope, receive, send)


async def serve_stdio(app: FastAPI, key: str | None) -> None:
    """Run `app`'s lifespan (models, collection) and serve MCP over stdin/stdout with `key`."""
    from mcp.server.stdio import stdio_server

    async with app.router.lifespan_context(app), stdio_server() as (read, write):
        server = build_server(app, {"x-api-key": key} if key else {})
        await server.run(read, write, server.create_initialization_options())
