"""Hard negatives for fine-tuning as FlagEmbedding's JSONL (`{"query", "pos", "neg"}` per query):
the documents the search ranks inside a window (1-based, inclusive), judged positives excluded;
skipping the head keeps unjudged relevant documents out, as its `range_for_sampling` does.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hybrid_search.errors import ConfigError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.runner import QUERY_BATCH, ProgressFactory, no_progress
from ingest.chunking import search_text


@dataclass(frozen=True)
class RankWindow:
    start: int  # 1-based, inclusive
    end: int  # inclusive

    @classmethod
    def parse(cls, text: str) -> RankWindow:
        """`10:50` -> ranks 10 to 50."""
        try:
            a, b = (int(p) for p in text.split(":"))
        except ValueError:
            raise ConfigError(f"rank window {text!r}: expected START:END, e.g. 10:50") from None
        if not 1 <= a <= b <= 1000:
            raise ConfigError(f"rank window {text!r}: need 1 <= START <= END <= 1000")
        return cls(a, b)


@dataclass
class MiningSummary:
    queries: int = 0
    written: int = 0
    skipped_no_positive_text: int = 0
    skipped_no_negatives: int = 0
    negatives: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def positive_texts(dataset: BeirDataset) -> dict[str, str]:
    """Texts of the judged-relevant documents only (the corpus is streamed, not held)."""
    wanted = {d for docs in dataset.qrels.values() for d, rel in docs.items() if rel > 0}
    if dataset.corpus.is_dir():
        raise ConfigError(
            f"{dataset.corpus}: negatives are mined from a corpus.jsonl, not a folder"
        )
    texts: dict[str, str] = {}
    with dataset.corpus.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = json.loads(line)
            doc_id = str(obj.get("_id", obj.get("id", "")))
            if doc_id in wanted:
                texts[doc_id] = search_text(str(obj.get("title") or ""), str(obj.get("text", "")))
    return texts


def export_negatives(
    searcher: Any,
    dataset: BeirDataset,
    out: Path,
    window: RankWindow,
    per_query: int,
    *,
    options: dict[str, Any],
    seed: int = 0,
    progress: ProgressFactory = no_progress,
) -> MiningSummary:
    """One example per judged query with a positive text and a negative, up to `per_query`
    negatives sampled (seeded) from the window; the file is written atomically."""
    if per_query < 1:
        raise ConfigError("--per-query must be at least 1")
    summary = MiningSummary()
    rng = random.Random(seed)
    positives = positive_texts(dataset)
    ids = list(dataset.queries)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    bar = progress("mine negatives", len(ids), "query")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            for i in range(0, len(ids), QUERY_BATCH):
                batch = ids[i : i + QUERY_BATCH]
                responses = searcher.search_many(
                    [dataset.queries[q] for q in batch], **{**options, "top_k": window.end}
                )
                for qid, response in zip(batch, responses, strict=True):
                    summary.queries += 1
                    judged = dataset.qrels.get(qid, {})
                    pos = [positives[d] for d, rel in judged.items() if rel > 0 and d in positives]
                    if not pos:
                        summary.skipped_no_positive_text += 1
                        continue
                    pool = [
                        search_text(h.title, h.text)
                        for h in response.hits[window.start - 1 : window.end]
                        if judged.get(h.doc_id, 0) <= 0
                    ]
                    neg = rng.sample(pool, min(per_query, len(pool)))
                    if not neg:
                        summary.skipped_no_negatives += 1
                        continue
                    summary.written += 1
                    summary.negatives += len(neg)
                    example = {"query": dataset.queries[qid], "pos": pos, "neg": neg}
                    fh.write(json.dumps(example, ensure_ascii=False) + "\n")
                bar.update(len(batch))
    finally:
        bar.close()
    tmp.replace(out)
    return summary
