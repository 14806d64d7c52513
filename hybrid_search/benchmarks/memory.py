"""(c) Peak memory (RSS) ingesting a corpus and the same corpus ten times over (distinct ids),
each in a fresh child process that reports its peak RSS (VmHWM), for two setups:

- `embedded`: Milvus Lite inside the ingesting process (the default URI is a local file), so the
  peak includes the database's own memory, which grows with the data it holds;
- `served`: the same Milvus Lite run as a separate server process (`milvus-lite server`), so
  the child's peak is the ingest job's own memory (bounded by its windows and batches).

Run as `python -m hybrid_search.benchmarks.memory JSONL URI MODEL_DIR` it is the child: it
ingests the file and prints its peak RSS as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from hybrid_search.benchmarks.stats import ratio
from hybrid_search.ports import free_port, port_open

COPIES = 10


def child_main(argv: list[str]) -> int:
    from hybrid_search.factory import build_encoder, build_store, collection_spec, ingest_options
    from hybrid_search.settings import Settings
    from ingest.pipeline import IngestJob
    from ingest.readers import read_paths

    jsonl, uri, model_dir = argv
    s = Settings(
        _env_file=None,
        milvus_uri=uri,
        embedding_model=str(Path(model_dir) / "bge-m3-tiny"),
        device="cpu",
        collection="memory_bench",
    )
    encoder = build_encoder(s)
    store = build_store(s)
    started = time.perf_counter()
    summary = IngestJob(
        store,
        encoder,
        collection_spec(s, encoder),
        ingest_options(s),
    ).run(read_paths([jsonl]))
    seconds = time.perf_counter() - started
    store.close()
    out = {
        "documents": summary.documents,
        "chunks": summary.chunks,
        "failed": summary.failed,
        "seconds": round(seconds, 2),
        "peak_rss_mb": _peak_rss_mb(os.getpid()),
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


def _run_child(jsonl: Path, uri: str, models_dir: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "hybrid_search.benchmarks.memory", str(jsonl), uri, str(models_dir)],
        capture_output=True,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"},
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the peak resident set of the process' own memory image (Linux). Not
    getrusage's ru_maxrss: Linux carries that across fork + exec, so a child would report its
    parent's size whenever the parent was larger."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class _Server:
    """`milvus-lite server` on a free loopback port, in its own process."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "milvus_lite",
                "server",
                "--data-dir",
                str(data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.uri = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if port_open(self.port):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("milvus-lite server exited at start")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("milvus-lite server did not open its port within 60 s")

    def peak_rss_mb(self) -> float | None:
        return _peak_rss_mb(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def measure_memory(
    docs: Any,
    work: Path,
    models_dir: Path,
    *,
    setups: tuple[str, ...] = ("embedded", "served"),
) -> dict[str, Any]:
    """Peak RSS for 1x and COPIES x the documents, per setup."""
    from hybrid_search.benchmarks.corpus import write_jsonl

    one = write_jsonl(docs, work / "memory" / "x1.jsonl")
    many = write_jsonl(docs, work / "memory" / f"x{COPIES}.jsonl", copies=COPIES)
    out: dict[str, Any] = {"documents": len(docs), "copies": COPIES}
    for setup in setups:
        runs: dict[str, dict[str, Any]] = {}
        servers: dict[str, float | None] = {}
        for label, path in (("x1", one), (f"x{COPIES}", many)):
            if setup == "embedded":
                uri = str(work / "memory" / f"embedded-{label}.db")
                runs[label] = _run_child(path, uri, models_dir)
                continue
            server = _Server(work / "memory" / f"served-{label}")
            try:
                runs[label] = _run_child(path, server.uri, models_dir)
                servers[label] = server.peak_rss_mb()
            finally:
                server.stop()
        out[setup] = {
            **runs,
            "ratio": ratio(runs[f"x{COPIES}"]["peak_rss_mb"], runs["x1"]["peak_rss_mb"]),
        }
        if servers:
            out[setup]["server_peak_rss_mb"] = servers
    return out


if __name__ == "__main__":
    raise SystemExit(child_main(sys.argv[1:]))
