"""Migrate rate: `store.migrate` copying a real-width collection (1024-dim dense, sparse, BM25
text, binary ColBERT rows; precomputed random vectors, no encoder) from a Milvus Lite file to a
`milvus-lite server` child, against re-encoding the same chunks with the real-size model.

Re-encoding is chunks x tokens per chunk / the real-size passage encode rate: bench (d)'s
290.1 tokens/s (docs/benchmarks.md, 8 x 256 tokens, 2 cores), or `--measure-encode`, which
builds the real-size model and times it in this run. Goal: migrating takes < 1/20 of that.

    python -m hybrid_search.benchmarks.migrate_rate [CHUNKS] [--measure-encode] [--work DIR]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: bench (d), docs/benchmarks.md: the project's encoder, real-size model, 8 x 256 tokens, CPU
DOC_ENCODE_TOKENS_PER_S = 290.1
TOKENS_PER_CHUNK = 256
DIM = 1024
#: ColBERT tokens stored per chunk: 256 pooled by 2 (binary storage's default pool factor)
STORED_TOKENS = 128
WORDS = [f"w{i}" for i in range(5000)]


def build_source(store: Any, spec: Any, chunks: int, batch: int = 500) -> None:
    """`chunks` one-chunk documents over two tenants, written as ingest writes them."""
    from hybrid_search.store.types import ChunkRow

    rng = np.random.default_rng(0)
    for start in range(0, chunks, batch):
        for tenant in ("t0", "t1"):
            rows = []
            for i in range(start, min(start + batch, chunks)):
                if i % 2 != int(tenant[1]):
                    continue
                dense = rng.standard_normal(DIM).astype(np.float32)
                ids = rng.choice(250_000, 80, replace=False)
                text = " ".join(rng.choice(WORDS, 190))
                rows.append(
                    ChunkRow(
                        tenant, f"d{i}", 0, 1, f"doc {i}", text, text, {"n": i}, f"h{i}",
                        dense / np.linalg.norm(dense),
                        {int(k): float(v) for k, v in zip(ids, rng.random(80), strict=True)},
                        rng.standard_normal((STORED_TOKENS, DIM)).astype(np.float32),
                    )
                )  # fmt: skip
            store.upsert(spec, tenant, rows)
            store.upsert(spec, tenant, rows, {r.doc_id: r.content_hash for r in rows})
    store.sync(spec)


def measure_encode(work: Path) -> float:
    """The real-size model's passage encode rate in this run (bench (d)'s measurement)."""
    from transformers import AutoTokenizer

    from hybrid_search.benchmarks.realsize import build_real_size, exact_length_texts
    from hybrid_search.benchmarks.realsize import measure_encoder as measure
    from hybrid_search.encoders.tiny import build_tiny_models

    tiny = build_tiny_models(work / "tiny")
    models = build_real_size(work / "real", tiny.embedding_model)
    tok = AutoTokenizer.from_pretrained(str(models.embedding_model))
    passages = exact_length_texts(tok, WORDS[:500], 8, TOKENS_PER_CHUNK)
    return float(measure(models.embedding_model, passages, "a query", 1)["encode_tokens_per_s"])


def main(argv: list[str]) -> int:
    from hybrid_search.ports import free_port, port_open
    from hybrid_search.store import ops
    from hybrid_search.store.migrate import migrate
    from hybrid_search.store.milvus import MilvusStore
    from schemas.collection import CollectionSpec

    args = [a for a in argv if not a.startswith("--")]
    chunks = int(args[0]) if args else 5000
    work = Path(argv[argv.index("--work") + 1]) if "--work" in argv else None
    work = work or Path(tempfile.mkdtemp(prefix="migrate-rate-"))
    spec = CollectionSpec("bench", DIM, DIM, "BAAI/bge-m3", colbert_storage="binary")
    source = MilvusStore(str(work / "source.db"))
    started = time.perf_counter()
    source.ensure_collection(spec)
    build_source(source, spec, chunks)
    build_s = time.perf_counter() - started
    port = free_port()
    cmd = [str(Path(sys.executable).parent / "milvus-lite"), "server", "--data-dir"]
    cmd += [str(work / "target"), "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not port_open(port):
            time.sleep(0.1)
        target = MilvusStore(f"http://127.0.0.1:{port}")
        marks: list[float] = []
        started = time.perf_counter()
        report = migrate(
            source, target, "bench", progress=lambda *_: marks.append(time.perf_counter())
        )
        copy_s = (marks[-1] if marks else started) - started
        token_rows = ops.stats(source, "bench").colbert_rows or 0
        target.close()
    finally:
        server.terminate()
        server.wait(30)
        source.close()
    rate = measure_encode(work) if "--measure-encode" in argv else DOC_ENCODE_TOKENS_PER_S
    reencode_s = chunks * TOKENS_PER_CHUNK / rate
    out = {
        "chunks": chunks,
        "token_rows": token_rows,
        "source_build_s": round(build_s, 1),
        "migrate_s": report.seconds,
        "copy_s": round(copy_s, 1),
        "verify_s": round(report.seconds - copy_s, 1),
        "chunks_per_s": round(chunks / report.seconds, 1),
        "rows_per_s": round((chunks + token_rows) / report.seconds, 1),
        "encode_tokens_per_s": rate,
        "encode_rate_from": "measured" if "--measure-encode" in argv else "bench (d)",
        "reencode_s": round(reencode_s, 1),
        "migrate_over_reencode": round(report.seconds / reencode_s, 5),
        "goal": "< 0.05",
        "verified": report.ok,
        "overlap": report.overlap,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
