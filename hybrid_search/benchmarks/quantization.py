"""(5) Score agreement of the int8 reranker with the float32 one, on the tiny reranker over many
queries (the real-size model's agreement is measured in `realsize`, on random weights)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.benchmarks.corpus import BenchCorpus
from hybrid_search.benchmarks.realsize import agreement


def measure_int8_agreement(
    reranker_dir: Path, corpus: BenchCorpus, *, queries: int, per_query: int = 20
) -> dict[str, Any]:
    from hybrid_search.rerank.bge import BGEReranker

    fp32 = BGEReranker(str(reranker_dir), single_pass=True)
    int8 = BGEReranker(str(reranker_dir), single_pass=True, quantize=True)
    texts = [f"{d.title}\n\n{d.text}" for d in corpus.docs]
    spearman, top5, top10, diffs = [], [], [], []
    for i, q in enumerate(corpus.queries[:queries]):
        start = (i * per_query) % max(1, len(texts) - per_query)
        passages = texts[start : start + per_query]
        a, b = fp32.score(q, passages), int8.score(q, passages)
        spearman.append(agreement(a, b)["spearman"])
        top5.append(agreement(a, b, 5)["top5_overlap"])
        top10.append(agreement(a, b, 10)["top10_overlap"])
        diffs.append(float(np.max(np.abs(np.subtract(a, b)))))
    return {
        "model": reranker_dir.name,
        "queries": len(spearman),
        "passages_per_query": per_query,
        "spearman_mean": round(float(np.mean(spearman)), 4),
        "spearman_min": round(float(np.min(spearman)), 4),
        "top5_overlap_mean": round(float(np.mean(top5)), 4),
        "top10_overlap_mean": round(float(np.mean(top10)), 4),
        "max_abs_score_diff": round(float(np.max(diffs)), 4),
        "score_range": [round(float(np.min(a)), 3), round(float(np.max(a)), 3)],
    }
