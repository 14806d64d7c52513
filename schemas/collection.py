"""The Milvus collections hybrid-search writes: field names, limits and the schema version.

`C` holds one row per chunk (text for BM25, dense and sparse vectors, metadata); `C_colbert` its
ColBERT token vectors, because Milvus has no array-of-vectors field that a server and Lite share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: bump on any change to the fields below; MilvusStore refuses a collection with another version
SCHEMA_VERSION = 1

PK_FIELD = "pk"  # f"{tenant}/{doc_id}#{chunk_index}": unique across tenants, deterministic
CHUNK_ID_FIELD = "chunk_id"  # f"{doc_id}#{chunk_index}": what users see and cite
DOC_ID_FIELD = "doc_id"
TENANT_FIELD = "tenant"  # the partition key
CHUNK_INDEX_FIELD = "chunk_index"
CHUNK_COUNT_FIELD = "chunk_count"  # chunks of the whole document: completeness check on re-run
TITLE_FIELD = "title"
TEXT_FIELD = "text"  # the chunk body as read
SEARCH_TEXT_FIELD = "search_text"  # title + body: what was encoded, BM25-analysed and reranked
METADATA_FIELD = "metadata"
CONTENT_HASH_FIELD = "content_hash"  # of the whole document (tenant, id, title, text, metadata)
TOKEN_COUNT_FIELD = "token_count"  # ColBERT vectors stored for this chunk
DENSE_FIELD = "dense"
SPARSE_FIELD = "sparse"
BM25_FIELD = "bm25"  # output of the BM25 function over SEARCH_TEXT_FIELD
BM25_FUNCTION = "bm25_fn"

#: ColBERT companion collection: one row per block of up to `colbert_block` token vectors of a
#: chunk, concatenated into one FLOAT_VECTOR of colbert_dim * colbert_block floats (the last block
#: zero-padded). Blocks cut the row count (Milvus' per-row cost dominates writes) by the block size.
COLBERT_SUFFIX = "_colbert"
TOKEN_PK_FIELD = "pk"  # f"{chunk pk}:{block index}"
TOKEN_CHUNK_FIELD = "chunk_pk"
BLOCK_INDEX_FIELD = "block_index"
BLOCK_TOKENS_FIELD = "block_tokens"  # real (unpadded) token vectors in this block
COLBERT_FIELD = "vector"
#: Milvus rejects an empty sparse row, yet a chunk can have no positive lexical weight (a
#: dense-only encoder, or BGE-M3 on text of only special/unknown tokens). Such chunks store this
#: single placeholder dimension, which no tokenizer id reaches (ids < 2**32 - 2): no query
#: shares it, so the chunk is simply never a sparse hit.
EMPTY_SPARSE_DIM = 2**32 - 2
EMPTY_SPARSE_ROW: dict[int, float] = {EMPTY_SPARSE_DIM: 1e-6}
#: Milvus' largest FLOAT_VECTOR dimension
MAX_VECTOR_DIM = 32_768

MAX_ID_BYTES = 1024
MAX_PK_BYTES = MAX_ID_BYTES + 100
MAX_TITLE_BYTES = 4096
#: Milvus VARCHAR limit; chunk text is bounded far below it by the chunk token limit
MAX_TEXT_BYTES = 65_535

#: HNSW M=16, efConstruction=200: Milvus's recommended balance of recall and build time
DENSE_INDEX = {
    "index_type": "HNSW",
    "metric_type": "IP",
    "params": {"M": 16, "efConstruction": 200},
}
#: IVF lists where an engine lacks HNSW (Milvus Lite 2.5), and the lists a search probes
IVF_NLIST, IVF_NPROBE = 128, 32


def ann_params(limit: int) -> dict[str, int]:
    """Search parameters for either dense index: HNSW reads `ef` (>= limit is required; the
    64 floor keeps recall high), IVF_FLAT reads `nprobe`; each ignores the other's."""
    return {"ef": max(64, limit), "nprobe": IVF_NPROBE}


SPARSE_INDEX = {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "IP", "params": {}}
BM25_INDEX = {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {}}
#: one token per row: HNSW, so ColBERT can generate candidates by token ANN search
COLBERT_INDEX = {
    "index_type": "HNSW",
    "metric_type": "IP",
    "params": {"M": 16, "efConstruction": 100},
}
#: packed blocks are only read by chunk id, never searched: FLAT costs nothing to build
COLBERT_BLOCK_INDEX = {"index_type": "FLAT", "metric_type": "IP", "params": {}}

#: fields a search hit carries back (vectors never leave Milvus unless asked for)
HIT_FIELDS = [
    PK_FIELD,
    CHUNK_ID_FIELD,
    DOC_ID_FIELD,
    TENANT_FIELD,
    CHUNK_INDEX_FIELD,
    TITLE_FIELD,
    TEXT_FIELD,
    SEARCH_TEXT_FIELD,
    METADATA_FIELD,
    TOKEN_COUNT_FIELD,
]


#: what a route candidate carries: enough to group by document and to read its ColBERT blocks
KEY_FIELDS = [PK_FIELD, DOC_ID_FIELD, TOKEN_COUNT_FIELD]


def default_pool_factor(storage: str) -> int:
    """Compressed kinds pool document tokens by 2: half the bytes and half the MaxSim work, at
    no measured quality cost (docs/benchmarks.md, quality guard); float32 stays exact."""
    return 2 if storage in ("binary", "int8") else 1


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection must look like for the configured model and analyzer."""

    name: str
    dense_dim: int
    colbert_dim: int | None
    model: str
    analyzer: str = "jieba"
    stop_words: bool = True
    colbert_block: int = 16
    #: how token vectors are stored (store.token_rows.TOKEN_STORAGES); recorded in the
    #: collection, read back by `describe`; collections from before the field hold "float32"
    colbert_storage: str = "float32"
    #: ColBERT document tokens merged per stored token (hybrid_search.tokens.pool_tokens);
    #: None: the collection's recorded factor, or `default_pool_factor` for a new collection
    colbert_pool: int | None = None
    #: collection tenancy (hybrid_search.store.tenancy): "{collection}/{tenant}" when this Milvus
    #: collection holds that one tenant of the logical collection; None: tenants share it
    owner: str | None = None

    def __post_init__(self) -> None:
        if self.colbert_dim and not 1 <= self.colbert_dim * self.colbert_block <= MAX_VECTOR_DIM:
            raise ValueError(
                f"colbert_block {self.colbert_block} x ColBERT dim {self.colbert_dim} exceeds "
                f"Milvus' maximum vector dimension {MAX_VECTOR_DIM}"
            )

    @property
    def pool_factor(self) -> int:
        if self.colbert_pool is None:
            return default_pool_factor(self.colbert_storage)
        return self.colbert_pool

    @property
    def colbert_index(self) -> dict[str, Any]:
        return COLBERT_INDEX if self.colbert_block == 1 else COLBERT_BLOCK_INDEX

    @property
    def colbert_collection(self) -> str:
        return self.name + COLBERT_SUFFIX

    def analyzer_params(self) -> dict[str, object]:
        """jieba segments Chinese and splits English on word boundaries; lowercase and (optionally)
        English stop words make English BM25 behave like Lucene's standard analyzer."""
        if self.analyzer in ("english", "chinese"):
            return {"type": self.analyzer}
        filters: list[object] = ["lowercase"]
        if self.stop_words:
            filters.append({"type": "stop", "stop_words": ["_english_"]})
        return {"tokenizer": self.analyzer, "filter": filters}
