"""Structured filters: compiled expressions, errors, and literal matching in Milvus Lite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pymilvus import DataType, MilvusClient

from hybrid_search.errors import InvalidFilterError
from hybrid_search.store.expressions import (
    DEFAULT_FIELDS,
    and_expressions,
    compile_filter,
    parse_filter,
    string_list_literal,
    string_literal,
)
from schemas.filters import AndFilter, Condition, NotFilter

# -- compiled expressions --------------------------------------------------------------------


def c(field: Any, op: Any, value: Any) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


CASES: list[tuple[dict[str, Any], str]] = [
    (c("doc_id", "eq", "a"), 'doc_id == "a"'),
    (c("doc_id", "ne", "a"), 'doc_id != "a"'),
    (c("tenant", "eq", "t1"), 'tenant == "t1"'),
    (c("title", "eq", 'say "hi"'), r'title == "say \"hi\""'),
    (c("doc_id", "eq", "a\\b"), r'doc_id == "a\\b"'),
    (c("doc_id", "eq", 'a\\"b'), r'doc_id == "a\\\"b"'),
    (c("doc_id", "eq", "it's"), '''doc_id == "it's"'''),
    (c("doc_id", "eq", "北京"), 'doc_id == "北京"'),
    (c("doc_id", "in", ["a", "b"]), 'doc_id in ["a", "b"]'),
    (c("doc_id", "nin", ["a"]), 'doc_id not in ["a"]'),
    (c("chunk_index", "eq", 0), "chunk_index == 0"),
    (c("chunk_index", "gt", 1), "chunk_index > 1"),
    (c("chunk_index", "gte", -2), "chunk_index >= -2"),
    (c("chunk_index", "lt", 3), "chunk_index < 3"),
    (c("chunk_index", "lte", 2**63 - 1), "chunk_index <= 9223372036854775807"),
    (c("chunk_index", "in", [1, 2]), "chunk_index in [1, 2]"),
    (c("chunk_index", "nin", [1, 2]), "chunk_index not in [1, 2]"),
    (c("metadata.lang", "eq", "zh"), 'metadata["lang"] == "zh"'),
    (c("metadata.year", "gte", 2019), 'metadata["year"] >= 2019'),
    (c("metadata.score", "lt", 0.5), 'metadata["score"] < 0.5'),
    (c("metadata.score", "gt", 1e-5), 'metadata["score"] > 1e-05'),
    (c("metadata.flag", "eq", True), 'metadata["flag"] == true'),
    (c("metadata.flag", "ne", False), 'metadata["flag"] != false'),
    (c("metadata.a.b.c", "eq", 1), 'metadata["a"]["b"]["c"] == 1'),
    (c("metadata._x9", "eq", "v"), 'metadata["_x9"] == "v"'),
    # Milvus Lite refuses `in` on a JSON path, so metadata membership is spelled out
    (c("metadata.lang", "in", ["en"]), 'metadata["lang"] == "en"'),
    (c("metadata.lang", "in", ["en", 1]), '(metadata["lang"] == "en" or metadata["lang"] == 1)'),
    (c("metadata.lang", "nin", ["en"]), 'metadata["lang"] != "en"'),
    (
        c("metadata.lang", "nin", ["en", "de"]),
        '(metadata["lang"] != "en" and metadata["lang"] != "de")',
    ),
    (
        {"and": [c("doc_id", "eq", "a"), c("chunk_index", "gte", 2)]},
        '(doc_id == "a" and chunk_index >= 2)',
    ),
    (
        {"or": [c("doc_id", "eq", "a"), c("doc_id", "eq", "b"), c("title", "ne", "")]},
        '(doc_id == "a" or doc_id == "b" or title != "")',
    ),
    ({"and": [c("doc_id", "eq", "a")]}, 'doc_id == "a"'),
    ({"not": c("doc_id", "eq", "a")}, 'not (doc_id == "a")'),
    (
        {"not": {"or": [c("doc_id", "eq", "a"), c("chunk_index", "eq", 1)]}},
        'not ((doc_id == "a" or chunk_index == 1))',
    ),
    (
        {
            "and": [
                {"or": [c("metadata.year", "lt", 2000), c("metadata.year", "gt", 2020)]},
                {"not": c("tenant", "eq", "x")},
            ]
        },
        '((metadata["year"] < 2000 or metadata["year"] > 2020) and not (tenant == "x"))',
    ),
    # injection attempts stay inside one literal
    (c("doc_id", "eq", '" or 1==1 or doc_id == "'), r'doc_id == "\" or 1==1 or doc_id == \""'),
    (c("doc_id", "eq", '\\" or 1==1 or \\"'), r'doc_id == "\\\" or 1==1 or \\\""'),
    (c("doc_id", "eq", "a\\"), r'doc_id == "a\\"'),
]


@pytest.mark.parametrize(("flt", "expected"), CASES, ids=[e for _, e in CASES])
def test_compile(flt: dict[str, Any], expected: str) -> None:
    assert compile_filter(parse_filter(flt)) == expected


def test_json_string_and_model_inputs_agree() -> None:
    flt = {"and": [c("doc_id", "in", ["a", "b"]), {"not": c("metadata.k", "eq", 1.5)}]}
    expected = '(doc_id in ["a", "b"] and not (metadata["k"] == 1.5))'
    parsed = parse_filter(flt)
    assert compile_filter(parse_filter(json.dumps(flt))) == expected
    assert compile_filter(parsed) == expected
    assert parse_filter(parsed) == parsed
    assert parsed.model_dump(by_alias=True) == flt  # the wire shape round-trips


def test_pydantic_models_validate_the_wire_shape() -> None:
    flt = {"and": [c("doc_id", "eq", "a"), {"not": c("chunk_index", "in", [1, 2])}]}
    model = AndFilter.model_validate(flt)
    assert compile_filter(model) == '(doc_id == "a" and not (chunk_index in [1, 2]))'


def test_hand_built_models_are_checked_again() -> None:
    bad = Condition.model_construct(field="doc_id", op="eq", value=7)
    with pytest.raises(InvalidFilterError, match="expected a string for field 'doc_id'"):
        compile_filter(bad)
    bad_field = NotFilter.model_construct(
        negated=Condition.model_construct(field='x"]', op="eq", value="a")
    )
    with pytest.raises(InvalidFilterError, match=r"filter\.not\.field: unknown field"):
        compile_filter(bad_field)


def test_field_mapping_comes_from_the_store() -> None:
    fields = {"doc_id": "source_id", "metadata": "meta", "chunk_index": "idx"}
    flt = {"and": [c("doc_id", "eq", "a"), c("metadata.y", "gt", 1), c("chunk_index", "eq", 0)]}
    assert (
        compile_filter(parse_filter(flt), fields)
        == '(source_id == "a" and meta["y"] > 1 and idx == 0)'
    )
    with pytest.raises(InvalidFilterError, match="'title' cannot be filtered on"):
        compile_filter(parse_filter(c("title", "eq", "x")), fields)
    with pytest.raises(ValueError, match="not a valid Milvus field name"):
        compile_filter(parse_filter(c("doc_id", "eq", "a")), {"doc_id": "doc_id or 1==1"})
    with pytest.raises(ValueError, match="unknown logical filter field"):
        compile_filter(parse_filter(c("doc_id", "eq", "a")), {"pk": "pk"})
    assert dict(DEFAULT_FIELDS)["metadata"] == "metadata"


# -- errors ----------------------------------------------------------------------------------


def nest(depth: int) -> dict[str, Any]:
    flt: dict[str, Any] = c("chunk_index", "eq", 1)
    for _ in range(depth - 1):
        flt = {"not": flt}
    return flt


ERRORS: list[tuple[Any, str]] = [
    (c("pk", "eq", "a"), r"^filter\.field: unknown field 'pk'"),
    (c("vector", "eq", 1), "unknown field 'vector'"),
    (c("metadata", "eq", 1), "unknown field 'metadata'"),
    (c("metadata.", "eq", 1), "bad metadata key ''"),
    (c('metadata.a"]', "eq", 1), "bad metadata key"),
    (c("metadata.1a", "eq", 1), "bad metadata key '1a'"),
    (c("metadata." + "k" * 65, "eq", 1), "bad metadata key"),
    (c("metadata.a.b.c.d", "eq", 1), "at most 3 keys"),
    (c(["doc_id"], "eq", 1), "unknown field"),
    (c("doc_id", "like", "a%"), r"^filter\.op: unknown operator 'like'"),
    (c("doc_id", "EQ", "a"), "unknown operator 'EQ'"),
    (c("doc_id", "eq", 1), r"^filter\.value: expected a string for field 'doc_id', got a number"),
    (
        {"and": [c("doc_id", "eq", "a"), c("doc_id", "eq", 1)]},
        r"^filter\.and\[1\]\.value: expected a string for field 'doc_id'",
    ),
    (
        {"or": [c("doc_id", "eq", "a"), {"not": c("tenant", "eq", None)}]},
        r"^filter\.or\[1\]\.not\.value: expected a string for field 'tenant', got null",
    ),
    (c("chunk_index", "eq", True), "expected an integer for field 'chunk_index', got a boolean"),
    (c("chunk_index", "eq", 1.0), "expected an integer for field 'chunk_index', got a number"),
    (c("chunk_index", "eq", "1"), "expected an integer"),
    (c("chunk_index", "eq", 2**63), "out of the 64-bit range"),
    (c("chunk_index", "in", [1, True]), r"^filter\.value\[1\]: expected an integer"),
    (c("doc_id", "gt", "a"), r"^filter\.op: range operator 'gt' needs a number"),
    (c("title", "lte", "a"), "range operator 'lte' needs a number"),
    (c("metadata.k", "gt", "a"), "range operator 'gt' needs a number for field 'metadata.k'"),
    (c("metadata.k", "gt", True), "needs a number for field 'metadata.k', got a boolean"),
    (c("metadata.k", "eq", None), "null is not supported"),
    (c("metadata.k", "eq", {"a": 1}), "got an object"),
    (c("metadata.k", "eq", [1]), "got a list"),
    (c("metadata.k", "eq", float("nan")), "finite"),
    (c("metadata.k", "gt", float("inf")), "finite"),
    (c("doc_id", "in", "a"), "operator 'in' takes a list, got a string"),
    (c("doc_id", "in", []), "needs at least one value"),
    (c("doc_id", "eq", ["a"]), "expected a string for field 'doc_id', got a list"),
    (c("doc_id", "in", ["a"] * 1025), "more than 1024 values"),
    ({"and": [c("doc_id", "in", ["a"] * 1024)] * 5}, "more than 4096 values in all"),
    ({"field": "doc_id", "op": "eq"}, "missing 'value'"),
    ({"field": "doc_id", "value": "a"}, "missing 'op'"),
    ({"field": "doc_id", "op": "eq", "value": "a", "x": 1}, "unknown key 'x'"),
    ({"and": [c("doc_id", "eq", "a")], "or": []}, "an 'and' object has no other keys"),
    ({"not": c("doc_id", "eq", "a"), "field": "doc_id"}, "no other keys"),
    ({"and": []}, r"^filter\.and: expected a non-empty list"),
    ({"or": c("doc_id", "eq", "a")}, "expected a non-empty list"),
    ({"not": [c("doc_id", "eq", "a")]}, r"^filter\.not: expected an object"),
    ({}, "missing 'field'"),
    ([c("doc_id", "eq", "a")], "expected an object"),
    (None, "expected an object"),
    ("not json", "not valid JSON"),
    ('"a string"', "expected an object"),
    (nest(9), "nested deeper than 8 levels"),
    ({"or": [c("chunk_index", "eq", i) for i in range(65)]}, "more than 64 conditions"),
    (
        {"and": [{"or": [c("chunk_index", "eq", i) for i in range(33)]}] * 2},
        r"filter\.and\[1\]\.or\[31\]: filter has more than 64 conditions",
    ),
    # strings Milvus could not hold literally, or that read differently than they match
    (c("doc_id", "eq", "a\x00"), r"control character U\+0000"),
    (c("doc_id", "eq", "a\nb"), r"control character U\+000A"),
    (c("doc_id", "eq", "a\x1f"), r"control character U\+001F"),
    (c("doc_id", "eq", "a\x7f"), r"control character U\+007F"),
    (c("metadata.k", "in", ["ok", "\r"]), r"^filter\.value\[1\]: string contains the control"),
    (c("doc_id", "eq", "a\ud800"), r"unpaired surrogate U\+D800"),
    (c("doc_id", "eq", "\udfff"), r"unpaired surrogate U\+DFFF"),
    (c("doc_id", "eq", "abc\u202e"), r"format character U\+202E \(RIGHT-TO-LEFT OVERRIDE\)"),
    (c("doc_id", "eq", "a\u200bb"), r"format character U\+200B \(ZERO WIDTH SPACE\)"),
    (c("doc_id", "eq", "\u2066x\u2069"), r"U\+2066"),
    (c("doc_id", "eq", "\ufeffa"), r"U\+FEFF"),
    (c("title", "eq", "x" * 65_536), "longer than 65535 bytes"),
]


@pytest.mark.parametrize(("flt", "message"), ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_invalid_filters(flt: Any, message: str) -> None:
    with pytest.raises(InvalidFilterError, match=message) as info:
        parse_filter(flt)
    assert info.value.code == "invalid_filter"
    assert isinstance(info.value, ValueError)


def test_limits_are_inclusive() -> None:
    assert compile_filter(parse_filter(nest(8))).count("not") == 7
    parse_filter({"or": [c("chunk_index", "eq", i) for i in range(64)]})
    parse_filter(c("doc_id", "in", [str(i) for i in range(1024)]))
    parse_filter(c("title", "eq", "x" * 65_535))


def test_joiners_and_other_unicode_are_accepted() -> None:
    family = "👨\u200d👩\u200d👧"  # ZWJ sequence
    persian = "می\u200cخواهم"  # ZWNJ is part of the spelling
    for value in (family, persian, "مرحبا", "中文", "😀", "e\u0301", "\u00a0"):
        assert compile_filter(parse_filter(c("doc_id", "eq", value))) == f'doc_id == "{value}"'


# -- literals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", '""'),
        ("a", '"a"'),
        ('"', r'"\""'),
        ("\\", r'"\\"'),
        ('\\"', r'"\\\""'),
        ("'", '''"'"'''),
        ("a\u202eb", '"a\u202eb"'),  # the store's own lookups accept what ingest accepted
    ],
)
def test_string_literal(value: str, expected: str) -> None:
    assert string_literal(value) == expected


def test_string_literal_refuses_what_milvus_cannot_read() -> None:
    for bad in ("\n", "a\x00", "\ud83d"):
        with pytest.raises(InvalidFilterError):
            string_literal(bad)
    with pytest.raises(InvalidFilterError, match="expected a string"):
        string_literal(1)  # type: ignore[arg-type]


def test_string_list_literal_and_and_expressions() -> None:
    assert string_list_literal([]) == "[]"
    assert string_list_literal(["a", 'b"', "c\\"]) == r'["a", "b\"", "c\\"]'
    assert string_list_literal(iter(["x"])) == '["x"]'
    assert and_expressions() is None
    assert and_expressions(None, "", "  ") is None
    assert and_expressions("a == 1") == "a == 1"
    assert and_expressions(None, "a == 1", None) == "a == 1"
    assert and_expressions("a == 1 or b == 2", None, "c == 3") == "(a == 1 or b == 2) and (c == 3)"


# -- real Milvus Lite ------------------------------------------------------------------------

TRICKY = [
    "plain",
    'a"b',
    "a'b",
    "a\\b",
    'a\\"b',
    "\\",
    "\\\\",
    "end\\",
    '"',
    "'",
    '""',
    "\\'",
    "a\\nb",  # backslash, n: not a newline
    "x\\u0041",  # not an escape for us; Milvus would refuse \u inside a literal
    "or 1==1",
    '" or doc_id != "',
    '" or 1==1 or doc_id == "',
    '\\" or doc_id != \\"',
    "' or '1'=='1",
    '") or (doc_id != "',
    "%",
    "a%",
    "_",
    "[1, 2]",
    "doc_id",
    "中文",
    '北京 "引号" \\ 路径',
    "😀",
    "👨\u200d👩\u200d👧",
    "مرحبا",
    "a\x85b\u2028c\u2029d",  # NEL and the Unicode line/paragraph separators are not newlines
    "\u00a0\u3000",  # no-break and ideographic spaces
    "",
]


@pytest.fixture(scope="module")
def milvus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusClient]:
    client = MilvusClient(str(tmp_path_factory.mktemp("filters") / "f.db"))
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=256)
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field("metadata", DataType.JSON)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index("v", index_type="FLAT", metric_type="L2")
    client.create_collection("t", schema=schema, index_params=index)
    rows = [
        {
            "pk": f"p{i}",
            "doc_id": value,
            "chunk_index": i,
            "metadata": {"k": value, "n": i, "half": i / 2, "even": i % 2 == 0, "a": {"b": value}},
            "v": [0.0, 1.0],
        }
        for i, value in enumerate(TRICKY)
    ]
    rows.append(  # an id only the store's own lookups write (Cf is refused in user filters)
        {"pk": "rlo", "doc_id": "a\u202eb", "chunk_index": -1, "metadata": {}, "v": [1.0, 0.0]}
    )
    client.insert("t", rows)
    client.load_collection("t")
    yield client
    client.close()


def query(client: MilvusClient, expr: str) -> set[str]:
    return {str(r["pk"]) for r in client.query("t", filter=expr, output_fields=["pk"])}


ALL = {f"p{i}" for i in range(len(TRICKY))} | {"rlo"}


@pytest.mark.parametrize("i", range(len(TRICKY)), ids=[repr(v) for v in TRICKY])
def test_milvus_matches_each_string_literally(milvus: MilvusClient, i: int) -> None:
    value, me = TRICKY[i], {f"p{i}"}
    for field in ("doc_id", "metadata.k", "metadata.a.b"):
        assert query(milvus, compile_filter(parse_filter(c(field, "eq", value)))) == me, field
        assert query(milvus, compile_filter(parse_filter(c(field, "in", [value, "zz"])))) == me
    assert query(milvus, compile_filter(parse_filter(c("doc_id", "ne", value)))) == ALL - me
    assert query(milvus, compile_filter(parse_filter(c("doc_id", "nin", [value])))) == ALL - me


def test_milvus_in_list_of_every_tricky_string(milvus: MilvusClient) -> None:
    expr = compile_filter(parse_filter(c("doc_id", "in", TRICKY)))
    assert query(milvus, expr) == ALL - {"rlo"}
    assert query(milvus, f"doc_id in {string_list_literal(TRICKY[:3])}") == {"p0", "p1", "p2"}


def test_milvus_store_literal_matches_format_characters(milvus: MilvusClient) -> None:
    rlo = string_literal("a\u202eb")
    assert query(milvus, f"doc_id == {rlo}") == {"rlo"}


def test_milvus_injection_never_matches_more(milvus: MilvusClient) -> None:
    attacks = [
        '" or 1==1 or doc_id == "',
        '\\" or 1==1 or doc_id == \\"',
        '") or (1==1',
        "' or 1==1 or doc_id == '",
        'x" || doc_id != "',
    ]
    for attack in attacks:
        hits = query(milvus, compile_filter(parse_filter(c("doc_id", "eq", attack))))
        assert len(hits) <= 1
        assert hits <= {f"p{i}" for i, v in enumerate(TRICKY) if v == attack}


def test_milvus_numbers_booleans_and_combinators(milvus: MilvusClient) -> None:
    n = len(TRICKY)

    def pks(flt: dict[str, Any]) -> set[str]:
        return query(milvus, compile_filter(parse_filter(flt)))

    assert pks(c("metadata.n", "gte", n - 2)) == {f"p{n - 2}", f"p{n - 1}"}
    assert pks(c("metadata.half", "lt", 1.0)) == {"p0", "p1"}
    assert pks(c("metadata.half", "eq", 1.5)) == {"p3"}
    assert pks(c("metadata.even", "eq", True)) == {f"p{i}" for i in range(0, n, 2)}
    assert pks(c("metadata.n", "in", [1, 3, 999])) == {"p1", "p3"}
    assert pks(c("metadata.n", "nin", [1, 3])) == {f"p{i}" for i in range(n) if i not in (1, 3)}
    assert pks(c("chunk_index", "in", [0, -1])) == {"p0", "rlo"}
    assert pks(c("chunk_index", "nin", list(range(1, n)))) == {"p0", "rlo"}
    flt = {
        "and": [
            {"or": [c("chunk_index", "lt", 2), c("chunk_index", "gt", n - 2)]},
            {"not": c("doc_id", "eq", "plain")},
        ]
    }
    assert pks(flt) == {"p1", f"p{n - 1}", "rlo"}
    deep = and_expressions('doc_id != "plain"', compile_filter(parse_filter(nest(8))))
    assert deep is not None and query(milvus, deep) == ALL - {"p0", "p1"}
