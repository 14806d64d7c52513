"""Runs: ranked document ids per query, in TREC run format. Scores derive from the rank, not the
hit (fused scores tie, rerank scores go negative, evaluators re-sort by score): only rank-derived
scores reproduce the searcher's order exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from schemas.api import SearchResponse

RunScores = dict[str, dict[str, float]]  # query id -> {doc id: score}, higher is better


def run_from_responses(query_ids: Sequence[str], responses: Sequence[SearchResponse]) -> RunScores:
    """query id -> {doc id: rank-derived score}; a document counts once, at its best rank."""
    run: RunScores = {}
    for qid, response in zip(query_ids, responses, strict=True):
        docs: dict[str, float] = {}
        depth = len(response.hits)
        for rank, hit in enumerate(response.hits, start=1):
            docs.setdefault(hit.doc_id, float(depth + 1 - rank))
        run[qid] = docs
    return run


def ranked(docs: Mapping[str, float]) -> list[str]:
    """Doc ids in trec_eval's order (its `comp_sim_docno`): score descending, then the byte-wise
    larger doc id first."""
    return sorted(docs, key=lambda d: (docs[d], d.encode("utf-8")), reverse=True)


def strictly_ranked(docs: Mapping[str, float]) -> dict[str, float]:
    """The same order as `ranked`, with distinct scores (n, n-1, ..., 1): any evaluator then
    reproduces trec_eval's tie-breaking."""
    order = ranked(docs)
    return {d: float(len(order) - i) for i, d in enumerate(order)}


def drop_identical_ids(run: Mapping[str, Mapping[str, float]]) -> RunScores:
    """The run without documents whose id is their query's, as BEIR scores by default: on
    ArguAna- or Quora-style sets queries are corpus documents, and finding one is not a hit."""
    return {qid: {d: s for d, s in docs.items() if d != qid} for qid, docs in run.items()}


def cut(run: Mapping[str, Mapping[str, float]], depth: int) -> RunScores:
    """Each query's `depth` best documents (trec_eval's order)."""
    return {qid: {d: docs[d] for d in ranked(docs)[:depth]} for qid, docs in run.items()}


def write_trec_run(path: Path, run: Mapping[str, Mapping[str, float]], tag: str) -> None:
    """`qid Q0 docid rank score tag`, one line per retrieved document."""
    tag = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in tag) or "run"
    lines = [
        f"{qid} Q0 {doc} {rank} {docs[doc]:g} {tag}\n"
        for qid, docs in run.items()
        for rank, doc in enumerate(ranked(docs), start=1)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def read_trec_run(path: Path) -> RunScores:
    run: RunScores = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 6:
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
