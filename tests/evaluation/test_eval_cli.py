"""`hybrid-search eval` and `export-negatives` end to end: tiny models, a tiny BEIR dataset, a real
Milvus Lite in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hybrid_search.cli import app
from hybrid_search.evaluation.metrics import METRICS


@pytest.fixture
def cli_env(tmp_path: Path, tiny_models, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HYBRID_SEARCH_MILVUS_URI", str(tmp_path / "eval.db"))
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(tiny_models.embedding_model))
    monkeypatch.setenv("HYBRID_SEARCH_RERANKER_MODEL", str(tiny_models.reranker_model))
    monkeypatch.setenv("HYBRID_SEARCH_DEVICE", "cpu")
    monkeypatch.setenv("HYBRID_SEARCH_MAX_CHUNK_TOKENS", "128")
    return tmp_path


def invoke(*args: str) -> dict:  # type: ignore[type-arg]
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_ablation_writes_runs_report_and_chart(cli_env: Path, tiny_beir: Path) -> None:
    out = cli_env / "out"
    report = invoke("eval", str(tiny_beir), "--ablation", "--json", "--out", str(out))
    assert report["dataset"] == "tiny-beir" and report["split"] == "test"
    assert report["queries"] == 5
    assert list(report["metrics"]) == list(METRICS)
    assert report["config"]["routes"] == ["dense", "sparse", "bm25", "colbert"]
    assert report["config"]["rerank"] is True  # the reranker is there: on by default
    ablation = report["ablation"]
    for name in ("dense", "sparse", "bm25", "dense+bm25 rrf", "dense+sparse+bm25+colbert rrf"):
        assert name in ablation and name + " rerank" in ablation
    assert "colbert" in report["unavailable"]  # packed ColBERT blocks: rescoring only
    for metrics in ablation.values():
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert report["ingest"]["inserted"] == 8
    assert (out / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "runs" / "bm25.trec").read_text().split("\n", 1)[0].split()[1] == "Q0"
    assert json.loads((out / "report.json").read_text())["ablation"] == ablation
    assert "| bm25 |" in (out / "results.md").read_text()

    again = invoke("eval", str(tiny_beir), "--routes", "bm25,dense", "--no-rerank", "--json")
    assert again["ingest"]["unchanged"] == 8 and again["ingest"]["inserted"] == 0
    assert again["metrics"] == ablation["dense+bm25 rrf"]  # same collection, same ranking


def test_bm25_only_run_indexes_whole_documents(cli_env: Path, tiny_beir: Path) -> None:
    report = invoke(
        "eval", str(tiny_beir), "--routes", "bm25", "--no-rerank", "--json",
        "--out", str(cli_env / "bm25"),
    )  # fmt: skip
    assert report["setup"]["store_colbert"] is False
    assert report["config"]["routes"] == ["bm25"] and report["ablation"] == {}
    assert report["metrics"]["recall@100"] > 0.8  # every query shares words with its document
    assert report["collection"].startswith("eval_tiny_beir_jieba_")


def test_a_folder_corpus_scores_as_its_json_lines(cli_env: Path, tiny_beir: Path) -> None:
    """The format-invariance benchmark's path: the same documents as PDF (Chinese included) and
    Markdown files in `corpus/`, judged by file name, score as the JSON Lines corpus does."""
    from hybrid_search.benchmarks.formats import write_dataset

    def ndcg(root: Path) -> float:
        report = invoke("eval", str(root), "--routes", "bm25", "--no-rerank", "--json",
                        "--out", str(cli_env / root.name))  # fmt: skip
        assert report["ingest"]["inserted"] == 8 and report["ingest"]["failed"] == 0
        return float(report["metrics"]["ndcg@10"])

    base = ndcg(tiny_beir)
    for ext in (".pdf", ".md"):
        root = write_dataset(tiny_beir, 8, ext, cli_env / "formats")
        assert (root / "corpus" / f"d5{ext}").is_file()
        assert f"q3\td5{ext}\t1" in (root / "qrels" / "test.tsv").read_text()
        assert ndcg(root) == pytest.approx(base, rel=0.01)


def test_negatives_name_a_folder_corpus_instead_of_reading_it(
    tiny_beir: Path, tmp_path: Path
) -> None:
    from hybrid_search.benchmarks.formats import write_dataset
    from hybrid_search.errors import ConfigError
    from hybrid_search.evaluation.beir import load_beir
    from hybrid_search.evaluation.negatives import positive_texts

    dataset = load_beir(write_dataset(tiny_beir, 8, ".md", tmp_path / "formats"))
    assert dataset.corpus.name == "corpus" and dataset.corpus.is_dir()
    with pytest.raises(ConfigError, match=r"corpus\.jsonl, not a folder"):
        positive_texts(dataset)


def test_bad_input_exits_with_usage_errors(cli_env: Path, tiny_beir: Path) -> None:
    runner = CliRunner()
    bad_routes = runner.invoke(app, ["eval", str(tiny_beir), "--routes", "vector"])
    assert bad_routes.exit_code == 2 and "unknown route" in bad_routes.output
    missing = runner.invoke(app, ["eval", str(tiny_beir / "nope"), "--json"])
    assert missing.exit_code == 2 and "corpus.jsonl" in missing.output


def test_export_negatives_jsonl(cli_env: Path, tiny_beir: Path, tiny_beir_data) -> None:  # type: ignore[no-untyped-def]
    out = cli_env / "neg" / "train.jsonl"
    summary = invoke(
        "export-negatives", str(tiny_beir), "--out", str(out), "--rank-window", "2:6",
        "--per-query", "3", "--routes", "bm25,dense", "--json",
    )  # fmt: skip
    assert summary["written"] == 3 and summary["split"] == "train"
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(lines) == 3
    docs, queries, train = tiny_beir_data
    positives = {
        q: {f"{docs[d][0]}\n\n{docs[d][1]}" for qq, d in train if qq == q} for q, _ in train
    }
    for ex in lines:
        assert set(ex) == {"query", "pos", "neg"}
        qid = next(q for q, text in queries.items() if text == ex["query"])
        assert set(ex["pos"]) == positives[qid]
        assert 1 <= len(ex["neg"]) <= 3 and not set(ex["neg"]) & positives[qid]
    _loads_in_flagembedding(out, cli_env / "hf-cache")
    bad = CliRunner().invoke(
        app, ["export-negatives", str(tiny_beir), "--out", str(out), "--rank-window", "5:2"]
    )
    assert bad.exit_code == 2


def _loads_in_flagembedding(path: Path, cache: Path) -> None:
    """FlagEmbedding's own fine-tuning dataset reads the file and builds training groups."""
    from FlagEmbedding.abc.finetune.embedder import (
        AbsEmbedderDataArguments,
        AbsEmbedderTrainDataset,
    )

    args = AbsEmbedderDataArguments(
        train_data=[str(path)], cache_path=str(cache), train_group_size=4
    )
    dataset = AbsEmbedderTrainDataset(args, tokenizer=None)
    assert len(dataset) == 3
    query, passages, teacher_scores = dataset[0]
    assert isinstance(query, str) and len(passages) == 4 and teacher_scores is None
