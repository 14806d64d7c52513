"""Collection tenancy (HYBRID_SEARCH_TENANCY=collection) on a real Milvus Lite: each tenant's
rows live in its own collection, every route searches only the caller's collection, and calls
without a tenant cover the logical collection and all of its tenants."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.errors import ConfigError, InvalidRequestError, SchemaMismatchError
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.searcher import HybridSearcher
from hybrid_search.store import ops
from hybrid_search.store.milvus import MilvusStore
from hybrid_search.store.tenancy import (
    MAX_NAME,
    CollectionPerTenantStore,
    check_collection_name,
    tenant_collection,
)
from hybrid_search.store.types import QueryVectors, Scope
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas.collection import COLBERT_SUFFIX, CollectionSpec

A, B = "Team-A", "b_team"  # a capital, a '-' and a '_': all escaped in the collection name
DOCS = {
    A: [
        {"id": "shared", "title": "Zebra migration", "text": "Zebras cross the savanna river."},
        {"id": "a-lions", "title": "Lion prides", "text": "Lions hunt zebras at the river."},
        {"id": "a-grass", "title": "Savanna grass", "text": "Grass feeds the zebra herds."},
    ],
    B: [
        {"id": "shared", "title": "Glacier report", "text": "Glaciers retreat in the Alps."},
        {"id": "b-ice", "title": "Ice cores", "text": "Ice cores record old climate."},
    ],
}
#: each tenant's topic, and one with words of both (every route has matches in both tenants)
QUERIES = {A: "zebra migration across the savanna", B: "glacier ice cores climate"}
MIXED = "zebra savanna glacier climate"
ROUTES: list[list[str] | None] = [["dense"], ["sparse"], ["bm25"], ["colbert"], None]


def _jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), "utf-8")
    return path


def ingest(store: Any, encoder: Any, spec: CollectionSpec, src: Path, tenant: str) -> Any:
    opts = IngestOptions(max_chunk_tokens=48, chunk_overlap_tokens=8, tenant=tenant)
    return IngestJob(store, encoder, spec, opts).run(read_paths([src]))


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("tenancy")
    # one token vector per row, so the ColBERT token search (search_tokens) is routed too
    s = tiny_settings(d, tiny_models, tenancy="collection", colbert_block_tokens=1)
    store = build_store(s)
    assert isinstance(store, CollectionPerTenantStore)
    spec = collection_spec(s, encoder)
    for tenant, docs in DOCS.items():
        ingest(store, encoder, spec, _jsonl(d / f"{tenant}.jsonl", docs), tenant)
    searcher = HybridSearcher(store, encoder, None, collection=s.collection, settings=s)
    yield {"store": store, "spec": spec, "searcher": searcher, "dir": d, "encoder": encoder}
    searcher.close()


def doc_ids(
    searcher: HybridSearcher, query: str, tenant: str, routes: list[str] | None
) -> set[str]:
    r = searcher.search(query, tenant=tenant, routes=routes, rerank=False, top_k=10)
    assert not r.route_errors, r.route_errors
    return {h.doc_id for h in r.hits}


# -- names ------------------------------------------------------------------------------------


def test_tenant_collection_names_are_distinct_valid_and_short_enough() -> None:
    tenants = ["a", "A", "a-b", "a_b", "a__b", "a_hb", "a_ub", "aB", "-", "_", "x" * 64, "Y" * 64]
    names = [tenant_collection("docs", t) for t in tenants]
    assert len(set(names)) == len(tenants)  # injective, also when compared case-insensitively
    assert len({n.lower() for n in names}) == len(tenants)
    assert tenant_collection("docs", "Team-A") == "docs__t__uteam_h_ua"
    longest = "c" * 201  # the longest collection name Settings allows
    for t in ("x" * 64, "X" * 64, "-" * 64):
        name = tenant_collection(longest, t)
        assert len(name + COLBERT_SUFFIX) <= MAX_NAME and name.startswith(longest + "__h_")
    assert len({tenant_collection(longest, t) for t in ("x" * 64, "X" * 64, "-" * 64)}) == 3
    with pytest.raises(InvalidRequestError, match="tenant"):
        tenant_collection("docs", "a/b")
    for bad in ("my__docs", "docs_"):
        with pytest.raises(ConfigError, match="may not contain"):
            check_collection_name(bad)


# -- isolation --------------------------------------------------------------------------------


@pytest.mark.parametrize("routes", ROUTES, ids=lambda r: "fused" if r is None else r[0])
def test_every_route_finds_only_the_callers_documents(env, routes) -> None:  # type: ignore[no-untyped-def]
    searcher = env["searcher"]
    for tenant, docs in DOCS.items():
        own = {d["id"] for d in docs}
        for query in [*QUERIES.values(), MIXED]:
            found = doc_ids(searcher, query, tenant, routes)
            assert found <= own, (tenant, query, routes, found)
            if query in (QUERIES[tenant], MIXED):
                assert found, (tenant, query, routes)
    # "shared" is one id in both tenants: each finds its own text under it
    for tenant, word in ((A, "Zebras"), (B, "Glaciers")):
        r = searcher.search("shared report", tenant=tenant, routes=routes, rerank=False, top_k=10)
        shared = [h.text for h in r.hits if h.doc_id == "shared"]
        assert all(word in t for t in shared), (tenant, shared)


def test_each_tenant_lives_in_its_own_collection(env) -> None:  # type: ignore[no-untyped-def]
    store: CollectionPerTenantStore = env["store"]
    inner = store.inner
    assert isinstance(inner, MilvusStore)
    name = env["spec"].name
    phys = {t: tenant_collection(name, t) for t in DOCS}
    assert store.tenant_collections(name) == sorted(phys.values())
    assert set(inner.list_collections(name)) >= {name, *phys.values()}
    for tenant, docs in DOCS.items():
        # every row of the tenant's collection is the tenant's, and all of its rows are there
        rows = inner.query_all(phys[tenant], "", ["tenant", "doc_id"])
        assert {r["tenant"] for r in rows} == {tenant}
        assert {r["doc_id"] for r in rows} == {d["id"] for d in docs}
        assert inner.describe(phys[tenant]).owner == f"{name}/{tenant}"
    assert ops.stats(inner, name).chunks == 0  # the logical collection holds the spec, no rows


def test_stats_with_and_without_tenant(env) -> None:  # type: ignore[no-untyped-def]
    store, name = env["store"], env["spec"].name
    per = {t: ops.stats(store, name, t) for t in DOCS}
    for tenant, docs in DOCS.items():
        assert per[tenant].documents == len(docs)
        assert per[tenant].chunks >= len(docs) and per[tenant].colbert_rows
    total = ops.stats(store, name)
    assert total.documents == sum(p.documents for p in per.values())
    assert total.chunks == sum(p.chunks for p in per.values())
    assert total.colbert_rows == sum(p.colbert_rows or 0 for p in per.values())


def test_a_tenant_without_data_reads_empty_and_gets_no_collection(env) -> None:  # type: ignore[no-untyped-def]
    store, searcher, name = env["store"], env["searcher"], env["spec"].name
    for routes in ROUTES:
        r = searcher.search(MIXED, tenant="nobody", routes=routes, rerank=False)
        assert r.hits == [] and not r.route_errors, (routes, r.route_errors)
    assert ops.stats(store, name, "nobody").documents == 0
    assert ops.doc_states(store, name, "nobody", ["shared"]) == {}
    assert list(ops.iter_doc_ids(store, name, "nobody")) == []
    assert ops.get_chunks(store, name, "nobody", "shared") == []
    assert ops.count_chunks(store, name, Scope("nobody")) == 0
    assert store.delete(name, "nobody", ["shared"]) == 0
    assert store.get_rows(name, ["nobody/shared#0"]) == {}
    assert not store.inner.has_collection(tenant_collection(name, "nobody"))


def test_get_rows_reads_each_key_from_its_tenants_collection(env) -> None:  # type: ignore[no-untyped-def]
    store, name = env["store"], env["spec"].name
    rows = store.get_rows(name, [f"{A}/shared#0", "b_team/shared#0", "garbage", "x/y#0"])
    assert {pk: r.tenant for pk, r in rows.items()} == {f"{A}/shared#0": A, "b_team/shared#0": B}


def test_score_rows_reads_only_the_scopes_tenant(env) -> None:  # type: ignore[no-untyped-def]
    store, name = env["store"], env["spec"].name
    keys = [f"{A}/shared#0", "b_team/shared#0"]
    for tenant, word in ((A, "Zebras"), (B, "Glaciers")):
        read = ops.score_rows(store, name, "bm25", QueryVectors(word), Scope(tenant).only(keys))
        assert [r.tenant for r in read.rows.values()] == [tenant]
        assert list(read.scores) == [f"{tenant}/shared#0"] and min(read.scores.values()) > 0
    nobody = ops.score_rows(store, name, "bm25", QueryVectors("Zebras"), Scope("nobody").only(keys))
    assert nobody.rows == {} and nobody.scores == {}


def test_replace_and_delete_stay_within_the_tenant(env) -> None:  # type: ignore[no-untyped-def]
    store, searcher, name, d = env["store"], env["searcher"], env["spec"].name, env["dir"]
    b_before = ops.stats(store, name, B)
    new = [{"id": "shared", "title": "Zebra update", "text": "Okapis graze near the river."}]
    summary = ingest(store, env["encoder"], env["spec"], _jsonl(d / "new.jsonl", new), A)
    assert (summary.replaced, summary.inserted) == (1, 0)
    chunks = ops.get_chunks(store, name, A, "shared")
    assert chunks and all("Okapis" in c.text for c in chunks)
    assert all("Glaciers" in c.text for c in ops.get_chunks(store, name, B, "shared"))
    assert ops.stats(store, name, B) == b_before

    assert store.delete(name, B, ["shared"]) == 1
    assert ops.get_chunks(store, name, B, "shared") == []
    assert ops.get_chunks(store, name, A, "shared")  # A's document of the same id stays
    assert ops.stats(store, name, B).documents == b_before.documents - 1
    assert "shared" not in doc_ids(searcher, "glacier retreat alps", B, None)


# -- refusals and drop ------------------------------------------------------------------------


def test_partition_key_rows_are_refused(env) -> None:  # type: ignore[no-untyped-def]
    store, spec = env["store"], replace(env["spec"], name="legacy")
    src = _jsonl(env["dir"] / "legacy.jsonl", DOCS[B])
    ingest(store.inner, env["encoder"], spec, src, B)  # written in partition_key mode
    with pytest.raises(ConfigError, match="partition_key"):
        store.ensure_collection(spec)
    store.inner.drop("legacy")


def test_a_collection_not_made_for_the_tenant_is_refused_and_never_dropped(env) -> None:  # type: ignore[no-untyped-def]
    store, spec = env["store"], replace(env["spec"], name="other")
    store.ensure_collection(spec)
    squatter = tenant_collection("other", "x")
    store.inner.ensure_collection(replace(spec, name=squatter))  # a shared collection so named
    with pytest.raises(SchemaMismatchError, match="was not created for tenant 'x'"):
        store.search_field("other", "bm25", [], scope=Scope("x"), limit=5)
    assert store.tenant_collections("other") == []
    store.drop("other")
    assert store.inner.has_collection(squatter) and not store.inner.has_collection("other")
    store.inner.drop(squatter)


def test_drop_removes_the_collection_and_every_tenant_collection(env) -> None:  # type: ignore[no-untyped-def]
    store, spec, d = env["store"], replace(env["spec"], name="dropme"), env["dir"]
    for tenant, n in zip(DOCS, itertools.count()):
        ingest(store, env["encoder"], spec, _jsonl(d / f"drop{n}.jsonl", DOCS[tenant]), tenant)
    assert len(store.tenant_collections("dropme")) == 2
    assert ops.stats(store, "dropme").documents == sum(len(v) for v in DOCS.values())
    store.drop("dropme")
    assert store.inner.list_collections("dropme") == []
    assert store.tenant_collections("dropme") == []


def test_the_longest_names_fit_milvus(env) -> None:  # type: ignore[no-untyped-def]
    """The longest collection name Settings allows, a 64-character tenant: hashed, accepted."""
    store, d = env["store"], env["dir"]
    spec, tenant = replace(env["spec"], name="c" * 201), "Q" * 64
    ingest(store, env["encoder"], spec, _jsonl(d / "long.jsonl", DOCS[B][:1]), tenant)
    assert store.tenant_collections(spec.name) == [tenant_collection(spec.name, tenant)]
    assert ops.stats(store, spec.name, tenant).documents == 1
    store.drop(spec.name)
    assert store.inner.list_collections(spec.name) == []
