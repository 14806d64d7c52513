"""What a hybrid-search collection and each of its fields hold, in words, for Attu and
`describe_collection`. Milvus Lite drops schema descriptions, so they are also written as
collection properties, which every Milvus keeps."""

from __future__ import annotations

from schemas import collection as C

__all__ = [
    "DESCRIPTION_PROPERTY",
    "FIELD_PROPERTY_PREFIX",
    "as_properties",
    "chunk_collection",
    "chunk_fields",
    "colbert_collection",
    "colbert_fields",
]

DESCRIPTION_PROPERTY = "hybrid_search.description"
FIELD_PROPERTY_PREFIX = "hybrid_search.field."


def _analyzer(spec: C.CollectionSpec) -> str:
    stop = "English stop words dropped" if spec.stop_words else "stop words kept"
    return f"Milvus analyzer '{spec.analyzer}' ({stop})"


def chunk_collection(spec: C.CollectionSpec, version: str) -> str:
    colbert = (
        f"; its ColBERT token vectors are in {spec.colbert_collection}"
        if spec.colbert_dim
        else "; no ColBERT vectors"
    )
    return (
        f"hybrid-search {version} (schema {C.SCHEMA_VERSION}): one row per chunk of a "
        f"document, searched by dense and sparse vectors of model {spec.model} and by BM25 "
        f"over {C.SEARCH_TEXT_FIELD} with {_analyzer(spec)}{colbert}"
    )


#: the packed storage kinds' text field (hybrid_search/store/token_rows.py PAYLOAD_FIELD)
PACKED_TOKENS_FIELD = "tokens"


def colbert_collection(spec: C.CollectionSpec, version: str) -> str:
    layout = (
        f"{spec.colbert_block} float32 tokens per row"
        if spec.colbert_storage == "float32"
        else f"stored {spec.colbert_storage}-quantized, packed as text"
    )
    return (
        f"hybrid-search {version} (schema {C.SCHEMA_VERSION}): ColBERT token vectors of model "
        f"{spec.model} for the chunks of {spec.name}, {layout}; read by chunk key for MaxSim"
    )


def chunk_fields(spec: C.CollectionSpec) -> dict[str, str]:
    """Field name -> description for the chunk collection."""
    return {
        C.PK_FIELD: "primary key: tenant/doc_id#chunk_index, unique across tenants",
        C.CHUNK_ID_FIELD: "doc_id#chunk_index: the chunk as users see and cite it",
        C.DOC_ID_FIELD: "id of the source document",
        C.TENANT_FIELD: "tenant that owns the document; the partition key",
        C.CHUNK_INDEX_FIELD: "position of the chunk in its document, from 0",
        C.CHUNK_COUNT_FIELD: "chunks of the whole document (a re-run checks it is complete)",
        C.TITLE_FIELD: "title of the document",
        C.TEXT_FIELD: "the chunk's body as read from the source",
        C.SEARCH_TEXT_FIELD: (
            f"title + body: what {spec.model} encoded, the reranker reads and BM25 indexes "
            f"with {_analyzer(spec)}"
        ),
        C.METADATA_FIELD: "the document's metadata (JSON object), filterable",
        C.CONTENT_HASH_FIELD: (
            "SHA-256 of the whole document (tenant, id, title, text, metadata), the chunking "
            "and the model: an unchanged document is not written again"
        ),
        C.TOKEN_COUNT_FIELD: (
            f"ColBERT token vectors stored for this chunk in {spec.colbert_collection}"
            if spec.colbert_dim
            else "ColBERT token vectors stored for this chunk (none: no ColBERT collection)"
        ),
        C.DENSE_FIELD: (
            f"dense embedding of {C.SEARCH_TEXT_FIELD} by {spec.model}, {spec.dense_dim} "
            "floats; HNSW index, inner product"
        ),
        C.SPARSE_FIELD: (
            f"lexical weights of {C.SEARCH_TEXT_FIELD} by {spec.model}, keyed by tokenizer "
            "id; inner product"
        ),
        C.BM25_FIELD: (
            f"term frequencies of {C.SEARCH_TEXT_FIELD}, written by Milvus' BM25 function "
            f"with {_analyzer(spec)}; BM25 metric"
        ),
    }


def colbert_fields(spec: C.CollectionSpec) -> dict[str, str]:
    """Field name -> description for the ColBERT companion collection, by storage kind."""
    fields = {
        C.TOKEN_PK_FIELD: "primary key: the chunk's pk, ':' and the block index",
        C.TOKEN_CHUNK_FIELD: f"pk of the chunk in {spec.name} these token vectors belong to",
        C.DOC_ID_FIELD: "id of the source document",
        C.TENANT_FIELD: "tenant that owns the document; the partition key",
        C.BLOCK_INDEX_FIELD: "position of this block among the chunk's blocks, from 0",
        C.BLOCK_TOKENS_FIELD: "real (not zero-padded) token vectors in this block",
        C.CONTENT_HASH_FIELD: "SHA-256 of the whole document, as in the chunk collection",
        C.COLBERT_FIELD: (
            f"ColBERT token vectors of {spec.model}: up to {spec.colbert_block} tokens of "
            f"{spec.colbert_dim} dims concatenated, the last block zero-padded"
        ),
    }
    if spec.colbert_storage != "float32":
        fields[PACKED_TOKENS_FIELD] = (
            f"ColBERT token vectors of {spec.model} ({spec.colbert_dim} dims), "
            f"{spec.colbert_storage}-quantized and packed as 7-bit ASCII, several per row"
        )
        fields[C.COLBERT_FIELD] = "placeholder: Milvus needs one vector field; never searched"
    return fields


def as_properties(description: str, fields: dict[str, str]) -> dict[str, str]:
    """The descriptions as collection properties, which Milvus Lite keeps too."""
    return {
        DESCRIPTION_PROPERTY: description,
        **{FIELD_PROPERTY_PREFIX + name: text for name, text in fields.items()},
    }
