"""Cross-encoder reranking behind the `Reranker` protocol."""
