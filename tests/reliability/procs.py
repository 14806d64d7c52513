"""Real processes for the suite: a `milvus-lite server`, `hybrid-search` CLI runs and `serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hybrid_search.ports import free_port, port_open

BIN = Path(sys.executable).parent


def log(message: str) -> None:
    """Progress goes to stderr; stdout is kept for the final JSON line."""
    sys.stderr.write(f"[reliability {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@dataclass
class Models:
    embedding: Path
    reranker: Path


def base_env(models: Models, milvus_uri: str, **settings: str) -> dict[str, str]:
    """The environment of every hybrid-search subprocess: offline, CPU, tiny models."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_SEARCH_")}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HYBRID_SEARCH_MILVUS_URI": milvus_uri,
            "HYBRID_SEARCH_EMBEDDING_MODEL": str(models.embedding),
            "HYBRID_SEARCH_RERANKER_MODEL": str(models.reranker),
            "HYBRID_SEARCH_DEVICE": "cpu",
        }
    )
    env.update({f"HYBRID_SEARCH_{k.upper()}": v for k, v in settings.items()})
    return env


def api_keys_setting(keys: dict[str, str]) -> str:
    """HYBRID_SEARCH_SERVICE__API_KEYS for `{tenant: key}`: one key per tenant, named after it."""
    from hybrid_search.settings import hash_api_key

    return json.dumps(
        [{"sha256": hash_api_key(k), "tenant": t, "name": t} for t, k in keys.items()]
    )


@dataclass
class MilvusServer:
    """`milvus-lite server` on loopback: the gRPC code path of a Milvus standalone."""

    data_dir: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [str(BIN / "milvus-lite"), "server", "--data-dir", str(self.data_dir)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        with self.log_path.open("ab") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"milvus-lite server did not start:\n{tail(self.log_path)}")
            time.sleep(0.1)

    @classmethod
    def started_in(cls, d: Path) -> MilvusServer:
        """A server whose data and log live in `d`, started."""
        server = cls(d / "milvus", d / "milvus.log")
        server.start()
        return server

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class CliRun:
    """A `hybrid-search` command running in the background, its output in files."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def start(cls, args: list[str], env: dict[str, str], cwd: Path, name: str) -> CliRun:
        out, err = cwd / f"{name}.out", cwd / f"{name}.err"
        with out.open("wb") as o, err.open("wb") as e:
            proc = subprocess.Popen(
                [str(BIN / "hybrid-search"), *args], stdout=o, stderr=e, env=env, cwd=cwd
            )
        return cls(proc, out, err)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def result(self) -> dict[str, Any]:
        """The JSON line the command printed last (`--json`), or {} if there is none."""
        lines = [ln for ln in self.stdout.read_text(errors="replace").splitlines() if ln.strip()]
        try:
            value = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass
class ServeProcess:
    """`hybrid-search serve` on loopback with the given environment."""

    env: dict[str, str]
    cwd: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.cwd / "serve.log"

    def start(self, timeout: float = 180.0) -> None:
        cmd = [str(BIN / "hybrid-search"), "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port)]
        with self.log_path.open("ab") as fh:
            self.proc = subprocess.Popen(
                cmd, stdout=fh, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not become ready:\n{tail(self.log_path)}")
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None


@dataclass
class Workspace:
    """One run of the suite: its scratch directory, the tiny models and the size knobs."""

    root: Path
    models: Models
    quick: bool

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path
