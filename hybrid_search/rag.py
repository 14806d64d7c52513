"""Pack search hits into a cited, token-budgeted context string for retrieval-augmented generation.

Passages are never cut. A passage that does not fit whole is skipped (listed in `omitted`) and
the next, possibly shorter, one is tried: a passage cut mid-sentence can carry the opposite of
what its source says, and a citation must point at text the model really saw. Markers are
numbered over the included passages only, so `[1]..[n]` has no gaps.
"""

from __future__ import annotations

from collections.abc import Callable

from schemas.api import SearchHit, SearchResponse
from schemas.rag import Citation, RagContext

__all__ = ["PASSAGE_SEPARATOR", "build_context", "format_passage"]

#: a blank line between passages, so markers start lines and stay easy to find
PASSAGE_SEPARATOR = "\n\n"


def format_passage(marker: str, hit: SearchHit) -> str:
    """`[n] Title` on the first line, the chunk text below (marker and text alone if untitled)."""
    if hit.title.strip():
        return f"{marker} {hit.title.strip()}\n{hit.text}"
    return f"{marker} {hit.text}"


def build_context(
    response: SearchResponse,
    *,
    token_budget: int,
    count_tokens: Callable[[str], int],
) -> RagContext:
    """Pack the response's hits, in hit order, into at most `token_budget` tokens.

    The whole candidate context is re-counted after each passage, so the guarantee
    `count_tokens(result.context) <= token_budget` holds for tokenizers that are not additive
    across the separator (most subword tokenizers). Hits come at most `max_top_k` at a time,
    which keeps the quadratic re-counting small.

    Args:
        response: a search response; its hit order is the citation order.
        token_budget: most tokens the context may take (>= 1).
        count_tokens: the tokenizer of the model that will read the context, or a close proxy.

    Returns:
        The context, one citation per included passage, the tokens used, and the chunk ids of
        hits skipped because they did not fit whole.

    Raises:
        ValueError: `token_budget` is below 1.
    """
    if token_budget < 1:
        raise ValueError(f"token_budget must be >= 1, got {token_budget}")
    context = ""
    used = 0
    citations: list[Citation] = []
    omitted: list[str] = []
    for hit in response.hits:
        marker = f"[{len(citations) + 1}]"
        block = format_passage(marker, hit)
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
            )
        )
    return RagContext(
        context=context,
        citations=citations,
        tokens=used,
        token_budget=token_budget,
        omitted=omitted,
    )
