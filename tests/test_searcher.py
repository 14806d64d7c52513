"""HybridSearcher on a real Milvus Lite with the tiny models: every route checked against brute force."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.errors import CollectionNotFoundError, InvalidFilterError, InvalidRequestError
from hybrid_search.factory import build_store, collection_spec
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.threads import BACKGROUND_NICE
from hybrid_search.tokens import encode, maxsim, pool_tokens
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas import collection as C

CORPUS = [
    {
        "id": "beijing",
        "title": "Beijing capital city",
        "text": "北京是中华人民共和国的首都，也是全国的政治、文化中心。Beijing has more than twenty million people.",
        "year": 2020,
        "lang": "zh",
    },
    {
        "id": "shanghai",
        "title": "上海",
        "text": "上海是中国最大的城市之一，位于长江入海口，是重要的经济和金融中心。",
        "year": 2019,
        "lang": "zh",
    },
    {
        "id": "milvus",
        "title": "Milvus vector database",
        "text": "Milvus supports partitions, filters on scalar fields and hybrid search over several vector fields.",
        "year": 2021,
        "lang": "en",
    },
    {
        "id": "bm25",
        "title": "Okapi BM25 ranking",
        "text": "BM25 scores a document by term frequency, inverse document frequency and document length.",
        "year": 2018,
        "lang": "en",
    },
    {
        "id": "rrf",
        "title": "Reciprocal rank fusion",
        "text": "Reciprocal rank fusion adds one over k plus rank for every list in which a document appears.",
        "year": 2009,
        "lang": "en",
    },
    {
        "id": "vitamin",
        "title": "Vitamin D and fractures",
        "text": "Vitamin D deficiency is associated with a higher risk of fractures in older adults.",
        "year": 2015,
        "lang": "en",
    },
    {
        "id": "panda",
        "title": "熊猫",
        "text": "熊猫主要生活在四川、陕西和甘肃的山区，以竹子为主要食物。Pandas eat bamboo.",
        "year": 2010,
        "lang": "zh",
    },
    {
        "id": 'quote"id',
        "title": "Tricky id",
        "text": "A document whose id has a quote and the words or 1==1.",
        "year": 2022,
        "lang": "en",
    },
]


def make_env(d: Path, tiny_models, encoder, **more) -> HybridSearcher:  # type: ignore[no-untyped-def]
    s = tiny_settings(d, tiny_models, max_chunk_tokens=64, chunk_overlap_tokens=8, **more)
    src = d / "corpus.jsonl"
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in CORPUS), "utf-8")
    store = build_store(s)
    spec = collection_spec(s, encoder)
    IngestJob(store, encoder, spec, IngestOptions(max_chunk_tokens=64, chunk_overlap_tokens=8)).run(
        read_paths([src])
    )
    reranker = BGEReranker(str(tiny_models.reranker_model), device="cpu")
    return HybridSearcher(store, encoder, reranker, collection=s.collection, settings=s)


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[HybridSearcher]:  # type: ignore[no-untyped-def]
    """The default layout: ColBERT token vectors packed 16 per row (rescoring only)."""
    searcher = make_env(tmp_path_factory.mktemp("search"), tiny_models, encoder)
    yield searcher
    searcher.close()


@pytest.fixture(scope="module")
def env_token_rows(tmp_path_factory, tiny_models, encoder) -> Iterator[HybridSearcher]:  # type: ignore[no-untyped-def]
    """One token vector per row: ColBERT can also generate candidates by token ANN."""
    searcher = make_env(
        tmp_path_factory.mktemp("search1"), tiny_models, encoder, colbert_block_tokens=1
    )
    yield searcher
    searcher.close()


def stored(env: HybridSearcher) -> list[dict]:  # type: ignore[type-arg]
    return env.store.client.query(env.collection, filter="", output_fields=["*"], limit=10_000)


def test_dense_route_equals_brute_force(env, encoder) -> None:  # type: ignore[no-untyped-def]
    q = "vector database with filters"
    r = env.search(q, routes=["dense"], rerank=False, group_by_doc=False, top_k=10)
    rows = stored(env)
    qv = encoder.encode_queries([q]).dense[0]
    brute = sorted(
        ((float(np.dot(qv, np.asarray(x[C.DENSE_FIELD]))), x[C.CHUNK_ID_FIELD]) for x in rows),
        reverse=True,
    )[:10]
    assert [h.chunk_id for h in r.hits] == [cid for _, cid in brute]
    for h, (score, _) in zip(r.hits, brute, strict=True):
        assert h.routes["dense"].score == pytest.approx(score, abs=1e-5)


def test_sparse_route_equals_brute_force(env, encoder) -> None:  # type: ignore[no-untyped-def]
    q = "BM25 term frequency document length"
    r = env.search(q, routes=["sparse"], rerank=False, group_by_doc=False, top_k=5)
    rows = stored(env)
    qs = encoder.encode_queries([q]).sparse[0]
    scores = []
    for x in rows:
        sv = {int(k): float(v) for k, v in x[C.SPARSE_FIELD].items()}
        s = sum(w * sv.get(t, 0.0) for t, w in qs.items())
        if s > 0:
            scores.append((s, x[C.CHUNK_ID_FIELD]))
    brute = sorted(scores, reverse=True)[:5]
    assert [h.chunk_id for h in r.hits] == [c for _, c in brute]
    for h, (s, _) in zip(r.hits, brute, strict=True):
        assert h.routes["sparse"].score == pytest.approx(s, rel=1e-4)


@pytest.mark.parametrize("doc", CORPUS, ids=lambda d: str(d["id"]))
def test_bm25_exact_title_ranks_first(env, doc) -> None:  # type: ignore[no-untyped-def]
    r = env.search(doc["title"], routes=["bm25"], rerank=False)
    assert r.hits[0].doc_id == doc["id"]
    assert r.hits[0].routes["bm25"].score > 0


def test_chinese_and_mixed_queries_use_the_same_analyzer(env) -> None:  # type: ignore[no-untyped-def]
    assert env.search("上海金融中心", routes=["bm25"], rerank=False).hits[0].doc_id == "shanghai"
    assert env.search("熊猫 bamboo", routes=["bm25"], rerank=False).hits[0].doc_id == "panda"
    assert (
        env.search("北京的首都 Beijing", routes=["bm25"], rerank=False).hits[0].doc_id == "beijing"
    )


@pytest.mark.parametrize(
    ("layout", "routes"),
    [("packed", ["dense", "colbert"]), ("token_rows", ["colbert"]), ("token_rows", None)],
)
def test_colbert_maxsim_equals_flag_colbert_score(
    env, env_token_rows, encoder, layout, routes
) -> None:  # type: ignore[no-untyped-def]
    env = env if layout == "packed" else env_token_rows
    q = "rank fusion of lists"
    r = env.search(
        q,
        routes=routes,
        rerank=False,
        group_by_doc=False,
        top_k=5,
        fusion="weighted",
        weights={"colbert": 1.0, "dense": 0.0, "sparse": 0.0, "bm25": 0.0},
    )
    assert r.hits and all("colbert" in h.routes for h in r.hits)
    flag = encoder.flag_model
    qv = flag.encode_queries([q], return_dense=False, return_colbert_vecs=True)["colbert_vecs"][0]
    rows = {x[C.CHUNK_ID_FIELD]: x for x in stored(env)}
    for h in r.hits:
        pv = flag.encode(
            [rows[h.chunk_id][C.SEARCH_TEXT_FIELD]], return_dense=False, return_colbert_vecs=True
        )["colbert_vecs"][0]
        spec = env.store.describe(env.collection)
        storage, pool = spec.colbert_storage, spec.pool_factor
        want = (
            float(flag.colbert_score(qv, pv))
            if storage == "float32" and pool == 1
            # compressed kinds: MaxSim against the stored form (pooled, then packed)
            else maxsim(
                np.asarray(qv), encode(pool_tokens(np.asarray(pv, np.float32), pool), storage)
            )
        )
        assert h.routes["colbert"].score == pytest.approx(want, abs=1e-5)
    scores = [h.routes["colbert"].score for h in r.hits]
    assert scores == sorted(scores, reverse=True)


def test_all_routes_rrf_and_explanations(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("Beijing capital city", rerank=False, top_k=5)
    assert set(r.routes) == {"dense", "sparse", "bm25", "colbert"}
    for h in r.hits:
        expected = sum(1.0 / (60 + rs.rank) for rs in h.routes.values())
        assert h.fused_score == pytest.approx(expected, rel=1e-9)
    fused = [h.fused_score for h in r.hits]
    assert fused == sorted(fused, reverse=True)
    assert {"encode", "dense", "sparse", "bm25", "colbert", "fuse", "total"} <= set(r.timings_ms)
    assert len({h.doc_id for h in r.hits}) == len(r.hits)  # grouped by document


def test_rerank_scores_equal_flag_reranker(env) -> None:  # type: ignore[no-untyped-def]
    q = "vitamin D fractures"
    r = env.search(q, top_k=5, rerank_top_n=5)
    assert r.reranked and not r.degraded
    rows = {x[C.CHUNK_ID_FIELD]: x for x in stored(env)}
    pairs = [(q, rows[h.chunk_id][C.SEARCH_TEXT_FIELD]) for h in r.hits]
    want = env.reranker.flag_model.compute_score(pairs)
    assert [h.rerank_score for h in r.hits] == pytest.approx(want, abs=1e-5)
    got = [h.rerank_score for h in r.hits]
    assert got == sorted(got, reverse=True)


def test_rerank_normalize_gives_probabilities(env) -> None:  # type: ignore[no-untyped-def]
    s = env.settings.model_copy(update={"rerank_normalize": True})
    searcher = HybridSearcher(
        env.store, env.encoder, env.reranker, collection=s.collection, settings=s
    )
    r = searcher.search("panda bamboo", top_k=3)
    assert all(0.0 <= (h.rerank_score or -1) <= 1.0 for h in r.hits)


def test_response_says_where_each_option_came_from(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("panda bamboo", top_k=3, rrf_k=9)
    assert r.option_sources["rrf_k"] == "request" and r.option_sources["candidates"] == "settings"
    assert r.option_sources["fusion"] == "default" and r.defaults_applied == {}


class SlowReranker:
    name = "slow"

    def score(self, query, passages, *, normalize=False, deadline=None):  # type: ignore[no-untyped-def]
        time.sleep(0.5)
        return [1.0] * len(passages)


class BrokenReranker:
    name = "broken"

    def score(self, query, passages, *, normalize=False, deadline=None):  # type: ignore[no-untyped-def]
        raise RuntimeError("GPU on fire")


@pytest.mark.parametrize("reranker", [SlowReranker(), BrokenReranker()], ids=["slow", "broken"])
def test_reranker_trouble_degrades_but_answers(env, reranker) -> None:  # type: ignore[no-untyped-def]
    s = HybridSearcher(
        env.store, env.encoder, reranker, collection=env.collection, settings=env.settings
    )
    fused = env.search("Milvus vector database", rerank=False, top_k=5)
    r = s.search("Milvus vector database", top_k=5, rerank_timeout_ms=50)
    assert r.degraded and not r.reranked and r.reasons
    assert [h.chunk_id for h in r.hits] == [h.chunk_id for h in fused.hits]
    assert all(h.rerank_score is None for h in r.hits)


def test_unknown_token_query_reports_the_route_and_still_answers(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("ꙮꙮꙮ ᚠᚢᚦ", rerank=False)
    assert "sparse" in r.route_errors or "sparse" in r.routes
    assert r.degraded == bool(r.route_errors)
    stop = env.search("the of and", rerank=False)  # English stop words: BM25 has nothing
    assert stop.hits  # dense still answers


def test_filters_and_injection(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search(
        "city", filter={"field": "metadata.lang", "op": "eq", "value": "zh"}, rerank=False
    )
    assert r.hits and {h.metadata["lang"] for h in r.hits} == {"zh"}
    r = env.search(
        "city",
        filter={
            "and": [
                {"field": "metadata.year", "op": "gte", "value": 2019},
                {"field": "metadata.year", "op": "lt", "value": 2021},
            ]
        },
        rerank=False,
    )
    assert {h.doc_id for h in r.hits} == {"beijing", "shanghai"}
    r = env.search(
        "document", filter={"field": "doc_id", "op": "eq", "value": 'quote"id'}, rerank=False
    )
    assert [h.doc_id for h in r.hits] == ['quote"id']
    r = env.search(
        "document",
        filter={"field": "doc_id", "op": "eq", "value": '" or 1==1 or doc_id == "'},
        rerank=False,
    )
    assert r.hits == []
    with pytest.raises(InvalidFilterError):
        env.search("x", filter={"field": "pk", "op": "eq", "value": "a"})
    with pytest.raises(InvalidFilterError):
        env.search("x", filter={"field": "doc_id", "op": "eq", "value": "a\x00"})
    # another tenant sees nothing, whatever the filter says about tenants
    r = env.search(
        "city",
        tenant="other",
        filter={"field": "tenant", "op": "eq", "value": "default"},
        rerank=False,
    )
    assert r.hits == []


def test_bad_requests_are_clear_errors(env) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidRequestError, match="empty"):
        env.search("   ")
    with pytest.raises(InvalidRequestError, match="top_k"):
        env.search("x", top_k=0)
    with pytest.raises(InvalidRequestError, match="top_k"):
        env.search("x", top_k=100_000)
    with pytest.raises(InvalidRequestError, match="routes"):
        env.search("x", routes=["nope"])
    missing = HybridSearcher(
        env.store, env.encoder, None, collection="missing", settings=env.settings
    )
    with pytest.raises(CollectionNotFoundError, match="missing"):
        missing.search("x")


def test_overlong_query_is_truncated_and_says_so(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("Beijing " * 2000, rerank=False)
    assert r.query_truncated and any("truncated" in x for x in r.reasons)
    assert r.hits


def test_empty_collection(env, tiny_models) -> None:  # type: ignore[no-untyped-def]
    spec = collection_spec(env.settings, env.encoder, name="empty_one")
    env.store.ensure_collection(spec)
    s = HybridSearcher(
        env.store, env.encoder, env.reranker, collection="empty_one", settings=env.settings
    )
    r = s.search("anything")
    assert r.hits == [] and not r.reranked


def test_search_many_equals_search_and_threads_agree(env) -> None:  # type: ignore[no-untyped-def]
    queries = ["Beijing", "vector database", "熊猫", "fractures"]
    batch = env.search_many(queries, rerank=False)
    singles = [env.search(q, rerank=False) for q in queries]
    for b, s in zip(batch, singles, strict=True):
        assert [h.chunk_id for h in b.hits] == [h.chunk_id for h in s.hits]
    results: dict[int, list[str]] = {}

    def worker(i: int) -> None:
        results[i] = [h.chunk_id for h in env.search(queries[i % 4]).hits]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, ids in results.items():
        assert ids == results[i % 4]


def test_background_batches_give_the_same_answers_at_lower_priority(env) -> None:  # type: ignore[no-untyped-def]
    """A background batch (the service's /v1/search/batch) runs on a thread with a higher nice
    value, its routes and rerank inline there, and answers exactly as the interactive path."""
    import os
    import sys

    queries = ["Beijing", "vector database", "熊猫", "fractures"]
    interactive = env.search_many(queries, top_k=5)
    background = env.search_many(queries, top_k=5, background=True)
    for i, b in zip(interactive, background, strict=True):
        assert [(h.chunk_id, h.rerank_score, h.routes) for h in b.hits] == [
            (h.chunk_id, h.rerank_score, h.routes) for h in i.hits
        ]
        assert b.reranked and set(b.routes) == set(i.routes)
    if sys.platform.startswith("linux"):

        def nice() -> int:
            return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

        mine = nice()
        seen = env._lanes.run_background(lambda lane: nice())
        assert seen == min(19, mine + BACKGROUND_NICE)
        assert nice() == mine  # the caller's own thread is untouched


def test_background_batch_stops_at_a_checkpoint(env) -> None:  # type: ignore[no-untyped-def]
    """The service passes its request's stop check: a batch whose client left stops between
    stages (encode, routes, rerank), not only between the service's steps."""
    from hybrid_search.service.errors import ClientGoneError

    calls: list[int] = []

    def stop_at_third() -> None:
        calls.append(1)
        if len(calls) == 3:  # before encode, before the routes, then before the rerank
            raise ClientGoneError("gone")

    with pytest.raises(ClientGoneError):
        env.search_many(["Beijing"], background=True, checkpoint=stop_at_third)
    assert len(calls) == 3


def test_colbert_alone_on_packed_blocks_is_a_clear_error(env) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.errors import InvalidRequestError

    with pytest.raises(InvalidRequestError, match="colbert_block_tokens=1"):
        env.search("rank fusion", routes=["colbert"], rerank=False)


def test_every_hit_is_explained_on_every_route(env, encoder) -> None:  # type: ignore[no-untyped-def]
    q = "Beijing capital city"
    depth = {"dense": 1, "sparse": 6, "bm25": 6, "colbert": 6}
    shallow = env.search(q, rerank=False, top_k=8, candidates=depth, group_by_doc=False)
    assert {"dense", "sparse", "colbert"} <= set(shallow.routes)
    for h in shallow.hits:
        assert {"dense", "colbert"} <= set(h.routes)  # scored even where beyond depth
    late = [h for h in shallow.hits if h.routes["dense"].rank is None]
    assert late, "some hit must come from beyond the dense route's depth"
    qv = encoder.encode_queries([q]).dense[0]
    rows = {x[C.CHUNK_ID_FIELD]: x for x in stored(env)}
    for h in late:
        want = float(np.dot(qv, np.asarray(rows[h.chunk_id][C.DENSE_FIELD])))
        assert h.routes["dense"].score == pytest.approx(want, abs=1e-5)
    bare = env.search(q, rerank=False, top_k=8, candidates=depth, group_by_doc=False, explain=False)
    assert [h.chunk_id for h in bare.hits] == [h.chunk_id for h in shallow.hits]
    assert all(r.rank is not None for h in bare.hits for r in h.routes.values())
    assert "explain" in shallow.timings_ms and "explain" not in bare.timings_ms


MILVUS_ROUTES = ["dense", "sparse", "bm25"]


@pytest.mark.parametrize("group_by_doc", [False, True], ids=["chunks", "documents"])
@pytest.mark.parametrize("q", ["Beijing capital city", "熊猫 bamboo", "rank fusion BM25 length"])
def test_milvus_fuses_natively_and_agrees_with_own_rrf(env, q, group_by_doc) -> None:  # type: ignore[no-untyped-def]
    """explain=False, unweighted RRF, no ColBERT: one Milvus hybrid_search instead of three
    searches; same fused scores as the project's RRF over the per-route lists."""
    opts = {"routes": MILVUS_ROUTES, "rerank": False, "top_k": 6, "group_by_doc": group_by_doc}
    ours = env.search(q, **opts)
    native = env.search(q, explain=False, **opts)
    assert "hybrid_search" in native.timings_ms and not set(MILVUS_ROUTES) & set(native.timings_ms)
    assert set(MILVUS_ROUTES) <= set(ours.timings_ms) and "hybrid_search" not in ours.timings_ms
    assert native.fusion == "rrf" and native.routes == ours.routes  # a route may have no input
    assert native.route_errors == ours.route_errors and native.degraded == ours.degraded
    assert len(native.hits) == len(ours.hits) > 0
    mine = {h.chunk_id: h.fused_score for h in ours.hits}
    theirs = {h.chunk_id: h.fused_score for h in native.hits}
    assert list(theirs.values()) == pytest.approx(list(mine.values()), rel=1e-5)
    cut = min(mine.values()) + 1e-6  # hits tied with the last one may differ; the rest may not
    assert {k for k, v in mine.items() if v > cut} == {k for k, v in theirs.items() if v > cut}
    for h in native.hits:
        assert h.routes == {} and h.text and h.title  # no route detail; the stored fields are there
    if group_by_doc:
        assert len({h.doc_id for h in native.hits}) == len(native.hits)
        assert "fetch" in native.timings_ms  # keys for every candidate, rows for the head only


def test_native_path_reranks_the_same_candidates(env) -> None:  # type: ignore[no-untyped-def]
    q = "vitamin D fractures"
    ours = env.search(q, routes=MILVUS_ROUTES, top_k=4, rerank_top_n=8, group_by_doc=False)
    native = env.search(
        q, routes=MILVUS_ROUTES, top_k=4, rerank_top_n=8, group_by_doc=False, explain=False
    )
    assert native.reranked and "hybrid_search" in native.timings_ms
    assert [(h.chunk_id, h.rerank_score) for h in native.hits] == [
        (h.chunk_id, pytest.approx(h.rerank_score, abs=1e-5)) for h in ours.hits
    ]


def test_native_path_reports_a_route_that_cannot_answer(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("ꙮꙮꙮ ᚠᚢᚦ", routes=MILVUS_ROUTES, rerank=False, explain=False)
    if "sparse" in r.route_errors:  # the tiny tokenizer gave these characters no lexical weight
        assert r.degraded and "sparse" not in r.routes
    assert r.hits and "dense" in r.routes


def test_weights_colbert_or_explanations_keep_the_per_route_path(env) -> None:  # type: ignore[no-untyped-def]
    q = "Milvus vector database"
    base = {"rerank": False, "explain": False}
    weighted = env.search(q, routes=MILVUS_ROUTES, weights={"bm25": 2.0}, **base)
    with_colbert = env.search(q, **base)
    minmax = env.search(q, routes=MILVUS_ROUTES, fusion="minmax", **base)
    for r in (weighted, with_colbert, minmax):
        assert "hybrid_search" not in r.timings_ms and "dense" in r.timings_ms
        assert all(h.routes for h in r.hits)  # the routes that found a hit say so


def test_route_candidates_carry_keys_and_rows_are_read_for_the_head(env) -> None:  # type: ignore[no-untyped-def]
    r = env.search("Okapi BM25 ranking", rerank=False, top_k=2, group_by_doc=False)
    assert "fetch" in r.timings_ms and len(r.hits) == 2
    assert all(h.text and h.title and h.chunk_id for h in r.hits)
    rows = env.store.get_rows(env.collection, [f'{env.settings.tenant}/quote"id#0', "nope/x#0"])
    assert list(rows) == [f'{env.settings.tenant}/quote"id#0']
    assert rows[f'{env.settings.tenant}/quote"id#0'].doc_id == 'quote"id'


def test_explanations_equal_the_route_scores_milvus_gives(env, encoder) -> None:  # type: ignore[no-untyped-def]
    """Explanations score hits beyond a route's depth without searching again where the stored
    data allows (dense and sparse from the head's stored vectors, ColBERT by MaxSim) and ask
    Milvus only for BM25; every such score equals what Milvus' own search of that route gives
    the chunk, and a hit Milvus would not return (no shared term) stays unexplained."""
    from hybrid_search.store.types import QueryVectors, Scope

    q = "Beijing capital city people"
    depth = {"dense": 1, "sparse": 1, "bm25": 1, "colbert": 1}
    r = env.search(q, rerank=False, top_k=8, candidates=depth, group_by_doc=False)
    enc = encoder.encode_queries([q])
    qv = QueryVectors(q, enc.dense[0], enc.sparse[0], enc.colbert[0])
    tenant = env.settings.tenant
    pks = {h.chunk_id: f"{tenant}/{h.chunk_id}" for h in r.hits}
    checked = 0
    for route in ("dense", "sparse", "bm25"):
        late = [h for h in r.hits if route not in h.routes or h.routes[route].rank is None]
        keys = [pks[h.chunk_id] for h in late]
        scope = Scope(tenant).only(keys)
        milvus = env.store.search_field(env.collection, route, [qv], scope=scope, limit=len(keys))
        want = {c.pk: c.score for c in milvus[0]}
        for h in late:
            if route in h.routes:
                assert h.routes[route].score == pytest.approx(want[pks[h.chunk_id]], rel=1e-5)
                checked += 1
            else:
                assert pks[h.chunk_id] not in want
    assert checked >= 2 * (len(r.hits) - 1)  # dense and bm25 at least, beyond depth 1
