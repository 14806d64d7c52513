"""Fixtures for the evaluation tests: a tiny BEIR dataset (English and Chinese, train and test)
written into the test's tmp_path, and settings pointing at the tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DOCS = {
    "d1": (
        "Vitamin D",
        "Vitamin D deficiency increases the risk of bone fractures in older adults.",
    ),
    "d2": ("Milvus", "Milvus is an open-source vector database built for similarity search."),
    "d3": ("BM25", "BM25 is a ranking function search engines use to estimate relevance."),
    "d4": (
        "Rank fusion",
        "Reciprocal rank fusion combines rankings from several retrieval systems.",
    ),
    "d5": ("上海", "上海是中国的经济和金融中心城市。"),
    "d6": ("Photosynthesis", "Plants convert light energy into chemical energy by photosynthesis."),
    "d7": ("Insulin", "Insulin regulates blood glucose and is produced by the pancreas."),
    "d8": ("Mitochondria", "Mitochondria are the powerhouse of the cell and produce ATP."),
}
QUERIES = {
    "q1": "vitamin D and bone fractures",
    "q2": "vector database for similarity search",
    "q3": "中国的金融中心",
    "q4": "how do plants convert light energy",
    "q5": "rank fusion of retrieval systems",
    "q9": "a query no split judges",
}
TEST = [("q1", "d1"), ("q2", "d2"), ("q3", "d5"), ("q4", "d6"), ("q5", "d4"), ("q5", "d3")]
TRAIN = [("q1", "d1"), ("q2", "d2"), ("q4", "d6")]


def _qrels(path: Path, pairs: list[tuple[str, str]]) -> None:
    path.write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q, d in pairs), "utf-8"
    )


def write_tiny_beir(root: Path) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": k, "title": t, "text": x, "metadata": {}}, ensure_ascii=False) + "\n"
            for k, (t, x) in DOCS.items()
        ),
        "utf-8",
    )
    (root / "queries.jsonl").write_text(
        "".join(
            json.dumps({"_id": k, "text": v}, ensure_ascii=False) + "\n" for k, v in QUERIES.items()
        ),
        "utf-8",
    )
    _qrels(root / "qrels" / "test.tsv", TEST)
    _qrels(root / "qrels" / "train.tsv", TRAIN)
    return root


@pytest.fixture
def tiny_beir(tmp_path: Path) -> Path:
    return write_tiny_beir(tmp_path / "tiny-beir")


@pytest.fixture
def tiny_beir_data() -> tuple[dict[str, tuple[str, str]], dict[str, str], list[tuple[str, str]]]:
    """(docs, queries, train judgements) of `tiny_beir`."""
    return DOCS, QUERIES, TRAIN
