"""While `serve` holds a Milvus Lite file, the CLI shares serve's Milvus child (its address
beside the file) instead of being refused; each sees the other's documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hybrid_search.client import HybridSearchClient
from hybrid_search.ports import free_port
from hybrid_search.store.lite_lock import address_file
from tests.cli.test_first_minutes import cli_env, invoke, last_json
from tests.service.test_live_serve import stop, wait_for_port

__all__ = ["cli_env"]
pytestmark = pytest.mark.slow


def test_cli_ingest_and_search_share_a_running_serve(cli_env: Path) -> None:
    port, log = free_port(), cli_env.parent / "serve.log"
    serve = [str(Path(sys.executable).parent / "hybrid-search"), "serve", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(serve, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        wait_for_port(port, proc, log, timeout=120)
        assert address_file(str(cli_env)).exists()
        client = HybridSearchClient(f"http://127.0.0.1:{port}")
        client.upsert_documents([{"id": "from-http", "text": "pelicans nest on cliffs"}])
        src = cli_env.parent / "cli.jsonl"
        src.write_text(json.dumps({"id": "from-cli", "text": "zebras cross rivers"}) + "\n")
        assert invoke("ingest", str(src)).exit_code == 0
        found = invoke("search", "pelicans", "--routes", "bm25", "--no-rerank", "--json")
        assert [h["doc_id"] for h in last_json(found.stdout)["hits"]] == ["from-http"]
        hits = client.search("zebras", routes=["bm25"], rerank=False).hits
        assert [h.doc_id for h in hits] == ["from-cli"]
    finally:
        stop(proc)


def test_serve_on_a_busy_port_fails_before_loading_models(cli_env: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("serve", "--port", str(port))
    assert result.exit_code == 2
    assert f"cannot listen on http://127.0.0.1:{port}" in result.output
    assert "--port N (HYBRID_SEARCH_SERVICE__PORT)" in result.output
    assert not cli_env.exists()  # nothing opened, no models loaded
