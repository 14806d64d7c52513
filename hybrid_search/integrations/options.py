"""Search options as framework retrievers take them, merged into one SearchOptions mapping.

Frameworks spell the hit count `k` (LangChain) or `similarity_top_k` (LlamaIndex); the service
spells it `top_k`. Shared by every adapter so their precedence is the same: per-call options win
over the retriever's count, which wins over its stored options.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from hybrid_search.errors import InvalidRequestError
from schemas.api import SearchHit

__all__ = ["hit_metadata", "merge_options"]

#: the names a framework may use for the number of hits, all meaning SearchOptions.top_k
COUNT_ALIASES = ("k", "top_k")


def _normalised(options: Mapping[str, Any], where: str) -> dict[str, Any]:
    """`options` with `k` renamed to `top_k`; giving both with different values is an error."""
    out = dict(options)
    given = {name: out.pop(name) for name in COUNT_ALIASES if name in out}
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


def merge_options(
    stored: Mapping[str, Any], count: int | None, call: Mapping[str, Any], *, call_name: str
) -> dict[str, Any]:
    """SearchOptions fields for one call: `call` over `count` (the retriever's `k` or
    `similarity_top_k`; None: unset) over `stored` (`search_kwargs`); `k` stands for `top_k`.

    Raises:
        InvalidRequestError: `k` and `top_k` with different values in one mapping (named by
            `call_name`, e.g. "invoke")."""
    merged = _normalised(stored, "search_kwargs")
    if count is not None:
        merged["top_k"] = count
    merged.update(_normalised(call, call_name))
    return merged


def hit_metadata(hit: SearchHit) -> dict[str, Any]:
    """A hit's metadata for a framework document: the document's own metadata spread first, so
    the keys hybrid-search sets (doc_id, chunk_id, title, routes, fused_score, rerank_score) win
    over user metadata of the same name."""
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
