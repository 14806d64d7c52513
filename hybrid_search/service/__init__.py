"""The HTTP service (FastAPI). `create_app` is imported lazily so that the remote client can use
`hybrid_search.service.models` without FastAPI installed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybrid_search.service.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from hybrid_search.service.app import create_app

        return create_app
    raise AttributeError(name)
