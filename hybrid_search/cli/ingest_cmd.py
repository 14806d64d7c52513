"""`hybrid-search ingest`: the batch ingestion job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from hybrid_search.cli.app import (
    EXIT_PARTIAL,
    app,
    emit_json,
    fail,
    handle_errors,
    is_tty,
    settings,
)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="JSONL files, BEIR dataset dirs, .pdf/.docx/.html/.md/.txt files or folders."
    ),
    include: list[str] = typer.Option(
        [], "--include", help="Glob a file in a folder must match (repeatable), e.g. '*.pdf'."
    ),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of files to leave out."),
    collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION."),
    tenant: str = typer.Option(None, help="HYBRID_SEARCH_TENANT (default 'default')."),
    strict: bool = typer.Option(
        False, "--strict", help="Fail before writing anything if any record is bad."
    ),
    delete_missing: bool = typer.Option(
        False,
        "--delete-missing",
        help="Delete this tenant's documents absent from the input (skipped if any record failed).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Only the JSON summary on stdout; no progress bar."
    ),
) -> None:
    """Chunk, encode with BGE-M3 and store documents; re-runs change only what changed."""

    def run() -> None:
        from hybrid_search.factory import (
            build_encoder,
            build_store,
            check_before_load,
            collection_spec,
            ingest_options,
        )
        from ingest.pipeline import IngestJob
        from ingest.readers import read_paths

        s = settings(collection=collection, tenant=tenant)
        if missing := [str(p) for p in paths if not p.exists()]:  # before any model loads
            fail(
                f"no such file or folder: {', '.join(missing)}; check the path(s) given to ingest",
                code="not_found",
                as_json=as_json,
            )
        options = ingest_options(s, delete_missing=delete_missing)
        encoder = build_encoder(s)
        store = build_store(s)
        check_before_load(store, s, encoder)
        bar: Any = None  # a progress bar once input is known to be valid

        def progress(done: int) -> None:
            if bar is not None:
                bar.update(done)

        job = IngestJob(store, encoder, collection_spec(s, encoder), options, progress=progress)
        if strict:
            errors = job.validate(read_paths(paths, include, exclude))
            if errors:
                if as_json:
                    shown = [{"message": e.message, **e.details} for e in errors[:1000]]
                    emit_json({"failed": len(errors), "errors": shown})
                for e in errors[:20]:
                    typer.echo(f"hybrid-search: {e.message}", err=True)
                fail(
                    f"--strict: {len(errors)} bad records; nothing was written",
                    code="invalid_document",
                )
        if not as_json and is_tty():
            from tqdm import tqdm

            bar = tqdm(unit="doc", desc="ingest", dynamic_ncols=True)
        try:
            summary = job.run(read_paths(paths, include, exclude))
        finally:
            if bar is not None:
                bar.close()
            store.close()
        data = summary.model_dump(mode="json", exclude_none=True)
        if as_json:
            emit_json(data)
        else:
            for src, why in list(summary.skipped.items())[:50]:
                typer.echo(f"hybrid-search: skipped {src}: {why}", err=True)
            for err in summary.errors[:20]:
                typer.echo(f"hybrid-search: {err.message}", err=True)
            typer.echo(
                f"{summary.documents} documents: {summary.inserted} inserted, {summary.replaced} "
                f"replaced, {summary.unchanged} unchanged, {summary.deleted} deleted, "
                f"{summary.failed} failed, {len(summary.skipped)} files skipped; "
                f"{summary.chunks} chunks written in {summary.seconds:.1f}s"
            )
        if summary.failed:
            raise typer.Exit(EXIT_PARTIAL)

    handle_errors(as_json, run)
