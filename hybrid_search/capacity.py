"""How close a Milvus Lite collection is to the size where its search gets slow, for `stats`
and `doctor` (never per search: a count costs a query)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hybrid_search.settings import Settings
from hybrid_search.store.lite_engines import LiteEngine, resolve_engine

#: Chunks at which each Milvus Lite engine's default hybrid search (every route, explain on, no
#: rerank, encoder excluded) passes p50 200 ms on 2 cores, from bench (g) (docs/benchmarks.md,
#: "(g) Scale", with its date, commit and command): 3.x from the search's CPU time at 10,000
#: and 30,000 chunks, read back to 200 ms along its growth; 2.5 from its wall clock.
#: The setting `lite_capacity_chunks` replaces it for another machine.
LITE_CAPACITY_CHUNKS: Mapping[LiteEngine, int] = MappingProxyType({"3": 7_000, "2.5": 300_000})

_ADVICE: Mapping[LiteEngine, str] = MappingProxyType(
    {
        "3": "copy the collections with `hybrid-search migrate --to URI` to a new Milvus Lite "
        "2.5 file (HYBRID_SEARCH_LITE_ENGINE=2.5) or a Milvus server",
        "2.5": "run a Milvus server, copy the collections with `hybrid-search migrate --to URI`",
    }
)


def lite_capacity(chunks: int, settings: Settings) -> dict[str, object]:
    """The collection's chunks against its engine's capacity; past it, what to do instead."""
    engine = resolve_engine(settings.milvus_uri, settings.lite_engine)
    capacity = settings.lite_capacity_chunks or LITE_CAPACITY_CHUNKS[engine]
    advice = None
    if chunks >= capacity:
        advice = (
            f"past it, hybrid search takes over 200 ms (p50) on 2 cores: {_ADVICE[engine]}, "
            "and set HYBRID_SEARCH_MILVUS_URI to that URI"
        )
    return {"chunks": chunks, "capacity_chunks": capacity, "engine": engine, "advice": advice}


def describe_capacity(c: dict[str, object]) -> str:
    text = (
        f"Milvus Lite {c['engine']} capacity: {c['chunks']:,} of ~{c['capacity_chunks']:,} chunks"
    )
    return f"{text}; {c['advice']}" if c["advice"] else text
