"""Token-aware chunking with the model's own tokenizer, title carried into every chunk.

Chunks are windows of `max_tokens` tokens (title and special tokens included) that overlap by
`overlap` tokens, cut on token boundaries and mapped back to the original characters, so the
stored text is exactly a slice of the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from hybrid_search.encoders.base import TextTokenizer
from schemas.collection import MAX_TEXT_BYTES, MAX_TITLE_BYTES

#: tokenise long texts in slices of this many characters, cut at whitespace, to bound memory
_SEGMENT_CHARS = 100_000
#: the body keeps at least this share of a chunk even under a very long title
_MIN_BODY_SHARE = 0.5
_MAX_BODY_BYTES = MAX_TEXT_BYTES - MAX_TITLE_BYTES - 2


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str  # the body slice
    search_text: str  # title + body: what is encoded, BM25-indexed and reranked
    tokens: int  # model tokens of search_text incl. <s> and </s>


def search_text(title: str, body: str) -> str:
    return f"{title}\n\n{body}" if title else body


def _spans(text: str, tokenizer: TextTokenizer) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + _SEGMENT_CHARS)
        if end < len(text):
            cut = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            if cut > start:
                end = cut
        spans.extend((s + start, e + start) for s, e in tokenizer.token_spans(text[start:end]))
        start = end
    return spans


def chunk_text(
    text: str, title: str, tokenizer: TextTokenizer, *, max_tokens: int, overlap: int
) -> list[Chunk]:
    """Split text into overlapping token windows; a text that fits is one chunk."""
    title_tokens = tokenizer.count_tokens(title) + 1 if title else 0
    budget = max(int((max_tokens - 2) * _MIN_BODY_SHARE), max_tokens - 2 - title_tokens, 1)
    overlap = min(overlap, budget // 2)
    spans = _spans(text, tokenizer)
    if not spans:  # no tokens at all (e.g. only characters the tokenizer drops): keep it whole
        body = text.strip() or text
        return [Chunk(0, body, search_text(title, body), title_tokens + 2)]
    chunks: list[Chunk] = []
    start = 0
    while start < len(spans):
        end = min(start + budget, len(spans))
        body = text[spans[start][0] : spans[end - 1][1]]
        while len(body.encode("utf-8")) > _MAX_BODY_BYTES and end - start > 1:
            end = start + max(1, (end - start) * 3 // 4)
            body = text[spans[start][0] : spans[end - 1][1]]
        chunks.append(
            Chunk(
                len(chunks),
                body,
                search_text(title, body),
                min(max_tokens, title_tokens + end - start + 2),
            )
        )
        if end >= len(spans):
            break
        start = max(end - overlap, start + 1)
    return chunks
