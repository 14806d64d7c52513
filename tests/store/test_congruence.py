"""MilvusStore (Milvus Lite) and InMemoryStore (numpy brute force) run the same scenarios and
must agree: what ingest writes, replaces and deletes, tenants, filters, every route, fusion and
grouping.

Exact agreement (same keys in the same order, scores to 1e-4) for dense, sparse and ColBERT:
on this little data Milvus' HNSW and inverted indexes return every match. BM25 is compared
within a tolerance: the in-memory analyzer is Python's jieba where Milvus runs jieba-rs (token
counts, hence document lengths, differ on Chinese text), so scores differ by up to ~10 % here;
the test requires the same matching chunks, the same best chunk for each title query, and every
score within 15 % (see memory_store.py, which also notes that Milvus Lite keeps stop words).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.filtering import parse_filter
from hybrid_search.searcher import HybridSearcher
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import FIELD_ROUTES, QueryVectors, Scope
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas.collection import CollectionSpec
from tests.store.memory_store import InMemoryStore, fetch_token_vectors

DOCS: list[dict[str, Any]] = [
    {"id": "beijing", "title": "Beijing capital", "year": 2020, "lang": "zh",
     "text": "北京是中华人民共和国的首都，也是全国的政治、文化中心。Beijing has twenty million people."},
    {"id": "milvus", "title": "Milvus vector database", "year": 2021, "lang": "en",
     # distinct sentences: the chunker packs whole sentences, and equal chunks would tie
     "text": " ".join(f"Milvus {v} supports partitions, scalar filters and hybrid search over vector "
                      f"fields." for v in ("2.3", "2.4", "2.5"))},
    {"id": "bm25", "title": "Okapi BM25 ranking", "year": 2018, "lang": "en",
     "text": "BM25 scores a document by term frequency, inverse document frequency and length."},
    {"id": "rrf", "title": "Reciprocal rank fusion", "year": 2009, "lang": "en",
     "text": "Reciprocal rank fusion adds one over k plus rank for every list with the document."},
    {"id": "vitamin", "title": "Vitamin D and fractures", "year": 2015, "lang": "en",
     "text": "Vitamin D deficiency is associated with a higher risk of fractures in older adults."},
    {"id": "panda", "title": "熊猫", "year": 2010, "lang": "zh",
     "text": "熊猫主要生活在四川、陕西和甘肃的山区，以竹子为主要食物。Pandas eat bamboo."},
    {"id": "colbert", "title": "Late interaction", "year": 2020, "lang": "en",
     "text": "ColBERT scores a passage by the best match of every query token, summed: MaxSim."},
]  # fmt: skip
OTHER_TENANT = [{"id": "secret", "title": "Beijing secret", "text": "Only tenant b may see this."}]
QUERIES = ["Beijing capital city", "vector database filters", "rank fusion", "Pandas eat bamboo"]
FILTERS: list[dict[str, Any]] = [
    {"field": "metadata.lang", "op": "eq", "value": "en"},
    {"and": [
        {"field": "metadata.year", "op": "gte", "value": 2015},
        {"not": {"field": "doc_id", "op": "in", "value": ["milvus", "vitamin"]}},
    ]},
    {"or": [{"field": "title", "op": "eq", "value": "熊猫"}, {"field": "chunk_index", "op": "gt", "value": 0}]},
]  # fmt: skip


def _jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    return path


def ingest(store: VectorStore, encoder: Any, spec: CollectionSpec, src: Path, **kw: Any) -> Any:
    opts = IngestOptions(max_chunk_tokens=48, chunk_overlap_tokens=8, **kw)
    return IngestJob(store, encoder, spec, opts).run(read_paths([src]))


@pytest.fixture(scope="module", params=["3", "2.5"], ids=["lite3", "lite25"])
def stores(request, tmp_path_factory, tiny_models, encoder) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("congruence")
    # one token vector per row: the token search is compared too
    s = tiny_settings(
        d,
        tiny_models,
        max_chunk_tokens=48,
        chunk_overlap_tokens=8,
        colbert_block_tokens=1,
        lite_engine=request.param,
    )
    spec = collection_spec(s, encoder)
    milvus, memory = build_store(s), InMemoryStore(jieba_stops=request.param == "2.5")
    src, other = _jsonl(d / "a.jsonl", DOCS), _jsonl(d / "b.jsonl", OTHER_TENANT)
    for store in (milvus, memory):
        ingest(store, encoder, spec, src)
        ingest(store, encoder, spec, other, tenant="b")
    yield {"milvus": milvus, "memory": memory, "spec": spec, "settings": s, "dir": d}
    milvus.close()


def both(stores: dict[str, Any]) -> tuple[VectorStore, VectorStore]:
    return stores["milvus"], stores["memory"]


def encode(encoder: Any, q: str) -> QueryVectors:
    enc = encoder.encode_queries([q])
    return QueryVectors(q, enc.dense[0], enc.sparse[0], enc.colbert[0])


def ranking(hits: list[Any]) -> list[tuple[str, float]]:
    """(key, score), ties ordered by key, so equal scores cannot make two stores differ."""
    return sorted(((h.pk, round(h.score, 4)) for h in hits), key=lambda t: (-t[1], t[0]))


def chunks(store: VectorStore, spec: CollectionSpec, tenant: str, doc_id: str) -> list[Any]:
    return [
        (c.pk, c.chunk_id, c.chunk_index, c.title, c.text, c.metadata, c.token_count, c.chunk_count)
        for c in ops.get_chunks(store, spec.name, tenant, doc_id)
    ]


def test_ingest_writes_the_same_rows_and_token_vectors(stores) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(stores)
    spec = stores["spec"]
    assert ops.stats(milvus, spec.name) == ops.stats(memory, spec.name)
    assert ops.stats(milvus, spec.name, "b") == ops.stats(memory, spec.name, "b")
    ids = [d["id"] for d in DOCS]
    assert ops.doc_states(milvus, spec.name, "default", ids) == ops.doc_states(
        memory, spec.name, "default", ids
    )
    assert sorted(ops.iter_doc_ids(milvus, spec.name, "default")) == sorted(ids)
    assert sorted(ops.iter_doc_ids(memory, spec.name, "default")) == sorted(ids)
    for doc_id in ids:
        rows = chunks(milvus, spec, "default", doc_id)
        assert rows and rows == chunks(memory, spec, "default", doc_id)
        pks = [r[0] for r in rows]
        counts = {r[0]: r[6] for r in rows}
        got = fetch_token_vectors(milvus, spec.name, "default", pks, counts)
        want = fetch_token_vectors(memory, spec.name, "default", pks)
        assert got.keys() == want.keys() == set(pks)
        for pk in pks:
            np.testing.assert_allclose(got[pk], want[pk], atol=1e-6)
    full = {pk: r for pk, r in milvus.get_rows(spec.name, pks, with_vectors=True).items()}
    mem = memory.get_rows(spec.name, pks, with_vectors=True)
    for pk in pks:
        np.testing.assert_allclose(full[pk].dense, mem[pk].dense, atol=1e-6)


@pytest.mark.parametrize("route", ["dense", "sparse"])
@pytest.mark.parametrize("q", QUERIES)
def test_dense_and_sparse_rank_exactly_alike(stores, encoder, route, q) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(stores)
    name, qv = stores["spec"].name, encode(encoder, q)
    for f in [None, *FILTERS]:
        scope = Scope("default", parse_filter(f) if f else None)
        got = milvus.search_field(name, route, [qv], scope=scope, limit=100)[0]
        want = memory.search_field(name, route, [qv], scope=scope, limit=100)[0]
        assert ranking(got) == ranking(want), f
        assert all(c.pk.startswith("default/") for c in got)


def test_routes_without_token_counts_keep_their_ranking_and_documents(stores, encoder) -> None:  # type: ignore[no-untyped-def]
    """Searches that ship only the key (no ColBERT to feed) rank alike and name each hit's
    document from its key."""
    for store in both(stores):
        name, qv = stores["spec"].name, encode(encoder, QUERIES[0])
        for route in FIELD_ROUTES:
            counted = store.search_field(name, route, [qv], scope=Scope("default"), limit=100)[0]
            bare = store.search_field(
                name, route, [qv], scope=Scope("default"), limit=100, with_token_counts=False
            )[0]
            assert counted and ranking(bare) == ranking(counted), route
            assert [c.doc_id for c in bare] == [c.doc_id for c in counted], route
            assert all(c.token_count is None for c in bare)
            assert all(c.token_count is not None and c.token_count > 0 for c in counted)


def test_colbert_looks_up_token_counts_its_candidates_lack(stores, encoder) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.retrieval.colbert import ColbertRoute

    for store in both(stores):
        name, qv = stores["spec"].name, encode(encoder, QUERIES[1])
        hits = store.search_field(
            name, "dense", [qv], scope=Scope("default"), limit=6, with_token_counts=False
        )[0]
        keys = {c.pk: c for c in hits}
        route = ColbertRoute(store, name)
        got = route.score(qv, list(keys), keys=keys, scope=Scope("default"), limit=6)
        want = route.score(qv, list(keys), keys={}, scope=Scope("default"), limit=6)
        assert len(got) == len(hits) and ranking(got) == ranking(want)
        assert all(c.token_count for c in got)


def test_bm25_agrees_within_tolerance(stores, encoder) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(stores)
    name = stores["spec"].name
    for doc in DOCS:
        qv = QueryVectors(doc["title"])
        got = milvus.search_field(name, "bm25", [qv], scope=Scope("default"), limit=100)[0]
        want = memory.search_field(name, "bm25", [qv], scope=Scope("default"), limit=100)[0]
        assert got[0].doc_id == want[0].doc_id == doc["id"]
        assert {c.pk for c in got} == {c.pk for c in want}
        mine = {c.pk: c.score for c in want}
        # Milvus Lite 2.5 scores one chunk 17 % lower: the same matches and ranking, other
        # BM25 statistics (README "How far Lite goes")
        rel = 0.15 if stores["settings"].lite_engine == "3" else 0.2
        for c in got:
            assert c.score == pytest.approx(mine[c.pk], rel=rel), doc["title"]


def test_score_rows_reads_the_head_with_its_route_scores(stores) -> None:  # type: ignore[no-untyped-def]
    """What an explained search asks after fusion: the head's rows and their BM25 scores in
    one call. Rows sharing no term are read without a score, keys outside the scope (another
    tenant, the filter) are absent, and each score is the restricted search's."""
    milvus, memory = both(stores)
    name = stores["spec"].name
    qv = QueryVectors("Beijing vector database")
    mine = sorted(ops.get_keys(milvus, name, Scope("default")))
    theirs = sorted(ops.get_keys(milvus, name, Scope("b")))[:2]
    for f in [None, FILTERS[0]]:
        scope = Scope("default", parse_filter(f) if f else None)
        expected = set(ops.get_keys(milvus, name, scope))
        reads = {}
        for store in (milvus, memory):
            read = ops.score_rows(
                store, name, "bm25", qv, scope.only(mine + theirs), with_vectors=True
            )
            assert read.rows.keys() == expected, (store, f)
            assert all(r.dense is not None and r.sparse is not None for r in read.rows.values())
            restricted = store.search_field(
                name, "bm25", [qv], scope=scope.only(mine), limit=len(mine)
            )[0]
            assert read.scores == pytest.approx({c.pk: c.score for c in restricted})
            assert 0 < len(read.scores) < len(read.rows)  # some rows share no term
            reads[store] = read
        assert reads[milvus].scores.keys() == reads[memory].scores.keys()
        plain = ops.score_rows(milvus, name, "bm25", qv, scope.only(mine), with_vectors=False)
        assert all(r.dense is None for r in plain.rows.values())


def test_token_search_and_maxsim_agree(stores, encoder) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(stores)
    name = stores["spec"].name
    for q in QUERIES:
        tokens = encode(encoder, q).colbert
        got = ops.search_tokens(milvus, name, tokens, tenant="default", limit=5)
        want = ops.search_tokens(memory, name, tokens, tenant="default", limit=5)
        assert got[:3] == want[:3]
        assert all(pk.startswith("default/") for pk in got)


@pytest.mark.parametrize(
    "options",
    [
        {"routes": ["dense", "sparse", "colbert"]},
        {"routes": ["colbert"]},
        {"routes": ["dense", "sparse"], "fusion": "weighted", "weights": {"dense": 2.0}},
        {"routes": ["dense", "sparse"], "fusion": "minmax"},
        {"routes": ["dense", "sparse"], "explain": False},  # fused inside the store
        {"routes": ["dense", "sparse", "colbert"], "candidates": 2, "group_by_doc": False},
        {"routes": ["dense", "sparse"], "filter": FILTERS[1]},
    ],
    ids=["rrf", "colbert-alone", "weighted", "minmax", "store-fused", "explained", "filtered"],
)
def test_the_searcher_answers_alike_on_both_stores(stores, encoder, options) -> None:  # type: ignore[no-untyped-def]
    """Every step above the store (routes, ColBERT rescoring, fusion, grouping, explanations)
    gives the same answer whichever store is below it."""
    s = stores["settings"]
    searchers = [
        HybridSearcher(store, encoder, None, collection=s.collection, settings=s)
        for store in both(stores)
    ]
    for q in QUERIES:
        got, want = (x.search(q, rerank=False, top_k=6, **options) for x in searchers)
        assert got.routes == want.routes and got.route_errors == want.route_errors
        assert [h.chunk_id for h in got.hits] == [h.chunk_id for h in want.hits], q
        for a, b in zip(got.hits, want.hits, strict=True):
            assert a.fused_score == pytest.approx(b.fused_score, rel=1e-4)
            assert a.routes.keys() == b.routes.keys()
            for route, rs in a.routes.items():
                assert (rs.rank, round(rs.score, 4)) == (
                    b.routes[route].rank,
                    round(b.routes[route].score, 4),
                )
        if options.get("group_by_doc", True):
            assert len({h.doc_id for h in got.hits}) == len(got.hits)
    for x in searchers:
        x.stop_threads()


def test_a_failed_scored_read_still_answers(stores, encoder, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """An explanation never fails the search: if the head's scored read fails, the rows are
    read plainly and the hits beyond BM25's depth go without a BM25 score."""
    from hybrid_search.errors import StoreUnavailableError

    s, memory = stores["settings"], stores["memory"]
    searcher = HybridSearcher(memory, encoder, None, collection=s.collection, settings=s)
    opts: dict[str, Any] = {"rerank": False, "top_k": 6, "candidates": 1, "group_by_doc": False}
    q = "Beijing vector database"
    good = searcher.search(q, **opts)
    beyond = [h for h in good.hits if "bm25" in h.routes and h.routes["bm25"].rank is None]
    assert beyond  # explained by the scored read

    search_field = memory.search_field

    def fail(*a: Any, **k: Any) -> Any:
        if k.get("with_rows"):  # the scored read
            raise StoreUnavailableError("down for a moment")
        return search_field(*a, **k)

    monkeypatch.setattr(memory, "search_field", fail)
    bad = searcher.search(q, **opts)
    assert [h.chunk_id for h in bad.hits] == [h.chunk_id for h in good.hits]
    assert all(h.text for h in bad.hits) and not bad.degraded
    assert all(h.routes["bm25"].rank == 1 for h in bad.hits if "bm25" in h.routes)
    assert "explaining route bm25 failed" in caplog.text
    searcher.stop_threads()


def test_tenants_are_separate_on_both(stores, encoder) -> None:  # type: ignore[no-untyped-def]
    name, qv = stores["spec"].name, encode(encoder, "Beijing secret")
    for store in both(stores):
        for route in FIELD_ROUTES:
            a = store.search_field(name, route, [qv], scope=Scope("default"), limit=100)[0]
            b = store.search_field(name, route, [qv], scope=Scope("b"), limit=100)[0]
            assert all(c.doc_id != "secret" for c in a)
            assert {c.doc_id for c in b} <= {"secret"}
        assert ops.get_chunks(store, name, "default", "secret") == []
        assert store.delete(name, "default", ["secret"]) == 0


def test_replace_and_delete_leave_both_stores_alike(tmp_path, stores, encoder) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(stores)
    spec = stores["spec"]
    changed = [dict(DOCS[1], text="Milvus, now short."), *[d for d in DOCS if d["id"] != "milvus"]]
    src = _jsonl(tmp_path / "changed.jsonl", changed)
    summaries = [ingest(store, encoder, spec, src) for store in (milvus, memory)]
    assert summaries[0].model_dump(exclude={"seconds"}) == summaries[1].model_dump(
        exclude={"seconds"}
    )
    assert (summaries[0].replaced, summaries[0].unchanged) == (1, len(DOCS) - 1)
    assert chunks(milvus, spec, "default", "milvus") == chunks(memory, spec, "default", "milvus")
    assert ops.stats(milvus, spec.name) == ops.stats(memory, spec.name)
    for store in (milvus, memory):
        assert store.delete(spec.name, "default", ["panda", "nope"]) == 1
        assert ops.docs_with_token_vectors(store, spec.name, "default", ["panda", "rrf"]) == {"rrf"}
    assert ops.stats(milvus, spec.name) == ops.stats(memory, spec.name)
    qv = encode(encoder, "Pandas eat bamboo")
    for route in ("dense", "sparse"):
        got, want = (
            st.search_field(spec.name, route, [qv], scope=Scope("default"), limit=100)[0]
            for st in (milvus, memory)
        )
        assert ranking(got) == ranking(want) and all(c.doc_id != "panda" for c in got)


@pytest.fixture(scope="module", params=["3", "2.5"], ids=["lite3", "lite25"])
def packed(request, tmp_path_factory, tiny_models, encoder) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The default layout: token vectors compressed as the default `colbert_storage` (binary)
    and packed several per row; ColBERT rescores the other routes' candidates."""
    d = tmp_path_factory.mktemp("congruence_packed")
    s = tiny_settings(
        d, tiny_models, max_chunk_tokens=48, chunk_overlap_tokens=8, lite_engine=request.param
    )
    spec = collection_spec(s, encoder)
    milvus, memory = build_store(s), InMemoryStore(jieba_stops=request.param == "2.5")
    src = _jsonl(d / "a.jsonl", DOCS)
    for store in (milvus, memory):
        ingest(store, encoder, spec, src)
    yield {"milvus": milvus, "memory": memory, "spec": spec, "settings": s}
    milvus.close()


def test_compressed_token_vectors_read_back_and_rescore_alike(packed, encoder) -> None:  # type: ignore[no-untyped-def]
    milvus, memory = both(packed)
    spec, s = packed["spec"], packed["settings"]
    assert spec.colbert_dim and spec.colbert_storage != "float32"  # the compressed default
    for doc in DOCS:
        rows = chunks(milvus, spec, "default", doc["id"])
        pks, counts = [r[0] for r in rows], {r[0]: r[6] for r in rows}
        got = fetch_token_vectors(milvus, spec.name, "default", pks, counts)
        want = fetch_token_vectors(memory, spec.name, "default", pks)
        assert got.keys() == want.keys() == set(pks)
        for pk in pks:
            np.testing.assert_allclose(got[pk], want[pk], atol=1e-6)
    searchers = [
        HybridSearcher(store, encoder, None, collection=s.collection, settings=s)
        for store in (milvus, memory)
    ]
    for q in QUERIES:
        a, b = (x.search(q, rerank=False, top_k=6, routes=["dense", "colbert"]) for x in searchers)
        assert [h.chunk_id for h in a.hits] == [h.chunk_id for h in b.hits], q
        for ha, hb in zip(a.hits, b.hits, strict=True):
            assert ha.routes["colbert"].score == pytest.approx(hb.routes["colbert"].score, abs=1e-5)
    for x in searchers:
        x.stop_threads()
