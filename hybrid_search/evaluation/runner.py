"""Evaluate retrieval configurations on a BEIR dataset through the real ingest and search paths.

The corpus gets a collection named after every setting that shapes the stored data, so a re-run
writes nothing; every judged query goes through `HybridSearcher.search_many`; ranx scores the runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from hybrid_search.errors import HybridSearchError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.configs import EvalConfig
from hybrid_search.evaluation.metrics import EVAL_DEPTH, METRICS, evaluate
from hybrid_search.evaluation.runs import RunScores, cut, drop_identical_ids, run_from_responses
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from schemas.collection import CollectionSpec
from schemas.documents import IngestSummary

logger = logging.getLogger(__name__)

#: queries per search_many call: one encoder batch, and the progress bar's step
QUERY_BATCH = 32


class Progress(Protocol):
    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


#: (description, total, unit) -> a progress bar; the CLI passes tqdm on a terminal
ProgressFactory = Callable[[str, int | None, str], Progress]


class _NoProgress:
    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


def no_progress(desc: str, total: int | None, unit: str) -> Progress:
    return _NoProgress()


@dataclass
class ConfigResult:
    config: EvalConfig
    metrics: dict[str, float]
    run: RunScores
    seconds: float
    degraded: int = 0  # responses with a failed route or a skipped rerank

    @property
    def ms_per_query(self) -> float:
        return 1000 * self.seconds / max(1, len(self.run))

    def summary(self) -> dict[str, Any]:
        return {
            **self.config.describe(),
            "seconds": round(self.seconds, 3),
            "ms_per_query": round(self.ms_per_query, 2),
            "degraded_queries": self.degraded,
        }


@dataclass
class EvalReport:
    dataset: str
    split: str
    queries: int
    collection: str
    setup: dict[str, Any]
    ingest: dict[str, Any]
    main: ConfigResult
    ablation: list[ConfigResult] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    ignore_identical_ids: bool = True

    def results(self) -> dict[str, ConfigResult]:
        out = {r.config.name: r for r in self.ablation}
        return out or {self.main.config.name: self.main}

    def to_json(self) -> dict[str, Any]:
        results = self.results() if self.ablation else {}
        plain = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "main"}
        return {
            **plain,
            "metrics": self.main.metrics,
            "config": self.main.summary(),
            "ablation": {n: r.metrics for n, r in results.items()},
            "ablation_configs": {n: r.summary() for n, r in results.items()},
        }


def eval_collection_name(settings: Settings, dataset: str) -> str:
    """`eval_<dataset>_<analyzer>_<hash>`: the hash covers every setting that changes the
    stored data, so two setups never share (or fight over) one collection."""
    shaping = {
        "model": model_name(settings.embedding_model),
        "kind": settings.embedding_kind,
        "pooling": settings.pooling if settings.embedding_kind == "dense" else None,
        "analyzer": settings.bm25_analyzer,
        "stop_words": settings.bm25_stop_words,
        "colbert": settings.store_colbert,
        "colbert_block": settings.colbert_block_tokens,
        "chunk": settings.max_chunk_tokens,
        "overlap": settings.chunk_overlap_tokens,
    }
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", dataset).strip("_").lower()[:60] or "dataset"
    return f"eval_{slug}_{settings.bm25_analyzer}_{digest}"


def model_name(path: str) -> str:
    """A model path's last part: reports and names show it, not where it lives."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def flush(store: VectorStore, spec: CollectionSpec) -> None:
    """Seal freshly written rows: Milvus Lite rebuilds the sparse/BM25 inverted index over
    unflushed rows on every search, which makes an evaluation many times slower (docs/design.md)."""
    try:
        store.sync(spec)
    except HybridSearchError as exc:  # an optimisation only: search still works unflushed
        logger.warning("flush of %s failed: %s", spec.name, exc)


def ingest_corpus(
    store: VectorStore,
    encoder: Any,
    spec: CollectionSpec,
    settings: Settings,
    dataset: BeirDataset,
    progress: ProgressFactory = no_progress,
) -> IngestSummary:
    """Make the collection hold exactly the corpus: idempotent (unchanged documents are skipped),
    documents no longer in the corpus are deleted, then the writes are flushed."""
    from hybrid_search.factory import ingest_options
    from ingest.pipeline import IngestJob
    from ingest.readers import read_paths

    options = ingest_options(settings, delete_missing=True)
    bar = progress(f"ingest {dataset.name}", _count_lines(dataset.corpus), "doc")
    try:
        job = IngestJob(store, encoder, spec, options, progress=bar.update)
        summary = job.run(read_paths([dataset.corpus]))
    finally:
        bar.close()
    flush(store, spec)
    return summary


def _count_lines(path: Path) -> int:
    if path.is_dir():  # a folder of files: one document each
        return sum(len(files) for _, _, files in os.walk(path))
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def run_config(
    searcher: Any,
    dataset: BeirDataset,
    config: EvalConfig,
    *,
    top_k: int = EVAL_DEPTH,
    ignore_identical_ids: bool = True,
    progress: ProgressFactory = no_progress,
) -> ConfigResult:
    """All judged queries through `searcher.search_many`. With `ignore_identical_ids` (BEIR's
    default) one more hit is searched, as BEIR does, so the run still holds `top_k` once the
    query's own id is dropped."""
    ids = list(dataset.queries)
    options = config.options(top_k + 1 if ignore_identical_ids else top_k)
    responses = []
    bar = progress(config.name, len(ids), "query")
    started = time.perf_counter()
    try:
        for i in range(0, len(ids), QUERY_BATCH):
            batch = ids[i : i + QUERY_BATCH]
            responses.extend(searcher.search_many([dataset.queries[q] for q in batch], **options))
            bar.update(len(batch))
    finally:
        bar.close()
    seconds = time.perf_counter() - started
    run = run_from_responses(ids, responses)
    if ignore_identical_ids:
        run = cut(drop_identical_ids(run), top_k)
    degraded = sum(1 for r in responses if r.degraded or (config.rerank and not r.reranked))
    return ConfigResult(config, evaluate(dataset.qrels, run), run, seconds, degraded)


def markdown_table(report: EvalReport, metrics: Sequence[str] = METRICS) -> str:
    """The results as a Markdown table, best value of each metric in bold."""
    results = report.results()
    best = {m: max((r.metrics.get(m, 0.0) for r in results.values()), default=0.0) for m in metrics}
    head = "| configuration | " + " | ".join(metrics) + " | ms/query |\n"
    head += "|---|" + "---:|" * (len(metrics) + 1) + "\n"
    lines = [head]
    for name, r in results.items():
        cells = []
        for m in metrics:
            v = r.metrics.get(m, 0.0)
            cells.append(f"**{v:.4f}**" if v == best[m] and len(results) > 1 else f"{v:.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r.ms_per_query:.1f} |\n")
    if report.unavailable:
        lines.append("\nNot measured:\n\n")
        lines.extend(f"- `{n}`: {why}\n" for n, why in report.unavailable.items())
    return "".join(lines)


def write_outputs(report: EvalReport, out: Path) -> dict[str, str]:
    """report.json, results.md, runs/<configuration>.trec and, for 2+ configurations,
    ablation.png. Returns {kind: path}."""
    from hybrid_search.evaluation.chart import bar_chart
    from hybrid_search.evaluation.runs import write_trec_run

    out.mkdir(parents=True, exist_ok=True)
    runs, table, results = out / "runs", out / "results.md", report.results()
    for name, r in {report.main.config.name: report.main, **results}.items():
        slug = re.sub(r"[^A-Za-z0-9+]+", "_", name).strip("_")
        write_trec_run(runs / f"{slug}.trec", r.run, slug)
    table.write_text(markdown_table(report), encoding="utf-8")
    written = {"runs": str(runs), "table": str(table)}
    if len(results) > 1:
        setup = report.setup
        title = (
            f"{report.dataset} ({report.split}, {report.queries} queries): embedding model "
            f"{model_name(str(setup.get('embedding_model', '')))}, BM25 analyzer "
            f"{setup.get('bm25_analyzer')}, RRF k {setup.get('rrf_k')}"
        )
        png = bar_chart(
            {n: r.metrics for n, r in results.items()}, METRICS, out / "ablation.png", title=title
        )
        written["chart"] = str(png)
    return write_report(out / "report.json", report.to_json(), written)


def write_report(path: Path, report: dict[str, Any], written: dict[str, str]) -> dict[str, str]:
    """The report as JSON, with the other outputs' paths; returns them with its own."""
    body = {**report, "outputs": dict(written)}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {**written, "report": str(path)}
