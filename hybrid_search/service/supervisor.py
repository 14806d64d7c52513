"""Milvus Lite out of the service process (`serve --lite-server`): a supervised child.

Embedded, Milvus Lite keeps most of its peak memory after a tenant deletes everything
(docs/design.md). The child serves the same data directory on loopback, is restarted with a
growing pause if it dies, and gives its memory back to the system whenever it restarts.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from hybrid_search.errors import StoreUnavailableError
from hybrid_search.ports import free_port, port_open
from hybrid_search.store.lite_engines import LiteEngine, hold_lock, server_command
from hybrid_search.store.lite_lock import address_file

__all__ = ["LiteServer"]

logger = logging.getLogger(__name__)


def _die_with_parent() -> None:
    """In the child, before exec: on Linux, SIGTERM when the spawning thread dies. uvicorn ends
    the service by re-raising SIGTERM after its shutdown, which skips every `finally`, so
    `stop()` alone would leave the child running."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class LiteServer:
    """Starts, watches and stops one `milvus-lite server` child for a Milvus Lite data path.
    After `max_restarts` restarts it gives up (the service then answers 503 store_unavailable)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        engine: LiteEngine = "3",
        log_path: Path | None = None,
        max_restarts: int = 5,
    ) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.engine = engine
        #: Milvus Lite 2.5's file lock, held while this process serves the file
        self._lock: IO[str] | None = None
        self.log_path = log_path or self.data_dir.with_name(self.data_dir.name + ".server.log")
        self.port = free_port()
        self.max_restarts = max_restarts
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._up = threading.Event()  # listening; cleared while dead or restarting
        self._watcher: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the child listens (after a start or a restart); False on timeout."""
        return self._up.wait(timeout_s)

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the child and its watcher; returns the URI to connect to."""
        self._spawn(timeout_s)
        self._watcher = threading.Thread(target=self._watch, name="lite-server-watch", daemon=True)
        self._watcher.start()
        return self.uri

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop watching, then terminate the child (SIGKILL after `timeout_s`)."""
        self._stopping.set()
        address_file(str(self.data_dir)).unlink(missing_ok=True)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if self._watcher is not None:
            self._watcher.join(timeout_s)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _spawn(self, timeout_s: float) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        env = None
        if self.engine == "2.5":
            if self._lock is None:  # other processes see the file taken and share this child
                self._lock = hold_lock(self.data_dir)
            cmd, env = server_command(self.data_dir, f"127.0.0.1:{self.port}")
        else:
            cmd = [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir)]
            cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                cmd, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                code = self._proc.poll()
                raise StoreUnavailableError(
                    f"milvus-lite server for {self.data_dir} did not start (exit status "
                    f"{code}); see {self.log_path}",
                    details={"log": str(self.log_path)},
                )
            time.sleep(0.1)
        self._up.set()
        # other processes (CLI search, ingest, stats) find and share this child
        address = {"uri": self.uri, "pid": os.getpid(), "child": self.pid}
        address_file(str(self.data_dir)).write_text(json.dumps(address), "utf-8")
        logger.info("milvus-lite server for %s on %s (pid %d)", self.data_dir, self.uri, self.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            self._up.clear()
            if self.restarts >= self.max_restarts:
                logger.error("milvus-lite server died %d times; not restarting", self.restarts)
                return
            pause = min(30.0, 2.0**self.restarts)
            logger.warning(
                "milvus-lite server exited with %s; restarting in %.0fs", proc.returncode, pause
            )
            if self._stopping.wait(pause):
                return
            self.restarts += 1
            try:
                self._spawn(60.0)
            except StoreUnavailableError as exc:
                logger.error("%s", exc)
