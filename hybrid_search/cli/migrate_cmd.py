"""`hybrid-search migrate`: copy collections to another Milvus without re-encoding."""

from __future__ import annotations

from dataclasses import asdict

import typer

from hybrid_search.cli.app import EXIT_PARTIAL, app, emit_json, fail, handle_errors, settings


@app.command()
def migrate(
    to: str = typer.Option(..., "--to", help="The target Milvus URI (Lite file or http://...)."),
    to_token: str = typer.Option(
        None, "--to-token", help="The target's user:password token (default: the source's)."
    ),
    collections: list[str] = typer.Option(
        None, "--collection", help="Collections to copy (repeat; default the configured one)."
    ),
    window: int = typer.Option(128, min=1, help="Chunks copied per window."),
    samples: int = typer.Option(20, min=1, help="Chunks whose searches are compared."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Copy collections (spec, saved defaults, chunks with their vectors, ColBERT tokens) to
    another Milvus, resumably, then compare counts and sampled searches on both sides."""

    def run() -> None:
        from hybrid_search.factory import build_store
        from hybrid_search.store.migrate import migrate as copy

        s = settings()
        source = build_store(s, create=False)
        target = build_store(settings(milvus_uri=to, milvus_token=to_token))
        try:
            reports = []
            for name in collections or [s.collection]:
                shown = (
                    None
                    if as_json
                    else lambda n, total, c=name: typer.echo(
                        f"{c}: {n}/{total} chunks copied", err=True
                    )
                )
                reports.append(
                    copy(source, target, name, window=window, samples=samples, progress=shown)
                )
        finally:
            source.close()
            target.close()
        for r in reports:
            if as_json:
                emit_json({**asdict(r), "ok": r.ok})
                continue
            typer.echo(
                f"{r.collection}: copied {r.copied} chunks ({r.present} already there) in "
                f"{r.seconds} s; {'verified' if r.ok else 'MISMATCH'}"
            )
            for tenant, counts in r.counts.items():
                typer.echo(
                    f"  {tenant}: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in counts.items())
                )
            typer.echo(
                f"  top-10 overlap: {r.overlap}; every key and version: {r.rows_equal}; "
                f"sampled vectors equal: {r.vectors_equal}"
            )
            typer.echo(f"  note: {r.note}")
        bad = [r.collection for r in reports if not r.ok]
        if bad:
            fail(
                f"the target differs from the source for {bad}; run migrate again",
                code="mismatch",
                exit_code=EXIT_PARTIAL,
            )

    handle_errors(as_json, run)
