"""Search options as framework retrievers take them, merged into one SearchOptions mapping, so
every adapter has the same precedence: per-call options, then the retriever's count (`k`,
`similarity_top_k`), then its stored options."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hybrid_search.errors import InvalidRequestError
from schemas.api import SearchHit, SearchResponse


def _normalised(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`options` with `k` renamed to `top_k`; giving both with different values is an error."""
    out = dict(options)
    given = {name: out.pop(name) for name in ("k", "top_k") if name in out}
    if len(set(map(repr, given.values()))) > 1:
        raise InvalidRequestError(
            f"{where}: k={given['k']!r} and top_k={given['top_k']!r} disagree; give one of them",
            details={"field": f"{where}.k"},  # where: search_kwargs or the call's name
        )
    if given:
        out["top_k"] = next(iter(given.values()))
    return out


def is_async(client: Any) -> bool:
    """An AsyncHybridSearchClient (its `search` is a coroutine function)."""
    return inspect.iscoroutinefunction(getattr(client, "search", None))


def sync_search(
    client: Any, query: str, options: dict[str, Any], async_call: str
) -> SearchResponse:
    """`client.search`, refused for an async client: it only serves `async_call`."""
    if is_async(client):
        raise TypeError(
            f"this retriever wraps an async client; call `{async_call}`, or pass a sync client"
        )
    response: SearchResponse = client.search(query, **options)
    return response


def merge_options(
    stored: Mapping[str, Any], count: int | None, call: Mapping[str, Any], *, call_name: str
) -> dict[str, Any]:
    """SearchOptions fields for one call: `call` over `count` (None: unset) over `stored`."""
    merged = _normalised(stored, "search_kwargs")
    if count is not None:
        merged["top_k"] = count
    merged.update(_normalised(call, call_name))
    return merged


def hit_metadata(hit: SearchHit) -> dict[str, Any]:
    """A hit's metadata for a framework document: the keys hybrid-search sets win over the
    document's own metadata of the same name."""
    return {
        **hit.metadata,
        "doc_id": hit.doc_id,
        "chunk_id": hit.chunk_id,
        "chunk_index": hit.chunk_index,
        "title": hit.title,
        "routes": {name: r.model_dump() for name, r in hit.routes.items()},
        "fused_score": hit.fused_score,
        "rerank_score": hit.rerank_score,
    }
