"""Runs: ranked document ids per query, from search responses, in TREC run format.

The score column is derived from the rank (`depth + 1 - rank`), not copied from the hit: fused
scores can tie and rerank scores can be negative, and every evaluator re-sorts by score, so only
rank-derived scores reproduce exactly the order the searcher returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from hybrid_search.evaluation.metrics import RunScores
from schemas.api import SearchResponse


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
    """Doc ids best first (ties by id, as trec_eval breaks them)."""
    return [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))]


def write_trec_run(path: Path, run: Mapping[str, Mapping[str, float]], tag: str) -> None:
    """`qid Q0 docid rank score tag`, one line per retrieved document."""
    tag = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in tag) or "run"
    lines = []
    for qid, docs in run.items():
        for rank, doc in enumerate(ranked(docs), start=1):
            lines.append(f"{qid} Q0 {doc} {rank} {docs[doc]:g} {tag}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")


def read_trec_run(path: Path) -> RunScores:
    run: RunScores = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 6:
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run
