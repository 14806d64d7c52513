"""Single-pass encoding equals `BGEM3FlagModel.encode` (dense, lexical weights, ColBERT) to 1e-5,
on the tiny model and on a one-layer model of BGE-M3's real width (1024)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybrid_search.encoders.base import EncodedBatch
from hybrid_search.encoders.bge_m3 import BGEM3Encoder, to_sparse

TEXTS = [
    "Vitamin D supplementation and the risk of fractures in older adults.",
    "the the the the repeated repeated tokens keep their largest weight",
    "短文本",
    "A much longer passage about hybrid search: dense vectors, sparse lexical weights and "
    "late interaction over token vectors, scored by MaxSim against every query token. " * 3,
    "x",
]


def _reference(enc: BGEM3Encoder, texts: list[str], max_length: int) -> EncodedBatch:
    out = enc.flag_model.encode(
        texts,
        batch_size=len(texts) + 1,
        max_length=max_length,
        return_dense=True,
        return_sparse=True,
        return_colbert_vecs=True,
    )
    return EncodedBatch(
        dense=np.asarray(out["dense_vecs"], np.float32).reshape(len(texts), -1),
        sparse=[to_sparse(w) for w in out["lexical_weights"]],
        colbert=[np.asarray(c, np.float32) for c in out["colbert_vecs"]],
    )


def _assert_equal(got: EncodedBatch, want: EncodedBatch) -> None:
    assert got.dense is not None and want.dense is not None
    assert got.dense.shape == want.dense.shape
    np.testing.assert_allclose(got.dense, want.dense, atol=1e-5, rtol=0)
    assert got.sparse is not None and want.sparse is not None
    for g, w in zip(got.sparse, want.sparse, strict=True):
        assert g.keys() == w.keys()
        np.testing.assert_allclose([g[k] for k in w], [w[k] for k in w], atol=1e-5, rtol=0)
    assert got.colbert is not None and want.colbert is not None
    for g, w in zip(got.colbert, want.colbert, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, atol=1e-5, rtol=0)
    assert got.token_counts == [len(c) + 1 for c in want.colbert]


def _check(model_dir: Path) -> None:
    enc = BGEM3Encoder(str(model_dir), device="cpu", max_passage_tokens=512, max_query_tokens=16)
    assert enc.single_pass
    _assert_equal(enc.encode_documents(TEXTS), _reference(enc, TEXTS, 512))
    # queries: truncated at max_query_tokens, exactly as encode truncates them
    _assert_equal(enc.encode_queries(TEXTS), _reference(enc, TEXTS, 16))
    _assert_equal(enc.encode_queries(TEXTS[:1]), _reference(enc, TEXTS[:1], 16))


def test_single_pass_equals_encode_tiny(tiny_models) -> None:  # type: ignore[no-untyped-def]
    _check(tiny_models.embedding_model)


def test_single_pass_equals_encode_real_width(tmp_path_factory: pytest.TempPathFactory) -> None:
    from hybrid_search.encoders.tiny import build_tiny_models

    models = build_tiny_models(tmp_path_factory.mktemp("wide"), hidden=1024, layers=1, heads=16)
    enc = BGEM3Encoder(str(models.embedding_model), device="cpu")
    assert enc.dense_dim == 1024 and enc.colbert_dim == 1024
    _check(models.embedding_model)


def test_encode_path_still_available(encoder: BGEM3Encoder) -> None:
    legacy = BGEM3Encoder(encoder.name, device="cpu", max_passage_tokens=512, single_pass=False)
    _assert_equal(legacy.encode_documents(TEXTS), _reference(encoder, TEXTS, 512))
