"""Benchmark corpora: a BEIR directory or JSONL file when given, else a seeded synthetic corpus
of English prose (windows of Python's own reference text, about SciFact's 220 words per
document), so the bench runs anywhere, offline, and the same way every time."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from schemas.documents import Document


@dataclass(frozen=True)
class BenchCorpus:
    name: str
    docs: list[Document]
    queries: list[str]


def _words() -> list[str]:
    from pydoc_data.topics import topics  # stdlib: the same text on every Python 3.11+

    text = " ".join(topics[k] for k in sorted(topics))
    return re.findall(r"[A-Za-z][A-Za-z'-]+", text)


def synthetic(
    n_docs: int, n_queries: int, *, words_per_doc: int = 220, seed: int = 0
) -> BenchCorpus:
    words = _words()
    rng = random.Random(seed)
    docs = []
    for i in range(n_docs):
        start = rng.randrange(0, len(words) - words_per_doc - 8)
        title = " ".join(words[start : start + 6]).capitalize()
        body = " ".join(words[start + 6 : start + 6 + words_per_doc])
        docs.append(Document(id=f"syn-{i}", title=title, text=body))
    return BenchCorpus("synthetic", docs, _queries(docs, n_queries, rng))


def _queries(docs: list[Document], n: int, rng: random.Random) -> list[str]:
    """Eight consecutive words of a random document each: every query has a lexical match."""
    out = []
    for _ in range(n):
        words = rng.choice(docs).text.split()
        start = rng.randrange(0, max(1, len(words) - 8))
        out.append(" ".join(words[start : start + 8]))
    return out


def from_path(path: Path, n_docs: int, n_queries: int, *, seed: int = 0) -> BenchCorpus:
    """The first `n_docs` documents of a JSONL file or a BEIR directory; queries from its
    queries.jsonl when there is one, else drawn from the documents."""
    corpus = path / "corpus.jsonl" if path.is_dir() else path
    docs: list[Document] = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            if len(docs) >= n_docs:
                break
            if line.strip():
                obj = json.loads(line)
                doc_id = str(obj.get("_id", obj.get("id")))
                docs.append(Document(id=doc_id, title=obj.get("title") or "", text=obj["text"]))
    rng = random.Random(seed)
    queries_file = path / "queries.jsonl" if path.is_dir() else None
    if queries_file is not None and queries_file.is_file():
        texts = [json.loads(x)["text"] for x in queries_file.read_text("utf-8").splitlines() if x]
        queries = [texts[i % len(texts)] for i in range(n_queries)]
    else:
        queries = _queries(docs, n_queries, rng)
    return BenchCorpus(path.resolve().name, docs, queries)


def write_jsonl(docs: list[Document], path: Path, *, copies: int = 1) -> Path:
    """The documents `copies` times over, each copy with distinct ids (`<id>~<copy>`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for c in range(copies):
            for d in docs:
                row = {
                    "id": f"{d.id}~{c}" if copies > 1 else d.id,
                    "title": d.title,
                    "text": d.text,
                }
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
