"""Real width: the store and the searcher with BGE-M3's output dimensions (1024 dense and ColBERT).

A one-layer model of BGE-M3's width (`build_tiny_models(hidden=1024, layers=1, heads=16)`: the
encoder is cheap, the vectors are real-sized) ingests the same documents twice, into separate
Milvus Lite directories: ColBERT on (the default storage, `binary`, unless `storage` says
otherwise) and off. Stored bytes per ColBERT token = the growth of the ColBERT directory over
the other (every file Milvus Lite writes, after the client closed), divided by the token
vectors stored (after pooling: with the default pool factor 2, a document token costs half).
Searches alternate query by query between routes dense+sparse+bm25 and the same
plus colbert (no rerank, explanations on, one query per request) on the ColBERT collection.
The quality guard (`maxsim_ndcg10`) is `hybrid_search.benchmarks.maxsim_quality`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hybrid_search.benchmarks.corpus import BenchCorpus
from hybrid_search.benchmarks.stats import ratio, summarize

ROUTES = ["dense", "sparse", "bm25"]
WIDTH = {"hidden": 1024, "layers": 1, "heads": 16}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def build_real_width(models_dir: Path) -> Any:
    from hybrid_search.encoders.tiny import build_tiny_models

    return build_tiny_models(models_dir / "real-width-1024", **WIDTH)


def measure_real_width(
    models_dir: Path,
    work: Path,
    corpus: BenchCorpus,
    *,
    warmup: int,
    storage: str | None = None,
) -> dict[str, Any]:
    from hybrid_search.benchmarks.env import open_env, tiny_settings
    from hybrid_search.searcher import HybridSearcher

    started = time.perf_counter()
    models = build_real_width(models_dir)
    out: dict[str, Any] = {"model": {"dim": 1024, **WIDTH}, "documents": len(corpus.docs)}
    envs = {}
    sizes: dict[str, int] = {}
    try:
        for colbert in (False, True):
            tag = "colbert" if colbert else "no_colbert"
            root = work / f"real-width-{tag}"
            root.mkdir(parents=True, exist_ok=True)
            settings = tiny_settings(root, models, store_colbert=colbert, colbert_storage=storage)
            env = envs[tag] = open_env(settings, corpus, "bench_real_width")
            out[f"ingest_docs_per_s_{tag}"] = round(len(corpus.docs) / env.ingest_seconds, 2)
        env = envs["colbert"]
        out["storage"] = env.spec.colbert_storage
        out["pool_factor"] = env.store.describe(env.spec.name).pool_factor
        out["chunks"] = env.chunks
        counts = env.store.query_all(env.spec.name, "", ["token_count"])
        tokens = sum(int(r["token_count"] or 0) for r in counts)
        out["tokens"] = tokens
        searcher = HybridSearcher(
            env.store, env.encoder, None, collection=env.spec.name, settings=env.settings
        )
        walls: dict[str, list[float]] = {"with": [], "without": []}
        colbert_stage: list[float] = []
        for i, q in enumerate(corpus.queries):
            for name, routes in (("without", ROUTES), ("with", [*ROUTES, "colbert"])):
                t = time.perf_counter()
                r = searcher.search(q, routes=routes, rerank=False, top_k=10)
                if i < warmup:
                    continue
                walls[name].append(time.perf_counter() - t)
                if name == "with" and "colbert" in r.timings_ms:
                    colbert_stage.append(r.timings_ms["colbert"] / 1000.0)
        with_, without = summarize(walls["with"]), summarize(walls["without"])
        stage = summarize(colbert_stage)
        out.update(
            {
                "queries": len(walls["with"]),
                "colbert_stage_p50_ms": stage.get("p50_ms"),
                "colbert_stage": stage,
                "search_p50_ms_with_colbert": with_.get("p50_ms"),
                "search_p50_ms_without_colbert": without.get("p50_ms"),
                "search_with_colbert": with_,
                "search_without_colbert": without,
                "rescored_per_query": env.settings.colbert_rescore_per_route * len(ROUTES),
            }
        )
    finally:
        for tag, env in envs.items():
            env.close()
            sizes[tag] = _dir_bytes(work / f"real-width-{tag}")
    grown = sizes.get("colbert", 0) - sizes.get("no_colbert", 0)
    out["data_dir_mb"] = {k: round(v / 2**20, 1) for k, v in sizes.items()}
    out["colbert_bytes_per_token"] = round(grown / out["tokens"], 1) if out.get("tokens") else None
    out["ingest_ratio"] = ratio(
        out.get("ingest_docs_per_s_colbert"), out.get("ingest_docs_per_s_no_colbert")
    )
    out["search_ratio"] = ratio(
        out.get("search_p50_ms_with_colbert"), out.get("search_p50_ms_without_colbert")
    )
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
