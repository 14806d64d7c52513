"""`stats` and `doctor` say how close a Milvus Lite collection is to its capacity, and past it
what to do; searches never say it. The capacity is lowered to fit a two-chunk collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_search.capacity import LITE_CAPACITY_CHUNKS
from tests.cli.test_first_minutes import cli_env, ingest_two, invoke, last_json

__all__ = ["cli_env"]


def test_stats_reports_the_share_of_capacity_and_the_move_past_it(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_two(cli_env.parent)
    below = last_json(invoke("stats", "--json").stdout)["lite_capacity"]
    engine = below["engine"]  # the default engine's measured capacity
    assert below == {
        "chunks": 2, "capacity_chunks": LITE_CAPACITY_CHUNKS[engine], "engine": engine,
        "advice": None,
    }  # fmt: skip

    monkeypatch.setenv("HYBRID_SEARCH_LITE_CAPACITY_CHUNKS", "2")
    past = last_json(invoke("stats", "--json", "--tenant", "default").stdout)["lite_capacity"]
    assert past["chunks"] == 2 and past["capacity_chunks"] == 2
    assert "hybrid-search migrate --to URI" in past["advice"]
    text = invoke("stats").stdout
    assert f"Milvus Lite {engine} capacity: 2 of ~2 chunks; past it, " in text
    assert text.count("migrate") == 1

    search = invoke("search", "Milvus", "--routes", "bm25", "--no-rerank", "--json")
    assert search.exit_code == 0, search.output
    assert "migrate" not in search.output and "capacity" not in search.output


def test_doctor_names_the_capacity_of_a_lite_collection(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_two(cli_env.parent)
    for capacity, past in (("3", False), ("2", True)):
        monkeypatch.setenv("HYBRID_SEARCH_LITE_CAPACITY_CHUNKS", capacity)
        report = last_json(invoke("doctor", "--skip-models", "--json").stdout)
        (check,) = [c for c in report["checks"] if c["name"] == "lite capacity"]
        assert check["ok"] is True  # slow is not broken
        assert check["detail"].startswith("Milvus Lite ")
        assert f"capacity: 2 of ~{capacity} chunks" in check["detail"]
        assert ("migrate --to" in check["detail"]) is past
