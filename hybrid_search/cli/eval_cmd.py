"""`hybrid-search eval`: retrieval quality on a BEIR dataset, one configuration or an ablation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybrid_search.cli.app import app, emit_json, fail, handle_errors, is_tty, settings

#: the arguments `eval` and `tune` share
DatasetDir = Annotated[
    Path,
    typer.Argument(help="BEIR dataset directory: corpus.jsonl, queries.jsonl, qrels/<split>.tsv."),
]
EvalCollection = Annotated[
    str | None,
    typer.Option(
        help="Collection for the corpus (default: eval_<dataset>_<analyzer>_<settings hash>)."
    ),
]
IgnoreIdenticalIds = Annotated[
    bool,
    typer.Option(
        "--ignore-identical-ids/--keep-identical-ids",
        help="Drop a retrieved document whose id equals the query id, as BEIR does by default "
        "(ArguAna/Quora-style sets, where queries are corpus documents).",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the report as JSON.")]


def progress_bar(desc: str, total: int | None, unit: str) -> Any:
    """A tqdm bar on a terminal, else none."""
    from hybrid_search.evaluation.runner import no_progress

    if not is_tty():
        return no_progress(desc, total, unit)
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False)


def notes_or_json(
    notes: list[str], report: dict[str, Any], written: dict[str, str], as_json: bool
) -> bool:
    """Notes go to stderr; with --json the report and its outputs are the whole answer (True)."""
    for note in notes:
        typer.echo(f"hybrid-search: note: {note}", err=True)
    if as_json:
        emit_json({**report, "outputs": written})
    return as_json


def parse_routes(routes: str | None) -> tuple[str, ...] | None:
    if not routes:
        return None
    from schemas.api import ALL_ROUTES

    chosen = tuple(dict.fromkeys(r.strip() for r in routes.split(",") if r.strip()))
    unknown = [r for r in chosen if r not in ALL_ROUTES]
    if unknown or not chosen:
        fail(
            f"--routes: unknown route(s) {unknown}; use {', '.join(ALL_ROUTES)}",
            code="invalid_request",
        )
    return chosen


@app.command("eval")
def eval_command(
    dataset_dir: DatasetDir,
    split: str = typer.Option("test", help="qrels split to evaluate."),
    routes: str = typer.Option(
        None, help="Comma-separated routes, e.g. bm25 or dense,bm25 (default: all available)."
    ),
    fusion: str = typer.Option("rrf", help="rrf | weighted | minmax."),
    rerank: bool = typer.Option(
        None,
        "--rerank/--no-rerank",
        help="Rerank the top candidates (default: on when the reranker model is available; "
        "with --ablation, --no-rerank drops the reranked variants).",
    ),
    ablation: bool = typer.Option(
        False,
        "--ablation",
        help="Also each route alone, useful pairs, all routes with RRF and min-max fusion, "
        "each with and without reranking.",
    ),
    out: Path = typer.Option(
        None, help="Where runs, report.json, results.md and the chart go (default out/eval/NAME)."
    ),
    collection: EvalCollection = None,
    models_dir: Path = typer.Option(
        Path("models/tiny"),
        help="Tiny models for a BM25-only run when the embedding weights are missing.",
    ),
    ignore_identical_ids: IgnoreIdenticalIds = True,
    as_json: AsJson = False,
) -> None:
    """Ingest a BEIR corpus if needed, search every judged query, score nDCG@10, Recall@100,
    MRR@10 and MAP with ranx; write TREC runs, a JSON report and a chart."""

    def run() -> None:
        from hybrid_search.encoders.bge_m3 import quiet_transformers
        from hybrid_search.evaluation.beir import load_beir
        from hybrid_search.evaluation.runner import markdown_table, write_outputs
        from hybrid_search.evaluation.suite import EvalRequest, evaluate_dataset

        if fusion not in ("rrf", "weighted", "minmax"):
            fail(
                f"--fusion: unknown fusion {fusion!r}; use rrf, weighted or minmax",
                code="invalid_request",
                as_json=as_json,
            )
        quiet_transformers()
        dataset = load_beir(dataset_dir, split)
        request = EvalRequest(
            routes=parse_routes(routes),
            fusion=fusion,
            rerank=rerank,
            ablation=ablation,
            collection=collection,
            models_dir=models_dir,
            ignore_identical_ids=ignore_identical_ids,
        )
        report = evaluate_dataset(settings(), dataset, request, progress=progress_bar)
        written = write_outputs(report, out or Path("out") / "eval" / dataset.name)
        if notes_or_json(report.notes, report.to_json(), written, as_json):
            return
        typer.echo(
            f"{report.dataset} ({report.split}, {report.queries} queries), collection "
            f"{report.collection}: ingest {report.ingest['inserted']} inserted, "
            f"{report.ingest['unchanged']} unchanged, {report.ingest['deleted']} deleted"
        )
        typer.echo(markdown_table(report))
        typer.echo(f"written: {', '.join(written.values())}")

    handle_errors(as_json, run)
