"""Build the real components from Settings: the only place that knows which classes to use."""

from __future__ import annotations

import logging
import threading
from dataclasses import fields
from pathlib import Path
from typing import Any, cast

from hybrid_search.encoders.base import Encoder
from hybrid_search.errors import CollectionNotFoundError, ConfigError
from hybrid_search.rerank.bge import BGEReranker
from hybrid_search.settings import Settings
from hybrid_search.store.base import VectorStore
from hybrid_search.store.jieba_dict import load_jieba_dict
from hybrid_search.store.milvus import MilvusStore
from hybrid_search.store.tenancy import CollectionPerTenantStore, check_collection_name
from ingest.pipeline import IngestOptions
from schemas.collection import CollectionSpec

logger = logging.getLogger(__name__)


def build_store(settings: Settings, *, create: bool = True) -> VectorStore:
    """The configured store; `create=False` (read or delete only): a missing Milvus Lite file is
    an error, not a new empty database left behind."""
    path = Path(settings.milvus_uri).expanduser()
    if not create and settings.is_milvus_lite() and not path.exists():
        raise CollectionNotFoundError(
            f"no Milvus Lite file at {path} (HYBRID_SEARCH_MILVUS_URI): ingest documents first "
            "(`hybrid-search ingest PATH`) or point HYBRID_SEARCH_MILVUS_URI at an existing file"
        )
    store = build_milvus_store(settings)
    if settings.tenancy == "collection":
        check_collection_name(settings.collection)
        return CollectionPerTenantStore(store)
    return store


def warm_bm25(store: VectorStore, collection: str) -> None:
    """Milvus Lite builds the BM25 analyzer (jieba: 0.3 s) at the first BM25 query: a throwaway
    one in a daemon thread pays that while the caller loads."""
    if not isinstance(store, MilvusStore) or not store.is_lite:
        return

    def warm() -> None:
        try:
            if store.describe(collection).analyzer in ("jieba", "chinese"):
                load_jieba_dict()
            store.client.load_collection(collection)
            store.client.search(collection, data=["warm"], anns_field="bm25", limit=1)
        except Exception:  # no collection or no BM25 field: the real query will say so
            logger.debug("BM25 warm-up failed", exc_info=True)

    threading.Thread(target=warm, daemon=True, name="bm25-warm").start()


def build_milvus_store(settings: Settings) -> MilvusStore:
    """The Milvus store itself, whatever the tenancy (benchmarks read its raw client)."""
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
    return MilvusStore(
        settings.milvus_uri,
        token=token,
        db_name=settings.milvus_db,
        retry=settings.retry,
        lite_engine=settings.lite_engine,
    )


def build_encoder(settings: Settings) -> Encoder:
    """Model weights load on first use, not here."""
    if settings.embedding_kind == "dense":
        from hybrid_search.encoders.dense import DenseEncoder

        return DenseEncoder(  # dense-only: bge v1.5 via FlagModel, MiniLM
            settings.embedding_model,
            **model_placement(settings),
            precision=settings.encoder_precision,
            query_instruction=settings.query_instruction,
            pooling=settings.pooling,
            max_passage_tokens=settings.max_chunk_tokens,
            max_query_tokens=settings.max_query_tokens,
        )
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder

    return BGEM3Encoder(
        settings.embedding_model,
        **model_placement(settings),
        precision=settings.encoder_precision,
        max_passage_tokens=settings.max_chunk_tokens,
        max_query_tokens=settings.max_query_tokens,
    )


def model_placement(settings: Settings) -> dict[str, Any]:
    """Device and fp16 as the models take them: "auto" is resolved when a model loads."""
    fp16 = settings.use_fp16
    return {
        "device": settings.device,
        "use_fp16": None if fp16 == "auto" else fp16 in (True, "true"),
    }


def collection_spec(
    settings: Settings, encoder: Encoder, name: str | None = None
) -> CollectionSpec:
    storage = colbert_storage(settings)
    return CollectionSpec(
        name=name or settings.collection,
        dense_dim=encoder.dense_dim,
        colbert_dim=(
            encoder.colbert_dim
            if settings.store_colbert and storage != "none" and "colbert" in encoder.representations
            else None
        ),
        model=encoder.name,
        analyzer=settings.bm25_analyzer,
        stop_words=settings.bm25_stop_words,
        colbert_block=settings.colbert_block_tokens,
        colbert_storage=storage,
        colbert_pool=settings.colbert_pool_factor,
    )


def check_before_load(store: VectorStore, settings: Settings, encoder: Encoder) -> None:
    """Refuse a collection that another model, analyzer or layout wrote before the model loads
    (real BGE-M3: half a minute), as the check after loading would; that one adds the dims."""
    try:
        found = store.describe(settings.collection)
    except CollectionNotFoundError:
        return
    from types import SimpleNamespace

    from hybrid_search.store.schema import check_spec

    shape = SimpleNamespace(
        name=encoder.name, representations=encoder.representations,
        dense_dim=found.dense_dim, colbert_dim=found.colbert_dim,
    )  # fmt: skip
    check_spec(collection_spec(settings, cast(Encoder, shape)), found)


def colbert_storage(settings: Settings) -> str:
    """The configured ColBERT storage kind: binary unless token ANN search (one token vector
    per row) needs float32; an explicit compressed kind with one token per row is an error."""
    kind = settings.colbert_storage
    if kind is None:
        return "float32" if settings.colbert_block_tokens == 1 else "binary"
    if settings.colbert_block_tokens == 1 and kind in ("binary", "int8"):
        raise ConfigError(
            f"colbert_storage={kind} cannot be searched token by token: "
            "colbert_block_tokens=1 needs colbert_storage=float32"
        )
    return kind


def ingest_options(settings: Settings, **overrides: Any) -> IngestOptions:
    """The ingest options from the Settings of the same names, so every caller chunks alike (the
    content hash covers the chunking); `overrides` win."""
    held = [f.name for f in fields(IngestOptions) if f.name in Settings.model_fields]
    return IngestOptions(**{**{name: getattr(settings, name) for name in held}, **overrides})


def build_reranker(settings: Settings) -> BGEReranker:
    return BGEReranker(
        settings.reranker_model,
        **model_placement(settings),
        max_length=settings.rerank_max_length,
        batch_tokens=settings.rerank_batch_tokens,
        single_pass=settings.rerank_single_pass,
        quantize=settings.rerank_quantize,
    )
