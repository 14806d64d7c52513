"""What unsealed rows cost a Milvus Lite search: BM25 latency over a collection whose rows are
all still in the memtable, then after `flush` seals them, at each row count.

    python -m hybrid_search.benchmarks.unsealed [ROWS ...]

Prints one JSON line: per row count, the BM25 search p50 (ms, 20 queries) unsealed and sealed,
their ratio, and how long the flush took. The store seals every `SEAL_ROWS` written rows.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from typing import Any


def _p50_ms(client: Any, words: list[str], rng: random.Random) -> float:
    times = []
    for _ in range(20):
        query = " ".join(rng.choices(words, k=4))
        started = time.perf_counter()
        client.search("t", data=[query], anns_field="bm25", limit=10)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def measure(rows: int, seed: int = 0) -> dict[str, float]:
    from pymilvus import MilvusClient

    from hybrid_search.benchmarks.maxsim_quality import create_bm25_collection

    rng = random.Random(seed)
    words = [f"w{i}" for i in range(5000)]
    with tempfile.TemporaryDirectory(prefix="unsealed-") as tmp:
        client = MilvusClient(uri=f"{tmp}/m.db")
        create_bm25_collection(client, "t")
        for start in range(0, rows, 1000):
            batch = range(start, min(rows, start + 1000))
            client.insert(
                "t", [{"pk": str(i), "text": " ".join(rng.choices(words, k=60))} for i in batch]
            )
        unsealed = _p50_ms(client, words, rng)
        started = time.perf_counter()
        client.flush("t")
        flush_ms = round((time.perf_counter() - started) * 1000, 1)
        sealed = _p50_ms(client, words, rng)
        client.close()
    return {
        "unsealed_p50_ms": unsealed,
        "sealed_p50_ms": sealed,
        "ratio": round(unsealed / sealed, 1),
        "flush_ms": flush_ms,
    }


def main(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [1024, 10_000]
    sys.stdout.write(json.dumps({"bm25_search": {str(n): measure(n) for n in counts}}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
