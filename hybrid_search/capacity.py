"""How close a Milvus Lite collection is to the size where its search gets slow, for `stats`
and `doctor` (never per search: a count costs a query)."""

from __future__ import annotations

#: Chunks at which Milvus Lite 3.2.2's default hybrid search (every route, explain on, no
#: rerank, encoder excluded) passes p50 200 ms on 2 cores: bench (g), 2026-12-06, commit
#: e537faa, `measure_scale` of `hybrid-search bench --parts g` at 10,000 and 30,000 chunks
#: (docs/benchmarks.md, "(g) Scale"): the search's CPU time, 258 ms at 10k and 609 ms at 30k
#: chunks, read back to 200 ms along its growth (7,215 chunks). The wall clock on that shared
#: machine (load 14) was 3x the CPU time. The setting `lite_capacity_chunks` adjusts it for
#: another machine.
LITE_CAPACITY_CHUNKS = 7_000


def lite_capacity(chunks: int, capacity: int) -> dict[str, object]:
    """The collection's chunks against the capacity; past it, what to do instead."""
    advice = None
    if chunks >= capacity:
        advice = (
            "past it, hybrid search takes over 200 ms (p50) on 2 cores: run a Milvus "
            "server, copy the collections with `hybrid-search migrate --to URI` and set "
            "HYBRID_SEARCH_MILVUS_URI to that URI"
        )
    return {"chunks": chunks, "capacity_chunks": capacity, "advice": advice}


def describe_capacity(c: dict[str, object]) -> str:
    text = f"Milvus Lite capacity: {c['chunks']:,} of ~{c['capacity_chunks']:,} chunks"
    return f"{text}; {c['advice']}" if c["advice"] else text
