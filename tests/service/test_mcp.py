"""The MCP server through the SDK's own client: `hybrid-search mcp` over stdio, and `/mcp` on
`hybrid-search serve` over streamable HTTP with two tenant keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from hybrid_search.ports import free_port, port_open
from hybrid_search.searcher import HybridSearcher
from hybrid_search.settings import Settings, hash_api_key

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
DOCS = [
    {
        "id": "milvus",
        "title": "Milvus",
        "text": "Milvus supports scalar filters and hybrid search.",
    },
    {"id": "bm25", "title": "Okapi BM25", "text": "BM25 scores by term frequency and length."},
    {"id": "rrf", "title": "Rank fusion", "text": "RRF adds one over k plus rank for each list."},
]
QUERIES = ["hybrid search with filters", "term frequency", "rank fusion lists"]


def _env(tiny_models: Any, uri: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HYBRID_SEARCH_MILVUS_URI": uri,
        "HYBRID_SEARCH_EMBEDDING_MODEL": str(tiny_models.embedding_model),
        "HYBRID_SEARCH_RERANKER_MODEL": str(tiny_models.reranker_model),
        "HYBRID_SEARCH_DEVICE": "cpu",
        **extra,
    }


def _data(result: Any) -> Any:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


async def _stdio_session(tmp_path: Path, tiny_models: Any) -> dict[str, Any]:
    params = StdioServerParameters(
        command=str(BIN / "hybrid-search"),
        args=["mcp"],
        env=_env(tiny_models, str(tmp_path / "milvus.db")),
        cwd=tmp_path,
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name for t in (await session.list_tools()).tools}
        ingested = _data(await session.call_tool("ingest_documents", {"documents": DOCS}))
        hits = {
            q: [h["doc_id"] for h in _data(await session.call_tool("search", {"query": q}))["hits"]]
            for q in QUERIES
        }
        rag = _data(await session.call_tool("rag_context", {"query": QUERIES[0]}))
        bad = await session.call_tool("search", {"query": "x", "top_k": 100_000})
        return {"tools": tools, "ingested": ingested, "hits": hits, "rag": rag, "bad": bad}


def test_stdio_tools_return_the_in_process_hits(tmp_path: Path, tiny_models: Any) -> None:
    got = anyio.run(_stdio_session, tmp_path, tiny_models)
    assert got["tools"] == {"search", "rag_context", "get_document", "ingest_documents"}
    assert got["ingested"]["inserted"] == len(DOCS)
    assert got["rag"]["citations"] and "[1]" in got["rag"]["context"]
    assert got["bad"].is_error and got["bad"].content[0].text.startswith("invalid_request")
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path / "milvus.db"),
        embedding_model=str(tiny_models.embedding_model),
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
    )
    searcher = HybridSearcher.from_settings(s)
    try:
        for q in QUERIES:
            assert got["hits"][q] == [h.doc_id for h in searcher.search(q).hits], q
    finally:
        searcher.close()


KEYS = {"A": "key-tenant-a", "B": "key-tenant-b", "R": "key-a-read-only"}


async def _http(url: str, key: str, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        tools = {t.name for t in (await session.list_tools()).tools}
        return tools, [await session.call_tool(name, args) for name, args in calls]


def test_http_tools_keep_tenants_apart(tmp_path: Path, tiny_models: Any) -> None:
    port = free_port()
    keys = [
        {"sha256": hash_api_key(KEYS["A"]), "tenant": "A"},
        {"sha256": hash_api_key(KEYS["B"]), "tenant": "B"},
        {"sha256": hash_api_key(KEYS["R"]), "tenant": "A", "write": False},
    ]
    env = _env(
        tiny_models, str(tmp_path / "milvus.db"), HYBRID_SEARCH_SERVICE__API_KEYS=json.dumps(keys)
    )
    log = (tmp_path / "serve.log").open("wb")
    cmd = [str(BIN / "hybrid-search"), "serve", "--embedded", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 120
        while not port_open(port):
            assert server.poll() is None and time.monotonic() < deadline, (
                tmp_path / "serve.log"
            ).read_text()[-3000:]
            time.sleep(0.3)
        refused = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"

        tools_a, (ingested, search_a) = anyio.run(
            _http,
            url,
            KEYS["A"],
            [("ingest_documents", {"documents": DOCS}), ("search", {"query": QUERIES[0]})],
        )
        assert "ingest_documents" in tools_a and _data(ingested)["inserted"] == len(DOCS)
        assert _data(search_a)["hits"][0]["routes"]
        _, (search_b, doc_b, rag_b) = anyio.run(
            _http,
            url,
            KEYS["B"],
            [
                ("search", {"query": QUERIES[0]}),
                ("get_document", {"doc_id": "milvus"}),
                ("rag_context", {"query": QUERIES[1]}),
            ],
        )
        assert _data(search_b)["hits"] == [] and _data(rag_b)["citations"] == []
        assert doc_b.is_error and doc_b.content[0].text.startswith("document_not_found")
        tools_r, (write_r, doc_r) = anyio.run(
            _http,
            url,
            KEYS["R"],
            [("ingest_documents", {"documents": DOCS}), ("get_document", {"doc_id": "milvus"})],
        )
        assert "ingest_documents" not in tools_r and write_r.is_error
        assert _data(doc_r)["chunks"][0]["title"] == "Milvus"
    finally:
        server.terminate()
        server.wait(30)
        log.close()
