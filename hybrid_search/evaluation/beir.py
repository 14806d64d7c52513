"""BEIR-format datasets: `corpus.jsonl` (or a `corpus/` folder, doc id = relative path),
`queries.jsonl`, `qrels/<split>.tsv`. Only the split's judged queries are evaluated; the corpus
is streamed by ingestion, not loaded here.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from hybrid_search.errors import ConfigError

Qrels = dict[str, dict[str, int]]


@dataclass(frozen=True)
class BeirDataset:
    """One split of a BEIR dataset: the judged queries and their relevance judgements."""

    root: Path
    split: str
    queries: dict[str, str]  # query id -> text, judged queries only, in qrels order
    qrels: Qrels  # query id -> {doc id: relevance}

    @property
    def name(self) -> str:
        return self.root.resolve().name

    @property
    def corpus(self) -> Path:
        return corpus_path(self.root)


def corpus_path(root: Path) -> Path:
    """`corpus.jsonl`, or else a `corpus/` folder when there is one."""
    jsonl, folder = root / "corpus.jsonl", root / "corpus"
    return folder if not jsonl.is_file() and folder.is_dir() else jsonl


def read_qrels(path: Path) -> Qrels:
    """`query-id<TAB>corpus-id<TAB>score` with a header line, as BEIR writes it."""
    qrels: Qrels = {}
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t")
        for i, row in enumerate(rows):
            if not row or (i == 0 and not row[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or the header
            if len(row) < 3:
                raise ConfigError(f"{path}:{i + 1}: expected 3 tab-separated columns")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def read_queries(path: Path, keep: set[str] | None = None) -> dict[str, str]:
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                qid, text = str(obj["_id"]), str(obj["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{lineno}: not a BEIR query line ({exc})") from None
            if keep is None or qid in keep:
                queries[qid] = text
    return queries


def load_beir(root: Path | str, split: str = "test") -> BeirDataset:
    """Load one split. Raises ConfigError naming the missing file or the unknown query ids."""
    root = Path(root)
    qrels_path = root / "qrels" / f"{split}.tsv"
    for p in (corpus_path(root), root / "queries.jsonl", qrels_path):
        if not p.exists():
            raise ConfigError(
                f"{p} not found: a BEIR dataset directory has corpus.jsonl (or corpus/), "
                f"queries.jsonl and qrels/{split}.tsv",
                details={"path": str(p)},
            )
    # positive judgements only define relevance; zero-score pairs stay (ranx ignores them)
    qrels = read_qrels(qrels_path)
    queries = read_queries(root / "queries.jsonl", set(qrels))
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise ConfigError(
            f"{len(missing)} query ids in {qrels_path} are not in queries.jsonl "
            f"(first: {missing[0]!r})",
            details={"missing": missing[:20]},
        )
    ordered = {q: queries[q] for q in qrels}
    return BeirDataset(root=root, split=split, queries=ordered, qrels=qrels)
