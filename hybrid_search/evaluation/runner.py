"""Evaluate retrieval configurations on a BEIR dataset through the real ingest and search paths.

The corpus goes through `IngestJob` into a collection of its own (named after the dataset, the
BM25 analyzer and a hash of every setting that shapes the stored data), so a re-run finds it
unchanged and writes nothing; a changed corpus or setting is re-ingested. Every judged query
then goes through `HybridSearcher.search_many` (queries encoded in batches, hits grouped by
document), and ranx scores the runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from hybrid_search.errors import HybridSearchError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.configs import EvalConfig, ablation_configs, order_routes
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
    def update(self, n: int = 1) -> object: ...

    def close(self) -> None: ...


#: (description, total, unit) -> a progress bar; the CLI passes tqdm on a terminal
ProgressFactory = Callable[[str, int | None, str], Progress]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


def no_progress(desc: str, total: int | None, unit: str) -> Progress:
    return _NoProgress()


@dataclass
class ConfigResult:
    config: EvalConfig
    metrics: dict[str, float]
    run: RunScores
    seconds: float
    degraded: int = 0  # responses with a failed route or a skipped rerank

    def summary(self) -> dict[str, Any]:
        queries = max(1, len(self.run))
        return {
            **self.config.describe(),
            "seconds": round(self.seconds, 3),
            "ms_per_query": round(1000 * self.seconds / queries, 2),
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
        return {
            "dataset": self.dataset,
            "split": self.split,
            "queries": self.queries,
            "ignore_identical_ids": self.ignore_identical_ids,
            "metrics": self.main.metrics,
            "config": self.main.summary(),
            "ablation": {n: r.metrics for n, r in self.results().items()} if self.ablation else {},
            "ablation_configs": {n: r.summary() for n, r in self.results().items()}
            if self.ablation
            else {},
            "unavailable": self.unavailable,
            "collection": self.collection,
            "setup": self.setup,
            "ingest": self.ingest,
            "notes": self.notes,
        }


def eval_collection_name(settings: Settings, dataset: str) -> str:
    """`eval_<dataset>_<analyzer>_<hash>`: the hash covers every setting that changes the
    stored data, so two setups never share (or fight over) one collection."""
    shaping = {
        "model": settings.embedding_model.rstrip("/").rsplit("/", 1)[-1],
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

        def advance(n: int) -> None:
            bar.update(n)

        job = IngestJob(store, encoder, spec, options, progress=advance)
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
    """All judged queries through `searcher.search_many`, in batches of QUERY_BATCH.

    With `ignore_identical_ids` (BEIR's default) a document whose id equals the query id is
    dropped from the run; one more hit is searched so the run still holds `top_k`, as BEIR's
    exact search fetches top_k + 1 for that purpose."""
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


def run_all(
    searcher: Any,
    dataset: BeirDataset,
    main: EvalConfig,
    *,
    ablation: bool,
    rerank_choices: Sequence[bool],
    colbert_alone: bool,
    ignore_identical_ids: bool = True,
    progress: ProgressFactory = no_progress,
) -> tuple[ConfigResult, list[ConfigResult], dict[str, str]]:
    """The main configuration and, with `ablation`, every ablation configuration (the main one
    is run once even if it is also in the ablation set)."""
    run = partial(
        run_config, searcher, dataset, ignore_identical_ids=ignore_identical_ids, progress=progress
    )
    results = {main: run(main)}
    if not ablation:
        return results[main], [], {}
    configs, unavailable = ablation_configs(
        searcher.available_routes(), colbert_alone=colbert_alone, rerank=rerank_choices
    )
    for c in configs:
        if c not in results:
            results[c] = run(c)
    ablated = [results[c] for c in configs] + ([] if main in configs else [results[main]])
    return results[main], ablated, unavailable


def main_config(
    available: Sequence[str], routes: Sequence[str] | None, fusion: str, rerank: bool
) -> EvalConfig:
    chosen = order_routes(routes) if routes else order_routes(available)
    return EvalConfig(chosen, fusion if len(chosen) > 1 else "rrf", rerank)


def markdown_table(report: EvalReport, metrics: Sequence[str] = METRICS) -> str:
    """The results as a Markdown table, best value of each metric in bold."""
    results = report.results()
    best = {m: max((r.metrics.get(m, 0.0) for r in results.values()), default=0.0) for m in metrics}
    head = "| configuration | " + " | ".join(metrics) + " | ms/query |\n"
    head += "|---|" + "---:|" * (len(metrics) + 1) + "\n"
    rows = []
    for name, r in results.items():
        cells = []
        for m in metrics:
            v = r.metrics.get(m, 0.0)
            cells.append(f"**{v:.4f}**" if v == best[m] and len(results) > 1 else f"{v:.4f}")
        ms = 1000 * r.seconds / max(1, len(r.run))
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {ms:.1f} |\n")
    lines = [head, *rows]
    if report.unavailable:
        lines.append("\nNot measured:\n\n")
        lines.extend(f"- `{n}`: {why}\n" for n, why in report.unavailable.items())
    return "".join(lines)


def chart_title(report: EvalReport) -> str:
    model = str(report.setup.get("embedding_model", "")).rstrip("/").rsplit("/", 1)[-1]
    return (
        f"{report.dataset} ({report.split}, {report.queries} queries): embedding model {model}, "
        f"BM25 analyzer {report.setup.get('bm25_analyzer')}, RRF k {report.setup.get('rrf_k')}"
    )


def write_outputs(report: EvalReport, out: Path) -> dict[str, str]:
    """report.json, results.md, runs/<configuration>.trec and, for 2+ configurations,
    ablation.png. Returns {kind: path}."""
    from hybrid_search.evaluation.chart import bar_chart
    from hybrid_search.evaluation.runs import write_trec_run

    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    runs = out / "runs"
    named = {n: r.run for n, r in report.results().items()}
    for name, run in {report.main.config.name: report.main.run, **named}.items():
        slug = re.sub(r"[^A-Za-z0-9+]+", "_", name).strip("_")
        write_trec_run(runs / f"{slug}.trec", run, slug)
    written["runs"] = str(runs)
    table = out / "results.md"
    table.write_text(markdown_table(report), encoding="utf-8")
    written["table"] = str(table)
    results = report.results()
    if len(results) > 1:
        png = bar_chart(
            {n: r.metrics for n, r in results.items()},
            METRICS,
            out / "ablation.png",
            title=chart_title(report),
        )
        written["chart"] = str(png)
    return write_report(out / "report.json", report.to_json(), written)


def write_report(path: Path, report: dict[str, Any], written: dict[str, str]) -> dict[str, str]:
    """The report as JSON, with the other outputs' paths; returns them with its own."""
    body = {**report, "outputs": dict(written)}
    path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {**written, "report": str(path)}
