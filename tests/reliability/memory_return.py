"""`python -m tests.reliability.memory_return [--mb 100] [--lite-server]`: does the service's
memory come back after a tenant ingests and deletes a lot of text? One JSON line on stdout.

Starts `hybrid-search serve` on a Milvus Lite path with tiny models (embedded, or with
`--lite-server` a supervised `milvus-lite server` child), measures the serve process's RSS
after a warm-up search, ingests `--mb` MB of text through `POST /v1/documents` in requests of
four ~1 MiB documents, deletes every document, waits, and measures again (the child's RSS too).
ColBERT vectors are off (`--colbert` turns them on): 100 MB of text is ~50 M tiny-model tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.reliability.procs import BIN, free_port, port_open

KEY = "memory-return-key"


def _rss(pid: int, children: bool = False) -> float:
    proc = psutil.Process(pid)
    own = proc.memory_info().rss
    if children:
        return sum(c.memory_info().rss for c in proc.children(recursive=True)) / 2**20
    return own / 2**20


def _text(i: int, size: int) -> str:
    words = ["vector", "index", "tenant", "检索", "向量", "cluster", "replica", "memory"]
    out, n = [], 0
    while n < size:
        w = f"{words[(i + n) % len(words)]}{n % 97}"
        out.append(w)
        n += len(w.encode("utf-8")) + 1
    return " ".join(out)


def measure(root: Path, mb: int, lite_server: bool, colbert: bool) -> dict[str, Any]:
    from hybrid_search.encoders.tiny import build_tiny_models
    from hybrid_search.settings import hash_api_key

    tiny = build_tiny_models(root / "models")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_SEARCH_")}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HYBRID_SEARCH_MILVUS_URI": str(root / "m.db"),
            "HYBRID_SEARCH_EMBEDDING_MODEL": str(tiny.embedding_model),
            "HYBRID_SEARCH_RERANKER_MODEL": str(tiny.reranker_model),
            "HYBRID_SEARCH_DEVICE": "cpu",
            "HYBRID_SEARCH_STORE_COLBERT": "true" if colbert else "false",
            "HYBRID_SEARCH_SERVICE__API_KEYS": json.dumps(
                [{"sha256": hash_api_key(KEY), "tenant": "A"}]
            ),
            "HYBRID_SEARCH_SERVICE__JOB_THRESHOLD_BYTES": str(64 * 2**20),
            "HYBRID_SEARCH_SERVICE__WRITE_DEADLINE_S": "1800",
        }
    )
    cmd = [str(BIN / "hybrid-search"), "serve", "--port", str(port)]
    cmd += ["--lite-server"] if lite_server else ["--embedded"]
    log = (root / "serve.log").open("ab")
    serve = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    headers = {"Authorization": f"Bearer {KEY}"}
    out: dict[str, Any] = {"mb": mb, "lite_server": lite_server, "colbert": colbert}
    try:
        deadline = time.monotonic() + 300
        while not port_open(port):
            if serve.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "serve.log").read_text(errors="replace")[-2000:])
            time.sleep(0.5)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1800) as http:
            while http.get("/readyz").status_code != 200:
                time.sleep(0.5)
            for _ in range(3):
                http.post("/v1/search", json={"query": "vector index"}, headers=headers)
            out["rss_before_mib"] = round(_rss(serve.pid), 1)
            out["child_rss_before_mib"] = round(_rss(serve.pid, children=True), 1)
            started = time.monotonic()
            ids: list[str] = []
            peak = 0.0
            for r in range(mb // 4):
                docs = [{"id": f"m{r}-{j}", "text": _text(r * 4 + j, 2**20)} for j in range(4)]
                resp = http.post("/v1/documents", json={"documents": docs}, headers=headers)
                if resp.status_code != 200 or resp.json().get("failed"):
                    raise RuntimeError(f"ingest failed: {resp.status_code} {resp.text[:300]}")
                ids += [d["id"] for d in docs]
                peak = max(peak, _rss(serve.pid))
            out["ingest_s"] = round(time.monotonic() - started, 1)
            out["rss_peak_mib"] = round(peak, 1)
            out["rss_after_ingest_mib"] = round(_rss(serve.pid), 1)
            out["child_rss_after_ingest_mib"] = round(_rss(serve.pid, children=True), 1)
            for doc_id in ids:
                resp = http.delete(f"/v1/documents/{doc_id}", headers=headers)
                if resp.status_code != 200:
                    raise RuntimeError(f"delete failed: {resp.status_code} {resp.text[:300]}")
            time.sleep(30)
            http.post("/v1/search", json={"query": "vector index"}, headers=headers)
            out["rss_after_delete_mib"] = round(_rss(serve.pid), 1)
            out["child_rss_after_delete_mib"] = round(_rss(serve.pid, children=True), 1)
            out["ratio"] = round(out["rss_after_delete_mib"] / out["rss_before_mib"], 2)
    finally:
        serve.terminate()
        try:
            serve.wait(60)
        except subprocess.TimeoutExpired:
            serve.kill()
        log.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.memory_return")
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--lite-server", action="store_true")
    parser.add_argument("--colbert", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hs-memory-") as tmp:
        result = measure(Path(tmp), args.mb, args.lite_server, args.colbert)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
