"""The search steps above the store: the plan, the routes (each turns an encoded query into a
ranked candidate list through `VectorStore`), retrieval, ColBERT rescoring and explanations."""
