"""hybrid-search: BGE-M3 dense + sparse + ColBERT and BM25 on Milvus, fused with RRF, reranked.

Heavy modules (torch, FlagEmbedding, pymilvus) load only when used, so importing the package
and running `hybrid-search --help` stay fast.
"""

__version__ = "0.1.0"
