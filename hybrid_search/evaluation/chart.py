"""A grouped bar chart of metrics per configuration (matplotlib, headless Agg backend)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def bar_chart(
    results: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    path: Path,
    *,
    title: str,
) -> Path:
    """Horizontal bars, one group per configuration (top to bottom in the given order), one bar
    per metric, each value printed at the end of its bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    n_metrics = max(1, len(metrics))
    height = 0.8 / n_metrics
    fig, ax = plt.subplots(figsize=(9.0, 1.4 + 0.22 * n_metrics * len(names)))
    try:
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
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)
    return path
