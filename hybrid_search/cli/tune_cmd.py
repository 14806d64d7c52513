"""`hybrid-search tune`: fusion method, per-route weights and RRF k chosen on half the judged
queries of a BEIR dataset, tested on the other half, optionally saved as the collection's
default."""

from __future__ import annotations

from pathlib import Path

import typer

from hybrid_search.cli.app import app, fail, handle_errors, settings
from hybrid_search.cli.eval_cmd import (
    AsJson,
    DatasetDir,
    EvalCollection,
    IgnoreIdenticalIds,
    notes_or_json,
    parse_routes,
    progress_bar,
)


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        fail(f"{option}: expected comma-separated integers, got {value!r}")


@app.command("tune")
def tune_command(
    dataset_dir: DatasetDir,
    split: str = typer.Option("test", help="qrels split whose judged queries are halved."),
    routes: str = typer.Option(
        None, help="Comma-separated routes to fuse, e.g. dense,bm25 (default: all available)."
    ),
    fusions: str = typer.Option(
        None, help="Fusions to try, e.g. rrf,minmax (default: rrf and minmax; + weighted w/o bm25)."
    ),
    rrf_k: str = typer.Option("10,30,60,100", "--rrf-k", help="RRF constants to try."),
    weight_step: float = typer.Option(
        None, help="Step of the route weights on the simplex (default 0.1 for 2 routes, else 0.25)."
    ),
    seed: int = typer.Option(16, help="Seed of the query split."),
    fraction: float = typer.Option(0.5, help="Share of the judged queries tuned on."),
    objective: str = typer.Option("ndcg@10", help="Metric maximised on the tuning half."),
    save: bool = typer.Option(
        False,
        "--save",
        help="Record the best configuration in the collection's properties as the default of "
        "every later search on it (a request's own options still win).",
    ),
    out: Path = typer.Option(
        None, help="Where tune.json, grid.md and grid.png go (default out/tune/NAME)."
    ),
    collection: EvalCollection = None,
    ignore_identical_ids: IgnoreIdenticalIds = True,
    as_json: AsJson = False,
) -> None:
    """Search the fusion grid on a seeded half of the judged queries; report the grid (table and
    chart) and the best configuration's scores on the held-out half only."""

    def run() -> None:
        from hybrid_search.encoders.bge_m3 import quiet_transformers
        from hybrid_search.evaluation.beir import load_beir
        from hybrid_search.evaluation.tune import (
            TuneRequest,
            heldout_table,
            save_defaults,
            tune_dataset,
            write_tune_outputs,
        )

        quiet_transformers()
        dataset = load_beir(dataset_dir, split)
        request = TuneRequest(
            routes=parse_routes(routes),
            fusions=tuple(f.strip() for f in fusions.split(",") if f.strip()) if fusions else None,
            rrf_ks=_ints(rrf_k, "--rrf-k"),
            weight_step=weight_step,
            seed=seed,
            fraction=fraction,
            objective=objective,
            collection=collection,
            ignore_identical_ids=ignore_identical_ids,
        )
        s = settings()
        report = tune_dataset(s, dataset, request, progress=progress_bar)
        if save:
            report.saved = save_defaults(s, report)
        written = write_tune_outputs(report, out or Path("out") / "tune" / dataset.name)
        if notes_or_json(report.notes, report.to_json(), written, as_json):
            return
        typer.echo(
            f"{report.dataset}: tuned on {report.tune_queries} queries (seed {report.seed}), "
            f"tested on the other {report.heldout_queries}; best: {report.best.name}"
        )
        typer.echo(heldout_table(report))
        if report.saved is not None:
            typer.echo(f"saved as the default of collection {report.collection}: {report.saved}")
        typer.echo(f"written: {', '.join(written.values())}")

    handle_errors(as_json, run)
