"""`hybrid-search bench`: the project timed against bare pymilvus and bare FlagEmbedding."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from hybrid_search.cli.app import app, emit_json, fail, handle_errors
from hybrid_search.store.lite_engines import LiteEngine


@app.command()
def bench(
    quick: bool = typer.Option(
        False, "--quick", help="Small sizes, real-size models skipped: a smoke run of every part."
    ),
    models_dir: Path = typer.Option(Path("models/tiny"), help="Tiny models (built if missing)."),
    real_size_dir: Path = typer.Option(
        Path("models/real-size"), help="Where the real-size random models are built and reused."
    ),
    real_size_layers: int = typer.Option(
        None, help="Layers of the real-size models (default 24; 0 in --quick: skipped)."
    ),
    corpus: Path = typer.Option(
        None, help="BEIR dir or JSONL to benchmark on (default: a seeded synthetic corpus)."
    ),
    work_dir: Path = typer.Option(None, help="Scratch directory (default: a temporary one)."),
    memory: bool = typer.Option(True, "--memory/--no-memory", help="Run the peak-RSS part."),
    markdown: Path = typer.Option(
        None,
        help="Also write the results as Markdown here (between the file's bench markers if it "
        "has them, else the whole file).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print every figure as JSON."),
    parts: str = typer.Option(
        "abcdefh",
        help="Parts to run: a overhead, b ingest, c memory, d real-size CPU, e stages, "
        "f real width, g scale (only when named: hours at 100k chunks), h chunk boundaries "
        "(the others are reported as skipped).",
    ),
    scale_sizes: str = typer.Option(
        None, help="(g) Chunk counts, comma-separated (default 10000,30000,100000)."
    ),
    scale_cache: Path = typer.Option(
        None,
        help="(g) Keep the generated collections here and reuse them on the next run (each "
        "size grows from a copy of the one below it).",
    ),
    scale_engines: str = typer.Option(
        "3,2.5", help="(g) Milvus Lite engines to measure, comma-separated: 3 and/or 2.5."
    ),
    quality: bool = typer.Option(
        True, "--quality/--no-quality", help="(f) Run the MaxSim quality guard."
    ),
    quality_cache: Path = typer.Option(
        None,
        help="(f) .npz cache of MiniLM's SciFact document token vectors for the MaxSim "
        "quality guard (made on the first run; ~50 min to compute on 2 cores).",
    ),
) -> None:
    """Search-path overhead vs bare pymilvus, ingest vs encode alone, peak RSS x1 vs x10,
    real-size CPU encode/rerank costs, reranker CPU options, per-stage search latency."""

    def run() -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from hybrid_search.benchmarks.report import render_markdown
        from hybrid_search.benchmarks.suite import BenchOptions, run_bench

        options = BenchOptions(
            quick=quick,
            models_dir=models_dir,
            real_size_dir=real_size_dir,
            real_size_layers=real_size_layers,
            corpus=corpus,
            work_dir=work_dir,
            memory=memory,
            parts=_parts(parts),
            quality=quality,
            quality_cache=quality_cache,
            scale_sizes=_sizes(scale_sizes),
            scale_cache=scale_cache,
            scale_engines=_engines(scale_engines),
        )
        report = run_bench(options, log=lambda m: typer.echo(f"bench: {m}", err=True))
        text = render_markdown(report)
        if markdown is not None:
            write_markdown(markdown, text)
        if as_json:
            emit_json(report)
        else:
            typer.echo(text)

    handle_errors(as_json, run)


def _parts(spec: str) -> frozenset[str]:
    from hybrid_search.benchmarks.suite import PARTS

    chosen = frozenset(spec.replace(",", "").strip().lower())
    if not chosen or chosen - set(PARTS):
        fail(f"--parts {spec!r}: use letters of {PARTS!r}", code="usage")
    return chosen


def _sizes(spec: str | None) -> tuple[int, ...] | None:
    if spec is None:
        return None
    try:
        sizes = tuple(sorted({int(x) for x in spec.split(",") if x.strip()}))
    except ValueError:
        sizes = ()
    if not sizes or sizes[0] < 10:
        fail(
            f"--scale-sizes {spec!r}: use chunk counts of at least 10, e.g. 10000,30000",
            code="usage",
        )
    return sizes


def _engines(spec: str) -> tuple[LiteEngine, ...]:
    engines = tuple(dict.fromkeys(x.strip() for x in spec.split(",") if x.strip()))
    known: dict[str, LiteEngine] = {"3": "3", "2.5": "2.5"}
    if not engines or any(e not in known for e in engines):
        fail(f"--scale-engines {spec!r}: name 3 and/or 2.5, e.g. 3,2.5", code="usage")
    return tuple(known[e] for e in engines)


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def write_markdown(path: Path, text: str) -> None:
    """Replace what lies between the START and END markers, keeping the prose around them."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START in old and END in old.split(START, 1)[1]:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1]
        text = f"{head}{START}\n{text}{END}{tail}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
