"""`hybrid-search demo`: ingest a sample corpus into Milvus Lite and search it, offline."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import typer

from hybrid_search.cli.app import app, handle_errors, is_tty, settings

DEMO_QUERIES = ["hybrid search with rank fusion", "中国的首都是哪里", "Milvus 向量数据库 BM25"]
ENV_FILE = Path(".env")
ENV_HEADER = (
    "# written by `hybrid-search demo`: every later command in this directory reuses the demo"
)


def is_demo_env(env_file: Path = ENV_FILE) -> bool:
    return env_file.exists() and env_file.read_text(encoding="utf-8").startswith(ENV_HEADER)


def demo_env(values: dict[str, str], env_file: Path = ENV_FILE) -> str:
    """Write the demo's settings to .env unless the user wrote one, so the README's next
    commands work as printed; returns what to tell the user."""
    lines = [ENV_HEADER, *(f"HYBRID_SEARCH_{k.upper()}={v}" for k, v in values.items())]
    text = "\n".join(lines) + "\n"
    if env_file.exists() and not is_demo_env(env_file):
        exports = "\n".join(f"  export {line}" for line in lines[1:])
        return (
            f"{env_file} exists and is yours, so it was left alone; to reuse the demo:\n{exports}"
        )
    env_file.write_text(text, encoding="utf-8")
    settings_lines = "\n".join(f"  {line}" for line in lines[1:])
    return f"wrote {env_file} (read by every hybrid-search command run here):\n{settings_lines}"


@app.command()
def demo(
    data: list[Path] = typer.Option(
        None, "--data", help="Corpus to ingest (default: the sample shipped in the package)."
    ),
    models_dir: Path = typer.Option(
        Path("models/tiny"), help="Where tiny models go if real weights cannot load."
    ),
    milvus_uri: str = typer.Option("./data/demo.db", help="Milvus Lite file for the demo."),
    collection: str = typer.Option("demo", help="Collection for the demo."),
) -> None:
    """Build or load models, ingest, run three searches (English, Chinese, mixed)."""

    def run() -> None:
        from rich.console import Console

        from hybrid_search.cli.render import print_response
        from hybrid_search.encoders.bge_m3 import quiet_transformers, resolve_model_path
        from hybrid_search.errors import ModelNotFoundError
        from hybrid_search.factory import (
            build_encoder,
            build_reranker,
            build_store,
            collection_spec,
            ingest_options,
        )
        from hybrid_search.searcher import HybridSearcher
        from ingest.pipeline import IngestJob
        from ingest.readers import read_paths

        console = Console(stderr=True)
        quiet_transformers()
        # a .env of an earlier demo is not user configuration: the demo starts from defaults
        s = settings(read_env_file=not is_demo_env(), milvus_uri=milvus_uri, collection=collection)
        try:
            resolve_model_path(s.embedding_model)
            resolve_model_path(s.reranker_model)
        except ModelNotFoundError as exc:
            from hybrid_search.encoders.tiny import build_tiny_models

            console.print(
                "[bold red]" + "!" * 78 + "\n"
                f"WARNING: the configured models cannot be loaded here:\n  {exc.message}\n"
                f"Falling back to TINY RANDOM models built in {models_dir}: the pipeline is real,\n"
                "the relevance is NOT. Set HYBRID_SEARCH_EMBEDDING_MODEL and\n"
                "HYBRID_SEARCH_RERANKER_MODEL to real weights for meaningful results.\n"
                + "!" * 78
                + "[/]"
            )
            tiny = build_tiny_models(models_dir)
            s = s.model_copy(
                update={
                    "embedding_model": str(tiny.embedding_model.resolve()),
                    "reranker_model": str(tiny.reranker_model.resolve()),
                    "collection": s.collection + "_tiny",
                }
            )
        sample = Path(str(resources.files("hybrid_search") / "sample" / "corpus.jsonl"))
        sources = list(data) if data else [sample]
        encoder = build_encoder(s)
        store = build_store(s)
        options = ingest_options(s)
        console.print(
            f"ingesting {', '.join(map(str, sources))} into {s.milvus_uri} / {s.collection}"
        )
        bar = None
        if is_tty():
            from tqdm import tqdm

            bar = tqdm(unit="doc", desc="ingest")
        spec = collection_spec(s, encoder)
        job = IngestJob(store, encoder, spec, options, progress=bar.update if bar else None)
        summary = job.run(read_paths(sources))
        if bar is not None:
            bar.close()
        typer.echo(summary.model_dump_json(exclude={"errors"}))
        for err in summary.errors[:10]:
            console.print(f"[yellow]{err.message}[/yellow]")
        searcher = HybridSearcher(
            store, encoder, build_reranker(s), collection=s.collection, settings=s
        )
        for q in DEMO_QUERIES:
            print_response(searcher.search(q, top_k=5))
        store.close()
        names = ("milvus_uri", "collection", "embedding_model", "reranker_model")
        console.print(demo_env({name: str(getattr(s, name)) for name in names}))
        console.print(
            "next: the README's 'After make demo' commands, e.g.\n"
            f'  .venv/bin/hybrid-search search "{DEMO_QUERIES[0]}" --top-k 3'
        )

    handle_errors(False, run)
