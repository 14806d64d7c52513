"""A real `hybrid-search serve` (tiny models, Milvus Lite in a tmp dir) holding a few documents,
shared by the framework-retriever suites of this directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hybrid_search.ports import free_port

BIN = Path(sys.executable).parent
KEY = "integrations-key"
#: five documents: every route finds at least three, so a k of 1 and of 3 are both testable
DOCS = [
    {"id": "milvus", "title": "Milvus", "text": "Milvus supports hybrid search with filters."},
    {"id": "bm25", "title": "Okapi BM25", "text": "BM25 ranks documents by term frequency."},
    {"id": "rrf", "title": "Reciprocal rank fusion", "text": "RRF fuses ranked lists by rank."},
    {"id": "colbert", "title": "ColBERT", "text": "Late interaction scores tokens by MaxSim."},
    {"id": "panda", "title": "熊猫", "text": "熊猫以竹子为主要食物。Pandas eat bamboo."},
]


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Standard suites written by others (langchain-tests) have unmarked async tests and forbid
    overriding them; their classes carry `pytest.mark.anyio` instead, run on asyncio."""
    return "asyncio"


@dataclass(frozen=True)
class LiveService:
    url: str
    api_key: str


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory, tiny_models) -> Iterator[LiveService]:  # type: ignore[no-untyped-def]
    from hybrid_search.client import HybridSearchClient
    from hybrid_search.errors import TransportError
    from hybrid_search.settings import hash_api_key

    root = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HYBRID_SEARCH_MILVUS_URI": str(root / "milvus.db"),
        "HYBRID_SEARCH_COLLECTION": "integrations",
        "HYBRID_SEARCH_EMBEDDING_MODEL": str(tiny_models.embedding_model),
        "HYBRID_SEARCH_RERANKER_MODEL": str(tiny_models.reranker_model),
        "HYBRID_SEARCH_DEVICE": "cpu",
        "HYBRID_SEARCH_SERVICE__API_KEYS": json.dumps(
            [{"sha256": hash_api_key(KEY), "tenant": "T"}]
        ),
    }
    log_path = root / "serve.log"
    cmd = [str(BIN / "hybrid-search"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log_path.open("wb") as log:
        # cwd: no stray .env is read
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        with HybridSearchClient(url, KEY, retries=0, timeout=60) as client:
            deadline = time.monotonic() + 180
            while True:
                if server.poll() is not None:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    pytest.fail(f"serve exited {server.returncode}:\n{tail}")
                try:
                    if client.ready().ready:
                        break
                except TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(log_path.read_text(errors="replace")[-3000:])
                time.sleep(0.3)
            summary = client.upsert_documents(DOCS)
            assert (summary.inserted, summary.failed) == (len(DOCS), 0), summary
        yield LiveService(url, KEY)
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
