"""Who holds a Milvus Lite file: one line naming the process (from Linux's /proc/locks) instead
of milvus_lite's traceback. Milvus Lite lets one process open a file, by an exclusive `flock` on
`<data dir>/LOCK`; probing that lock before connecting never starts a second embedded server."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

from hybrid_search.errors import StoreLockedError

LOCK_FILENAME = "LOCK"  # milvus_lite.db.LOCK_FILENAME


def address_file(uri: str) -> Path:
    """Where `serve` records the address of the Milvus child that holds the Lite file."""
    path = Path(uri).expanduser().resolve()
    return path.with_name(path.name + ".serve.json")


def served_address(uri: str) -> str | None:
    """The address of a running `serve`'s Milvus child for this Lite file, if there is one:
    other processes then share it instead of being refused the file."""
    from hybrid_search.ports import port_open

    try:
        address = str(json.loads(address_file(uri).read_text("utf-8"))["uri"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return address if port_open(int(address.rsplit(":", 1)[1])) else None


def check_unlocked(uri: str) -> None:
    """Raise StoreLockedError when another process holds the Lite file at `uri`."""
    lock = Path(uri).expanduser() / LOCK_FILENAME
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = lock_holder(lock)
        if holder == os.getpid():  # this process's embedded server: MilvusClient reuses it
            return
        raise StoreLockedError(_message(uri, holder), details={"uri": uri}) from None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_holder(lock: Path) -> int | None:
    """The PID holding a flock on `lock`, from /proc/locks (None where that cannot be known)."""
    try:
        inode = lock.stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 3416 fe:00:2156540 0 EOF"
        parts = line.split()
        held = len(parts) >= 6 and parts[1] in ("FLOCK", "POSIX")  # 3.x flock, 2.5 lockf
        if held and parts[5].rsplit(":", 1)[-1] == str(inode):
            with contextlib.suppress(ValueError):
                return int(parts[4])
    return None


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    line = " ".join(Path(words[0]).name if i == 0 else w for i, w in enumerate(words))
    return " ".join(line.split())[:120]  # one line, even for `python -c "..."`


def locked_message(uri: str, lock: Path) -> str:
    return _message(uri, lock_holder(lock))


def _message(uri: str, pid: int | None) -> str:
    who = "another process"
    if pid is not None:
        command = _command(pid)
        who = f"process {pid}" + (f" ({command})" if command else "")
        if "milvus_lite" in command:  # a child: name the process the user started
            with contextlib.suppress(OSError, IndexError, ValueError):
                parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                who = f"process {parent} ({_command(parent)}) through its Milvus child {pid}"
    remedy = (
        f"serve the file once with `milvus-lite server --data-dir {uri} --host 127.0.0.1 "
        "--port 19530` and set HYBRID_SEARCH_MILVUS_URI=http://127.0.0.1:19530 for every process"
        if not Path(uri).expanduser().is_file()  # Milvus Lite 3.x; a 2.5 file: `serve` shares
        else "run `hybrid-search serve` on it: other processes then share its Milvus child"
    )
    return (
        f"the Milvus Lite file {uri} is in use by {who}; Milvus Lite allows one process per "
        f"file: stop that process, or {remedy}"
    )
