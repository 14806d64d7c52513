"""`hybrid-search export-negatives`: FlagEmbedding fine-tuning data mined by hybrid search."""

from __future__ import annotations

from pathlib import Path

import typer

from hybrid_search.cli.app import app, emit_json, handle_errors, settings
from hybrid_search.cli.eval_cmd import DatasetDir, parse_routes, progress_bar


@app.command("export-negatives")
def export_negatives_command(
    dataset_dir: DatasetDir,
    out: Path = typer.Option(..., "--out", help="JSONL file to write ({query, pos, neg} lines)."),
    split: str = typer.Option(
        "train", help="qrels split to mine (train: never mine the split you evaluate on)."
    ),
    rank_window: str = typer.Option(
        "10:50", help="Ranks START:END (1-based, inclusive) negatives are drawn from."
    ),
    per_query: int = typer.Option(15, help="Negatives per query, sampled from the window."),
    routes: str = typer.Option(None, help="Comma-separated routes (default: all available)."),
    fusion: str = typer.Option("rrf", help="rrf | weighted | minmax."),
    rerank: bool = typer.Option(
        False, "--rerank/--no-rerank", help="Rerank before taking the window."
    ),
    seed: int = typer.Option(0, help="Seed of the negative sampling."),
    collection: str = typer.Option(None, help="Collection for the corpus (default as for eval)."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Mine hard negatives: the documents hybrid search ranks inside the window, judged
    positives excluded, written as FlagEmbedding's fine-tuning JSONL."""

    def run() -> None:
        from hybrid_search.encoders.bge_m3 import quiet_transformers
        from hybrid_search.evaluation.beir import load_beir
        from hybrid_search.evaluation.negatives import RankWindow, export_negatives
        from hybrid_search.evaluation.suite import EvalRequest, open_dataset

        quiet_transformers()
        window = RankWindow.parse(rank_window)
        dataset = load_beir(dataset_dir, split)
        chosen = parse_routes(routes)
        request = EvalRequest(routes=chosen, fusion=fusion, rerank=rerank, collection=collection)
        with open_dataset(
            settings(), dataset, request, need_reranker=rerank, progress=progress_bar
        ) as ds:
            options = {
                "routes": list(chosen) if chosen else None,
                "fusion": fusion,
                "rerank": rerank,
                "rerank_top_n": window.end if rerank else None,
                "rerank_timeout_ms": 600_000,
                "explain": False,
            }
            summary = export_negatives(
                ds.searcher,
                dataset,
                out,
                window,
                per_query,
                options=options,
                seed=seed,
                progress=progress_bar,
            )
        data = {
            **summary.to_json(),
            "out": str(out),
            "split": split,
            "rank_window": [window.start, window.end],
            "collection": ds.collection,
        }
        if as_json:
            emit_json(data)
        else:
            typer.echo(
                f"{summary.written} examples ({summary.negatives} negatives) from "
                f"{summary.queries} queries written to {out}; skipped: "
                f"{summary.skipped_no_negatives} without negatives, "
                f"{summary.skipped_no_positive_text} without a positive in the corpus"
            )

    handle_errors(as_json, run)
