"""`hybrid-search tune`: choose the fusion method, per-route weights and RRF k for a collection.

Every grid point runs on a seeded half of the judged queries; the best one is then run, with the
untuned default and each route alone, on the *other* half only: the reported gain is measured on
queries the choice never saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hybrid_search.errors import InvalidRequestError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.configs import EvalConfig, order_routes
from hybrid_search.evaluation.grid import DEFAULT_RRF_KS, fusion_grid, split_dataset, split_queries
from hybrid_search.evaluation.metrics import METRICS
from hybrid_search.evaluation.runner import (
    ConfigResult,
    ProgressFactory,
    model_name,
    no_progress,
    run_config,
    write_report,
)
from hybrid_search.evaluation.suite import EvalRequest, open_dataset, setup_of
from hybrid_search.settings import Settings


@dataclass(frozen=True)
class TuneRequest:
    routes: tuple[str, ...] | None = None  # None: every route the collection serves
    fusions: tuple[str, ...] | None = None  # None: grid.DEFAULT_FUSIONS (+ weighted w/o BM25)
    rrf_ks: tuple[int, ...] = DEFAULT_RRF_KS
    weight_step: float | None = None  # None: 0.1 for two routes, 0.25 for more
    seed: int = 16
    fraction: float = 0.5  # share of the judged queries tuned on
    objective: str = "ndcg@10"
    collection: str | None = None
    ignore_identical_ids: bool = True


@dataclass
class TuneReport:
    dataset: str
    split: str
    seed: int
    tune_queries: int
    heldout_queries: int
    objective: str
    collection: str
    setup: dict[str, Any]
    ingest: dict[str, Any]
    grid: list[ConfigResult]  # on the tuning half, in grid order (the untuned default first)
    best: EvalConfig
    heldout: dict[str, ConfigResult]  # on the held-out half: tuned, untuned, each route alone
    notes: list[str] = field(default_factory=list)
    saved: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "best": {"name": self.best.name, **self.best.describe()},
            "heldout": {n: r.metrics for n, r in self.heldout.items()},
            "grid": [
                {"name": r.config.name, **r.config.describe(), "metrics": r.metrics}
                for r in self.grid
            ],
        }


def tune_dataset(
    settings: Settings,
    dataset: BeirDataset,
    request: TuneRequest,
    *,
    progress: ProgressFactory = no_progress,
) -> TuneReport:
    """Ingest if needed, search the grid on the tuning half, test the best on the held-out half."""
    if request.objective not in METRICS:
        raise InvalidRequestError(
            f"unknown objective {request.objective!r}; use one of {', '.join(METRICS)}",
            details={"field": "objective"},
        )
    tune_ids, heldout_ids = split_queries(list(dataset.queries), request.seed, request.fraction)
    tune_half, heldout_half = split_dataset(dataset, tune_ids), split_dataset(dataset, heldout_ids)
    eval_request = EvalRequest(routes=request.routes, rerank=False, collection=request.collection)
    ignore = request.ignore_identical_ids
    opened = open_dataset(settings, dataset, eval_request, need_reranker=False, progress=progress)
    with opened as ds:
        searcher = ds.searcher
        available = searcher.available_routes()
        routes = order_routes(request.routes or available)
        missing = [r for r in routes if r not in available]
        if missing:
            raise InvalidRequestError(
                f"route(s) {missing} unavailable on this collection; it serves {list(available)}",
                details={"field": "routes"},
            )
        grid = fusion_grid(
            routes, fusions=request.fusions, rrf_ks=request.rrf_ks, weight_step=request.weight_step
        )
        results = [
            run_config(searcher, tune_half, c, ignore_identical_ids=ignore, progress=progress)
            for c in grid
        ]
        # the highest objective; on a tie the earlier grid point (max keeps the first)
        best = max(results, key=lambda r: r.metrics.get(request.objective, 0.0)).config
        tested = {"tuned": best, "untuned rrf": grid[0], **{r: EvalConfig((r,)) for r in routes}}
        heldout = {
            label: run_config(
                searcher, heldout_half, config, ignore_identical_ids=ignore, progress=progress
            )
            for label, config in tested.items()
        }
    return TuneReport(
        dataset=dataset.name,
        split=dataset.split,
        seed=request.seed,
        tune_queries=len(tune_ids),
        heldout_queries=len(heldout_ids),
        objective=request.objective,
        collection=ds.collection,
        setup=setup_of(ds.settings, ds.collection),
        ingest=ds.ingest.model_dump(mode="json", exclude={"errors"}),
        grid=results,
        best=best,
        heldout=heldout,
        notes=ds.notes,
    )


def grid_table(report: TuneReport, metrics: Sequence[str] = METRICS) -> str:
    """The grid on the tuning half, best objective first (the chosen point in bold)."""
    rows = sorted(report.grid, key=lambda r: -r.metrics.get(report.objective, 0.0))
    out = ["| configuration (tuning half) | " + " | ".join(metrics) + " |\n"]
    out.append("|---|" + "---:|" * len(metrics) + "\n")
    for r in rows:
        name = f"**{r.config.name}**" if r.config == report.best else r.config.name
        out.append(f"| {name} | " + " | ".join(f"{r.metrics[m]:.4f}" for m in metrics) + " |\n")
    return "".join(out)


def heldout_table(report: TuneReport, metrics: Sequence[str] = METRICS) -> str:
    out = ["| held-out half | configuration | " + " | ".join(metrics) + " |\n"]
    out.append("|---|---|" + "---:|" * len(metrics) + "\n")
    for label, r in report.heldout.items():
        cells = " | ".join(f"{r.metrics[m]:.4f}" for m in metrics)
        out.append(f"| {label} | {r.config.name} | {cells} |\n")
    return "".join(out)


def write_tune_outputs(report: TuneReport, out: Path) -> dict[str, str]:
    """tune.json, grid.md (both tables) and grid.png. Returns {kind: path}."""
    from hybrid_search.evaluation.chart import grid_chart

    out.mkdir(parents=True, exist_ok=True)
    table = out / "grid.md"
    table.write_text(heldout_table(report) + "\n" + grid_table(report), encoding="utf-8")
    title = (
        f"{report.dataset}: {report.objective} on the tuning half ({report.tune_queries} "
        f"queries, seed {report.seed}), embedding model "
        f"{model_name(str(report.setup.get('embedding_model', '')))}"
    )
    points = [(r.config, r.metrics.get(report.objective, 0.0)) for r in report.grid]
    chart = grid_chart(points, out / "grid.png", title=title, best=report.best)
    return write_report(
        out / "tune.json", report.to_json(), {"table": str(table), "chart": str(chart)}
    )


def save_defaults(settings: Settings, report: TuneReport) -> dict[str, Any]:
    """Record the best configuration as the collection's search defaults, used (and named in
    `defaults_applied`) by every later search that leaves them unset. Returns what was saved."""
    from hybrid_search.factory import build_store
    from hybrid_search.retrieval.plan import check_saved_defaults

    best = report.best
    defaults = check_saved_defaults(
        {
            "routes": list(best.routes),
            "fusion": best.fusion,
            "weights": dict(best.weights) or None,
            "rrf_k": best.rrf_k,
        }
    )
    store = build_store(settings.model_copy(update={"collection": report.collection}))
    try:
        store.search_defaults(report.collection, save=defaults)
    finally:
        store.close()
    return defaults
