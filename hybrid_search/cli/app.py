"""The typer app, the global setting options and the helpers every command shares."""

from __future__ import annotations

import inspect
import json
import logging
import sys
from collections.abc import Callable
from functools import partial
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


#: the global options given to this CLI process
_overrides: dict[str, Any] = {}


#: the settings every command also takes as an option (`--milvus-uri` ...), over the environment
GLOBAL_SETTINGS = (
    "milvus_uri", "milvus_token", "embedding_model", "embedding_kind", "reranker_model", "device",
    "use_fp16", "batch_size", "batch_tokens", "max_chunk_tokens", "chunk_overlap_tokens",
    "bm25_analyzer", "encoder_precision",
)  # fmt: skip


def main(verbose: bool = False, **overrides: Any) -> None:
    """Settings come from HYBRID_SEARCH_* variables and .env; these options override them."""
    _overrides.clear()
    _overrides.update({k: v for k, v in overrides.items() if v is not None})
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("pymilvus", "jieba", "transformers", "FlagEmbedding", "httpx"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.ERROR)


def _global_options() -> inspect.Signature:
    """`main`'s options, derived from `Settings`: each setting's type and description."""
    from hybrid_search.settings import Settings

    param = partial(inspect.Parameter, kind=inspect.Parameter.KEYWORD_ONLY)

    def option(name: str) -> inspect.Parameter:
        field = Settings.model_fields[name]
        help = f"HYBRID_SEARCH_{name.upper()}: {field.description or ''}"
        kind = int if field.annotation is int else str
        return param(name, default=typer.Option(None, help=help), annotation=kind)

    verbose = typer.Option(False, "--verbose", "-v", help="Log to stderr.")
    return inspect.Signature(
        [*map(option, GLOBAL_SETTINGS), param("verbose", default=verbose, annotation=bool)]
    )


main.__signature__ = _global_options()  # type: ignore[attr-defined]
app.callback()(main)


def settings(*, read_env_file: bool = True, **more: Any) -> Settings:
    """Settings with CLI overrides; invalid values exit with a message naming the setting."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    from hybrid_search.settings import Settings

    values = {**_overrides, **{k: v for k, v in more.items() if v is not None}}
    if not read_env_file:
        values["_env_file"] = None
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{env_name(e['loc'])}={shown(env_name(e['loc']), e['input'])}: {e['msg']}"
            for e in exc.errors()
        )
        fail(f"invalid settings: {problems}", code="config_error")
    except SettingsError as exc:  # a nested setting's value that is not JSON
        fail(bad_json_setting(str(exc)), code="config_error")


def env_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return "HYBRID_SEARCH_" + "__".join(str(p) for p in loc).upper()


def shown(name: str, value: Any) -> str:
    secret = any(w in name for w in ("KEY", "TOKEN", "PASSWORD"))
    return "<hidden>" if secret else repr(value)


def bad_json_setting(error: str) -> str:
    """Which HYBRID_SEARCH_* variable holds the JSON that pydantic-settings could not parse."""
    import os
    import re

    field = (re.findall(r'field "(\w+)"', error) or ["?"])[0].upper()
    problems = []
    for name, value in os.environ.items():
        if name.upper().startswith(f"HYBRID_SEARCH_{field}"):
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{name}={shown(name, value)} ({exc.msg} at column {exc.colno})")
    where = "; ".join(problems) or f"HYBRID_SEARCH_{field}* (in the environment or .env)"
    return f"invalid settings: {where} is not valid JSON; give a JSON value or unset it"


def emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def fail(
    message: str,
    *,
    code: str = "error",
    exit_code: int = EXIT_USAGE,
    as_json: bool = False,
    details: dict[str, Any] | None = None,
) -> NoReturn:
    if as_json:
        emit_json({"error": {"code": code, "message": message, "details": details or {}}})
    sys.stderr.write(f"hybrid-search: error: {message}\n")
    raise typer.Exit(exit_code)


def handle_errors(as_json: bool, fn: Callable[[], None]) -> None:
    """Our errors become one line on stderr (and JSON on stdout with --json), never a traceback."""
    from hybrid_search.errors import ConfigError, HybridSearchError, InvalidRequestError

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
