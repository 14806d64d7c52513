"""The search console at `/ui`: three static files calling the public `/v1` API (no build step).
Its CSP allows this origin only and no inline code, so even an escaped string could run nothing.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import Response

from hybrid_search.service.errors import DocumentNotFoundError

__all__ = ["console_router"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}

console_router = APIRouter(include_in_schema=False)


@console_router.get("/ui")
@console_router.get("/ui/{name}")
async def console(name: str = "index.html") -> Response:
    if name not in _TYPES:
        raise DocumentNotFoundError(f"no console file '{name}'", details={"path": name})
    body = files(__name__).joinpath(name).read_bytes()
    headers = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=_TYPES[name], headers=headers)
