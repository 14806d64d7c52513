"""The fusion grid `tune` searches, and the seeded split of judged queries it tunes and tests on.

The grid starts with the untuned default, so a tie keeps it, and holds each route alone, so the
best point on the tuning half is never below the best single route there.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import product

from hybrid_search.errors import InvalidRequestError
from hybrid_search.evaluation.beir import BeirDataset
from hybrid_search.evaluation.configs import EvalConfig, order_routes

#: RRF constants tried: small k sharpens the head of each list (a strong route's first places
#: dominate), large k flattens it; 60 is the paper's and the default
DEFAULT_RRF_KS: tuple[int, ...] = (10, 30, 60, 100)
#: fusions tried when BM25 is among the routes; raw-score `weighted` fusion is only tried
#: without BM25 (its scores are unbounded, so it needs no grid to lose)
DEFAULT_FUSIONS: tuple[str, ...] = ("rrf", "minmax")


def split_queries(
    query_ids: Sequence[str], seed: int, fraction: float = 0.5
) -> tuple[list[str], list[str]]:
    """(tune, held out) query ids, each in the input order, a seeded `fraction` tuned on."""
    if not 0.0 < fraction < 1.0:
        raise InvalidRequestError(
            f"tune fraction must be between 0 and 1, got {fraction}",
            details={"field": "fraction"},
        )
    ids = list(dict.fromkeys(query_ids))
    n_tune = round(len(ids) * fraction)
    if n_tune < 1 or n_tune >= len(ids):
        raise InvalidRequestError(
            f"{len(ids)} judged queries cannot be split into a tuning and a held-out part "
            f"(fraction {fraction}); tuning needs at least 2",
            details={"field": "queries"},
        )
    shuffled = ids[:]
    random.Random(seed).shuffle(shuffled)
    chosen = set(shuffled[:n_tune])
    return [q for q in ids if q in chosen], [q for q in ids if q not in chosen]


def split_dataset(dataset: BeirDataset, ids: Sequence[str]) -> BeirDataset:
    """The dataset restricted to `ids` (queries and their judgements)."""
    keep = set(ids)
    return BeirDataset(
        root=dataset.root,
        split=dataset.split,
        queries={q: t for q, t in dataset.queries.items() if q in keep},
        qrels={q: d for q, d in dataset.qrels.items() if q in keep},
    )


def weight_grid(routes: Sequence[str], step: float) -> list[tuple[tuple[str, float], ...]]:
    """Every weighting of `routes` on the simplex in `step`s: scale does not change a weighted RRF
    or min-max ranking, so it covers every ratio the step expresses (2 routes at 0.1: 11 points)."""
    n = round(1 / step) if step > 0 else 0
    if not 0 < step <= 1 or abs(n * step - 1) > 1e-9:
        raise InvalidRequestError(
            f"weight step must divide 1 into whole steps (0.5, 0.25, 0.1, ...), got {step}",
            details={"field": "weight_step"},
        )
    return [
        tuple((r, round(p / n, 6)) for r, p in zip(routes, parts, strict=True))
        for parts in product(range(n + 1), repeat=len(routes))
        if sum(parts) == n
    ]


def fusion_grid(
    routes: Sequence[str],
    *,
    fusions: Sequence[str] | None = None,
    rrf_ks: Sequence[int] = DEFAULT_RRF_KS,
    weight_step: float | None = None,
) -> list[EvalConfig]:
    """The configurations `tune` tries on two or more `routes`, the untuned default first;
    `weight_step` defaults to 0.1 for 2 routes and 0.25 for more."""
    chosen = order_routes(routes)
    if len(chosen) < 2:
        raise InvalidRequestError(
            f"tuning fuses two or more routes; got {list(chosen)}", details={"field": "routes"}
        )
    if fusions is None:
        fusions = DEFAULT_FUSIONS if "bm25" in chosen else (*DEFAULT_FUSIONS, "weighted")
    unknown = [f for f in fusions if f not in ("rrf", "weighted", "minmax")]
    if unknown or not fusions:
        raise InvalidRequestError(
            f"unknown fusion(s) {unknown}; use rrf, weighted or minmax",
            details={"field": "fusions"},
        )
    bad_k = [k for k in rrf_ks if not 1 <= k <= 100_000]
    if bad_k or ("rrf" in fusions and not rrf_ks):
        raise InvalidRequestError(
            f"RRF k must be between 1 and 100000, got {bad_k or 'none'}",
            details={"field": "rrf_k"},
        )
    step = weight_step if weight_step is not None else (0.1 if len(chosen) == 2 else 0.25)
    weights = weight_grid(chosen, step)
    grid = [EvalConfig(chosen, "rrf")]  # the untuned default
    for fusion in dict.fromkeys(fusions):
        ks: Sequence[int | None] = list(dict.fromkeys(rrf_ks)) if fusion == "rrf" else [None]
        for i, k in enumerate(ks):
            # one route alone ranks the same whatever k is: tried once
            ws = weights if i == 0 else [w for w in weights if sum(v > 0 for _, v in w) > 1]
            grid.extend(EvalConfig(chosen, fusion, False, w, k) for w in ws)
    return list(dict.fromkeys(grid))
