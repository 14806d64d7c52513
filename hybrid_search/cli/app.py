"""The typer app, the global setting options and the helpers every command shares."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from hybrid_search.settings import Settings

app = typer.Typer(
    name="hybrid-search",
    help="Hybrid search on Milvus: BGE-M3 dense + sparse + ColBERT, BM25, RRF and a reranker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Build or inspect models.", no_args_is_help=True)
app.add_typer(models_app, name="models")

F = TypeVar("F", bound=Callable[..., Any])

#: exit codes: 0 ok, 1 fatal error, 2 bad usage or configuration, 3 some records failed
EXIT_FATAL, EXIT_USAGE, EXIT_PARTIAL = 1, 2, 3


class State:
    overrides: dict[str, Any] = {}  # noqa: RUF012  (one CLI process, one state)


@app.callback()
def main(
    milvus_uri: str = typer.Option(
        None, envvar=None, help="HYBRID_SEARCH_MILVUS_URI: Milvus Lite file or server URI."
    ),
    milvus_token: str = typer.Option(None, help="HYBRID_SEARCH_MILVUS_TOKEN (e.g. user:password)."),
    embedding_model: str = typer.Option(
        None, help="HYBRID_SEARCH_EMBEDDING_MODEL: hub name or local dir."
    ),
    embedding_kind: str = typer.Option(None, help="HYBRID_SEARCH_EMBEDDING_KIND: bge-m3 | dense."),
    reranker_model: str = typer.Option(
        None, help="HYBRID_SEARCH_RERANKER_MODEL: hub name or local dir."
    ),
    device: str = typer.Option(None, help="HYBRID_SEARCH_DEVICE: cpu | cuda | auto."),
    use_fp16: str = typer.Option(None, help="HYBRID_SEARCH_USE_FP16: auto | true | false."),
    batch_size: int = typer.Option(
        None, help="HYBRID_SEARCH_BATCH_SIZE: max rows per encode batch."
    ),
    batch_tokens: int = typer.Option(
        None, help="HYBRID_SEARCH_BATCH_TOKENS: padded tokens per batch."
    ),
    max_chunk_tokens: int = typer.Option(None, help="HYBRID_SEARCH_MAX_CHUNK_TOKENS (<= 8192)."),
    chunk_overlap_tokens: int = typer.Option(None, help="HYBRID_SEARCH_CHUNK_OVERLAP_TOKENS."),
    bm25_analyzer: str = typer.Option(
        None, help="HYBRID_SEARCH_BM25_ANALYZER: jieba | standard | english | chinese."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log to stderr."),
) -> None:
    """Settings come from HYBRID_SEARCH_* variables and .env; these options override them."""
    State.overrides = {
        k: v
        for k, v in {
            "milvus_uri": milvus_uri,
            "milvus_token": milvus_token,
            "embedding_model": embedding_model,
            "embedding_kind": embedding_kind,
            "reranker_model": reranker_model,
            "device": device,
            "use_fp16": use_fp16,
            "batch_size": batch_size,
            "batch_tokens": batch_tokens,
            "max_chunk_tokens": max_chunk_tokens,
            "chunk_overlap_tokens": chunk_overlap_tokens,
            "bm25_analyzer": bm25_analyzer,
        }.items()
        if v is not None
    }
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("pymilvus", "jieba", "transformers", "FlagEmbedding", "httpx"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)


def settings(*, read_env_file: bool = True, **more: Any) -> Settings:
    """Settings with CLI overrides; invalid values exit with a message naming the setting."""
    from pydantic import ValidationError

    from hybrid_search.settings import Settings

    values = {**State.overrides, **{k: v for k, v in more.items() if v is not None}}
    if not read_env_file:
        values["_env_file"] = None
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid settings: {problems}", code="config_error", exit_code=EXIT_USAGE)


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def fail(
    message: str,
    *,
    code: str = "error",
    exit_code: int = EXIT_FATAL,
    as_json: bool = False,
    details: dict[str, Any] | None = None,
) -> NoReturn:
    if as_json:
        emit_json({"error": {"code": code, "message": message, "details": details or {}}})
    sys.stderr.write(f"hybrid-search: error: {message}\n")
    raise typer.Exit(exit_code)


def handle_errors(as_json: bool, fn: Callable[[], None]) -> None:
    """Our errors become one line on stderr (and JSON on stdout with --json), never a traceback."""
    from hybrid_search.errors import (
        ConfigError,
        HybridSearchError,
        InvalidRequestError,
    )

    try:
        fn()
    except HybridSearchError as exc:
        usage = isinstance(exc, ConfigError | InvalidRequestError)
        fail(
            exc.message,
            code=exc.code,
            exit_code=EXIT_USAGE if usage else EXIT_FATAL,
            as_json=as_json,
            details=exc.details,
        )


def is_tty() -> bool:
    return sys.stderr.isatty()
