"""How close a Milvus Lite collection is to the size where its search gets slow, for `stats`
and `doctor` (never per search: a count costs a query)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hybrid_search.settings import Settings
from hybrid_search.store.lite_engines import LiteEngine, resolve_engine

#: Chunks at which each Milvus Lite engine's default hybrid search (every route, explain on, no
#: rerank, encoder excluded) passes p50 200 ms on 2 cores: bench (g), 2026-12-07, commit
#: fa7c7a0, `hybrid-search bench --parts g --scale-cache DIR` at 10k, 30k and 100k chunks
#: (docs/benchmarks.md, "(g) Scale"). 3.x: 134 / 358 / 1,321 ms, 200 ms at ~15,600 chunks. 2.5:
#: 31 / 38 / 42 ms, never near 200 ms: its figure is the largest size measured, past which
#: memory (4 GB at 100k chunks, growing with them) is the limit, not latency. The setting
#: `lite_capacity_chunks` replaces it for another machine.
LITE_CAPACITY_CHUNKS: Mapping[LiteEngine, int] = MappingProxyType({"3": 15_000, "2.5": 100_000})

_ADVICE: Mapping[LiteEngine, str] = MappingProxyType(
    {
        "3": "past it, hybrid search takes over 200 ms (p50) on 2 cores: copy the collections "
        "with `hybrid-search migrate --to URI` to a new Milvus Lite 2.5 file "
        "(HYBRID_SEARCH_LITE_ENGINE=2.5) or a Milvus server",
        "2.5": "past it, nothing was measured (at 100,000 chunks: 42 ms p50 on 2 cores and 4 GB "
        "of memory, growing with the chunks): for more, run a Milvus server, copy the "
        "collections with `hybrid-search migrate --to URI`",
    }
)


def lite_capacity(chunks: int, settings: Settings) -> dict[str, object]:
    """The collection's chunks against its engine's capacity; past it, what to do instead."""
    engine = resolve_engine(settings.milvus_uri, settings.lite_engine)
    capacity = settings.lite_capacity_chunks or LITE_CAPACITY_CHUNKS[engine]
    advice = None
    if chunks >= capacity:
        advice = f"{_ADVICE[engine]}, and set HYBRID_SEARCH_MILVUS_URI to that URI"
    return {"chunks": chunks, "capacity_chunks": capacity, "engine": engine, "advice": advice}


def describe_capacity(c: dict[str, object]) -> str:
    text = (
        f"Milvus Lite {c['engine']} capacity: {c['chunks']:,} of ~{c['capacity_chunks']:,} chunks"
    )
    return f"{text}; {c['advice']}" if c["advice"] else text
