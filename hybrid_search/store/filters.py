r"""Turns structured filters into Milvus boolean expressions whose literals Milvus reads verbatim.

User input never becomes expression text: `parse_filter` checks the JSON tree (fields from an
allow-list, operators, value types, size limits), and `compile_filter` writes every field name
from a mapping the store owns and every value through `string_literal` or a number formatter.

Milvus string literals, as found by experiment on Milvus Lite 3.2.2 and matching the server's
grammar (`Plan.g4`, unquoted like a C string): inside double quotes `\\` is one backslash and
`\"` a double quote; `\'`, `\n`, `\t` are escapes too, and any other backslash pair (`\u`,
`\/`, `\q`) is a parse error. A raw newline ends the literal with an error. Everything else,
CJK, emoji, right-to-left marks, zero-width characters, is taken literally. So escaping
backslash and double quote is enough to make any string without control characters a literal
that matches exactly itself; `tests/store/test_filters.py` proves it against a real Milvus Lite.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, cast

from hybrid_search.errors import InvalidFilterError
from schemas.filters import (
    FIELD_TYPES,
    FILTER_OPS,
    LIST_OPS,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_DEPTH,
    MAX_FILTER_VALUES,
    MAX_IN_VALUES,
    MAX_METADATA_PATH,
    MAX_STRING_BYTES,
    METADATA_KEY_PATTERN,
    METADATA_PREFIX,
    RANGE_OPS,
    AndFilter,
    Condition,
    Filter,
    NotFilter,
    OrFilter,
    Scalar,
)

__all__ = [
    "DEFAULT_FIELDS",
    "Filter",
    "and_expressions",
    "compile_filter",
    "parse_filter",
    "string_list_literal",
    "string_literal",
]

#: logical filter field -> Milvus field; "metadata" names the JSON field that `metadata.<key>` reads
DEFAULT_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "doc_id": "doc_id",
        "tenant": "tenant",
        "chunk_index": "chunk_index",
        "title": "title",
        "metadata": "metadata",
    }
)

_METADATA = "metadata"
_MILVUS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_METADATA_KEY = re.compile(METADATA_KEY_PATTERN)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_COMPARISON = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_COMBINATORS = ("and", "or", "not")
# Zero-width (non-)joiners are Cf too, but Persian, Indic scripts and emoji sequences need them.
_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})


def _char_name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def _literal_problem(value: str) -> str | None:
    """Why Milvus cannot take `value` as a literal, or None: control characters and surrogates."""
    for ch in value:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return f"contains the control character {_char_name(ch)}, which filters cannot match"
        if 0xD800 <= code <= 0xDFFF:
            return f"contains the unpaired surrogate U+{code:04X}, which is not valid Unicode"
    return None


def _filter_string_problem(value: str) -> str | None:
    """Why a user's filter may not use `value`: what Milvus cannot parse, plus invisible format
    characters (bidi overrides, zero-width space), which make a filter read differently in logs
    than it matches ("Trojan Source", CVE-2021-42574)."""
    problem = _literal_problem(value)
    if problem:
        return problem
    for ch in value:
        if unicodedata.category(ch) == "Cf" and ch not in _ALLOWED_FORMAT_CHARS:
            return f"contains the invisible format character {_char_name(ch)}, which filters refuse"
    if len(value.encode("utf-8")) > MAX_STRING_BYTES:
        return f"is longer than {MAX_STRING_BYTES} bytes"
    return None


def string_literal(value: str) -> str:
    """Quote a string for a Milvus expression so that it matches exactly itself.

    Backslash and double quote are escaped; everything else but control characters is taken
    literally by Milvus (see the module docstring), so the result can never end the literal early.

    Args:
        value: any string without control characters (U+0000–U+001F, U+007F) or lone surrogates.

    Returns:
        A double-quoted Milvus string literal, e.g. `"a\\"b"` for `a"b`.

    Raises:
        InvalidFilterError: the string holds a control character or a lone surrogate.
    """
    if not isinstance(value, str):
        raise InvalidFilterError(f"expected a string, got {type(value).__name__}")
    problem = _literal_problem(value)
    if problem:
        raise InvalidFilterError(f"string {problem}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def string_list_literal(values: Iterable[str]) -> str:
    """Quote strings as a Milvus list for `field in [...]`.

    Args:
        values: strings, each as `string_literal` accepts; may be empty (`[]` matches nothing).

    Returns:
        For example `["a", "b\\\\c"]`.

    Raises:
        InvalidFilterError: a value is not a string or holds a control character.
    """
    return "[" + ", ".join(string_literal(v) for v in values) + "]"


def and_expressions(*exprs: str | None) -> str | None:
    """Join the non-empty expressions with `and`, each in parentheses so precedence is kept.

    Args:
        exprs: Milvus expressions; None and blank ones are skipped.

    Returns:
        None when nothing is left, the expression itself when one is, else `(a) and (b)`.
    """
    parts = [e.strip() for e in exprs if e is not None and e.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


# -- parsing -----------------------------------------------------------------------------------


def parse_filter(obj: Any) -> Filter:
    """Check a filter from a request and build its model.

    Args:
        obj: the filter as a dict (decoded JSON), a JSON string, or an already built model.

    Returns:
        The validated `Condition` / `AndFilter` / `OrFilter` / `NotFilter` tree.

    Raises:
        InvalidFilterError: the message names the bad part by path, e.g.
            `filter.and[1].value: expected a string for field 'doc_id'`.
    """
    if isinstance(obj, Condition | AndFilter | OrFilter | NotFilter):
        obj = obj.model_dump(by_alias=True)
    elif isinstance(obj, str):
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise InvalidFilterError(
                f"filter: not valid JSON: {exc.msg} at column {exc.colno}",
                details={"field": "filter"},
            ) from exc
    return _Parser().node(obj, "filter", 1)


def _fail(path: str, message: str) -> InvalidFilterError:
    return InvalidFilterError(f"{path}: {message}", details={"field": "filter", "path": path})


class _Parser:
    """One walk over a filter tree; counts conditions across the whole tree."""

    def __init__(self) -> None:
        self.clauses = 0
        self.values = 0

    def node(self, obj: Any, path: str, depth: int) -> Filter:
        if depth > MAX_FILTER_DEPTH:
            raise _fail(path, f"filter is nested deeper than {MAX_FILTER_DEPTH} levels")
        if not isinstance(obj, dict):
            raise _fail(
                path,
                "expected an object: a condition {'field', 'op', 'value'} "
                f"or one of 'and', 'or', 'not'; got {_json_type(obj)}",
            )
        combinators = [k for k in _COMBINATORS if k in obj]
        if combinators:
            if len(obj) != 1:
                raise _fail(
                    path,
                    f"an '{combinators[0]}' object has no other keys; got {sorted(map(str, obj))}",
                )
            key = combinators[0]
            child = obj[key]
            if key == "not":
                return NotFilter.model_construct(negated=self.node(child, f"{path}.not", depth + 1))
            if not isinstance(child, list) or not child:
                raise _fail(f"{path}.{key}", "expected a non-empty list of filters")
            children = [self.node(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(child)]
            if key == "and":
                return AndFilter.model_construct(all_of=children)
            return OrFilter.model_construct(any_of=children)
        return self.condition(obj, path)

    def condition(self, obj: dict[Any, Any], path: str) -> Condition:
        unknown = sorted(str(k) for k in obj if k not in ("field", "op", "value"))
        if unknown:
            raise _fail(
                path,
                f"unknown key {unknown[0]!r}; a condition has 'field', 'op' and 'value' "
                "(combinators: 'and', 'or', 'not')",
            )
        for key in ("field", "op", "value"):
            if key not in obj:
                raise _fail(path, f"missing {key!r}")
        self.clauses += 1
        if self.clauses > MAX_FILTER_CLAUSES:
            raise _fail(path, f"filter has more than {MAX_FILTER_CLAUSES} conditions")
        field, op, value = obj["field"], obj["op"], obj["value"]
        expected = _field_type(field, f"{path}.field")
        if not isinstance(op, str) or op not in FILTER_OPS:
            raise _fail(
                f"{path}.op", f"unknown operator {op!r}; use one of {', '.join(FILTER_OPS)}"
            )
        if op in RANGE_OPS and expected is str:
            raise _fail(
                f"{path}.op",
                f"range operator '{op}' needs a number; field '{field}' holds strings",
            )
        if op in LIST_OPS:
            if not isinstance(value, list):
                raise _fail(
                    f"{path}.value", f"operator '{op}' takes a list, got {_json_type(value)}"
                )
            if not value:
                raise _fail(f"{path}.value", f"operator '{op}' needs at least one value")
            if len(value) > MAX_IN_VALUES:
                raise _fail(f"{path}.value", f"more than {MAX_IN_VALUES} values")
            self.values += len(value)
            if self.values > MAX_FILTER_VALUES:
                raise _fail(
                    f"{path}.value", f"filter has more than {MAX_FILTER_VALUES} values in all"
                )
            checked: Scalar | list[Scalar] = [
                _scalar(v, field, expected, op, f"{path}.value[{i}]") for i, v in enumerate(value)
            ]
        else:
            checked = _scalar(value, field, expected, op, f"{path}.value")
        return Condition.model_construct(field=field, op=op, value=checked)


def _field_type(field: Any, path: str) -> type | None:
    """The value type of a filter field; None for metadata (str, int, float or bool)."""
    if isinstance(field, str):
        if field in FIELD_TYPES:
            return FIELD_TYPES[field]
        if field.startswith(METADATA_PREFIX):
            keys = field[len(METADATA_PREFIX) :].split(".")
            if len(keys) > MAX_METADATA_PATH:
                raise _fail(
                    path, f"metadata paths have at most {MAX_METADATA_PATH} keys: {field!r}"
                )
            for key in keys:
                if not _METADATA_KEY.match(key):
                    raise _fail(
                        path,
                        f"bad metadata key {key!r} in {field!r}: keys are letters, digits and "
                        "'_', not starting with a digit, at most 64 characters",
                    )
            return None
    raise _fail(
        path,
        f"unknown field {field!r}; use one of {', '.join(FIELD_TYPES)} or metadata.<key>",
    )


def _scalar(value: Any, field: str, expected: type | None, op: str, path: str) -> Scalar:
    if expected is str:
        if not isinstance(value, str):
            raise _fail(path, f"expected a string for field '{field}', got {_json_type(value)}")
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(path, f"expected an integer for field '{field}', got {_json_type(value)}")
    else:
        if value is None:
            raise _fail(path, f"null is not supported for field '{field}'")
        if not isinstance(value, str | int | float):  # bool is an int
            raise _fail(
                path,
                f"expected a string, number or boolean for field '{field}', "
                f"got {_json_type(value)}",
            )
        if op in RANGE_OPS and isinstance(value, bool | str):
            got = _json_type(value)
            raise _fail(
                path, f"range operator '{op}' needs a number for field '{field}', got {got}"
            )
    if isinstance(value, str):
        problem = _filter_string_problem(value)
        if problem:
            raise _fail(path, f"string {problem}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(path, "numbers must be finite")
    elif not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        raise _fail(path, "integer out of the 64-bit range")
    return cast(Scalar, value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# -- compiling ---------------------------------------------------------------------------------


def compile_filter(f: Filter, fields: Mapping[str, str] | None = None) -> str:
    """Write a filter as a Milvus boolean expression.

    The tree is validated again (a model may have been built by hand), so every name in the
    output comes from `fields` and every value from a literal formatter.

    Args:
        f: a filter, normally from `parse_filter`.
        fields: logical field -> Milvus field name (key "metadata" names the JSON field that
            `metadata.<key>` reads); only the fields given here may be filtered on. Default
            `DEFAULT_FIELDS`.

    Returns:
        The expression, e.g. `(doc_id == "a" and metadata["year"] >= 2019)`.

    Raises:
        InvalidFilterError: the filter is invalid or names a field the mapping leaves out.
        ValueError: `fields` holds an unknown logical field or a name Milvus would not accept.
    """
    mapping = DEFAULT_FIELDS if fields is None else fields
    for logical, name in mapping.items():
        if logical not in FIELD_TYPES and logical != _METADATA:
            raise ValueError(f"unknown logical filter field {logical!r} in the field mapping")
        if not isinstance(name, str) or not _MILVUS_NAME.match(name):
            raise ValueError(f"{name!r} is not a valid Milvus field name (for {logical!r})")
    return _compile(parse_filter(f), mapping, "filter")


def _compile(node: Filter, fields: Mapping[str, str], path: str) -> str:
    if isinstance(node, AndFilter | OrFilter):
        key, children = ("and", node.all_of) if isinstance(node, AndFilter) else ("or", node.any_of)
        parts = [_compile(c, fields, f"{path}.{key}[{i}]") for i, c in enumerate(children)]
        return parts[0] if len(parts) == 1 else "(" + f" {key} ".join(parts) + ")"
    if isinstance(node, NotFilter):
        return f"not ({_compile(node.negated, fields, f'{path}.not')})"
    return _condition(node, fields, path)


def _condition(c: Condition, fields: Mapping[str, str], path: str) -> str:
    is_metadata = c.field.startswith(METADATA_PREFIX)
    logical = _METADATA if is_metadata else c.field
    if logical not in fields:
        raise _fail(f"{path}.field", f"field {c.field!r} cannot be filtered on in this collection")
    target = fields[logical]
    if is_metadata:
        target += "".join(
            f"[{string_literal(k)}]" for k in c.field[len(METADATA_PREFIX) :].split(".")
        )
    if isinstance(c.value, list):
        values = [_literal(v) for v in c.value]
        if not is_metadata:
            return f"{target} {'in' if c.op == 'in' else 'not in'} [{', '.join(values)}]"
        # Milvus Lite refuses `in` on a JSON path ("left side of 'in' must be a field
        # reference"), so metadata membership is spelled out as comparisons.
        if len(values) == 1:
            return f"{target} {'==' if c.op == 'in' else '!='} {values[0]}"
        if c.op == "in":
            return "(" + " or ".join(f"{target} == {v}" for v in values) + ")"
        return "(" + " and ".join(f"{target} != {v}" for v in values) + ")"
    return f"{target} {_COMPARISON[c.op]} {_literal(c.value)}"


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form; Milvus reads 1e-05 and 2021.0
    return string_literal(value)
