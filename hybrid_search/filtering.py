"""Checks a request's structured filter (a JSON tree, never expression text) and builds its typed
model, naming the bad part by path; stores compile or evaluate the model. Strings are refused
where no store could match them: control characters and lone surrogates, invisible format
characters (bidi overrides, zero-width space: "Trojan Source", CVE-2021-42574), and strings
longer than any stored value."""

from __future__ import annotations

import json
import math
import re
import unicodedata
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
    filter_cost_problem,
)

__all__ = ["Filter", "fail", "literal_problem", "parse_filter"]

_METADATA_KEY = re.compile(METADATA_KEY_PATTERN)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_COMBINATORS = ("and", "or", "not")
# Zero-width (non-)joiners are Cf too, but Persian, Indic scripts and emoji sequences need them.
_ALLOWED_FORMAT_CHARS = frozenset({"\u200c", "\u200d"})


def _char_name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def literal_problem(value: str) -> str | None:
    """Why Milvus cannot take `value` as a literal, or None: control characters and surrogates."""
    for ch in value:
        code = ord(ch)
        if code < 0x20 or code == 0x7F:
            return f"contains the control character {_char_name(ch)}, which filters cannot match"
        if 0xD800 <= code <= 0xDFFF:
            return f"contains the unpaired surrogate U+{code:04X}, which is not valid Unicode"
    return None


def _filter_string_problem(value: str) -> str | None:
    """Why a user's filter may not use `value` (also what makes it read differently in logs)."""
    problem = literal_problem(value)
    if problem:
        return problem
    for ch in value:
        if unicodedata.category(ch) == "Cf" and ch not in _ALLOWED_FORMAT_CHARS:
            return f"contains the invisible format character {_char_name(ch)}, which filters refuse"
    if len(value.encode("utf-8")) > MAX_STRING_BYTES:
        return f"is longer than {MAX_STRING_BYTES} bytes"
    return None


def parse_filter(obj: Any) -> Filter:
    """The validated model of a filter given as a dict, a JSON string or a model; errors name the
    bad part by path (`filter.and[1].value: expected a string for field 'doc_id'`)."""
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
    problem = filter_cost_problem(obj)  # one stack walk, before anything recurses into it
    if problem is not None:
        raise fail(*problem)
    return _Parser().node(obj, "filter", 1)


def fail(path: str, message: str) -> InvalidFilterError:
    return InvalidFilterError(f"{path}: {message}", details={"field": "filter", "path": path})


class _Parser:
    """One walk over a filter tree; counts conditions across the whole tree."""

    def __init__(self) -> None:
        self.clauses = 0
        self.values = 0

    def node(self, obj: Any, path: str, depth: int) -> Filter:
        if depth > MAX_FILTER_DEPTH:
            raise fail(path, f"filter is nested deeper than {MAX_FILTER_DEPTH} levels")
        if not isinstance(obj, dict):
            raise fail(
                path,
                "expected an object: a condition {'field', 'op', 'value'} "
                f"or one of 'and', 'or', 'not'; got {_json_type(obj)}",
            )
        combinators = [k for k in _COMBINATORS if k in obj]
        if combinators:
            if len(obj) != 1:
                raise fail(
                    path,
                    f"an '{combinators[0]}' object has no other keys; got {sorted(map(str, obj))}",
                )
            key = combinators[0]
            child = obj[key]
            if key == "not":
                return NotFilter.model_construct(negated=self.node(child, f"{path}.not", depth + 1))
            if not isinstance(child, list) or not child:
                raise fail(f"{path}.{key}", "expected a non-empty list of filters")
            children = [self.node(c, f"{path}.{key}[{i}]", depth + 1) for i, c in enumerate(child)]
            if key == "and":
                return AndFilter.model_construct(all_of=children)
            return OrFilter.model_construct(any_of=children)
        return self.condition(obj, path)

    def condition(self, obj: dict[Any, Any], path: str) -> Condition:
        unknown = sorted(str(k) for k in obj if k not in ("field", "op", "value"))
        if unknown:
            raise fail(
                path,
                f"unknown key {unknown[0]!r}; a condition has 'field', 'op' and 'value' "
                "(combinators: 'and', 'or', 'not')",
            )
        for key in ("field", "op", "value"):
            if key not in obj:
                raise fail(path, f"missing {key!r}")
        self.clauses += 1
        if self.clauses > MAX_FILTER_CLAUSES:
            raise fail(path, f"filter has more than {MAX_FILTER_CLAUSES} conditions")
        field, op, value = obj["field"], obj["op"], obj["value"]
        expected = _field_type(field, f"{path}.field")
        if not isinstance(op, str) or op not in FILTER_OPS:
            raise fail(f"{path}.op", f"unknown operator {op!r}; use one of {', '.join(FILTER_OPS)}")
        if op in RANGE_OPS and expected is str:
            raise fail(
                f"{path}.op",
                f"range operator '{op}' needs a number; field '{field}' holds strings",
            )
        if op in LIST_OPS:
            if not isinstance(value, list):
                raise fail(
                    f"{path}.value", f"operator '{op}' takes a list, got {_json_type(value)}"
                )
            if not value:
                raise fail(f"{path}.value", f"operator '{op}' needs at least one value")
            if len(value) > MAX_IN_VALUES:
                raise fail(f"{path}.value", f"more than {MAX_IN_VALUES} values")
            self.values += len(value)
            if self.values > MAX_FILTER_VALUES:
                raise fail(
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
                raise fail(path, f"metadata paths have at most {MAX_METADATA_PATH} keys: {field!r}")
            for key in keys:
                if not _METADATA_KEY.match(key):
                    raise fail(
                        path,
                        f"bad metadata key {key!r} in {field!r}: keys are letters, digits and "
                        "'_', not starting with a digit, at most 64 characters",
                    )
            return None
    raise fail(
        path,
        f"unknown field {field!r}; use one of {', '.join(FIELD_TYPES)} or metadata.<key>",
    )


def _scalar(value: Any, field: str, expected: type | None, op: str, path: str) -> Scalar:
    if expected is str:
        if not isinstance(value, str):
            raise fail(path, f"expected a string for field '{field}', got {_json_type(value)}")
    elif expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(path, f"expected an integer for field '{field}', got {_json_type(value)}")
    else:
        if value is None:
            raise fail(path, f"null is not supported for field '{field}'")
        if not isinstance(value, str | int | float):  # bool is an int
            raise fail(
                path,
                f"expected a string, number or boolean for field '{field}', "
                f"got {_json_type(value)}",
            )
        if op in RANGE_OPS and isinstance(value, bool | str):
            got = _json_type(value)
            raise fail(path, f"range operator '{op}' needs a number for field '{field}', got {got}")
    if isinstance(value, str):
        problem = _filter_string_problem(value)
        if problem:
            raise fail(path, f"string {problem}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise fail(path, "numbers must be finite")
    elif not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        raise fail(path, "integer out of the 64-bit range")
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
