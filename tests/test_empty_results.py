"""An empty result says why: the tenant has no documents, or a filter condition names a field or
a value no document has. Real Milvus Lite, tiny models (the corpus of tests/test_searcher.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hybrid_search.searcher import HybridSearcher
from tests.test_searcher import make_env

Q = "vector database"


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[HybridSearcher]:  # type: ignore[no-untyped-def]
    searcher = make_env(tmp_path_factory.mktemp("empty"), tiny_models, encoder)
    yield searcher
    searcher.close()


def search(env: HybridSearcher, **options: object):  # type: ignore[no-untyped-def]
    return env.search(Q, routes=["dense", "bm25"], rerank=False, **options)


def test_hits_carry_no_notes(env: HybridSearcher) -> None:
    r = search(env)
    assert r.hits and r.notes == []


def test_a_tenant_without_documents_is_named(env: HybridSearcher) -> None:
    r = search(env, tenant="nobody")
    assert r.hits == []
    assert r.notes == [f"tenant 'nobody' has no documents in collection '{env.collection}'"]


def test_a_field_no_document_has_is_named(env: HybridSearcher) -> None:
    r = search(env, filter={"field": "metadata.colour", "op": "eq", "value": "red"})
    assert r.hits == []
    assert r.notes == ["filter: no document of tenant 'default' has the field 'metadata.colour'"]


def test_a_value_no_document_has_is_named(env: HybridSearcher) -> None:
    r = search(env, filter={"field": "metadata.lang", "op": "in", "value": ["de", "fr"]})
    assert r.hits == []
    assert r.notes == [
        "filter: no document of tenant 'default' matches metadata.lang in ['de', 'fr']"
    ]
    numeric = search(env, filter={"field": "metadata.year", "op": "gt", "value": 2100})
    assert numeric.notes == [
        "filter: no document of tenant 'default' matches metadata.year gt 2100"
    ]


def test_conditions_that_match_only_apart_are_said_so(env: HybridSearcher) -> None:
    both = {
        "and": [
            {"field": "metadata.lang", "op": "eq", "value": "zh"},
            {"field": "metadata.year", "op": "eq", "value": 2021},  # the English milvus doc
        ]
    }
    r = search(env, filter=both)
    assert r.hits == []
    assert r.notes == ["filter: each condition matches some documents, but no document all of them"]
