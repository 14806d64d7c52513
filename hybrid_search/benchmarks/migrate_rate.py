"""Migrate rate: `store.migrate` copying a real-width collection (1024-dim dense, sparse, BM25
text, binary ColBERT rows; precomputed vectors, no encoder) from one Milvus Lite file to another
(by default from a 3.x file to a new 2.5 file: the move past 3.x's capacity), against
re-encoding the same chunks' tokens with the real-size model.

Re-encoding is the chunks' stored token counts / the real-size passage encode rate: bench (d)'s
1,090.4 tokens/s (docs/benchmarks.md, bf16, the default on a CPU with native bf16, 8 x 256
tokens, 2 cores), or `--measure-encode`, which builds the real-size model and times it here.
Goal: migrating takes < 1/20 of that. `--source PATH --collection NAME` copies an existing
collection (e.g. bench (g)'s `scale` collection of 100,000 chunks) instead of building one.

    python -m hybrid_search.benchmarks.migrate_rate [CHUNKS] [--source PATH --collection NAME]
        [--to-engine 3|2.5] [--measure-encode] [--work DIR]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: bench (d), docs/benchmarks.md: the project's encoder, real-size model, bf16, 8 x 256 tokens
DOC_ENCODE_TOKENS_PER_S = 1090.4
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


def _option(argv: list[str], name: str, default: str | None = None) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else default


def main(argv: list[str]) -> int:
    from hybrid_search.store import ops
    from hybrid_search.store.lite_engines import LiteEngine
    from hybrid_search.store.migrate import migrate
    from hybrid_search.store.milvus import MilvusStore
    from hybrid_search.store.types import Scope
    from schemas import collection as C
    from schemas.collection import CollectionSpec

    values = {_option(argv, n) for n in ("--work", "--source", "--collection", "--to-engine")}
    args = [a for a in argv if not a.startswith("--") and a not in values]
    chunks = int(args[0]) if args else 5000
    work = Path(_option(argv, "--work") or tempfile.mkdtemp(prefix="migrate-rate-"))
    work.mkdir(parents=True, exist_ok=True)
    to_engine: LiteEngine = "3" if _option(argv, "--to-engine") == "3" else "2.5"
    name = _option(argv, "--collection", "bench") or "bench"
    started = time.perf_counter()
    if (given := _option(argv, "--source")) is not None:
        source = MilvusStore(given)
    else:
        source = MilvusStore(str(work / "source.db"), lite_engine="3")
        spec = CollectionSpec(name, DIM, DIM, "BAAI/bge-m3", colbert_storage="binary")
        source.ensure_collection(spec)
        build_source(source, spec, chunks)
    build_s = time.perf_counter() - started
    target = MilvusStore(str(work / f"target-{time.time_ns()}.db"), lite_engine=to_engine)
    try:
        rows = source.query(name, Scope(""), [C.TOKEN_COUNT_FIELD])
        # the stored ColBERT tokens were pooled: each stands for `pool_factor` encoded tokens
        pooled = sum(int(r.get(C.TOKEN_COUNT_FIELD) or 0) for r in rows)
        chunks, tokens = len(rows), pooled * source.describe(name).pool_factor
        marks: list[float] = []
        started = time.perf_counter()
        report = migrate(
            source, target, name, progress=lambda *_: marks.append(time.perf_counter())
        )
        copy_s = (marks[-1] if marks else started) - started
        token_rows = ops.stats(source, name).colbert_rows or 0
    finally:
        target.close()
        source.close()
    rate = measure_encode(work) if "--measure-encode" in argv else DOC_ENCODE_TOKENS_PER_S
    reencode_s = tokens / rate
    out = {
        "chunks": chunks,
        "tokens": tokens,
        "token_rows": token_rows,
        "source_engine": "given" if given else "3",
        "target_engine": to_engine,
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
        "rows_equal": report.rows_equal,
        "vectors_equal": report.vectors_equal,
        #: top-10 overlap of sampled searches: an approximate index on either side lowers it
        #: (Milvus Lite 3.x's HNSW on bench (g)'s hash vectors, which have no cluster structure)
        "overlap": report.overlap,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
