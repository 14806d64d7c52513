"""hybrid-search: BGE-M3 dense + sparse + ColBERT and BM25 on Milvus, fused with RRF, reranked.
Heavy modules (torch, FlagEmbedding, pymilvus) load only when used: imports stay fast."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hybrid_search.version import __version__

__all__ = ["HybridSearcher", "Settings", "__version__"]

if TYPE_CHECKING:
    from hybrid_search.searcher import HybridSearcher
    from hybrid_search.settings import Settings


def __getattr__(name: str) -> Any:
    """`from hybrid_search import HybridSearcher` without paying for pymilvus at package import."""
    if name == "HybridSearcher":
        from hybrid_search.searcher import HybridSearcher

        return HybridSearcher
    if name == "Settings":
        from hybrid_search.settings import Settings

        return Settings
    raise AttributeError(f"module 'hybrid_search' has no attribute {name!r}")
