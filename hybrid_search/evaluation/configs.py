"""Retrieval configurations an evaluation runs, and the ablation set built from what exists: a
configuration the encoder or collection cannot serve is reported with the reason, never
approximated by another one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.api import ALL_ROUTES

#: pairs worth comparing: semantic + lexical (dense+bm25), BGE-M3's own dense+sparse, dense
#: candidates rescored by ColBERT, and the two lexical routes together
USEFUL_PAIRS = (("dense", "bm25"), ("dense", "sparse"), ("dense", "colbert"), ("sparse", "bm25"))


@dataclass(frozen=True)
class EvalConfig:
    routes: tuple[str, ...]
    fusion: str = "rrf"
    rerank: bool = False
    weights: tuple[tuple[str, float], ...] = field(default=())
    rrf_k: int | None = None  # None: the settings' (60)
    rerank_mode: str = "replace"  # or "fuse": the reranker's order fused with the first stage

    @property
    def name(self) -> str:
        name = "+".join(self.routes)
        if len(self.routes) > 1:
            name += f" {self.fusion}"
            if self.fusion == "rrf" and self.rrf_k is not None:
                name += f" k={self.rrf_k}"
            if self.weights:
                name += " " + ",".join(f"{r}={w:g}" for r, w in self.weights)
        if not self.rerank:
            return name
        return name + (" rerank" if self.rerank_mode == "replace" else " rerank-fuse")

    def options(self, top_k: int) -> dict[str, Any]:
        """SearchOptions for this configuration: no explanations (they never change the ranking),
        no rerank deadline (a slow reranker must not silently fall back to the fused order)."""
        fixed = {"top_k": top_k, "explain": False, "rerank_timeout_ms": 600_000}
        return {**self.describe(), "fusion": self.fusion, **fixed}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "routes": list(self.routes),
            "fusion": self.fusion if len(self.routes) > 1 else None,
            "rerank": self.rerank,
        }
        if self.rerank:
            out["rerank_mode"] = self.rerank_mode
        if self.weights:
            out["weights"] = dict(self.weights)
        if self.rrf_k is not None:
            out["rrf_k"] = self.rrf_k
        return out


def order_routes(routes: Sequence[str]) -> tuple[str, ...]:
    return tuple(r for r in ALL_ROUTES if r in routes)


def ablation_configs(
    available: Sequence[str], *, colbert_alone: bool, rerank: Sequence[bool]
) -> tuple[list[EvalConfig], dict[str, str]]:
    """Each route alone, the useful pairs, all routes with RRF and min-max fusion (and raw weighted
    fusion without BM25), each with every value in `rerank` (reranked in both modes). Returns the
    configurations and {name: why unavailable}."""
    configs: list[EvalConfig] = []
    unavailable: dict[str, str] = {}
    avail = order_routes(available)
    for r in ALL_ROUTES:
        if r not in avail:
            unavailable[r] = "the encoder or the collection does not provide this route"
        elif r == "colbert" and not colbert_alone:
            unavailable[r] = (
                "ColBERT alone needs a collection stored with colbert_block_tokens=1 (token "
                "ANN search); with packed blocks it only rescores other routes' candidates"
            )
        else:
            configs.append(EvalConfig((r,)))
    for a, b in USEFUL_PAIRS:
        pair = order_routes((a, b))
        missing = [r for r in pair if r not in avail]
        if missing:
            unavailable["+".join(pair) + " rrf"] = f"route(s) {missing} unavailable"
        else:
            configs.append(EvalConfig(pair, "rrf"))
    if len(avail) > 1:
        configs.append(EvalConfig(avail, "rrf"))
        configs.append(EvalConfig(avail, "minmax"))
        if "bm25" not in avail:
            configs.append(EvalConfig(avail, "weighted"))
        else:
            unavailable["+".join(avail) + " weighted"] = (
                "raw-score weighted fusion gives BM25 weight 0 by default (its scores are "
                "unbounded); the min-max weighted fusion is measured instead"
            )
    modes = {False: ("replace",), True: ("replace", "fuse")}
    out = [
        EvalConfig(c.routes, c.fusion, rr, c.weights, c.rrf_k, mode)
        for c in dict.fromkeys(configs)
        for rr in dict.fromkeys(rerank)
        for mode in modes[rr]
    ]
    return out, unavailable
