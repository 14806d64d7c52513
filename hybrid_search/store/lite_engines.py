"""The two Milvus Lite engines, what each can do, and how the C++ one is started.

Milvus Lite 3.x is the `milvus-lite` package pymilvus imports: pure Python, a data *directory*.
Milvus Lite 2.5.1 is the last C++ build: `make install` unpacks it beside the venv (it shares
3.x's distribution name, so it cannot be installed into it), and the store runs its `milvus`
binary on a Unix socket for a data *file*. An existing path is opened by the engine that wrote
it; a new one by HYBRID_SEARCH_LITE_ENGINE. Their files are not interchangeable: `hybrid-search
migrate` copies a collection from one to the other without re-encoding.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from hybrid_search.errors import ConfigError, StoreLockedError, StoreUnavailableError

LiteEngine = Literal["3", "2.5"]
#: the setting: an engine, or auto
EngineSetting = Literal["auto", "3", "2.5"]
#: new Lite files: 2.5 where `make install` unpacked it, else 3 (README "How far Lite goes")
DEFAULT_ENGINE: EngineSetting = "auto"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Where Milvus deployments differ in what the store uses (probed on 2.5.1's local mode:
    `python -m hybrid_search.benchmarks.lite25`)."""

    #: HNSW indexes (2.5.1 local mode: FLAT, IVF_FLAT and AUTOINDEX only)
    hnsw: bool = True
    #: filters on a collection with a partition-key field (2.5.1 answers "Invalid expr")
    partition_key: bool = True
    #: collection properties kept and altered (2.5.1 drops them; alter is UNIMPLEMENTED)
    properties: bool = True
    #: the `not` operator (2.5.1 answers "unsupported expr proto node")
    negation: bool = True
    #: jieba leaves out spaces and punctuation (2.5.1 emits them as tokens)
    jieba_words_only: bool = True


FULL = Capabilities()
LITE_25 = Capabilities(False, False, False, negation=False, jieba_words_only=False)


def engine_of(path: Path) -> LiteEngine | None:
    """The engine that wrote `path` (3.x keeps a directory, 2.5 a file); None if absent."""
    path = path.expanduser()
    if path.is_dir():
        return "3"
    return "2.5" if path.exists() else None


def resolve_engine(uri: str, configured: EngineSetting) -> LiteEngine:
    """The engine of the file at `uri`: its own if it exists, else the configured one."""
    found = engine_of(Path(uri))
    if found is not None:
        return found
    return default_engine() if configured == "auto" else configured


def default_engine() -> LiteEngine:
    """The C++ engine where it is installed: bench (g) measured it 20x faster at 100k chunks."""
    return "2.5" if os.access(lite25_home() / "milvus", os.X_OK) else "3"


def lite25_home() -> Path:
    """Where `make install` unpacked milvus-lite 2.5.1 (`--target .venv/milvus-lite-2.5`)."""
    return Path(sys.prefix) / "milvus-lite-2.5" / "milvus_lite" / "lib"


def lite_version(engine: LiteEngine) -> str:
    from importlib import metadata

    return metadata.version("milvus-lite") if engine == "3" else lite25_version()


def lite25_version() -> str:
    """The unpacked milvus-lite's version (from its dist-info beside the package)."""
    from importlib import metadata

    found = list(metadata.distributions(path=[str(lite25_home().parent.parent)]))
    return found[0].version if found else "2.5 (not installed)"


def lite25_binary() -> Path:
    binary = lite25_home() / "milvus"
    if not os.access(binary, os.X_OK):
        raise ConfigError(
            f"Milvus Lite 2.5 is not installed ({binary} missing): run `make install`, which "
            "unpacks milvus-lite 2.5.1 there, or set HYBRID_SEARCH_LITE_ENGINE=3 for new files",
            details={"binary": str(binary)},
        )
    return binary


def lock_path(db_file: Path) -> Path:
    """The lock 2.5.1 watches: it serves while its parent holds it, and exits once released."""
    return db_file.with_name(f".{db_file.name}.lock")


def hold_lock(db_file: Path) -> IO[str]:
    """Take the file's lock for this process, or say who holds it."""
    from hybrid_search.store.lite_lock import locked_message

    handle = lock_path(db_file).open("a")
    try:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StoreLockedError(
            locked_message(str(db_file), lock_path(db_file)), details={"uri": str(db_file)}
        ) from None
    return handle


def server_command(db_file: Path, address: str) -> tuple[list[str], dict[str, str]]:
    """The 2.5.1 binary serving `db_file` at `address` (host:port, or `unix:` socket path)."""
    lib = lite25_binary().parent
    env = {**os.environ, "LD_LIBRARY_PATH": f"{lib}:{os.environ.get('LD_LIBRARY_PATH', '')}"}
    return [str(lib / "milvus"), str(db_file), address, "ERROR"], env


@dataclass
class _Embedded:
    proc: subprocess.Popen[bytes]
    lock: IO[str]
    socket: Path
    users: int = 0


_started: dict[Path, _Embedded] = {}
_guard = threading.Lock()


def open_lite25(uri: str, timeout_s: float = 60.0) -> str:
    """The `unix:` URI of this process's 2.5.1 server for the file at `uri`, started at the
    first call and shared by later ones until each has called `close_lite25`."""
    db_file = Path(uri).expanduser().resolve()
    with _guard:
        found = _started.get(db_file)
        if found is not None and found.proc.poll() is None:
            found.users += 1
            return f"unix:{found.socket}"
        lock = found.lock if found is not None else hold_lock(db_file)
        socket = Path(tempfile.mkdtemp(prefix="milvus-lite-")) / "milvus.sock"
        cmd, env = server_command(db_file, f"unix:{socket}")
        cmd.append(str(lock_path(db_file)))
        log = socket.with_name("milvus.log")
        with log.open("ab") as out:
            proc = subprocess.Popen(cmd, env=env, cwd=db_file.parent, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout_s
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                err = log.read_text(errors="replace")[-500:]
                raise StoreUnavailableError(
                    f"Milvus Lite 2.5 did not start for {db_file} (exit status {proc.poll()}): "
                    f"{err.strip() or 'no output'}",
                    details={"uri": str(db_file)},
                )
            time.sleep(0.01)
        _started[db_file] = _Embedded(proc, lock, socket, users=1)
        return f"unix:{socket}"


def close_lite25(uri: str) -> None:
    """One user fewer; the last one stops the server (it exits once its lock is released)."""
    db_file = Path(uri).expanduser().resolve()
    with _guard:
        found = _started.get(db_file)
        if found is None:
            return
        found.users -= 1
        if found.users <= 0:
            _stop(_started.pop(db_file))


def _stop(e: _Embedded) -> None:
    e.lock.close()
    try:
        e.proc.wait(10)
    except subprocess.TimeoutExpired:
        e.proc.kill()
        e.proc.wait(10)
    e.socket.unlink(missing_ok=True)


@atexit.register
def _stop_all() -> None:
    """Release the locks: each server sees it and exits (it would at this process's end too)."""
    with _guard:
        for e in _started.values():
            _stop(e)
        _started.clear()
