"""`python -m tests.reliability.filter_cost`: what a filter at the limits costs against a plain
search, on a real Milvus Lite with tiny models. One JSON line on stdout.

The shapes are the ones a hostile tenant would pick within `schemas.filters`' limits: the
longest `in` list on a metadata key (Milvus Lite spells it out as one comparison per value),
the same on `doc_id` (a real `in`), the most conditions in one `or`, and the deepest tree. Each
is timed as the median of `--rounds` searches, next to the median of plain searches taken in
between, so machine load moves both alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from schemas.filters import (
    MAX_FILTER_BYTES,
    MAX_FILTER_CLAUSES,
    MAX_FILTER_COMPARISONS,
    MAX_FILTER_DEPTH,
    MAX_IN_LIST_BYTES,
    MAX_IN_VALUES,
    filter_cost_problem,
)
from tests.reliability.corpus import make_document


def _values(count: int, size: int, real: list[str]) -> list[str]:
    """`count` strings of `size` bytes, the last ones `real` values so the filter matches."""
    made = [f"{i:06d}" + "x" * max(0, size - 6) for i in range(max(0, count - len(real)))]
    return made + real[:count]


def shapes(in_values: int, in_bytes: int, total_bytes: int) -> dict[str, dict[str, Any]]:
    """The filters to time, each at the limits given and each matching part of the corpus, so
    the filtered search does the same work downstream as the plain one."""
    per_value = max(8, in_bytes // in_values)
    widest = min(65_535, in_bytes // 2)
    clause_bytes = max(8, total_bytes // MAX_FILTER_CLAUSES)
    deep: dict[str, Any] = {"field": "metadata.year", "op": "gte", "value": 2000}
    for _ in range(MAX_FILTER_DEPTH - 1):
        deep = {"and": [deep, {"field": "chunk_index", "op": "gte", "value": 0}]}
    doc_ids = [f"doc-{i:05d}" for i in range(0, 1000, 7)]
    return {
        "metadata_in_many": {  # spelled out as one comparison per value: bounded by count
            "field": "metadata.topic",
            "op": "in",
            "value": _values(
                min(in_values, MAX_FILTER_COMPARISONS),
                in_bytes // min(in_values, MAX_FILTER_COMPARISONS),
                ["search", "storage"],
            ),
        },
        "metadata_in_long": {
            "field": "metadata.topic",
            "op": "in",
            "value": _values(2, widest, ["search"]),
        },
        "doc_id_in_many": {
            "field": "doc_id",
            "op": "in",
            "value": _values(in_values, per_value, doc_ids[: in_values // 2]),
        },
        "or_of_clauses": {
            "or": [
                {"field": "metadata.lang", "op": "eq", "value": v}
                for v in _values(MAX_FILTER_CLAUSES, clause_bytes, ["en", "mixed"])
            ]
        },
        "deep": deep,
    }


def _median_ms(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    return statistics.median(times)


def measure(
    root: Path,
    documents: int,
    rounds: int,
    limits: tuple[int, int, int],
    sweep: tuple[int, ...] = (),
) -> dict[str, Any]:
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder, quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models
    from hybrid_search.factory import build_store, collection_spec, ingest_options
    from hybrid_search.searcher import HybridSearcher
    from hybrid_search.settings import Settings
    from ingest.pipeline import IngestJob
    from ingest.readers import record_from_object

    quiet_transformers()
    tiny = build_tiny_models(root / "models")
    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(root / "m.db"),
        embedding_model=str(tiny.embedding_model),
        device="cpu",
        tenant="A",
    )
    encoder = BGEM3Encoder(str(tiny.embedding_model), device="cpu", max_passage_tokens=512)
    encoder.load()
    searcher = HybridSearcher(build_store(s), encoder, None, collection=s.collection, settings=s)
    try:
        spec = collection_spec(s, encoder, s.collection)
        records = [record_from_object(make_document(i, 11), "cost", i) for i in range(documents)]
        summary = IngestJob(searcher.store, encoder, spec, ingest_options(s, tenant="A")).run(
            records
        )
        result: dict[str, Any] = {"documents": summary.documents, "chunks": summary.chunks}

        def plain() -> None:
            searcher.search("vector index tenant 检索", tenant="A", rerank=False, top_k=10)

        for _ in range(3):
            plain()  # warm-up: collection load, jieba, first encode
        figures: dict[str, Any] = {}
        todo = shapes(*limits)
        for count in sweep:
            todo[f"metadata_in_{count}"] = {
                "field": "metadata.topic",
                "op": "in",
                "value": _values(count, 16, ["search", "storage"]),
            }
        for name, flt in todo.items():
            if not name.startswith("metadata_in_") or name == "metadata_in_many":
                assert filter_cost_problem(flt) is None, (name, filter_cost_problem(flt))
            body = json.dumps(flt)

            def filtered(flt: dict[str, Any] = flt) -> None:
                searcher.search(
                    "vector index tenant 检索", tenant="A", rerank=False, top_k=10, filter=flt
                )

            base = _median_ms(plain, rounds)
            cost = _median_ms(filtered, rounds)
            base = (base + _median_ms(plain, rounds)) / 2
            figures[name] = {
                "filter_bytes": len(body),
                "plain_ms": round(base, 1),
                "filtered_ms": round(cost, 1),
                "ratio": round(cost / base, 2),
            }
            log(f"{name}: {figures[name]}")
        result["shapes"] = figures
        result["max_ratio"] = max(f["ratio"] for f in figures.values())
        return result
    finally:
        searcher.close()


def log(message: str) -> None:
    sys.stderr.write(f"[filter-cost] {message}\n")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.filter_cost")
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--in-values", type=int, default=MAX_IN_VALUES)
    parser.add_argument("--in-bytes", type=int, default=MAX_IN_LIST_BYTES)
    parser.add_argument("--total-bytes", type=int, default=MAX_FILTER_BYTES)
    parser.add_argument(
        "--sweep", default="", help="also time metadata `in` lists of these lengths: 16,64,256"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hs-filter-cost-") as tmp:
        result = measure(
            Path(tmp),
            args.documents,
            args.rounds,
            (args.in_values, args.in_bytes, args.total_bytes),
        )
    result["limits"] = {
        "in_values": args.in_values,
        "in_list_bytes": args.in_bytes,
        "filter_bytes": args.total_bytes,
        "clauses": MAX_FILTER_CLAUSES,
        "depth": MAX_FILTER_DEPTH,
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
