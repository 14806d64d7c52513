"""(e) Per-stage latency of the end-to-end search with the tiny models: every route (ColBERT
rescoring included), RRF, reranking of the top 20, explanations; one query per request. The
stage names are the response's own `timings_ms` keys."""

from __future__ import annotations

import time
from typing import Any

from hybrid_search.benchmarks.env import BenchEnv
from hybrid_search.benchmarks.stats import summarize


def measure_stages(env: BenchEnv, queries: list[str], *, warmup: int) -> dict[str, Any]:
    from hybrid_search.factory import build_reranker
    from hybrid_search.searcher import HybridSearcher

    s = env.settings
    reranker = build_reranker(s)
    searcher = HybridSearcher(env.store, env.encoder, reranker, collection=s.collection, settings=s)
    for q in queries[:warmup]:
        searcher.search(q, top_k=10)
    stages: dict[str, list[float]] = {}
    wall: list[float] = []
    degraded = 0
    reasons: dict[str, int] = {}
    for q in queries:
        t = time.perf_counter()
        r = searcher.search(q, top_k=10)
        wall.append(time.perf_counter() - t)
        degraded += int(r.degraded)
        for reason in r.reasons:
            reasons[reason[:200]] = reasons.get(reason[:200], 0) + 1
        for stage, ms in r.timings_ms.items():
            stages.setdefault(stage, []).append(ms / 1000.0)
    searcher.stop_threads()
    return {
        "routes": searcher.available_routes(),
        "options": {"top_k": 10, "rerank_top_n": s.rerank_top_n, "explain": True},
        "queries": len(queries),
        "degraded": degraded,
        "reasons": reasons,
        "stages": {k: summarize(v) for k, v in stages.items()},
        "wall": summarize(wall),
    }
