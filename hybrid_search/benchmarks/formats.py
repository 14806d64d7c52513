"""Format invariance: the same documents as JSON Lines, PDF, DOCX, HTML and Markdown, each
ingested and scored by `hybrid-search eval` on the BM25 route (its ingest reads a folder with
the readers `hybrid-search ingest` uses).
What a reader loses or adds shows as a change in nDCG@10 against the JSON Lines ingest
(target: every format within 1 %).

`python -m hybrid_search.benchmarks.formats [DATASET ...] [--docs 1000] [--work DIR]`
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

from hybrid_search.benchmarks.render import RENDERERS
from hybrid_search.evaluation.beir import read_qrels

FORMATS = (".jsonl", *RENDERERS)


def write_dataset(source: Path, n_docs: int, ext: str, out: Path) -> Path:
    """A BEIR folder holding the first `n_docs` documents of `source` in one format; the judged
    queries are those with a relevant document among them, their judgements renamed to the files."""
    rows = []
    with (source / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) == n_docs:
                break
    name = {str(r["_id"]): str(r["_id"]) + ("" if ext == ".jsonl" else ext) for r in rows}
    root = out / f"{source.name}-{ext.lstrip('.')}"
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    if ext == ".jsonl":
        lines = (json.dumps(r, ensure_ascii=False) for r in rows)
        (root / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        (root / "corpus").mkdir(exist_ok=True)
        for r in rows:
            data = RENDERERS[ext](str(r.get("title") or ""), [str(r["text"])])
            (root / "corpus" / name[str(r["_id"])]).write_bytes(data)
    qrels = read_qrels(source / "qrels" / "test.tsv")
    kept = {q: {name[d]: s for d, s in docs.items() if d in name} for q, docs in qrels.items()}
    kept = {q: docs for q, docs in kept.items() if any(s > 0 for s in docs.values())}
    tsv = ["query-id\tcorpus-id\tscore"]
    tsv += [f"{q}\t{d}\t{s}" for q, docs in kept.items() for d, s in docs.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")
    with (source / "queries.jsonl").open(encoding="utf-8") as src:
        queries = [line for line in src if line.strip() and json.loads(line)["_id"] in kept]
    (root / "queries.jsonl").write_text("".join(queries), encoding="utf-8")
    return root


def cli(*args: str, env: dict[str, str]) -> str:
    """One `hybrid-search` command as a user runs it; its stdout."""
    cmd = [sys.executable, "-c", "from hybrid_search.cli import app; app()", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"hybrid-search {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def measure(dataset: Path, n_docs: int, work: Path, models: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for ext in FORMATS:
        root = write_dataset(dataset, n_docs, ext, work / "data")
        env = {
            **os.environ,
            "HYBRID_SEARCH_MILVUS_URI": str(work / "formats.db"),
            "HYBRID_SEARCH_COLLECTION": f"fmt_{dataset.name}_{ext.lstrip('.')}".replace("-", "_"),
            "HYBRID_SEARCH_EMBEDDING_MODEL": str(models / "bge-m3-tiny"),
            "HYBRID_SEARCH_RERANKER_MODEL": str(models / "reranker-tiny"),
        }
        started = time.perf_counter()
        report = json.loads(
            cli("eval", str(root), "--routes", "bm25", "--no-rerank", "--json",
                "--collection", env["HYBRID_SEARCH_COLLECTION"], "--out", str(work / "eval"),
                env=env)
        )  # fmt: skip
        seconds, ingest = time.perf_counter() - started, report["ingest"]
        rows.append(
            {
                "dataset": dataset.name,
                "format": ext,
                "documents": ingest["inserted"] + ingest["unchanged"],
                "failed": ingest.get("failed"),
                "eval_s": round(seconds, 1),
                "queries": report["queries"],
                "ndcg@10": report["metrics"]["ndcg@10"],
            }
        )
    base = float(rows[0]["ndcg@10"])  # type: ignore[arg-type]
    for row in rows:
        change = (float(row["ndcg@10"]) - base) / base if base else 0.0  # type: ignore[arg-type]
        row["vs_jsonl"], row["within_1pct"] = round(change, 4) + 0.0, abs(change) <= 0.01
    return rows


def main(
    datasets: Annotated[list[Path] | None, typer.Argument(help="BEIR folders.")] = None,
    docs: Annotated[int, typer.Option(help="First N documents of each corpus.")] = 1000,
    work: Annotated[Path | None, typer.Option(help="Data and collections (a tmp dir).")] = None,
    models_dir: Annotated[Path, typer.Option(help="Tiny models, built if missing.")] = Path(
        "models/tiny"
    ),
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from hybrid_search.encoders.tiny import build_tiny_models

    shared = Path("../shared/datasets")
    datasets = datasets or [shared / "cmrc2018-trial", shared / "scifact"]
    with tempfile.TemporaryDirectory() as tmp:
        work = work or Path(tmp)
        if not (models_dir / "bge-m3-tiny").is_dir():
            build_tiny_models(models_dir)
        rows = [row for d in datasets for row in measure(d, docs, work, models_dir)]
    if as_json:
        typer.echo(json.dumps({"formats": rows}, ensure_ascii=False))
        return
    typer.echo("| dataset | format | docs | failed | eval s | queries | nDCG@10 | vs JSONL |")
    typer.echo("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        typer.echo(
            f"| {r['dataset']} | {r['format']} | {r['documents']} | {r['failed']} | "
            f"{r['eval_s']} | {r['queries']} | {float(r['ndcg@10']):.4f} | "  # type: ignore[arg-type]
            f"{float(r['vs_jsonl']):+.2%} |"  # type: ignore[arg-type]
        )
    ok = all(r["within_1pct"] for r in rows)
    typer.echo(f"every format within 1 % of JSON Lines: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    typer.run(main)
