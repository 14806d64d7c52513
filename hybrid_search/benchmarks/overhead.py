"""(a) Search-path overhead: the project's retrieval + fusion against a bare pymilvus
`hybrid_search` with `RRFRanker` on the same collection, with the same precomputed query
vectors, routes (dense, sparse, bm25), candidate depth, filter and returned fields.

Query encoding is excluded (both sides get the same vectors; the project's encoder answers from
a cache), reranking is off, hits are chunks (no grouping) on both sides. The paths take turns
query by query, so drift in machine load hits all alike.
"""

from __future__ import annotations

import time
from typing import Any

from hybrid_search.benchmarks.env import BenchEnv
from hybrid_search.benchmarks.stats import ratio, summarize
from hybrid_search.store.types import QueryVectors
from schemas import collection as C

ROUTES = ["dense", "sparse", "bm25"]


def bare_requests(q: QueryVectors, depth: int, expr: str) -> list[Any]:
    """The requests a careful pymilvus user would send. A query without lexical weights sends
    no sparse request, as the project does: Milvus rejects an empty sparse vector, and the
    stored placeholder row (`EMPTY_SPARSE_ROW`) must never be sent as a query, or it matches
    exactly the chunks that have no lexical weights."""
    from pymilvus import AnnSearchRequest

    assert q.dense is not None
    requests = [
        AnnSearchRequest(
            data=[q.dense.tolist()],
            anns_field=C.DENSE_FIELD,
            param={"metric_type": "IP", "params": {"ef": max(64, depth)}},
            limit=depth,
            expr=expr,
        )
    ]
    if q.sparse:
        requests.append(
            AnnSearchRequest(
                data=[q.sparse],
                anns_field=C.SPARSE_FIELD,
                param={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
                limit=depth,
                expr=expr,
            )
        )
    requests.append(
        AnnSearchRequest(
            data=[q.text],
            anns_field=C.BM25_FIELD,
            param={"metric_type": "BM25", "params": {}},
            limit=depth,
            expr=expr,
        )
    )
    return requests


def measure_overhead(
    env: BenchEnv, queries: list[str], *, warmup: int, top_k: int = 10
) -> dict[str, Any]:
    """Three contestants, in rotating order query by query: the project as measured against the
    target (explanations off, so Milvus runs routes and RRF in one `hybrid_search`), the project
    with its default per-hit explanations (one search per route, RRF in Python, then every hit
    scored on every route), and bare pymilvus."""
    from pymilvus import RRFRanker

    from hybrid_search.evaluation.cache import QueryCachingEncoder
    from hybrid_search.searcher import HybridSearcher

    s = env.settings
    cached = QueryCachingEncoder(env.encoder)
    enc = cached.encode_queries(queries)  # precomputed once, for every contestant
    vectors = [
        QueryVectors(
            text=t,
            dense=None if enc.dense is None else enc.dense[i],
            sparse=None if enc.sparse is None else enc.sparse[i],
        )
        for i, t in enumerate(queries)
    ]
    searcher = HybridSearcher(env.store, cached, None, collection=s.collection, settings=s)
    depth = s.candidates_per_route
    options: dict[str, Any] = {
        "routes": ROUTES,
        "rerank": False,
        "explain": False,
        "group_by_doc": False,
        "top_k": top_k,
        "candidates": depth,
    }
    explained = {**options, "explain": True}
    expr = f'{C.TENANT_FIELD} == "{s.tenant}"'
    # the bare-pymilvus baseline: the one use of the raw MilvusClient outside hybrid_search/store/
    client = env.store.client
    ranker = RRFRanker(s.rrf_k)

    def project(i: int) -> list[str]:
        return [h.chunk_id for h in searcher.search(queries[i], **options).hits]

    def project_explained(i: int) -> list[str]:
        return [h.chunk_id for h in searcher.search(queries[i], **explained).hits]

    def bare(i: int) -> list[str]:
        hits = client.hybrid_search(
            s.collection,
            bare_requests(vectors[i], depth, expr),
            ranker=ranker,
            limit=top_k,
            output_fields=C.HIT_FIELDS,
        )[0]
        return [h["entity"][C.CHUNK_ID_FIELD] for h in hits]

    contestants = {"project": project, "project_explained": project_explained, "bare": bare}
    names = list(contestants)
    for i in range(min(warmup, len(queries))):
        for fn in contestants.values():
            fn(i)
    samples: dict[str, list[float]] = {n: [] for n in names}
    agree = {"project": 0, "project_explained": 0}
    for i in range(len(queries)):
        turn = i % len(names)
        got: dict[str, list[str]] = {}
        for name in names[turn:] + names[:turn]:
            t0 = time.perf_counter()
            got[name] = contestants[name](i)
            samples[name].append(time.perf_counter() - t0)
        for name in agree:
            agree[name] += len(set(got[name]) & set(got["bare"]))
    stages: dict[str, dict[str, list[float]]] = {"project": {}, "project_explained": {}}
    for q in queries[: min(len(queries), 50)]:  # where the project's time goes
        for name, opts in (("project", options), ("project_explained", explained)):
            for stage, ms in searcher.search(q, **opts).timings_ms.items():
                stages[name].setdefault(stage, []).append(ms / 1000.0)
    searcher.stop_threads()
    summary = {n: summarize(v) for n, v in samples.items()}
    bare_s = summary["bare"]
    n = top_k * max(1, len(queries))
    return {
        "routes": ROUTES,
        "candidates_per_route": depth,
        "top_k": top_k,
        "queries": len(queries),
        "project": summary["project"],
        "project_explained": summary["project_explained"],
        "bare_pymilvus": bare_s,
        "ratio_p50": ratio(summary["project"]["p50_ms"], bare_s["p50_ms"]),
        "ratio_p95": ratio(summary["project"]["p95_ms"], bare_s["p95_ms"]),
        "explained_ratio_p50": ratio(summary["project_explained"]["p50_ms"], bare_s["p50_ms"]),
        "explained_ratio_p95": ratio(summary["project_explained"]["p95_ms"], bare_s["p95_ms"]),
        "top_k_overlap": round(agree["project"] / n, 3),
        "explained_top_k_overlap": round(agree["project_explained"] / n, 3),
        "project_stages": {
            name: {k: summarize(v) for k, v in st.items()} for name, st in stages.items()
        },
    }
