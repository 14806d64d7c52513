"""The models are shared by every worker thread of the service: query encodes, ingest batches
(another truncation length), chunking and reranking run at once. Their forward passes are not
serialised any more (a search's query no longer waits behind an ingest batch), so this proves
that concurrent calls give exactly the sequential results and never trip the fast tokenizer's
"Already borrowed" error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from hybrid_search.encoders.bge_m3 import BGEM3Encoder
from hybrid_search.rerank.bge import BGEReranker

QUERIES = ["vitamin d fractures", "熊猫吃竹子", "late interaction scoring", "x"]
DOCUMENTS = [
    "Vitamin D supplementation and the risk of fractures in older adults. " * 12,
    "大熊猫主要以竹子为食，每天要花十几个小时进食。" * 10,
    "Hybrid search fuses dense, sparse and full-text routes with reciprocal rank fusion. " * 9,
]
ROUNDS = 6


def _task(encoder: BGEM3Encoder, reranker: BGEReranker, kind: str, i: int) -> Any:
    if kind == "query":
        out = encoder.encode_queries([QUERIES[i % len(QUERIES)]])
        return out.dense, out.sparse, out.colbert
    if kind == "document":
        out = encoder.encode_documents(DOCUMENTS)
        return out.dense, out.sparse, out.colbert
    if kind == "chunk":
        return encoder.tokenizer.token_spans(DOCUMENTS[i % len(DOCUMENTS)])
    return reranker.score(QUERIES[i % len(QUERIES)], DOCUMENTS)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return bool(np.array_equal(a, b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_concurrent_calls_equal_sequential_ones(tiny_models) -> None:  # type: ignore[no-untyped-def]
    # short query limit: query and document encodes switch the tokenizer's truncation length
    encoder = BGEM3Encoder(
        str(tiny_models.embedding_model), max_passage_tokens=512, max_query_tokens=8
    )
    reranker = BGEReranker(str(tiny_models.reranker_model), single_pass=True, max_length=64)
    jobs = [(kind, i) for i in range(ROUNDS) for kind in ("query", "document", "chunk", "rerank")]
    want = [_task(encoder, reranker, kind, i) for kind, i in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(_task, encoder, reranker, kind, i) for kind, i in jobs]
        got = [f.result() for f in futures]
    mismatched = [
        jobs[n] for n, (g, w) in enumerate(zip(got, want, strict=True)) if not _equal(g, w)
    ]
    assert mismatched == []
    assert len(want[0][2][0]) <= 8  # the query limit held while documents were encoded
