"""rerank_mode through the real searcher (tiny models, Milvus Lite): `replace` orders the head by
the reranker, `fuse` by fuse_with_rerank over the first stage's order; and the dense stand-in
reranker implements the Reranker protocol with cosines."""

from __future__ import annotations

import json
import math

import pytest

from hybrid_search.fusion.rerank import fuse_with_rerank

DOCS = [
    {"id": f"d{i}", "title": t, "text": x}
    for i, (t, x) in enumerate(
        [
            ("Milvus", "Milvus supports hybrid search with filters."),
            ("BM25", "BM25 ranks documents by term frequency and length."),
            ("RRF", "Reciprocal rank fusion adds one over k plus rank."),
            ("ColBERT", "Late interaction scores each query token by MaxSim."),
            ("Pandas", "熊猫以竹子为主要食物。Pandas eat bamboo."),
            ("Search", "Hybrid search fuses dense and lexical ranked lists."),
        ]
    )
]


@pytest.mark.slow
def test_fuse_mode_orders_the_head_as_the_pure_function(settings, encoder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_reranker, build_store, collection_spec, ingest_options
    from hybrid_search.searcher import HybridSearcher
    from ingest.pipeline import IngestJob
    from ingest.readers import read_paths

    src = tmp_path / "corpus.jsonl"
    src.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in DOCS), "utf-8")
    store = build_store(settings)
    spec = collection_spec(settings, encoder)
    IngestJob(store, encoder, spec, ingest_options(settings)).run(read_paths([src]))
    searcher = HybridSearcher(
        store, encoder, build_reranker(settings), collection=settings.collection, settings=settings
    )
    try:
        q = "hybrid search ranked lists"
        common = {"top_k": 6, "rerank_top_n": 6, "explain": False}
        first = searcher.search(q, rerank=False, **common)
        replaced = searcher.search(q, rerank_mode="replace", **common)
        fused = searcher.search(q, rerank_mode="fuse", rerank_weight=2.0, **common)
        assert replaced.reranked and fused.reranked and len(first.hits) == 6
        scores = {h.chunk_id: h.rerank_score for h in replaced.hits}
        assert [h.chunk_id for h in replaced.hits] == sorted(scores, key=lambda c: -scores[c])
        want = fuse_with_rerank(
            [h.chunk_id for h in first.hits], scores, weight=2.0, k=settings.rrf_k
        )
        assert [h.chunk_id for h in fused.hits] == want
        assert {h.chunk_id: h.rerank_score for h in fused.hits} == pytest.approx(scores)
    finally:
        searcher.close()


def test_dense_stand_in_scores_cosines(tiny_models) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.encoders.dense import DenseEncoder
    from hybrid_search.rerank.dense import DenseCosineReranker

    encoder = DenseEncoder(str(tiny_models.embedding_model), pooling="mean")
    reranker = DenseCosineReranker(encoder)
    passages = ["pandas eat bamboo", "BM25 ranks documents"]
    got = reranker.score("bamboo", passages)
    q = encoder.encode_queries(["bamboo"]).dense
    p = encoder.encode_documents(passages).dense
    assert q is not None and p is not None
    assert got == pytest.approx([float(v) for v in p @ q[0]], abs=1e-6)
    assert all(-1.0 - 1e-6 <= s <= 1.0 + 1e-6 for s in got)
    assert reranker.score("bamboo", passages, normalize=True) == pytest.approx(
        [(s + 1) / 2 for s in got], abs=1e-6
    )
    assert reranker.score("bamboo", []) == [] and reranker.name.startswith("dense:")
    assert not any(math.isnan(s) for s in got)
