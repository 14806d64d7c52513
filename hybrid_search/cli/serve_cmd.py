"""`hybrid-search serve` (the HTTP service under uvicorn), `hybrid-search mcp` (its MCP tools over
stdio) and `hybrid-search keys create`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from hybrid_search.cli.app import EXIT_FATAL, app, emit_json, fail, handle_errors, settings

if TYPE_CHECKING:
    from pydantic import ValidationError

keys_app = typer.Typer(help="Create API keys for the HTTP service.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

#: seconds uvicorn lets in-flight requests finish after SIGTERM/SIGINT before closing them
DEFAULT_GRACEFUL_S = 15.0


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _invalid_option(exc: ValidationError, code: str) -> NoReturn:
    e = exc.errors()[0]
    fail(f"invalid --{e['loc'][0]}: {e['msg']}", code=code)


@app.command()
def serve(
    host: str = typer.Option(None, help="HYBRID_SEARCH_SERVICE__HOST (default 127.0.0.1)."),
    port: int = typer.Option(None, help="HYBRID_SEARCH_SERVICE__PORT (default 8000)."),
    collection: str = typer.Option(None, help="HYBRID_SEARCH_COLLECTION."),
    graceful_timeout: float = typer.Option(
        DEFAULT_GRACEFUL_S, help="Seconds in-flight requests get to finish on shutdown."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level: debug | info | warning."),
    lite_server: bool | None = typer.Option(
        None,
        "--lite-server/--embedded",
        help="A Milvus Lite path is served by a supervised `milvus-lite server` child (the "
        "default: its memory is its own and goes with it; restarted if it dies), or embedded "
        "in this process.",
        show_default=False,
    ),
) -> None:
    """Serve search, documents and RAG context over HTTP (OpenAPI at /docs).

    Without API keys the service is single-tenant and refuses to listen beyond loopback.
    """

    def run() -> None:
        from pydantic import ValidationError

        from hybrid_search.settings import ServiceSettings

        s = settings(collection=collection)
        updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
        try:
            service = ServiceSettings.model_validate({**s.service.model_dump(), **updates})
        except ValidationError as exc:
            _invalid_option(exc, "config_error")
        s = s.model_copy(update={"service": service})
        check_port_free(service.host, service.port)  # before the models load, not after
        logging.getLogger("hybrid_search").setLevel(logging.INFO)
        child = None
        # default: a child for a Lite path, nothing for a server URI
        use_child = s.is_milvus_lite() if lite_server is None else lite_server
        if use_child:
            from hybrid_search.service.supervisor import LiteServer

            if not s.is_milvus_lite():
                fail(
                    "--lite-server needs a Milvus Lite path as HYBRID_SEARCH_MILVUS_URI",
                    code="config_error",
                )
            from hybrid_search.store.lite_lock import check_unlocked, served_address

            if address := served_address(s.milvus_uri):
                fail(
                    f"{s.milvus_uri} is already served (Milvus child at {address})",
                    exit_code=EXIT_FATAL,
                )
            check_unlocked(s.milvus_uri)  # names the holder before the models load
            from hybrid_search.store.lite_engines import resolve_engine

            child = LiteServer(
                Path(s.milvus_uri), engine=resolve_engine(s.milvus_uri, s.lite_engine)
            )
            child.start()  # recorded beside the file: this process and the CLI connect to it
        try:
            import uvicorn

            from hybrid_search.process import (
                bound_kernel_cache,
                limit_malloc_arenas,
                shorten_gil_switch_interval,
            )
            from hybrid_search.service.app import create_app

            limit_malloc_arenas()  # this process is the service: before its worker threads start
            bound_kernel_cache()  # before the models' first forward pass
            shorten_gil_switch_interval()
            web = create_app(s)
            typer.echo(
                f"hybrid-search: serving collection '{s.collection}' on "
                f"{_url(service.host, service.port)} (OpenAPI: /docs, health: /readyz)",
                err=True,
            )
            uvicorn.run(
                web,
                host=service.host,
                port=service.port,
                timeout_graceful_shutdown=int(graceful_timeout),
                log_level=log_level,
                access_log=log_level == "debug",
            )
        finally:
            if child is not None:
                child.stop()

    handle_errors(False, run)


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


def check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            fail(
                f"cannot listen on {_url(host, port)}: {exc.strerror}; stop what uses port "
                f"{port} or pick another with --port N (HYBRID_SEARCH_SERVICE__PORT)",
                code="config_error",
            )


@keys_app.command("create")
def keys_create(
    tenant: str = typer.Option(None, help="The tenant this key may act on."),
    admin: bool = typer.Option(False, "--admin", help="An admin key: may name any tenant."),
    name: str = typer.Option("", help="A label for logs and config reviews."),
    read_only: bool = typer.Option(False, "--read-only", help="A key that may not write."),
    as_json: bool = typer.Option(False, "--json", help="Print {key, entry} as JSON."),
) -> None:
    """Print a new random API key and the entry for HYBRID_SEARCH_SERVICE__API_KEYS.

    Only the key's SHA-256 goes into the configuration; the key itself is shown once.
    """
    import secrets

    from pydantic import ValidationError

    from hybrid_search.settings import ApiKey, hash_api_key

    if not tenant and not admin:
        fail("give --tenant T or --admin", code="usage", as_json=as_json)
    key = secrets.token_urlsafe(32)
    try:
        entry = ApiKey(
            sha256=hash_api_key(key),
            tenant=tenant or None,
            admin=admin,
            write=not read_only,
            name=name,
        )
    except ValidationError as exc:
        _invalid_option(exc, "usage")
    data = entry.model_dump(exclude_defaults=True)
    if as_json:
        emit_json({"key": key, "entry": data})
        return
    typer.echo(f"API key (shown once, store it now): {key}")
    typer.echo("Add this entry to the JSON list in HYBRID_SEARCH_SERVICE__API_KEYS:")
    typer.echo(json.dumps(data))
