"""The explained search's floor on Milvus Lite: its store calls alone against the bare call.

Run on the collection a bench run left behind (`hybrid-search bench --parts a --work-dir D`):

    .venv/bin/python docs/measurements/explain_floor.py D

Prints the CPU time per query (this process: Milvus Lite runs in it) of the three keys-only
route searches, the head's scored read (BM25 restricted to the head's keys, rows included), a
plain read of the same rows, and the bare `hybrid_search`, taking turns query by query.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pymilvus import RRFRanker

from hybrid_search.benchmarks.corpus import synthetic
from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.benchmarks.overhead import bare_requests
from hybrid_search.encoders.tiny import build_tiny_models
from hybrid_search.evaluation.cache import QueryCachingEncoder
from hybrid_search.factory import build_encoder, build_milvus_store
from hybrid_search.searcher import HybridSearcher
from hybrid_search.store import ops
from hybrid_search.store.types import FIELD_ROUTES, QueryVectors, RouteError, Scope
from schemas import collection as C


def main(work: Path, passes: int = 2) -> None:
    s = tiny_settings(work, build_tiny_models(Path("models/tiny")))
    s = s.model_copy(update={"collection": "bench_search"})
    encoder = QueryCachingEncoder(build_encoder(s))
    store = build_milvus_store(s)
    queries = synthetic(2000, 200).queries
    enc = encoder.encode_queries(queries)
    assert enc.dense is not None and enc.sparse is not None
    vectors = [QueryVectors(q, enc.dense[i], enc.sparse[i]) for i, q in enumerate(queries)]
    searcher = HybridSearcher(store, encoder, None, collection=s.collection, settings=s)
    options = {
        "routes": list(FIELD_ROUTES),
        "rerank": False,
        "group_by_doc": False,
        "top_k": 10,
        "candidates": s.candidates_per_route,
    }
    heads = [
        [f"{s.tenant}/{h.chunk_id}" for h in searcher.search(q, **options, explain=False).hits]
        for q in queries
    ]
    searcher.stop_threads()
    scope, expr = Scope(s.tenant), f'{C.TENANT_FIELD} == "{s.tenant}"'
    client, ranker = store.client, RRFRanker(s.rrf_k)

    def routes(i: int) -> None:
        for route in FIELD_ROUTES:
            # a query without lexical weights has no sparse search
            with contextlib.suppress(RouteError):
                store.search_field(
                    s.collection,
                    route,
                    [vectors[i]],
                    scope=scope,
                    limit=s.candidates_per_route,
                    with_token_counts=False,
                )

    calls: dict[str, Callable[[int], object]] = {
        "bare hybrid_search": lambda i: client.hybrid_search(
            s.collection,
            bare_requests(vectors[i], s.candidates_per_route, expr),
            ranker=ranker,
            limit=10,
            output_fields=C.HIT_FIELDS,
        ),
        "three route searches": routes,
        "scored read": lambda i: ops.score_rows(
            store,
            s.collection,
            "bm25",
            vectors[i],
            Scope(s.tenant, pks=heads[i]),
            with_vectors=True,
        ),
        "plain read": lambda i: store.get_rows(s.collection, heads[i], with_vectors=True),
    }
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(passes):
        for i in range(len(queries)):
            for name, call in calls.items():
                t = time.process_time()
                call(i)
                cpu[name].append((time.process_time() - t) * 1000)
    mean = {name: statistics.mean(v) for name, v in cpu.items()}
    for name, ms in mean.items():
        sys.stdout.write(f"{name}: {ms:.2f} ms CPU per query\n")
    bare = mean["bare hybrid_search"]
    floor = (mean["three route searches"] + mean["scored read"]) / bare
    routes_ratio = mean["three route searches"] / bare
    sys.stdout.write(f"routes / bare {routes_ratio:.3f}; (routes + read) / bare {floor:.3f}\n")
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
