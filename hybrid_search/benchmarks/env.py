"""The benchmark's collection: tiny models, Milvus Lite in a scratch directory, a corpus ingested
through the real IngestJob and flushed (as `hybrid-search eval` does)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_search.benchmarks.corpus import BenchCorpus
from hybrid_search.settings import Settings
from hybrid_search.store.milvus import MilvusStore
from schemas.collection import CollectionSpec


@dataclass
class BenchEnv:
    settings: Settings
    store: MilvusStore
    encoder: Any
    spec: CollectionSpec
    ingest_seconds: float
    chunks: int

    def close(self) -> None:
        self.store.close()


def tiny_settings(work: Path, models: Any, **more: Any) -> Settings:
    """float32 unless `more` says otherwise: the baselines run FlagEmbedding's own encode on the
    same model object, which cannot hand bf16 tensors to numpy."""
    return Settings(
        _env_file=None,
        milvus_uri=str(work / "bench.db"),
        embedding_model=str(models.embedding_model),
        reranker_model=str(models.reranker_model),
        device="cpu",
        **{"encoder_precision": "float32", **more},
    )


def open_env(settings: Settings, corpus: BenchCorpus, collection: str) -> BenchEnv:
    from hybrid_search.evaluation.runner import flush
    from hybrid_search.factory import (
        build_encoder,
        build_milvus_store,
        collection_spec,
        ingest_options,
    )
    from ingest.pipeline import IngestJob
    from ingest.readers import SourceDoc

    s = settings.model_copy(update={"collection": collection})
    encoder = build_encoder(s)
    store = build_milvus_store(s)  # the benchmarks read its raw client
    spec = collection_spec(s, encoder)
    options = ingest_options(s)
    started = time.perf_counter()
    summary = IngestJob(store, encoder, spec, options).run(
        SourceDoc(d, "bench") for d in corpus.docs
    )
    flush(store, spec)
    return BenchEnv(s, store, encoder, spec, time.perf_counter() - started, summary.chunks)
