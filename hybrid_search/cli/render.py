"""Readable terminal output with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from schemas.api import SearchHit, SearchResponse


def print_response(response: SearchResponse) -> None:
    # at least 120 columns: piped output would otherwise squeeze the text into a ribbon
    console = Console(width=max(150, Console().width))
    table = Table(title=f"{response.query!r} — fusion {response.fusion}", show_lines=False)
    table.add_column("#", justify="right", min_width=2)
    table.add_column("chunk", no_wrap=True, overflow="ellipsis", max_width=16)
    # a highlight snippet wraps: its matches may lie anywhere in it
    marked = any(h.highlight is not None for h in response.hits)
    table.add_column("title / text", no_wrap=not marked, overflow="ellipsis", max_width=40)
    for name in response.routes:
        table.add_column(f"{name}\nrank:score", justify="right", no_wrap=True, min_width=10)
    table.add_column("fused", justify="right", no_wrap=True, min_width=7)
    table.add_column("rerank", justify="right", no_wrap=True, min_width=7)
    for i, h in enumerate(response.hits, start=response.offset + 1):
        cells = [
            f"{_rank(h.routes[r].rank)}: {h.routes[r].score:.3f}" if r in h.routes else "—"
            for r in response.routes
        ]
        table.add_row(
            str(i),
            h.chunk_id,
            _snippet(h),
            *cells,
            f"{h.fused_score:.4f}",
            "—" if h.rerank_score is None else f"{h.rerank_score:.3f}",
        )
    console.print(table)
    timings = ", ".join(f"{k} {v:.1f}" for k, v in response.timings_ms.items())
    console.print(f"[dim]timings ms: {timings}[/dim]")
    for reason in response.reasons:
        console.print(f"[yellow]note: {reason}[/yellow]")
    for note in response.notes:  # why the table is empty
        console.print(f"[yellow]no hits: {note}[/yellow]")


def _snippet(hit: SearchHit) -> Text:
    """The title and the text's start; with a highlight, its snippet, the matches in bold."""
    text = Text(hit.title + " — " if hit.title else "")
    if hit.highlight is None:
        text.append(" ".join(hit.text.split())[:200])
        return text
    h = hit.highlight
    body = Text(h.snippet.replace("\n", " "))
    for start, end in h.snippet_spans:
        body.stylize("bold yellow", start, end)
    return text + ("… " if h.snippet_start else "") + body


def _rank(rank: int | None) -> str:
    """A hit scored only for its explanation was beyond the route's candidate depth."""
    return "-" if rank is None else str(rank)
