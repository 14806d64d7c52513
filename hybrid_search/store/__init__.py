"""Where chunks and vectors live: the `VectorStore` protocol (base.py), its values (types.py),
`MilvusStore` (milvus.py and the modules it composes) and `InMemoryStore` (memory.py). The only
package that speaks pymilvus."""
