"""Metrics against values computed by hand from the trec_eval definitions."""

from __future__ import annotations

import math

import pytest

from hybrid_search.evaluation.metrics import METRICS, evaluate

QRELS = {"q1": {"d1": 1, "d2": 1}, "q2": {"d3": 2}, "q3": {"d9": 1}}
RUN = {"q1": {"d1": 3.0, "d5": 2.0, "d2": 1.0}, "q2": {"d4": 2.0, "d3": 1.0}}  # q3: no hits


def test_hand_computed_values() -> None:
    got = evaluate(QRELS, RUN)
    assert list(got) == list(METRICS)
    # q1: relevant at ranks 1 and 3; q2: relevance 2 at rank 2; q3: nothing retrieved
    ndcg_q1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg_q2 = (2 / math.log2(3)) / 2  # gain = relevance, as trec_eval
    assert got["ndcg@10"] == pytest.approx((ndcg_q1 + ndcg_q2 + 0) / 3, abs=1e-6)
    assert got["recall@100"] == pytest.approx((1 + 1 + 0) / 3, abs=1e-6)
    assert got["mrr@10"] == pytest.approx((1 + 1 / 2 + 0) / 3, abs=1e-6)
    ap_q1 = (1 / 1 + 2 / 3) / 2
    ap_q2 = 1 / 2
    assert got["map"] == pytest.approx((ap_q1 + ap_q2 + 0) / 3, abs=1e-6)


def test_cutoffs_apply() -> None:
    docs = {f"x{i}": float(100 - i) for i in range(20)}
    docs["d1"] = 90.5  # rank 11 of 21: outside @10, inside @100
    got = evaluate({"q": {"d1": 1}}, {"q": docs})
    assert got["ndcg@10"] == 0.0 and got["mrr@10"] == 0.0
    assert got["recall@100"] == 1.0
    assert got["map"] == pytest.approx(1 / 11, abs=1e-6)


def test_perfect_and_empty_runs() -> None:
    perfect = {q: {d: float(r) for d, r in docs.items()} for q, docs in QRELS.items()}
    assert evaluate(QRELS, perfect) == dict.fromkeys(METRICS, 1.0)
    assert evaluate(QRELS, {}) == dict.fromkeys(METRICS, 0.0)
    assert evaluate(QRELS, {"unjudged": {"d1": 1.0}}) == dict.fromkeys(METRICS, 0.0)


def test_the_report_setup_never_carries_milvus_credentials() -> None:
    from hybrid_search.evaluation.suite import setup_of
    from hybrid_search.settings import Settings

    s = Settings(milvus_uri="https://user:s3cret@milvus.example:19530?token=abc")
    uri = setup_of(s, "docs")["milvus_uri"]
    assert "s3cret" not in uri and "abc" not in uri and "milvus.example:19530" in uri
