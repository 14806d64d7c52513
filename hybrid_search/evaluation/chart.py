"""Charts of evaluation results: metrics per configuration, and the tuning grid (matplotlib,
headless Agg backend)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hybrid_search.evaluation.configs import EvalConfig


@contextlib.contextmanager
def _figure(path: Path, size: tuple[float, float]) -> Iterator[Any]:
    """A headless figure's axes, saved to `path` (its folder made) when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    try:
        yield ax
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


def bar_chart(
    results: Mapping[str, Mapping[str, float]], metrics: Sequence[str], path: Path, *, title: str
) -> Path:
    """Horizontal bars, one group per configuration in the given order, one bar per metric."""
    names = list(results)
    n_metrics = max(1, len(metrics))
    height = 0.8 / n_metrics
    with _figure(path, (9.0, 1.4 + 0.22 * n_metrics * len(names))) as ax:
        for j, metric in enumerate(metrics):
            ys = [i + (j - (n_metrics - 1) / 2) * height for i in range(len(names))]
            values = [float(results[n].get(metric, 0.0)) for n in names]
            bars = ax.barh(ys, values, height, label=metric)
            ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=7, padding=2)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.1)
        ax.set_xlabel("score")
        ax.set_title(title, fontsize=9, pad=26)
        ax.legend(
            fontsize=8,
            ncols=n_metrics,
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            frameon=False,
        )
        ax.margins(y=0.01)
        ax.grid(axis="x", alpha=0.3)
    return path


def grid_chart(
    points: Sequence[tuple[EvalConfig, float]], path: Path, *, title: str, best: EvalConfig
) -> Path:
    """The tuning grid: for two routes the objective against the first route's weight, one line
    per fusion (and RRF k), the chosen point ringed; for more the 20 best points as bars."""
    weighted = [(c, v) for c, v in points if c.weights]
    default = [v for c, v in points if not c.weights]
    two = bool(weighted) and len(weighted[0][0].weights) == 2
    with _figure(path, (9.0, 5.0)) as ax:
        if two:
            lines: dict[str, list[tuple[float, float]]] = {}
            for c, v in weighted:
                label = c.fusion + (f" k={c.rrf_k}" if c.rrf_k is not None else "")
                lines.setdefault(label, []).append((c.weights[0][1], v))
            for label, xy in lines.items():
                xy.sort()
                ax.plot([x for x, _ in xy], [y for _, y in xy], marker="o", ms=3, label=label)
            if default:
                ax.axhline(default[0], ls="--", c="grey", lw=1, label="untuned rrf")
            chosen = [v for c, v in points if c == best]
            if best.weights and chosen:
                ax.scatter([best.weights[0][1]], chosen, s=160, facecolors="none", edgecolors="k")
            r0, r1 = weighted[0][0].weights[0][0], weighted[0][0].weights[1][0]
            ax.set_xlabel(f"weight of {r0} (weight of {r1} = 1 - it)")
            ax.legend(fontsize=8)
        else:
            top = sorted(points, key=lambda cv: -cv[1])[:20]
            names = [c.name for c, _ in top]
            ax.barh(range(len(top)), [v for _, v in top])
            ax.set_yticks(range(len(top)))
            ax.set_yticklabels(names, fontsize=7)
            ax.invert_yaxis()
            ax.set_xlabel("objective")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    return path
