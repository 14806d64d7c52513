"""(a) Search-path overhead: the project's retrieval + fusion against a bare pymilvus
`hybrid_search` with `RRFRanker` on the same collection, with the same precomputed query
vectors, routes (dense, sparse, bm25), candidate depth, filter and returned fields.

Query encoding is excluded (both sides get the same vectors; the project's encoder answers from
a cache), reranking and explanations are off, hits are chunks (no grouping) on both sides. The
two paths alternate query by query, so drift in machine load hits both alike.
"""

from __future__ import annotations

import time
from typing import Any

from hybrid_search.benchmarks.env import BenchEnv
from hybrid_search.benchmarks.stats import ratio, summarize
from hybrid_search.retrieval.base import QueryVectors
from schemas import collection as C

ROUTES = ["dense", "sparse", "bm25"]


def bare_requests(q: QueryVectors, depth: int, expr: str) -> list[Any]:
    from pymilvus import AnnSearchRequest

    assert q.dense is not None
    return [
        AnnSearchRequest(
            data=[q.dense.tolist()],
            anns_field=C.DENSE_FIELD,
            param={"metric_type": "IP", "params": {"ef": max(64, depth)}},
            limit=depth,
            expr=expr,
        ),
        AnnSearchRequest(
            data=[q.sparse or C.EMPTY_SPARSE_ROW],
            anns_field=C.SPARSE_FIELD,
            param={"metric_type": "IP", "params": {"drop_ratio_search": 0.0}},
            limit=depth,
            expr=expr,
        ),
        AnnSearchRequest(
            data=[q.text],
            anns_field=C.BM25_FIELD,
            param={"metric_type": "BM25", "params": {}},
            limit=depth,
            expr=expr,
        ),
    ]


def measure_overhead(
    env: BenchEnv, queries: list[str], *, warmup: int, top_k: int = 10
) -> dict[str, Any]:
    from pymilvus import RRFRanker

    from hybrid_search.evaluation.cache import QueryCachingEncoder
    from hybrid_search.searcher import HybridSearcher

    s = env.settings
    cached = QueryCachingEncoder(env.encoder)
    enc = cached.encode_queries(queries)  # precomputed once, for both sides
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
    options = {
        "routes": ROUTES,
        "rerank": False,
        "explain": False,
        "group_by_doc": False,
        "top_k": top_k,
        "candidates": depth,
    }
    expr = f'{C.TENANT_FIELD} == "{s.tenant}"'
    client = env.store.client
    ranker = RRFRanker(s.rrf_k)

    def project(i: int) -> list[str]:
        return [h.chunk_id for h in searcher.search(queries[i], **options).hits]

    def bare(i: int) -> list[str]:
        hits = client.hybrid_search(
            s.collection,
            bare_requests(vectors[i], depth, expr),
            ranker=ranker,
            limit=top_k,
            output_fields=C.HIT_FIELDS,
        )[0]
        return [h["entity"][C.CHUNK_ID_FIELD] for h in hits]

    stages: dict[str, list[float]] = {}
    for i in range(min(warmup, len(queries))):
        project(i)
        bare(i)
    t_project: list[float] = []
    t_bare: list[float] = []
    agree = 0
    for i in range(len(queries)):
        first, second = (project, bare) if i % 2 == 0 else (bare, project)
        t0 = time.perf_counter()
        a = first(i)
        t1 = time.perf_counter()
        b = second(i)
        t2 = time.perf_counter()
        mine, theirs = (a, b) if first is project else (b, a)
        (t_project if first is project else t_bare).append(t1 - t0)
        (t_bare if first is project else t_project).append(t2 - t1)
        agree += len(set(mine) & set(theirs))
    for q in queries[: min(len(queries), 50)]:  # where the project's time goes
        for stage, ms in searcher.search(q, **options).timings_ms.items():
            stages.setdefault(stage, []).append(ms / 1000.0)
    breakdown = _breakdown(env, vectors, depth, top_k, expr, n=min(len(queries), 100))
    searcher._pool.shutdown(wait=False)
    searcher._rerank_pool.shutdown(wait=False)
    mine_s, bare_s = summarize(t_project), summarize(t_bare)
    return {
        "routes": ROUTES,
        "candidates_per_route": depth,
        "top_k": top_k,
        "queries": len(queries),
        "project": mine_s,
        "bare_pymilvus": bare_s,
        "ratio_p50": ratio(mine_s["p50_ms"], bare_s["p50_ms"]),
        "ratio_p95": ratio(mine_s["p95_ms"], bare_s["p95_ms"]),
        "top_k_overlap": round(agree / (top_k * max(1, len(queries))), 3),
        "project_stages": {k: summarize(v) for k, v in stages.items()},
        "breakdown": breakdown,
    }


def _breakdown(
    env: BenchEnv, vectors: list[QueryVectors], depth: int, top_k: int, expr: str, *, n: int
) -> dict[str, Any]:
    """Where the gap comes from, in bare pymilvus calls (no project code): the project's three
    route searches as it issues them (in parallel, every hit with its stored fields), and the
    same searches returning keys only followed by one read of the top_k rows by key."""
    from concurrent.futures import ThreadPoolExecutor

    s = env.settings
    client = env.store.client
    pool = ThreadPoolExecutor(max_workers=3)

    def searches(q: QueryVectors, fields: list[str]) -> list[Any]:
        reqs = bare_requests(q, depth, expr)
        return [
            f.result()
            for f in [
                pool.submit(
                    client.search,
                    s.collection,
                    data=r.data,
                    anns_field=r.anns_field,
                    limit=depth,
                    filter=expr,
                    output_fields=fields,
                    search_params=r.param,
                )
                for r in reqs
            ]
        ]

    def keys_then_rows(q: QueryVectors) -> None:
        lists = searches(q, [C.PK_FIELD, C.DOC_ID_FIELD])
        keys = list(dict.fromkeys(h[C.PK_FIELD] for hits in lists for h in hits[0]))[:top_k]
        quoted = ", ".join(f'"{k}"' for k in keys)
        client.query(s.collection, filter=f"{C.PK_FIELD} in [{quoted}]", output_fields=C.HIT_FIELDS)

    variants = {
        "three_searches_with_fields": lambda q: searches(q, C.HIT_FIELDS),
        "three_searches_keys_then_top_k_rows": keys_then_rows,
    }
    out: dict[str, Any] = {}
    try:
        for name, fn in variants.items():
            samples = []
            for q in vectors[:n]:
                t = time.perf_counter()
                fn(q)
                samples.append(time.perf_counter() - t)
            out[name] = summarize(samples)
    finally:
        pool.shutdown(wait=False)
    return out
