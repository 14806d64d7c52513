"""Why a search found nothing. Runs only for an empty answer: one count for the tenant, then one
per filter condition outside any `not` (a negated condition matching nothing cannot be why)."""

from __future__ import annotations

from collections.abc import Iterator

from hybrid_search.store.base import VectorStore
from hybrid_search.store.ops import count_chunks
from hybrid_search.store.types import Scope
from schemas.filters import AndFilter, Condition, Filter, OrFilter

__all__ = ["empty_result_notes"]

#: values no document holds: `field ne SENTINEL` (of the condition's value type) matches exactly
#: the documents that have the field
_STR_SENTINEL = "hybrid-search: no document holds this value"
_INT_SENTINEL = -(2**62)


def empty_result_notes(
    store: VectorStore, collection: str, tenant: str, flt: Filter | None
) -> list[str]:
    if count_chunks(store, collection, Scope(tenant)) == 0:
        return [f"tenant '{tenant}' has no documents in collection '{collection}'"]
    if flt is None:
        return []
    notes = []
    for cond in _positive_conditions(flt):
        if count_chunks(store, collection, Scope(tenant, cond)) > 0:
            continue
        has_field = _has_field(cond)
        if has_field and count_chunks(store, collection, Scope(tenant, has_field)) == 0:
            notes.append(f"filter: no document of tenant '{tenant}' has the field '{cond.field}'")
        else:
            notes.append(
                f"filter: no document of tenant '{tenant}' matches "
                f"{cond.field} {cond.op} {cond.value!r}"
            )
    if not notes:
        notes.append("filter: each condition matches some documents, but no document all of them")
    return notes


def _has_field(cond: Condition) -> Condition | None:
    sample = cond.value[0] if isinstance(cond.value, list) else cond.value
    if isinstance(sample, bool):
        return None  # two values only: no sentinel
    sentinel: str | int = _STR_SENTINEL if isinstance(sample, str) else _INT_SENTINEL
    return Condition(field=cond.field, op="ne", value=sentinel)


def _positive_conditions(flt: Filter) -> Iterator[Condition]:
    """The conditions outside any `not`."""
    stack: list[Filter] = [flt]
    while stack:
        node = stack.pop()
        if isinstance(node, Condition):
            yield node
        elif isinstance(node, AndFilter):
            stack.extend(reversed(node.all_of))
        elif isinstance(node, OrFilter):
            stack.extend(reversed(node.any_of))
