"""`hybrid-search doctor`: the one command to run when something is off. Exit 0 when every check
passes, 1 otherwise."""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from hybrid_search.cli.app import EXIT_FATAL, app, emit_json, settings

if TYPE_CHECKING:
    from hybrid_search.settings import Settings

#: the packages whose versions decide whether the engine works
KEY_PACKAGES = (
    "torch",
    "transformers",
    "tokenizers",
    "FlagEmbedding",
    "pymilvus",
    "milvus-lite",
    "numpy",
    "pydantic",
    "pydantic-settings",
    "fastapi",
    "httpx",
)
LOCK = Path(__file__).resolve().parents[2] / "requirements.lock"


def lock_file() -> Path:
    """The set this environment was installed from: a `requirements.lock` in the environment itself
    (one built from another set, such as `make test-latest`'s) wins over the checkout's."""
    own = Path(sys.prefix) / "requirements.lock"
    return own if own.exists() else LOCK


#: below this, Milvus Lite writes (and compaction) start failing
MIN_FREE_BYTES = 1 << 30


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def locked_versions(lock: Path | None = None) -> dict[str, str]:
    lock = lock or lock_file()
    if not lock.exists():
        return {}
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", lock.read_text(), re.MULTILINE)
    return {_norm(name): version for name, version in pins}


def check_packages(lock: Path | None = None) -> list[Check]:
    locked = locked_versions(lock)
    checks = []
    for name in KEY_PACKAGES:
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        want = locked.get(_norm(name))
        if have is None:
            ok, detail = want is None, "not installed"
        elif want is None:
            ok, detail = True, f"{have} (no lock here to compare)"
        else:
            ok = have == want
            detail = have if ok else f"{have}, the lock says {want}: run `make install`"
        checks.append(Check(f"package {name}", ok, detail))
    return checks


def check_models(s: Settings) -> list[Check]:
    from hybrid_search.encoders.loading import LazyModel
    from hybrid_search.factory import build_encoder, build_reranker

    checks = []
    for what, model in (("embedding model", build_encoder(s)), ("reranker", build_reranker(s))):
        if not isinstance(model, LazyModel):  # every FlagEmbedding-backed model is one
            checks.append(Check(what, True, f"{type(model).__name__}: not a FlagEmbedding model"))
            continue
        try:
            loaded = model.load()
        except Exception as exc:  # the check reports, it never stops the others
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            checks.append(Check(what, False, message))
            continue
        package = type(loaded).__module__.split(".")[0]
        checks.append(Check(what, True, f"{model.name} loads as {package}.{type(loaded).__name__}"))
    return checks


def check_milvus(s: Settings) -> list[Check]:
    from hybrid_search.settings import redact_uri
    from hybrid_search.store.probe import probe_milvus

    token = s.milvus_token.get_secret_value() if s.milvus_token else None
    probe = probe_milvus(s.milvus_uri, token=token, db_name=s.milvus_db, lite_engine=s.lite_engine)
    shown = redact_uri(s.milvus_uri)  # the report may be pasted into an issue
    if not probe.reachable:
        return [Check("milvus", False, f"{probe.kind} at {shown}: {probe.error}")]
    where = f"{probe.kind} {probe.version} at {shown}"
    if probe.error:  # reachable, with a remark
        return [Check("milvus", True, f"{where}: {probe.error}")]
    has = s.collection in probe.collections
    detail = f"{where}; collection '{s.collection}' " + (
        "present" if has else f"absent (collections: {', '.join(probe.collections) or 'none'})"
    )
    checks = [Check("milvus", True, detail)]
    if has and probe.kind == "Milvus Lite":
        checks.append(check_capacity(s))
    return checks


def check_capacity(s: Settings) -> Check:
    """The collection's size against Milvus Lite's capacity (past it: ok, slow is not broken)."""
    from hybrid_search.capacity import describe_capacity, lite_capacity
    from hybrid_search.factory import build_store
    from hybrid_search.store import ops

    try:
        store = build_store(s, create=False)
        try:
            chunks = ops.stats(store, s.collection).chunks
        finally:
            store.close()
    except Exception as exc:  # the check reports, it never stops the others
        return Check("lite capacity", False, getattr(exc, "message", None) or str(exc))
    return Check("lite capacity", True, describe_capacity(lite_capacity(chunks, s)))


def check_disk(s: Settings) -> list[Check]:
    from hybrid_search.settings import is_lite_uri

    if not is_lite_uri(s.milvus_uri):
        return [Check("disk", True, "Milvus server: its disk is the server's to watch")]
    where = Path(s.milvus_uri).expanduser().resolve()
    while not where.exists():
        where = where.parent
    free = shutil.disk_usage(where).free
    ok = free >= MIN_FREE_BYTES
    return [Check("disk", ok, f"{free / 2**30:.1f} GiB free at {where}")]


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of a table."),
    skip_models: bool = typer.Option(False, help="Do not load the models (they can be large)."),
) -> None:
    """Check packages against the lock, the models, Milvus at the URI and free disk."""
    s = settings()
    checks = check_packages()
    if not skip_models:
        checks += check_models(s)
    checks += check_milvus(s) + check_disk(s)
    from hybrid_search.encoders.tiny import tiny_reminder

    if reminder := tiny_reminder(s.embedding_model):
        checks.append(Check("model quality", True, reminder))  # usable, not meaningful
    ok = all(c.ok for c in checks)
    if as_json:
        emit_json({"ok": ok, "checks": [asdict(c) for c in checks]})
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table("check", "", "detail", box=None)
        for c in checks:
            table.add_row(c.name, "[green]ok[/]" if c.ok else "[red]FAIL[/]", c.detail)
        Console().print(table)
    if not ok:
        raise typer.Exit(EXIT_FATAL)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
