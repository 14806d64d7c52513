"""Readable terminal output with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from schemas.api import SearchResponse


def print_response(response: SearchResponse) -> None:
    console = Console()
    table = Table(title=f"{response.query!r} — fusion {response.fusion}", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("doc / chunk")
    table.add_column("title / text", overflow="fold", max_width=60)
    for name in response.routes:
        table.add_column(name, justify="right")
    table.add_column("fused", justify="right")
    table.add_column("rerank", justify="right")
    for i, h in enumerate(response.hits, start=1):
        snippet = (h.title + " — " if h.title else "") + h.text.replace("\n", " ")[:160]
        cells = [
            f"{h.routes[r].rank}: {h.routes[r].score:.3f}" if r in h.routes else "—"
            for r in response.routes
        ]
        table.add_row(
            str(i),
            h.chunk_id,
            snippet,
            *cells,
            f"{h.fused_score:.4f}",
            "—" if h.rerank_score is None else f"{h.rerank_score:.3f}",
        )
    console.print(table)
    timings = ", ".join(f"{k} {v:.1f}" for k, v in response.timings_ms.items())
    console.print(f"[dim]timings ms: {timings}[/dim]")
    for reason in response.reasons:
        console.print(f"[yellow]note: {reason}[/yellow]")
