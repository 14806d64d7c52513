r"""The Milvus boolean expressions the store sends: the one place they are assembled. User input
never becomes expression text: `parse_filter` checks the JSON tree, and `compile_filter` writes
every field name from a mapping the store owns and every value through a literal formatter.

Milvus string literals (Milvus Lite 3.2.2, as the server's `Plan.g4`, unquoted like a C string):
`\\`, `\"`, `\'`, `\n`, `\t` are escapes, any other backslash pair is a parse error, a raw
newline ends the literal with an error, and everything else (CJK, emoji, zero-width characters)
is taken literally. So escaping backslash and double quote makes any string without control
characters a literal matching exactly itself (`tests/store/test_filters.py` proves it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from hybrid_search.errors import InvalidFilterError
from hybrid_search.filtering import fail, literal_problem
from hybrid_search.filtering import parse_filter as parse_filter
from hybrid_search.store.types import Scope
from schemas import collection as C
from schemas import filters as F
from schemas.filters import Filter

#: logical filter field -> Milvus field; "metadata" names the JSON field that `metadata.<key>` reads
DEFAULT_FIELDS: Mapping[str, str] = MappingProxyType(
    {f: f for f in ("doc_id", "tenant", "chunk_index", "title", "metadata")}
)

_METADATA = "metadata"
_MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_COMPARISON = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def string_literal(value: str) -> str:
    """`value` double-quoted for a Milvus expression, matching exactly itself (`"a\\"b"` for
    `a"b`); an InvalidFilterError for a control character or a lone surrogate."""
    if not isinstance(value, str):
        raise InvalidFilterError(f"expected a string, got {type(value).__name__}")
    problem = literal_problem(value)
    if problem:
        raise InvalidFilterError(f"string {problem}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_list_literal(values: Iterable[str]) -> str:
    """Strings as a Milvus list for `field in [...]`, each as `string_literal` quotes it (none:
    `[]`, which matches nothing)."""
    return "[" + ", ".join(string_literal(v) for v in values) + "]"


def and_expressions(*exprs: str | None) -> str | None:
    """The non-blank expressions joined as `(a) and (b)` (one alone as it is; none: None)."""
    parts = [e.strip() for e in exprs if e is not None and e.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def compile_filter(
    f: Filter, fields: Mapping[str, str] | None = None, *, native_not: bool = True
) -> str:
    """A filter as a Milvus expression, e.g. `(doc_id == "a" and metadata["year"] >= 2019)`,
    validated again (a model may be built by hand). Only the logical fields in `fields` (default
    `DEFAULT_FIELDS`) may be filtered on; a bad mapping is a ValueError."""
    mapping = DEFAULT_FIELDS if fields is None else fields
    for logical, name in mapping.items():
        if logical not in F.FIELD_TYPES and logical != _METADATA:
            raise ValueError(f"unknown logical filter field {logical!r} in the field mapping")
        if not isinstance(name, str) or not _MILVUS_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid Milvus field name (for {logical!r})")
    return _compile(parse_filter(f), mapping, "filter", native_not)


def _compile(node: Filter, fields: Mapping[str, str], path: str, native_not: bool) -> str:
    if isinstance(node, F.AndFilter | F.OrFilter):
        key, children = (
            ("and", node.all_of) if isinstance(node, F.AndFilter) else ("or", node.any_of)
        )
        parts = [
            _compile(c, fields, f"{path}.{key}[{i}]", native_not) for i, c in enumerate(children)
        ]
        return _join(parts, key)
    if isinstance(node, F.NotFilter):
        if not native_not:
            return _negated(node.negated, fields, f"{path}.not")
        return f"not ({_compile(node.negated, fields, f'{path}.not', native_not)})"
    return _condition(node, fields, path, native_not)


#: terms of one and/or group: longer lists nest in groups (Milvus Lite 2.5 fails a flat chain of
#: ~60 terms with "unsupported expr proto node"; a nested one of 1,000 runs)
_GROUP = 8


def _join(parts: Sequence[str], op: str) -> str:
    """`parts` joined by `op`, parenthesized, nested in groups of `_GROUP` past that many."""
    if len(parts) == 1:
        return parts[0]
    if len(parts) > _GROUP:
        parts = [_join(parts[i : i + _GROUP], op) for i in range(0, len(parts), _GROUP)]
    return "(" + f" {op} ".join(parts) + ")"


_OPPOSITE: Mapping[str, str] = MappingProxyType(
    {"eq": "ne", "ne": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
    | {"in": "nin", "nin": "in"}
)


def _negated(node: Filter, fields: Mapping[str, str], path: str) -> str:
    """`not node` for an engine without Milvus' `not` (Milvus Lite 2.5): De Morgan down to the
    conditions, each turned into its opposite. Exact because a condition on a metadata key a
    row lacks is unknown, and so is its negation (Milvus Lite 3.x: the row matches neither);
    the opposite of `eq` and `in` is spelled as `ne` and `nin` are, requiring the key."""
    if isinstance(node, F.AndFilter | F.OrFilter):
        key, children = (
            ("or", node.all_of) if isinstance(node, F.AndFilter) else ("and", node.any_of)
        )
        parts = [_negated(c, fields, f"{path}.{key}[{i}]") for i, c in enumerate(children)]
        return _join(parts, key)
    if isinstance(node, F.NotFilter):
        return _compile(node.negated, fields, f"{path}.not", False)
    flipped = node.model_copy(update={"op": _OPPOSITE[node.op]})
    return _condition(flipped, fields, path, False)


def _metadata_target(c: F.Condition, fields: Mapping[str, str], path: str) -> str:
    if _METADATA not in fields:
        raise fail(f"{path}.field", f"field {c.field!r} cannot be filtered on in this collection")
    keys = c.field[len(F.METADATA_PREFIX) :].split(".")
    return fields[_METADATA] + "".join(f"[{string_literal(k)}]" for k in keys)


def _condition(c: F.Condition, fields: Mapping[str, str], path: str, native_not: bool) -> str:
    is_metadata = c.field.startswith(F.METADATA_PREFIX)
    logical = _METADATA if is_metadata else c.field
    if logical not in fields:
        raise fail(f"{path}.field", f"field {c.field!r} cannot be filtered on in this collection")
    target = fields[logical]
    if is_metadata:
        target = _metadata_target(c, fields, path)
        if not native_not and c.op in ("ne", "nin"):
            # Milvus Lite 2.5's `!=` is true where the key is missing; 3.x's is false
            wanted = c.value if isinstance(c.value, list) else [c.value]
            return _join([_different(target, v) for v in wanted], "and")
    if isinstance(c.value, list):
        values = [_literal(v) for v in c.value]
        if not is_metadata:
            return f"{target} {'in' if c.op == 'in' else 'not in'} [{', '.join(values)}]"
        # Milvus Lite refuses `in` on a JSON path ("left side of 'in' must be a field
        # reference"), so metadata membership is spelled out as comparisons.
        if len(values) == 1:
            return f"{target} {'==' if c.op == 'in' else '!='} {values[0]}"
        if c.op == "in":
            return _join([f"{target} == {v}" for v in values], "or")
        return _join([f"{target} != {v}" for v in values], "and")
    return f"{target} {_COMPARISON[c.op]} {_literal(c.value)}"


def _different(target: str, value: F.Scalar) -> str:
    """`target` present, of `value`'s type, and not equal to it, without `!=`."""
    if isinstance(value, bool):
        return f"{target} == {_literal(not value)}"
    return f"({target} < {_literal(value)} or {target} > {_literal(value)})"


def _literal(value: F.Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form; Milvus reads 1e-05 and 2021.0
    return string_literal(value)


def tenant_expr(tenant: str | None) -> str | None:
    return f"{C.TENANT_FIELD} == {string_literal(tenant)}" if tenant else None


def pks_expr(pks: Sequence[str], field: str = C.PK_FIELD) -> str:
    return f"{field} in {string_list_literal(pks)}"


def docs_expr(tenant: str, doc_ids: Sequence[str]) -> str:
    return f"{tenant_expr(tenant)} and {C.DOC_ID_FIELD} in {string_list_literal(doc_ids)}"


def stale_expr(tenant: str, hashes: dict[str, str]) -> str:
    """Rows of these documents whose hash is none of the new versions'."""
    new = string_list_literal(sorted(set(hashes.values())))
    return f"({docs_expr(tenant, list(hashes))}) and ({C.CONTENT_HASH_FIELD} not in {new})"


def scope_expr(scope: Scope, *, native_not: bool = True) -> str:
    """Tenant, then the user's filter, then the key and document restrictions, all required."""
    user = compile_filter(scope.filter, native_not=native_not) if scope.filter is not None else None
    keys = pks_expr(scope.pks) if scope.pks is not None else None
    docs = pks_expr(scope.doc_ids, C.DOC_ID_FIELD) if scope.doc_ids is not None else None
    first = f"{C.CHUNK_INDEX_FIELD} == 0" if scope.first_chunks else None
    return and_expressions(tenant_expr(scope.tenant), user, keys, docs, first) or ""
