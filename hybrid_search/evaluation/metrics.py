"""IR metrics through ranx: nDCG@10, Recall@100, MRR@10, MAP, with trec_eval's conventions as
BEIR reports them: gain = the judged relevance, queries without hits score 0, MAP over the top 100,
ties ordered as trec_eval orders them (`runs.ranked`) before ranx sees the run.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from hybrid_search.evaluation.beir import Qrels
from hybrid_search.evaluation.runs import strictly_ranked

#: the metrics every report carries, in this order
METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10", "map")
#: retrieval depth the metrics need (recall@100)
EVAL_DEPTH = 100


def evaluate(
    qrels: Qrels, run: Mapping[str, Mapping[str, float]], metrics: Sequence[str] = METRICS
) -> dict[str, float]:
    """Mean of each metric over every judged query (a query missing from `run` scores 0)."""
    from ranx import Qrels as RanxQrels
    from ranx import Run as RanxRun
    from ranx import evaluate as ranx_evaluate

    judged = {q: {d: int(r) for d, r in docs.items()} for q, docs in qrels.items() if docs}
    hits = {q: strictly_ranked(docs) for q, docs in run.items() if docs}
    if not any(q in judged for q in hits):  # ranx cannot build an empty run
        return dict.fromkeys(metrics, 0.0)
    with warnings.catch_warnings():
        # numba's NumbaTypeSafetyWarning about a uint64 cast inside ranx' own kernels
        warnings.simplefilter("ignore")
        scores = ranx_evaluate(
            RanxQrels(judged),
            RanxRun({q: d for q, d in hits.items() if q in judged}),
            list(metrics),
            make_comparable=True,
        )
    if isinstance(scores, dict):
        return {m: round(float(scores[m]), 6) for m in metrics}
    return {metrics[0]: round(float(scores), 6)}
