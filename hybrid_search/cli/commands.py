"""Small commands: models tiny, stats, delete, drop."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import typer

from hybrid_search.capacity import describe_capacity, lite_capacity
from hybrid_search.cli.app import (
    EXIT_PARTIAL,
    app,
    emit_json,
    fail,
    handle_errors,
    models_app,
    settings,
)
from hybrid_search.errors import CollectionNotFoundError, InvalidRequestError


@models_app.command("tiny")
def models_tiny(
    directory: Path = typer.Argument(..., help="Where to write bge-m3-tiny/ and reranker-tiny/."),
    as_json: bool = typer.Option(False, "--json", help="Print the two model paths as JSON."),
) -> None:
    """Build tiny BGE-M3-shaped models offline (random weights, real file layout)."""
    from hybrid_search.encoders.bge_m3 import quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models

    quiet_transformers()
    models = build_tiny_models(directory)
    out = {k: str(getattr(models, k).resolve()) for k in ("embedding_model", "reranker_model")}
    if as_json:
        emit_json(out)
    else:
        for k, v in out.items():
            typer.echo(f"{k}: {v}")


@app.command()
def stats(
    collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION."),
    tenant: str = typer.Option(None, help="Count one tenant only (default: all tenants)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Count documents and chunks in a collection."""

    def run() -> None:
        from hybrid_search.factory import build_store
        from hybrid_search.store import ops

        s = settings(collection=collection)
        store = build_store(s, create=False)
        try:
            st = ops.stats(store, s.collection, tenant)
            out: dict[str, Any] = asdict(st)
            if s.is_milvus_lite():  # the whole collection's size decides its search latency
                total = st.chunks if tenant is None else ops.stats(store, s.collection).chunks
                out["lite_capacity"] = lite_capacity(total, s)
        finally:
            store.close()
        if as_json:
            emit_json(out)
        else:
            typer.echo(
                f"{s.collection}: {st.documents} documents, {st.chunks} chunks, "
                f"{st.colbert_rows} ColBERT rows"
            )
            if "lite_capacity" in out:
                typer.echo(describe_capacity(out["lite_capacity"]))

    handle_errors(as_json, run)


@app.command()
def delete(
    doc_ids: list[str] = typer.Argument(None, help="Document ids to delete."),
    filter_json: str = typer.Option(
        None, "--filter", help="Delete what a filter matches (JSON, as for search)."
    ),
    collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION."),
    tenant: str = typer.Option(None, help="HYBRID_SEARCH_TENANT (default 'default')."),
    missing_ok: bool = typer.Option(
        False, "--missing-ok", help="Exit 0 even if some ids are not stored."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete documents (ids, or --filter): their chunks and their ColBERT token vectors.

    Ids that are not stored are named and the exit code is 3, unless --missing-ok.
    """

    def run() -> None:
        from hybrid_search.deletion import delete_many
        from hybrid_search.factory import build_store

        if bool(doc_ids) == (filter_json is not None):
            raise InvalidRequestError("give document ids or --filter, not both or neither")
        try:
            where = json.loads(filter_json) if filter_json is not None else None
        except ValueError as exc:
            raise InvalidRequestError(f"--filter is not JSON: {exc}") from None
        s = settings(collection=collection, tenant=tenant)
        store = build_store(s, create=False)
        try:
            store.describe(s.collection)
            done = delete_many(store, s.collection, s.tenant, doc_ids or None, where)
        finally:
            store.close()
        missing = [d for d, ok in done if not ok]
        n = len(done) - len(missing)
        out = {"deleted": n, "requested": len(done), "missing": missing}
        if missing and not missing_ok:
            shown = ", ".join(repr(d) for d in missing[:10]) + (" ..." if len(missing) > 10 else "")
            fail(
                f"{len(missing)} of {len(done)} documents not found in collection "
                f"'{s.collection}' for tenant '{s.tenant}': {shown}; deleted {n}. "
                "Pass --missing-ok to allow ids that are not stored",
                code="not_found",
                exit_code=EXIT_PARTIAL,
                as_json=as_json,
                details=out,
            )
        if as_json:
            emit_json(out)
        else:
            typer.echo(f"deleted {n} of {len(done)} documents")

    handle_errors(as_json, run)


@app.command()
def drop(
    collection: str = typer.Argument(..., help="The collection to drop."),
    tenant: str = typer.Option(
        None, help="Drop only this tenant's documents (default: HYBRID_SEARCH_TENANT when set)."
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Drop without asking."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Drop a collection (chunks, ColBERT vectors, saved defaults), or with a tenant set only
    that tenant's documents in it. Asks first unless --yes."""

    def run() -> None:
        from hybrid_search.deletion import drop_tenant
        from hybrid_search.factory import build_store
        from hybrid_search.store import ops
        from hybrid_search.store.base import has_collection

        s = settings(collection=collection, tenant=tenant)
        only = s.tenant if "tenant" in s.model_fields_set else None  # set by option or env
        store = build_store(s, create=False)
        try:
            if not has_collection(store, s.collection):
                raise CollectionNotFoundError(
                    f"no collection '{s.collection}' at {s.milvus_uri} "
                    "(HYBRID_SEARCH_MILVUS_URI); nothing dropped",
                    details={"collection": s.collection},
                )
            n = ops.stats(store, s.collection, only).documents
            where = f"collection '{s.collection}' at {s.milvus_uri}"
            what = (
                f"tenant '{only}'s {n} documents in {where}" if only else f"{where} ({n} documents)"
            )
            try:
                if not yes:
                    typer.confirm(f"drop {what}?", abort=True, err=True)
            except typer.Abort:
                fail(
                    f"not dropped: {what}; answer y, or pass --yes",
                    code="not_confirmed",
                    as_json=as_json,
                )
            if only:
                drop_tenant(store, s.collection, only)
            else:
                store.drop(s.collection)
        finally:
            store.close()
        if as_json:
            emit_json({"dropped": s.collection, "tenant": only, "documents": n})
        else:
            typer.echo(f"dropped {what}")

    handle_errors(as_json, run)
