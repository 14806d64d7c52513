"""fuse_with_rerank: the reranker's order and the first stage's fused by weighted RRF; expected
scores written as formulas (ranx's style)."""

from __future__ import annotations

import pytest

from hybrid_search.fusion.rerank import fuse_with_rerank


def test_formula_by_hand() -> None:
    first = ["a", "b", "c"]
    scores = {"a": 0.1, "b": 0.9, "c": 0.5}  # reranker: b, c, a
    k = 60
    fused = {
        "a": 1 / (k + 1) + 1 / (k + 3),
        "b": 1 / (k + 2) + 1 / (k + 1),
        "c": 1 / (k + 3) + 1 / (k + 2),
    }
    assert fused["b"] > fused["a"] > fused["c"]
    assert fuse_with_rerank(first, scores) == ["b", "a", "c"]
    # reranker weight 3: its order wins where it disagrees
    w = 3.0
    w_fused = {
        d: 1 / (k + first.index(d) + 1) + w / (k + r) for d, r in (("a", 3), ("b", 1), ("c", 2))
    }
    assert sorted(first, key=lambda d: -w_fused[d]) == ["b", "c", "a"]
    assert fuse_with_rerank(first, scores, weight=w) == ["b", "c", "a"]


def test_weight_zero_keeps_the_first_stage_and_ties_keep_its_order() -> None:
    first = ["x", "y", "z"]
    assert fuse_with_rerank(first, {"x": 0.0, "y": 1.0, "z": 2.0}, weight=0.0) == first
    # equal reranker scores: the reranker's own order is the first stage's
    assert fuse_with_rerank(first, dict.fromkeys(first, 0.5)) == first
    # k=1, mirrored orders: p = 1/2 + 1/4 = r = 1/4 + 1/2 > q = 1/3 + 1/3; the p/r tie is
    # kept in the first stage's order
    assert fuse_with_rerank(["p", "q", "r"], {"p": 0, "q": 1, "r": 2}, k=1) == ["p", "r", "q"]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="no reranker score"):
        fuse_with_rerank(["a", "b"], {"a": 1.0})
    with pytest.raises(ValueError, match="weight"):
        fuse_with_rerank(["a"], {"a": 1.0}, weight=-1)
    with pytest.raises(ValueError, match="twice"):
        fuse_with_rerank(["a", "a"], {"a": 1.0})
