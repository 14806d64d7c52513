"""(g) Scale: how search latency, write rate, disk and memory grow with the chunk count, on
each Milvus Lite engine (3.x, pure Python; 2.5, C++).

The project's own store and schema at BGE-M3's width (1024-dim dense HNSW, sparse, BM25 with
the default jieba analyzer, ColBERT in the default packed binary storage), written through
`MilvusStore.upsert` as ingest writes (token rows, then the crash-safe chunk commit), with
vectors from `scale_data` (no model anywhere). Each size is measured in a child process of its
own (`python -m hybrid_search.benchmarks.scale`), so RSS is that size's alone; a collection is
kept under the cache directory and reused by a rerun of the same size (its write figures are
those of the run that wrote it).

Searches go through `HybridSearcher` (no rerank), the variants alternating query by query:
one route alone (dense, sparse, bm25; explain off), the default hybrid search (every route,
ColBERT included) with explain on and off, and dense+sparse+bm25 with explain off, which runs
as one Milvus `hybrid_search`. ColBERT has no route alone on packed storage: its figure is the
`colbert` stage of the default search.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hybrid_search.benchmarks.stats import summarize
from hybrid_search.store.lite_engines import LiteEngine, default_engine, lite_version

#: the p50 the capacity figure is read at (the default hybrid search, explain on, no rerank)
CAPACITY_P50_MS = 200.0
COLLECTION = "scale"
TENANT = "bench"
VARIANTS: dict[str, dict[str, Any]] = {
    "dense": {"routes": ["dense"], "explain": False},
    "sparse": {"routes": ["sparse"], "explain": False},
    "bm25": {"routes": ["bm25"], "explain": False},
    "hybrid": {},
    "hybrid_explain_off": {"explain": False},
    "hybrid_3_routes_native": {"routes": ["dense", "sparse", "bm25"], "explain": False},
}


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _rss_mb() -> float:
    """This process and its children (Milvus Lite 3.x serves from a child process)."""
    import psutil

    me = psutil.Process()
    total = me.memory_info().rss
    for child in me.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return round(float(total) / 2**20, 1)


def measure_point(
    root: Path, chunks: int, scifact: Path, queries: int, warmup: int, engine: LiteEngine = "3"
) -> dict[str, Any]:
    """One size: write (unless `root` holds it already), then time the search variants."""
    from hybrid_search.benchmarks.scale_data import MODEL, HashEncoder, ScaleRows, load_sentences
    from hybrid_search.searcher import HybridSearcher
    from hybrid_search.settings import Settings
    from hybrid_search.store.milvus import MilvusStore
    from schemas.collection import CollectionSpec

    sentences, claims = load_sentences(scifact)
    data = ScaleRows(sentences, TENANT)
    spec = CollectionSpec(COLLECTION, 1024, 1024, MODEL, colbert_storage="binary")
    written = root / "written.json"
    root.mkdir(parents=True, exist_ok=True)
    store = MilvusStore(str(root / "scale.db"), lite_engine=engine)
    out: dict[str, Any] = {"chunks": chunks, "engine": engine}
    try:
        record = json.loads(written.read_text()) if written.is_file() else {}
        have = store.has_collection(COLLECTION) and store.count(COLLECTION)
        if have != chunks or record.get("chunks") != chunks:
            grown = record.get("grown_from")  # rows are made by index: a killed write resumes
            start = int(have) if grown is not None and grown <= have < chunks else 0
            if not start:
                store.drop(COLLECTION)
            store.ensure_collection(spec)
            started = time.perf_counter()
            for rows in data.batches(start, chunks):
                store.upsert(spec, TENANT, rows)  # token rows first, as ingest writes
                store.upsert(spec, TENANT, rows, {r.doc_id: r.content_hash for r in rows})
            store.sync(spec)
            seconds = time.perf_counter() - started
            record = {"chunks": chunks, "written_from": start, "write_seconds": round(seconds, 1)}
            record["write_rows_per_s"] = round((chunks - start) / seconds, 1)
            written.write_text(json.dumps(record))
            out["cached"] = False
        else:
            out["cached"] = True
        out.update({k: v for k, v in record.items() if k != "chunks"})
        settings = Settings(_env_file=None, collection=COLLECTION, lite_engine=engine)
        searcher = HybridSearcher(
            store, HashEncoder(data.bank), None, collection=COLLECTION, settings=settings
        )
        walls: dict[str, list[float]] = {k: [] for k in VARIANTS}
        cpus: dict[str, list[float]] = {k: [] for k in VARIANTS}
        colbert: list[float] = []
        for i, q in enumerate(claims[: queries + warmup]):
            for name, options in VARIANTS.items():
                t, cpu = time.perf_counter(), time.process_time()
                r = searcher.search(q, rerank=False, top_k=10, tenant=TENANT, **options)
                wall = time.perf_counter() - t - r.timings_ms.get("encode", 0.0) / 1000
                if i >= warmup:
                    walls[name].append(wall)
                    cpus[name].append(time.process_time() - cpu)
                    if name == "hybrid" and "colbert" in r.timings_ms:
                        colbert.append(r.timings_ms["colbert"] / 1000)
        out["search"] = {k: summarize(v) for k, v in walls.items()}
        out["search"]["colbert_stage"] = summarize(colbert)
        out["search_cpu"] = {k: summarize(v) for k, v in cpus.items()}
        out["rss_mb"] = _rss_mb()
    finally:
        store.close()
    out["data_dir_mb"] = round(_dir_bytes(root) / 2**20, 1)
    return out


def growth(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Between successive sizes, the exponent b of cost ~ chunks^b (1: linear), per figure."""
    out = []
    for a, b in itertools.pairwise(points):
        scale = math.log(b["chunks"] / a["chunks"])
        step: dict[str, Any] = {"from": a["chunks"], "to": b["chunks"]}
        pairs = {f"{k}_p50": (a["search"][k], b["search"][k]) for k in (*VARIANTS, "colbert_stage")}
        if "search_cpu" in a and "search_cpu" in b:
            pairs["hybrid_cpu_p50"] = (a["search_cpu"]["hybrid"], b["search_cpu"]["hybrid"])
        found = {k: (x["p50_ms"], y["p50_ms"]) for k, (x, y) in pairs.items()}
        found |= {k: (a[k], b[k]) for k in ("data_dir_mb", "rss_mb")}
        for key, (va, vb) in found.items():
            step[key] = round(math.log(vb / va) / scale, 2) if va > 0 < vb else None
        out.append(step)
    return out


def capacity(
    points: Sequence[dict[str, Any]], p50_ms: float = CAPACITY_P50_MS, key: str = "search"
) -> dict[str, Any]:
    """The chunk count at which the default hybrid search's p50 reaches `p50_ms`: power-law
    interpolation between the two sizes around it (extrapolated up to twice the largest size
    measured; past that, the largest size, "not reached").
    `key` "search_cpu": from the search process's CPU time instead of the wall clock."""
    pts = [(p["chunks"], p[key]["hybrid"]["p50_ms"]) for p in points]
    if len(pts) < 2:
        return {"p50_ms": p50_ms, "chunks": None, "how": "needs two sizes"}
    pair = next(((a, b) for a, b in itertools.pairwise(pts) if a[1] < p50_ms <= b[1]), None)
    how = "interpolated"
    if pair is None:
        pair = (pts[0], pts[1]) if pts[0][1] >= p50_ms else (pts[-2], pts[-1])
        how = "extrapolated"
    (n0, t0), (n1, t1) = pair
    largest = pts[-1][0]
    if not (t0 > 0 < t1 and t1 > t0):
        return {"p50_ms": p50_ms, "chunks": largest, "how": "not reached: latency did not grow"}
    b = math.log(t1 / t0) / math.log(n1 / n0)
    log_chunks = math.log(n0) + math.log(p50_ms / t0) / b  # in logs: a flat curve overflows
    if log_chunks > math.log(2 * largest):  # far past what was measured: say only what was
        return {"p50_ms": p50_ms, "chunks": largest, "how": "not reached in the measured sizes"}
    return {"p50_ms": p50_ms, "chunks": round(math.exp(log_chunks)), "how": how}


def _grow_from(smaller: Path, root: Path) -> None:
    """Start a larger size from a copy of the smaller one (its rows are the first ones): only
    the new rows are written, and the write rate is theirs."""
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(smaller, root)
    record = json.loads((root / "written.json").read_text())
    (root / "written.json").write_text(json.dumps({"grown_from": record["chunks"]}))


def engine_name(engine: LiteEngine) -> str:
    return f"milvus-lite {lite_version(engine)}"


def measure_scale(
    sizes: Sequence[int],
    cache: Path,
    scifact: Path,
    *,
    queries: int,
    warmup: int,
    engines: Sequence[LiteEngine] = ("3", "2.5"),
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Every engine, every size in a child process, smallest first; growth and capacity from
    each engine's points; the top-level capacity is the default engine's."""
    by_engine: dict[str, Any] = {}
    for engine in engines:
        name = engine_name(engine)
        points: list[dict[str, Any]] = []
        for n in sorted(sizes):
            root = cache / f"{name.replace(' ', '-')}-{n}"
            if points and not (root / "written.json").is_file():
                _grow_from(cache / f"{name.replace(' ', '-')}-{points[-1]['chunks']}", root)
            log(f"(g) {name}: {n:,} chunks in {root}")
            args = [str(root), str(n), str(scifact), str(queries), str(warmup), engine]
            done = subprocess.run(
                [sys.executable, "-m", "hybrid_search.benchmarks.scale", *args],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"(g) {name}, {n} chunks failed: {done.stderr[-2000:]}")
            points.append(json.loads(done.stdout.strip().splitlines()[-1]))
            log(f"(g) {json.dumps(points[-1])}")
        by_engine[engine] = {
            "engine": name,
            "points": points,
            "growth": growth(points),
            "capacity": capacity(points),
            #: on a shared machine the wall clock waits for a CPU; CPU time is what an idle
            #: one would take (an upper bound: the routes run in parallel threads)
            "capacity_cpu": capacity(points, key="search_cpu"),
        }
    chosen = default_engine()
    default = by_engine.get(chosen) or next(iter(by_engine.values()))
    return {
        "default_engine": chosen,
        "dense_dim": 1024,
        "colbert_storage": "binary",
        "queries": queries,
        "engines": by_engine,
        "points": [p for e in by_engine.values() for p in e["points"]],
        "capacity": default["capacity"],
        "capacity_cpu": default["capacity_cpu"],
    }


if __name__ == "__main__":
    root, n, scifact, q, w, e = sys.argv[1:7]
    engine: LiteEngine = "2.5" if e == "2.5" else "3"
    point = measure_point(Path(root), int(n), Path(scifact), int(q), int(w), engine)
    sys.stdout.write(json.dumps(point) + "\n")
