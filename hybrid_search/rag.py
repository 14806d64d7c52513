"""Pack search hits into a cited, token-budgeted context for retrieval-augmented generation.

Passages are never cut (a cut one can say the opposite of its source): one that does not fit is
skipped (`omitted`) and the next tried; markers `[1]..[n]` count included passages only. With
`snippets`, a passage is the hit's highlight snippet and its citation gives `start`, `end`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from schemas.api import SearchHit, SearchResponse
from schemas.rag import Citation, RagContext

__all__ = ["PASSAGE_SEPARATOR", "build_context", "format_passage"]

#: a blank line between passages, so markers start lines and stay easy to find
PASSAGE_SEPARATOR = "\n\n"


def format_passage(marker: str, hit: SearchHit, text: str | None = None) -> str:
    """`[n] Title › section (p. 3-4)` on the first line, the chunk text (or `text`, a part of it)
    below; a body that opens with the title (a Markdown `# Title`) does not repeat it."""
    body, title = hit.text if text is None else text, hit.title.strip()
    first, _, rest = body.partition("\n")
    if title and first.lstrip("# ").strip() == title:
        body = rest.lstrip("\n")
    cite = _where(hit)
    head = " › ".join(p for p in (title, cite.get("section")) if p)
    if "page_start" in cite:
        a, b = cite["page_start"], cite["page_end"]
        head = f"{head} (p. {a}{f'-{b}' if b != a else ''})".lstrip()
    return f"{marker} {head}\n{body}" if head else f"{marker} {body}"


def _where(hit: SearchHit) -> dict[str, Any]:
    """The chunk's section and page range, when its source had them."""
    m = hit.metadata
    where: dict[str, Any] = {"section": m["section"]} if isinstance(m.get("section"), str) else {}
    if isinstance(m.get("page_start"), int) and isinstance(m.get("page_end"), int):
        where |= {"page_start": m["page_start"], "page_end": m["page_end"]}
    return where


def _passage(hit: SearchHit, snippets: bool) -> tuple[str, int | None, int | None]:
    """The text to pack and, for a snippet, where it lies in the chunk's text."""
    if not snippets:
        return hit.text, None, None
    if hit.highlight is None:
        raise ValueError(
            f"snippets need highlighted hits; hit {hit.chunk_id} has no highlight "
            "(search with highlight=True)"
        )
    h = hit.highlight
    return h.snippet, h.snippet_start, h.snippet_start + len(h.snippet)


def build_context(
    response: SearchResponse,
    *,
    token_budget: int,
    count_tokens: Callable[[str], int],
    snippets: bool = False,
) -> RagContext:
    """The hits, in order, in at most `token_budget` tokens of `count_tokens` (the reader's
    tokenizer or a proxy); the whole context is re-counted per passage, as tokenizers need not
    be additive across the separator."""
    if token_budget < 1:
        raise ValueError(f"token_budget must be >= 1, got {token_budget}")
    context, used = "", 0
    citations: list[Citation] = []
    omitted: list[str] = []
    for hit in response.hits:
        marker = f"[{len(citations) + 1}]"
        text, start, end = _passage(hit, snippets)
        block = format_passage(marker, hit, text)
        candidate = f"{context}{PASSAGE_SEPARATOR}{block}" if context else block
        tokens = count_tokens(candidate)
        if tokens > token_budget:
            omitted.append(hit.chunk_id)
            continue
        context, used = candidate, tokens
        citations.append(
            Citation(
                marker=marker,
                doc_id=hit.doc_id,
                chunk_id=hit.chunk_id,
                title=hit.title,
                score=hit.rerank_score if hit.rerank_score is not None else hit.fused_score,
                start=start,
                end=end,
                **_where(hit),
            )
        )
    return RagContext(
        context=context,
        citations=citations,
        tokens=used,
        token_budget=token_budget,
        omitted=omitted,
    )
