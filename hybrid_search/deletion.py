"""Deleting documents in bulk, by ids or by a filter within one tenant: the API and the CLI
share it, so both give one outcome per id (a 2,000-document cleanup was 2,000 requests)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybrid_search.filtering import parse_filter
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import Scope

__all__ = ["delete_many", "drop_tenant"]

#: ids per delete expression (a Milvus expression grows with its ids)
_STEP = 512


def delete_many(
    store: VectorStore,
    collection: str,
    tenant: str,
    ids: Sequence[str] | None = None,
    filter: dict[str, Any] | None = None,
) -> list[tuple[str, bool]]:
    """Delete `ids` or what `filter` matches, inside `tenant`; each id and whether it was stored."""
    if filter is not None:
        keys = ops.get_keys(store, collection, Scope(tenant, parse_filter(filter)))
        wanted = sorted({c.doc_id for c in keys.values()})
        present = set(wanted)
    else:
        wanted = list(dict.fromkeys(ids or []))
        present = set(ops.doc_states(store, collection, tenant, wanted))
    gone = [d for d in wanted if d in present]
    for i in range(0, len(gone), _STEP):
        store.delete(collection, tenant, gone[i : i + _STEP])
    return [(d, d in present) for d in wanted]


def drop_tenant(store: VectorStore, collection: str, tenant: str) -> int:
    """Every document of `tenant` (`hybrid-search drop --tenant`, `DELETE /v1/collection`): the
    collection stays, as the other tenants' documents live in it. Returns how many went."""
    return len(
        delete_many(store, collection, tenant, list(ops.iter_doc_ids(store, collection, tenant)))
    )
