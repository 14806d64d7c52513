"""Latency summaries: percentiles of measured samples, in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/mean in ms, and the sample count."""
    if not seconds:
        return {"p50_ms": 0.0, "p95_ms": 0.0, "mean_ms": 0.0, "n": 0}
    a = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p95_ms": round(float(np.percentile(a, 95)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "n": len(a),
    }


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b to 3 decimals; None when either is unknown or b is 0."""
    return round(a / b, 3) if a is not None and b else None
