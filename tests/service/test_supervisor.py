"""The supervised Milvus Lite server child (either engine): serves the Lite path, comes back
after a crash, and never outlives the service."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hybrid_search.service.supervisor import LiteServer
from hybrid_search.store.lite_engines import LiteEngine


def _client(uri: str):  # type: ignore[no-untyped-def]
    from pymilvus import MilvusClient

    return MilvusClient(uri=uri)


ENGINES = pytest.mark.parametrize("engine", ["3", "2.5"])


@ENGINES
def test_the_child_serves_the_lite_data_and_is_restarted_when_killed(
    tmp_path: Path, engine: LiteEngine
) -> None:
    server = LiteServer(tmp_path / "m.db", engine=engine, log_path=tmp_path / "server.log")
    uri = server.start()
    try:
        client = _client(uri)
        client.create_collection("kept", dimension=4)
        client.insert("kept", [{"id": 1, "vector": [0.1, 0.2, 0.3, 0.4]}])
        client.close()
        first = server.pid
        assert first is not None and first != os.getpid()
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while server.pid == first:
            assert time.monotonic() < deadline, "the child was not restarted"
            time.sleep(0.2)
        assert server.wait_ready(60), "the restarted child does not listen"
        client = _client(uri)  # same port, same data directory
        assert client.has_collection("kept")
        client.load_collection("kept")  # a restarted server has every collection released
        assert client.query("kept", filter="id == 1", output_fields=["id"]) == [{"id": 1}]
        client.close()
    finally:
        server.stop()
    assert server.restarts == 1
    pid = server.pid
    assert pid is not None
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive


@ENGINES
def test_the_child_does_not_outlive_a_killed_service(tmp_path: Path, engine: LiteEngine) -> None:
    """uvicorn ends by re-raising SIGTERM, which skips `finally`: the child must still go."""
    import subprocess
    import sys

    code = (
        "import sys, time; from pathlib import Path; "
        "from hybrid_search.service.supervisor import LiteServer; "
        f"s = LiteServer(Path({str(tmp_path / 'm.db')!r}), engine={engine!r}); s.start(); "
        "print(s.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(30)
        deadline = time.monotonic() + 30
        while True:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                break
            assert time.monotonic() < deadline, "the milvus-lite child outlived its service"
            time.sleep(0.2)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_the_service_limits_glibc_arenas_and_trims_after_writes() -> None:
    """`serve` caps glibc's malloc arenas (fragments of many per-thread arenas kept the RSS
    up after a tenant's data was deleted) and trims the heap after each write."""
    import sys

    from hybrid_search.process import limit_malloc_arenas, release_memory

    applied = limit_malloc_arenas(8)  # in the test process: harmless
    assert applied is sys.platform.startswith("linux")
    release_memory()  # gc + malloc_trim: must not raise on any platform


def test_model_loads_bound_the_kernel_caches_unless_the_environment_sets_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """oneDNN keeps a compiled kernel per shape and torch's ideep a prepared computation per
    shape; a model load caps both (the RSS climbed until 1,024 of each were cached), and a
    capacity the user exported is left as it is."""
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder
    from hybrid_search.encoders.tiny import build_tiny_models
    from hybrid_search.process import (
        KERNEL_CACHE_CAPACITY,
        SHAPE_CACHE_CAPACITY,
        bound_kernel_cache,
    )

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.delenv("LRU_CACHE_CAPACITY", raising=False)
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == str(KERNEL_CACHE_CAPACITY) == "8"
    assert os.environ["LRU_CACHE_CAPACITY"] == str(SHAPE_CACHE_CAPACITY) == "8"
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "512")
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "256")
    bound_kernel_cache()
    assert os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] == "512"
    assert os.environ["LRU_CACHE_CAPACITY"] == "256"

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    monkeypatch.delenv("LRU_CACHE_CAPACITY")
    models = build_tiny_models(tmp_path)
    BGEM3Encoder(str(models.embedding_model), device="cpu").load()  # the CLI's path too
    assert os.environ["LRU_CACHE_CAPACITY"] == "8"


def test_ingest_job_threads_run_below_searches() -> None:
    """Job workers raise their own nice value (per thread on Linux), so a tenant's large write
    yields the CPU to searches; the calling thread keeps its priority."""
    import os
    import sys
    import threading

    from hybrid_search.threads import BACKGROUND_NICE, lower_thread_priority

    if not sys.platform.startswith("linux"):
        return
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen: dict[str, int] = {}

    def worker() -> None:
        tid = threading.get_native_id()
        before = os.getpriority(os.PRIO_PROCESS, tid)
        assert lower_thread_priority(BACKGROUND_NICE)
        seen["before"], seen["after"] = before, os.getpriority(os.PRIO_PROCESS, tid)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["after"] == min(19, seen["before"] + BACKGROUND_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
