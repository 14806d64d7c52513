"""`hybrid-search mcp`: the MCP tools over stdio, for Claude Desktop and agent frameworks."""

from __future__ import annotations

import os

import typer

from hybrid_search.cli.app import app, handle_errors, settings


@app.command()
def mcp(collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION.")) -> None:
    """Serve search, rag_context and get_document (ingest_documents for a key that may write) as
    MCP tools over stdin/stdout. The key, when the service has keys, is HYBRID_SEARCH_API_KEY."""

    def run() -> None:
        import anyio

        from hybrid_search.service.app import create_app
        from hybrid_search.service.mcp_server import serve_stdio

        web = create_app(settings(collection=collection))
        anyio.run(serve_stdio, web, os.environ.get("HYBRID_SEARCH_API_KEY"))

    handle_errors(False, run)
