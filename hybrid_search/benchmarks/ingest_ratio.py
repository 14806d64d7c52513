"""(b) Ingest throughput: documents/s of the full ingest (read, chunk, encode, write to Milvus)
against `BGEM3FlagModel.encode` alone on the same chunk texts.

The model is loaded and warmed before either is timed; the encode-alone call is the plain one a
user would write (`encode(texts, batch_size=batch_size)`). Ratio >= 0.90 means Milvus writes
hide behind encoding.
"""

from __future__ import annotations

import time
from typing import Any

from hybrid_search.benchmarks.corpus import BenchCorpus
from hybrid_search.benchmarks.stats import ratio
from hybrid_search.settings import Settings


def measure_ingest(settings: Settings, corpus: BenchCorpus, collection: str) -> dict[str, Any]:
    from hybrid_search.evaluation.runner import flush
    from hybrid_search.factory import build_encoder, build_store, collection_spec, ingest_options
    from ingest.chunking import chunk_text
    from ingest.pipeline import IngestJob
    from ingest.readers import SourceDoc

    s = settings.model_copy(update={"collection": collection})
    encoder = build_encoder(s)
    flag = encoder.flag_model  # type: ignore[attr-defined]
    texts = [
        c.search_text
        for d in corpus.docs
        for c in chunk_text(
            d.text,
            d.title,
            encoder.tokenizer,
            max_tokens=s.max_chunk_tokens,
            overlap=s.chunk_overlap_tokens,
        )
    ]
    tokens = sum(encoder.tokenizer.count_tokens(t) + 2 for t in texts)
    encoder.encode_documents(texts[:2])  # load and warm up
    t = time.perf_counter()
    flag.encode(
        texts,
        batch_size=s.batch_size,
        max_length=s.max_chunk_tokens,
        return_dense=True,
        return_sparse=True,
        return_colbert_vecs=True,
    )
    encode_s = time.perf_counter() - t

    store = build_store(s)
    try:
        spec = collection_spec(s, encoder)
        store.drop(spec.name)
        options = ingest_options(s)
        t = time.perf_counter()
        summary = IngestJob(store, encoder, spec, options).run(
            SourceDoc(d, "bench") for d in corpus.docs
        )
        ingest_s = time.perf_counter() - t
        flush(store, spec)
    finally:
        store.close()
    n = len(corpus.docs)
    enc_rate, ing_rate = n / encode_s, n / ingest_s
    return {
        "model": s.embedding_model.rstrip("/").rsplit("/", 1)[-1],
        "documents": n,
        "chunks": summary.chunks,
        "tokens": tokens,
        "store_colbert": s.store_colbert,
        "encode_only": {"seconds": round(encode_s, 3), "docs_per_s": round(enc_rate, 2)},
        "full_ingest": {"seconds": round(ingest_s, 3), "docs_per_s": round(ing_rate, 2)},
        "ratio": ratio(ing_rate, enc_rate),
    }
