"""The HTTP service (FastAPI). `create_app` is imported lazily: importing the package must not
pull FastAPI (its wire models live in `schemas.service`, shared with the remote client)."""

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
