"""`hybrid-search search`: one query from the terminal, as a table or as JSON."""

from __future__ import annotations

import json

import typer

from hybrid_search.cli.app import app, emit_json, fail, handle_errors, settings


@app.command()
def search(
    query: str = typer.Argument(..., help="The query text."),
    collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION."),
    top_k: int = typer.Option(10, "--top-k", "-k", help="Hits to return (1-1000)."),
    offset: int = typer.Option(
        0,
        help="Hits to skip: --offset 10 -k 10 is the second page of ten. offset + top-k must "
        "not exceed the candidate depth (--candidates, default 100).",
    ),
    routes: str = typer.Option(
        None, help="Comma-separated routes: dense,sparse,bm25,colbert (default all)."
    ),
    fusion: str = typer.Option(
        None,
        help="rrf | weighted | minmax (default: the collection's saved default, else rrf).",
    ),
    rerank: bool = typer.Option(
        True, "--rerank/--no-rerank", help="Rescore the top candidates with the reranker."
    ),
    rerank_top_n: int = typer.Option(None, help="Candidates to rerank (default 20)."),
    rerank_mode: str = typer.Option(
        "replace",
        help="replace: the reranker's order replaces the first stage's; fuse: the two orders "
        "are fused by RRF, so a weak reranker cannot overturn a strong first stage.",
    ),
    rerank_weight: float = typer.Option(1.0, help="fuse mode: the reranker's RRF weight."),
    candidates: int = typer.Option(None, help="Candidate depth per route (default 100)."),
    filter_json: str = typer.Option(
        None,
        "--filter",
        help='Structured filter as JSON, e.g. \'{"field": "doc_id", "op": "eq", "value": "a"}\'.',
    ),
    tenant: str = typer.Option(None, help="HYBRID_SEARCH_TENANT (default 'default')."),
    chunks: bool = typer.Option(
        False, "--chunks", help="Return chunks instead of the best chunk per document."
    ),
    explain: bool = typer.Option(
        True,
        "--explain/--no-explain",
        help="Score every hit on every route. Off: unweighted RRF without ColBERT runs as one "
        "Milvus hybrid_search, and hits show only the routes that found them, or none.",
    ),
    highlight: bool = typer.Option(
        False,
        "--highlight",
        help="Mark the query's terms in each hit and show a snippet around the best match.",
    ),
    as_json: bool = typer.Option(False, "--json", help="The full response as JSON."),
) -> None:
    """Search a collection: Milvus routes, RRF fusion, reranking; explained and timed."""

    def run() -> None:
        flt = None
        if filter_json:
            try:
                flt = json.loads(filter_json)
            except json.JSONDecodeError as exc:
                fail(
                    f"--filter is not valid JSON: {exc.msg} at column {exc.colno}",
                    code="invalid_filter",
                    as_json=as_json,
                )
        chosen_routes = [r.strip() for r in (routes or "").split(",") if r.strip()]
        from hybrid_search.factory import build_encoder, build_reranker, build_store, warm_bm25

        s = settings(collection=collection)
        store = build_store(s, create=False)
        warm_bm25(store, s.collection)  # beside the imports and model loading below
        from hybrid_search.cli.load_note import note_big_load
        from hybrid_search.cli.render import print_response
        from hybrid_search.encoders import loading
        from hybrid_search.searcher import HybridSearcher

        loading.load_hook = note_big_load

        searcher = HybridSearcher(
            store, build_encoder(s), build_reranker(s), collection=s.collection, settings=s
        )
        try:
            response = searcher.search(
                query,
                top_k=top_k,
                offset=offset,
                # routes and fusion only when given: else the collection's saved defaults apply
                **({"routes": chosen_routes} if chosen_routes else {}),
                **({"fusion": fusion} if fusion else {}),
                rerank=rerank,
                rerank_top_n=rerank_top_n,
                rerank_mode=rerank_mode,
                rerank_weight=rerank_weight,
                candidates=candidates,
                filter=flt,
                tenant=tenant,
                group_by_doc=not chunks,
                explain=explain,
                highlight=highlight,
            )
        finally:
            searcher.close()
        if as_json:
            emit_json(response.model_dump(mode="json"))
        else:
            print_response(response)
        from hybrid_search.encoders.tiny import tiny_reminder

        if reminder := tiny_reminder(s.embedding_model):
            typer.echo(reminder, err=True)

    handle_errors(as_json, run)
