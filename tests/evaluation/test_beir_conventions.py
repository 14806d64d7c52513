"""BEIR's and trec_eval's conventions: identical query/document ids are dropped, ties are broken
as trec_eval breaks them, and every metric agrees with pytrec_eval (trec_eval itself, embedded)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hybrid_search.evaluation.metrics import evaluate
from hybrid_search.evaluation.runs import (
    cut,
    drop_identical_ids,
    ranked,
    read_trec_run,
    write_trec_run,
)

pytrec_eval = pytest.importorskip("pytrec_eval")

#: our metric name -> pytrec_eval's measure and the depth the run is cut to first (trec_eval's
#: recip_rank has no cutoff, so MRR@10 is recip_rank over the top 10)
PYTREC = {
    "ndcg@10": ("ndcg_cut_10", None),
    "recall@100": ("recall_100", None),
    "map": ("map", None),
    "mrr@10": ("recip_rank", 10),
}


def trec_eval_means(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]
) -> dict[str, float]:
    """pytrec_eval's per-query values, averaged over every judged query (missing ones: 0)."""
    judged = [q for q, docs in qrels.items() if docs]
    out = {}
    for name, (measure, depth) in PYTREC.items():
        r = cut(run, depth) if depth else run
        per_query = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(
            {q: d for q, d in r.items() if d}
        )
        out[name] = math.fsum(per_query.get(q, {}).get(measure, 0.0) for q in judged) / len(judged)
    return out


def test_ties_are_broken_by_doc_id_descending_as_trec_eval() -> None:
    # trec_eval's comp_sim_docno: sim descending, then strcmp(ptr2->docno, ptr1->docno)
    assert ranked({"a": 1.0, "c": 2.0, "b": 1.0, "B": 1.0}) == ["c", "b", "a", "B"]
    qrels = {"q": {"a": 1}}
    tied = {"q": {"a": 1.0, "b": 1.0, "c": 1.0}}  # trec_eval puts a last: rank 3
    got = evaluate(qrels, tied)
    assert got["mrr@10"] == pytest.approx(1 / 3, abs=1e-6)
    assert got["ndcg@10"] == pytest.approx(1 / math.log2(4), abs=1e-6)
    assert got == pytest.approx(trec_eval_means(qrels, tied), abs=1e-6)


def test_trec_file_of_a_tied_run_lists_trec_eval_order(tmp_path: Path) -> None:
    path = tmp_path / "tied.trec"
    write_trec_run(path, {"q": {"d1": 0.5, "d3": 0.5, "d2": 0.9}}, "t")
    assert [line.split()[2] for line in path.read_text().splitlines()] == ["d2", "d3", "d1"]
    assert read_trec_run(path) == {"q": {"d1": 0.5, "d3": 0.5, "d2": 0.9}}


def test_identical_ids_are_dropped_as_beir_does() -> None:
    # the query is itself a corpus document (ArguAna/Quora style) and is retrieved first
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"q1": 3.0, "x": 2.0, "d1": 1.0}, "q2": {"d2": 2.0, "q2": 1.0}}
    kept = evaluate(qrels, run)
    dropped = evaluate(qrels, drop_identical_ids(run))
    assert kept["ndcg@10"] == pytest.approx((1 / math.log2(4) + 1) / 2, abs=1e-6)
    assert dropped["ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 2, abs=1e-6)
    assert drop_identical_ids(run) == {"q1": {"x": 2.0, "d1": 1.0}, "q2": {"d2": 2.0}}
    assert dropped == pytest.approx(trec_eval_means(qrels, drop_identical_ids(run)), abs=1e-6)


def test_random_runs_with_ties_agree_with_pytrec_eval() -> None:
    rng = random.Random(16)
    docs = [f"d{i:03d}" for i in range(300)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(60):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([0, 1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 8))}
        if q % 10 == 9:
            continue  # judged, nothing retrieved: 0 for every metric
        # few distinct scores: many ties, at every depth
        run[qid] = {d: float(rng.randint(0, 12)) for d in rng.sample(docs, rng.randint(20, 150))}
    ours = evaluate(qrels, cut(run, 100))
    theirs = trec_eval_means(qrels, cut(run, 100))
    assert ours == pytest.approx(theirs, abs=1e-6)


@pytest.mark.slow
def test_eval_cli_drops_the_query_itself_by_default(
    tmp_path: Path, tiny_beir: Path, tiny_models, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from hybrid_search.cli import app

    monkeypatch.setenv("HYBRID_SEARCH_MILVUS_URI", str(tmp_path / "eval.db"))
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(tiny_models.embedding_model))
    monkeypatch.setenv("HYBRID_SEARCH_RERANKER_MODEL", str(tiny_models.reranker_model))
    monkeypatch.setenv("HYBRID_SEARCH_DEVICE", "cpu")
    # query q2 is also a corpus document, with the query's own words: BM25 ranks it first
    with (tiny_beir / "corpus.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"_id": "q2", "text": "vector database for similarity search"}) + "\n")

    def run(*flags: str) -> tuple[dict, dict[str, dict[str, float]]]:  # type: ignore[type-arg]
        out = tmp_path / ("out" + "".join(flags))
        args = ["eval", str(tiny_beir), "--routes", "bm25", "--no-rerank", "--json"]
        result = CliRunner().invoke(app, [*args, "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        report = json.loads([x for x in result.stdout.splitlines() if x.startswith("{")][-1])
        return report, read_trec_run(out / "runs" / "bm25.trec")

    default, default_run = run()
    kept, kept_run = run("--keep-identical-ids")
    assert default["ignore_identical_ids"] is True and kept["ignore_identical_ids"] is False
    assert ranked(kept_run["q2"])[0] == "q2"  # the query found itself first
    assert "q2" not in default_run["q2"] and ranked(default_run["q2"])[0] == "d2"
    assert kept["metrics"]["mrr@10"] < default["metrics"]["mrr@10"]
    qrels = {q: {d: 1} for q, d in [("q1", "d1"), ("q2", "d2"), ("q3", "d5"), ("q4", "d6")]}
    qrels["q5"] = {"d4": 1, "d3": 1}
    # the default equals BEIR's convention applied to the kept run, scored by trec_eval
    assert default["metrics"] == pytest.approx(
        trec_eval_means(qrels, drop_identical_ids(kept_run)), abs=1e-6
    )
