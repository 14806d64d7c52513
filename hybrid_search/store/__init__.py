"""Where chunks and vectors live: the `VectorStore` verbs (base.py), the reads built on them
(ops.py), their values (types.py) and `MilvusStore` (milvus.py and the modules it composes).
The only package that speaks pymilvus."""
