"""How close a Milvus Lite collection is to the size where its search gets slow, for `stats`
and `doctor` (never per search: a count costs a query)."""

from __future__ import annotations

#: Chunks at which Milvus Lite 3.2.2's default hybrid search (every route, explain on, no
#: rerank, encoder excluded) passes p50 200 ms on 2 shared cores. Provisional: bench (g)
#: (`hybrid-search bench --parts g --json`) is measuring it. The setting
#: `lite_capacity_chunks` overrides it for other machines.
LITE_CAPACITY_CHUNKS = 45_000


def lite_capacity(chunks: int, capacity: int) -> dict[str, object]:
    """The collection's chunks against the capacity; past it, what to do instead."""
    advice = None
    if chunks >= capacity:
        advice = (
            "past the size where Milvus Lite's hybrid search passes 200 ms (p50): run a Milvus "
            "server, copy the collections with `hybrid-search migrate --to URI` and set "
            "HYBRID_SEARCH_MILVUS_URI to that URI"
        )
    return {"chunks": chunks, "capacity_chunks": capacity, "advice": advice}


def describe_capacity(c: dict[str, object]) -> str:
    text = f"{c['chunks']:,} of ~{c['capacity_chunks']:,} chunks Milvus Lite serves in 200 ms"
    return f"{text}: {c['advice']}" if c["advice"] else text
