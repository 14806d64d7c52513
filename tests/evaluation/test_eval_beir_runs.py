"""BEIR loading, TREC run files and the ablation set."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_search.errors import ConfigError
from hybrid_search.evaluation.beir import load_beir
from hybrid_search.evaluation.configs import EvalConfig, ablation_configs
from hybrid_search.evaluation.runs import read_trec_run, run_from_responses, write_trec_run
from schemas.api import SearchHit, SearchResponse


def test_load_keeps_judged_queries_of_the_split(tiny_beir: Path) -> None:
    test = load_beir(tiny_beir, "test")
    assert list(test.queries) == ["q1", "q2", "q3", "q4", "q5"]  # q9 is judged nowhere
    assert test.qrels["q5"] == {"d4": 1, "d3": 1}
    assert test.name == "tiny-beir"
    train = load_beir(tiny_beir, "train")
    assert list(train.queries) == ["q1", "q2", "q4"]


def test_load_names_what_is_missing(tiny_beir: Path) -> None:
    with pytest.raises(ConfigError, match=r"dev\.tsv"):
        load_beir(tiny_beir, "dev")
    (tiny_beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nqX\td1\t1\n")
    with pytest.raises(ConfigError, match=r"not in queries\.jsonl"):
        load_beir(tiny_beir, "test")


def _response(query: str, docs: list[str]) -> SearchResponse:
    hits = [
        SearchHit(
            doc_id=d,
            chunk_id=f"{d}#0",
            chunk_index=0,
            title="",
            text="",
            metadata={},
            routes={},
            fused_score=0.5,  # tied fused scores: the run must keep the returned order
        )
        for d in docs
    ]
    return SearchResponse(query=query, hits=hits, timings_ms={}, fusion="rrf", routes=[])


def test_run_keeps_the_searcher_order_through_a_trec_file(tmp_path: Path) -> None:
    run = run_from_responses(["a", "b"], [_response("x", ["z", "y", "z"]), _response("y", [])])
    assert run == {"a": {"z": 3.0, "y": 2.0}, "b": {}}
    path = tmp_path / "run.trec"
    write_trec_run(path, run, "my run")
    assert path.read_text().splitlines() == ["a Q0 z 1 3 my_run", "a Q0 y 2 2 my_run"]
    assert read_trec_run(path) == {"a": {"z": 3.0, "y": 2.0}}


def test_ablation_for_a_dense_only_encoder_reports_the_rest() -> None:
    configs, unavailable = ablation_configs(
        ["dense", "bm25"], colbert_alone=False, rerank=[False, True]
    )
    names = [c.name for c in configs]
    assert names == [
        "dense",
        "dense rerank",
        "dense rerank-fuse",
        "bm25",
        "bm25 rerank",
        "bm25 rerank-fuse",
        "dense+bm25 rrf",
        "dense+bm25 rrf rerank",
        "dense+bm25 rrf rerank-fuse",
        "dense+bm25 minmax",
        "dense+bm25 minmax rerank",
        "dense+bm25 minmax rerank-fuse",
    ]
    assert {"sparse", "colbert", "dense+sparse rrf", "dense+bm25 weighted"} <= set(unavailable)


def test_ablation_for_bge_m3() -> None:
    routes = ["dense", "sparse", "bm25", "colbert"]
    configs, unavailable = ablation_configs(routes, colbert_alone=False, rerank=[False])
    names = [c.name for c in configs]
    assert "colbert" not in names and "colbert" in unavailable  # packed blocks: rescoring only
    assert "dense+sparse+bm25+colbert rrf" in names
    assert "dense+sparse+bm25+colbert minmax" in names
    assert "dense+colbert rrf" in names
    with_colbert_alone, _ = ablation_configs(routes, colbert_alone=True, rerank=[False])
    assert "colbert" in [c.name for c in with_colbert_alone]


def test_config_options_turn_off_explanations_and_deadlines() -> None:
    opts = EvalConfig(("dense", "bm25"), "minmax", True).options(100)
    assert opts["explain"] is False and opts["top_k"] == 100 and opts["rerank"] is True
    assert opts["rerank_timeout_ms"] >= 60_000
    assert opts["rerank_mode"] == "replace"
    fuse = EvalConfig(("dense", "bm25"), "minmax", True, rerank_mode="fuse")
    assert fuse.options(10)["rerank_mode"] == "fuse" and fuse.name.endswith(" rerank-fuse")
