"""End to end over real sockets: `milvus-lite server` (gRPC Milvus on loopback, the same code path
as Milvus standalone) + `hybrid-search serve` as subprocesses; the remote client must return the
same hits as an in-process HybridSearcher pointed at the same Milvus."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from hybrid_search.client import HybridSearchClient
from hybrid_search.errors import TransportError
from hybrid_search.ports import free_port, port_open
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.searcher import HybridSearcher
from hybrid_search.settings import Settings, hash_api_key

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
KEY = "live-test-key"
DOCS = [
    {
        "id": "milvus",
        "title": "Milvus vector database",
        "text": "Milvus supports partitions, scalar filters and hybrid search.",
    },
    {
        "id": "bm25",
        "title": "Okapi BM25",
        "text": "BM25 scores documents by term frequency and document length.",
    },
    {
        "id": "rrf",
        "title": "Reciprocal rank fusion",
        "text": "RRF adds one over k plus rank for each list.",
    },
    {
        "id": "panda",
        "title": "熊猫",
        "text": "熊猫主要生活在四川的山区，以竹子为主要食物。Pandas eat bamboo.",
    },
]
QUERIES = ["hybrid search with filters", "term frequency", "熊猫 bamboo", "rank fusion lists"]


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"process exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        if port_open(port):
            return
        time.sleep(0.2)
    pytest.fail(
        f"port {port} not open after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


def start(cmd: list[str], log: IO[bytes], **kw: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)


def stop(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            return None
    return proc.returncode


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path / "milvus.log"
    with log_path.open("wb") as log:
        proc = start(
            [
                str(BIN / "milvus-lite"),
                "server",
                "--data-dir",
                str(tmp_path / "milvus"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            log,
        )
        try:
            wait_for_port(port, proc, log_path)
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(proc)


def test_remote_client_returns_the_in_process_hits(tmp_path, milvus, tiny_models) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HYBRID_SEARCH_MILVUS_URI": milvus,
        "HYBRID_SEARCH_COLLECTION": "live",
        "HYBRID_SEARCH_EMBEDDING_MODEL": str(tiny_models.embedding_model),
        "HYBRID_SEARCH_RERANKER_MODEL": str(tiny_models.reranker_model),
        "HYBRID_SEARCH_DEVICE": "cpu",
        "HYBRID_SEARCH_MAX_CHUNK_TOKENS": "64",
        "HYBRID_SEARCH_CHUNK_OVERLAP_TOKENS": "8",
        "HYBRID_SEARCH_SERVICE__API_KEYS": json.dumps(
            [{"sha256": hash_api_key(KEY), "tenant": "T"}]
        ),
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        cmd = [str(BIN / "hybrid-search"), "serve", "--host", "127.0.0.1", "--port", str(port)]
        server = start(cmd, log, env=env, cwd=tmp_path)  # cwd: no stray .env is read
        client = HybridSearchClient(f"http://127.0.0.1:{port}", KEY, retries=0, timeout=60)
        try:
            deadline = time.monotonic() + 120
            while True:
                if server.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    pytest.fail(f"serve exited {server.returncode}:\n{tail}")
                try:
                    if client.ready().ready:
                        break
                except TransportError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-3000:]
                time.sleep(0.3)

            summary = client.upsert_documents(DOCS)
            assert (summary.inserted, summary.failed) == (len(DOCS), 0), summary

            s = Settings(
                _env_file=None,  # type: ignore[call-arg]
                milvus_uri=milvus,
                collection="live",
                embedding_model=str(tiny_models.embedding_model),
                reranker_model=str(tiny_models.reranker_model),
                device="cpu",
            )
            from hybrid_search.factory import build_encoder, build_store

            local = HybridSearcher(
                build_store(s),
                build_encoder(s),  # the service's default precision, as it resolves here
                BGEReranker(str(tiny_models.reranker_model), device="cpu"),
                collection="live",
                settings=s,
            )
            try:
                for q in QUERIES:
                    remote = client.search(q, top_k=4)
                    mine = local.search(q, top_k=4, tenant="T")
                    assert remote.hits, q
                    assert [(h.doc_id, h.chunk_id) for h in remote.hits] == [
                        (h.doc_id, h.chunk_id) for h in mine.hits
                    ], q
                    assert [h.fused_score for h in remote.hits] == pytest.approx(
                        [h.fused_score for h in mine.hits]
                    )
                    assert [h.rerank_score for h in remote.hits] == pytest.approx(
                        [h.rerank_score for h in mine.hits], abs=1e-4
                    )
                assert local.search(QUERIES[0], tenant="default").hits == []  # another tenant
            finally:
                local.close()
        finally:
            client.close()
            code = stop(server)
    text = log_path.read_text(errors="replace")
    # graceful shutdown on SIGTERM (uvicorn re-raises the signal after it, hence -SIGTERM)
    assert code in (0, -signal.SIGTERM), text[-3000:]
    assert "Application shutdown complete" in text
    assert f"http://127.0.0.1:{port}" in text and "Milvus server" in text
