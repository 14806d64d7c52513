"""The reranker's CPU options on the tiny reranker: one forward pass per batch gives exactly
FlagReranker.compute_score's scores; int8 quantisation keeps the order close."""

from __future__ import annotations

import numpy as np
import pytest

from hybrid_search.rerank.bge import BGEReranker

QUERY = "vitamin D and bone fractures"
PASSAGES = [
    "Vitamin D deficiency increases the risk of fractures in older adults. " * k
    for k in range(1, 4)
] + [f"Unrelated passage number {i} about photosynthesis in plants." for i in range(9)]


def test_single_pass_equals_compute_score(tiny_models) -> None:  # type: ignore[no-untyped-def]
    path = str(tiny_models.reranker_model)
    ref = BGEReranker(path, single_pass=False)
    fast = BGEReranker(path, single_pass=True, batch_tokens=256)  # several batches
    for normalize in (False, True):
        a = ref.score(QUERY, PASSAGES, normalize=normalize)
        b = fast.score(QUERY, PASSAGES, normalize=normalize)
        assert np.allclose(a, b, atol=1e-5)


def test_int8_keeps_the_order_close(tiny_models) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.benchmarks.realsize import agreement

    path = str(tiny_models.reranker_model)
    fp32 = BGEReranker(path, single_pass=True).score(QUERY, PASSAGES)
    int8_reranker = BGEReranker(path, single_pass=True, quantize=True)
    int8 = int8_reranker.score(QUERY, PASSAGES)
    import torch

    linear = [m for m in int8_reranker.flag_model.model.modules() if type(m) is torch.nn.Linear]
    assert not linear  # every Linear layer was replaced by its dynamically quantised version
    agree = agreement(fp32, int8, k=5)
    print(agree, np.round(fp32, 3), np.round(int8, 3))
    assert agree["spearman"] > 0.5


def test_settings_reach_the_reranker(settings) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_reranker

    assert build_reranker(settings).single_pass is True  # the default
    rr = build_reranker(settings.model_copy(update={"rerank_quantize": True}))
    assert rr.quantize is True
    with pytest.raises(ValueError):
        settings.model_validate({**settings.model_dump(), "rerank_quantize": "maybe"})
