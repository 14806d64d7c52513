"""The structured search filter on the wire: a tree of conditions, never an expression string.

A filter is JSON that users write on the CLI (`--filter`) and over HTTP (`"filter": {...}`):

    {"field": "doc_id", "op": "eq", "value": "a"}
    {"and": [{"field": "metadata.year", "op": "gte", "value": 2019},
             {"not": {"field": "metadata.lang", "op": "in", "value": ["de", "fr"]}}]}

These models give the shape and the OpenAPI schema; values and limits are checked by
`hybrid_search.filtering.parse_filter`, the only way a request's filter reaches Milvus.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

FilterOp = Literal["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte"]
FILTER_OPS: tuple[FilterOp, ...] = ("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte")
#: operators that compare order; they take numbers only (string order in Milvus is byte order,
#: which users rarely mean, so we refuse it rather than surprise them)
RANGE_OPS: frozenset[str] = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPS: frozenset[str] = frozenset({"in", "nin"})

#: the scalar columns a filter may name, and the value type each holds
FIELD_TYPES: dict[str, type] = {"doc_id": str, "tenant": str, "chunk_index": int, "title": str}
#: `metadata.<key>` (up to MAX_METADATA_PATH keys: `metadata.a.b.c`) reads the JSON metadata
METADATA_PREFIX = "metadata."
METADATA_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
MAX_METADATA_PATH = 3

# Limits keep one request's expression small for the Milvus parser (an `in` on metadata expands
# to one comparison per value) and stop a hostile filter from costing more than a search.
MAX_FILTER_DEPTH = 8
MAX_FILTER_CLAUSES = 64  # conditions (leaves), over the whole tree
MAX_IN_VALUES = 1024  # values in one in/nin list
MAX_FILTER_VALUES = 4096  # values over the whole tree (Milvus Lite parses ~20k comparisons/s)
#: Milvus's VARCHAR limit: no longer value can be stored, so none can match
MAX_STRING_BYTES = 65_535

#: cost bounds over the whole filter: each comparison on a metadata key costs a share of a plain
#: search (an `in` on metadata is spelled out as one comparison per value), so they are counted;
#: an `in` on doc_id/title is a real set lookup and is bounded by bytes instead (figures:
#: docs/reliability.md, "What a filter may cost")
MAX_FILTER_COMPARISONS = 64  # metadata conditions + every value of a metadata in/nin list
MAX_FILTER_BYTES = 64 * 1024  # bytes of all string literals together
MAX_IN_LIST_BYTES = 16 * 1024  # one in/nin list: values x its longest value's bytes
MAX_FILTER_NODES = 128  # and/or/not nodes plus conditions

Scalar: TypeAlias = str | int | float | bool


def _literal_bytes(value: object) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else 8


def filter_cost_problem(obj: object) -> tuple[str, str] | None:
    """(path, message) for the first cost bound a filter (decoded JSON) goes over, else None.
    An explicit stack, so a filter nested past every limit costs one pass and no recursion;
    shape errors are left to the parser."""
    nodes = 0
    total = 0
    comparisons = 0
    stack: list[tuple[object, str]] = [(obj, "filter")]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            continue
        nodes += 1
        if nodes > MAX_FILTER_NODES:
            return (
                path,
                f"filter has more than {MAX_FILTER_NODES} nodes (conditions and and/or/not)",
            )
        for key in ("and", "or"):
            children = node.get(key)
            if isinstance(children, list):
                stack.extend(
                    (c, f"{path}.{key}[{i}]") for i, c in reversed(list(enumerate(children)))
                )
        if "not" in node:
            stack.append((node["not"], f"{path}.not"))
        value = node.get("value")
        values = value if isinstance(value, list) else [value] if "value" in node else []
        field = node.get("field")
        if isinstance(field, str) and field.startswith(METADATA_PREFIX):
            comparisons += max(1, len(values))
            if comparisons > MAX_FILTER_COMPARISONS:
                return (
                    f"{path}.value" if isinstance(value, list) else path,
                    f"filter compares metadata more than {MAX_FILTER_COMPARISONS} times (each "
                    "condition and each value of an in/nin list on metadata is one comparison)",
                )
        sizes = [_literal_bytes(v) for v in values]
        total += sum(sizes)
        if isinstance(value, list) and value and len(value) * max(sizes) > MAX_IN_LIST_BYTES:
            return (
                f"{path}.value",
                f"{len(value)} values of up to {max(sizes)} bytes: an in/nin list may hold at most "
                f"{MAX_IN_LIST_BYTES} bytes counted as values x its longest value",
            )
        if total > MAX_FILTER_BYTES:
            return path, f"filter literals add up to more than {MAX_FILTER_BYTES} bytes"
    return None


class Condition(BaseModel):
    """One comparison: `field op value`; `in`/`nin` take a non-empty list of values."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    field: str = Field(
        description="doc_id, tenant, chunk_index, title, or metadata.<key>[.<key>[.<key>]]"
    )
    op: FilterOp
    value: Scalar | list[Scalar] = Field(
        description="a string, number or boolean; a list for in/nin"
    )


#: and/or/not nodes: the JSON keys are Python keywords, so the fields take them as aliases
_NODE = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True)


class AndFilter(BaseModel):
    """All children hold."""

    model_config = _NODE

    all_of: list[Filter] = Field(alias="and", min_length=1)


class OrFilter(BaseModel):
    """At least one child holds."""

    model_config = _NODE

    any_of: list[Filter] = Field(alias="or", min_length=1)


class NotFilter(BaseModel):
    """The child does not hold."""

    model_config = _NODE

    negated: Filter = Field(alias="not")


Filter: TypeAlias = Condition | AndFilter | OrFilter | NotFilter

AndFilter.model_rebuild()
OrFilter.model_rebuild()
NotFilter.model_rebuild()
