"""Structure-aware chunking in the model's own tokens, title carried into every chunk: split by
section (never crossed), paragraph, then sentence; whole sentences packed into windows of at most
`max_tokens` (title included) overlapping by whole sentences, so a passage starts and ends where
its source's sentences do. Only a sentence over the budget is cut, at a clause mark if it can."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate, groupby

from hybrid_search.encoders.base import TextTokenizer
from ingest.blocks import Block
from schemas.collection import MAX_TEXT_BYTES, MAX_TITLE_BYTES

#: enters every document's content hash: a changed chunking default re-writes documents
CHUNKER_VERSION = "sentences-1"
#: tokenise long texts in slices of this many characters, cut at whitespace, to bound memory
_SEGMENT_CHARS = 100_000
#: the body keeps at least this share of a chunk even under a very long title
_MIN_BODY_SHARE = 0.5
_MAX_BODY_BYTES = MAX_TEXT_BYTES - MAX_TITLE_BYTES - 2
_CLOSE = "\"'”’」』）》】)\\]"
#: a Chinese end anywhere; an ASCII end before whitespace, with the word before it (abbreviations)
_END = re.compile(
    rf"[。！？；]+[{_CLOSE}]*|…+[{_CLOSE}]*"
    rf"|([^\s。！？；…]{{0,12}}?)([.!?]+)[{_CLOSE}]*(?=\s|$)"
)
_ABBREVIATIONS = "al approx ca cf co corp dept dr e.g eq eqs etc fig figs i.e inc jr ltd mr"
_ABBREV = frozenset(f"{_ABBREVIATIONS} mrs ms no nos p pp prof ref refs sr st u.s vol vs".split())
_INITIALS = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]|[A-Za-z]")
_CLAUSE = re.compile(r"[，、,;：:]+\s*")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str  # the body slice
    search_text: str  # title + body: what is encoded, BM25-indexed and reranked
    tokens: int  # model tokens of search_text incl. <s> and </s>
    section: tuple[str, ...] = ()
    pages: tuple[int, int] | None = None  # first and last page, for paged sources

    def metadata(self) -> dict[str, object]:
        """What the chunk adds to its document's metadata: heading path and page range."""
        meta: dict[str, object] = {"section": " > ".join(self.section)} if self.section else {}
        if self.pages is not None:
            meta["page_start"], meta["page_end"] = self.pages
        return meta


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    page: int | None


def search_text(title: str, body: str) -> str:
    return f"{title}\n\n{body}" if title else body


def sentence_ends(text: str, start: int = 0, end: int | None = None) -> Iterator[int]:
    """Offsets just past each sentence end in text[start:end] (closing quotes included)."""
    end = len(text) if end is None else end
    for m in _END.finditer(text, start, end):
        word, mark = m.group(1), m.group(2)
        if mark == "." and (word.lower() in _ABBREV or _INITIALS.fullmatch(word)):
            continue
        nxt = text[m.end() : m.end() + 3].lstrip()[:1]
        if mark and (nxt.islower() or nxt.isdigit()):  # "approx. five", "Fig. 3"
            continue
        yield m.end()


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


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Split text[start:end] after each match of `_END` or `_CLAUSE`, dropping whitespace."""
    at = start
    for cut in [*sentence_ends(text, start, end), end]:
        s, e = at + len(text[at:cut]) - len(text[at:cut].lstrip()), cut
        e -= len(text[s:e]) - len(text[s:e].rstrip())
        if e > s:
            yield s, e
        at = cut


def chunk_text(
    text: str,
    title: str,
    tokenizer: TextTokenizer,
    *,
    max_tokens: int,
    overlap: int,
    blocks: Sequence[Block] = (),
) -> list[Chunk]:
    """Split text into chunks of whole sentences; a text that fits is one chunk."""
    blocks = [b for b in blocks if b.text.strip()] or [Block(text)]
    base = "\n\n".join(b.text for b in blocks)
    title_tokens = tokenizer.count_tokens(title) + 1 if title else 0
    budget = max(int((max_tokens - 2) * _MIN_BODY_SHARE), max_tokens - 2 - title_tokens, 1)
    overlap = min(overlap, budget // 2)
    spans = _spans(base, tokenizer)
    if not spans:  # no tokens at all (e.g. only characters the tokenizer drops): keep it whole
        body = base.strip() or base
        return [Chunk(0, body, search_text(title, body), title_tokens + 2)]
    starts = [s for s, _ in spans]

    def count(s: int, e: int) -> int:
        return bisect_left(starts, e) - bisect_left(starts, s)

    def units(s: int, e: int, page: int | None) -> Iterator[_Unit]:
        for ps, pe in (m for p in _paragraphs(base, s, e) for m in _pieces(base, *p)):
            if count(ps, pe) <= budget and len(base[ps:pe].encode()) <= _MAX_BODY_BYTES:
                yield _Unit(ps, pe, page)
                continue
            at = ps  # a sentence over the budget: clause marks, then token windows
            for cut in [m.end() for m in _CLAUSE.finditer(base, ps, pe)] + [pe]:
                while count(at, cut) > budget or len(base[at:cut].encode()) > _MAX_BODY_BYTES:
                    i = bisect_left(starts, at)
                    n = budget
                    while n > 1 and len(base[at : spans[i + n - 1][1]].encode()) > _MAX_BODY_BYTES:
                        n //= 2
                    yield _Unit(at, spans[i + n - 1][1], page)
                    at = starts[i + n] if i + n < len(starts) else cut
                if cut > at:
                    yield _Unit(at, cut, page)
                    at = cut

    chunks: list[Chunk] = []
    offsets = accumulate((len(b.text) + 2 for b in blocks), initial=0)  # of each block in base
    placed = list(zip(blocks, offsets, strict=False))
    for section, group in groupby(placed, key=lambda p: p[0].section):
        us = [u for b, o in group for u in units(o, o + len(b.text), b.page)]
        i = 0
        while i < len(us):
            j = i + 1
            while j < len(us) and count(us[i].start, us[j].end) <= budget:
                if len(base[us[i].start : us[j].end].encode()) > _MAX_BODY_BYTES:
                    break
                j += 1
            body = base[us[i].start : us[j - 1].end]
            pages = [u.page for u in us[i:j] if u.page is not None]
            chunks.append(
                Chunk(
                    len(chunks),
                    body,
                    search_text(title, body),
                    min(max_tokens, title_tokens + count(us[i].start, us[j - 1].end) + 2),
                    section,
                    (min(pages), max(pages)) if pages else None,
                )
            )
            if j >= len(us):
                break
            k = j  # overlap: the last whole sentences of this chunk that fit `overlap`
            while (
                k - 1 > i
                and count(us[k - 1].start, us[j - 1].end) <= overlap
                and count(us[k - 1].start, us[j].end) <= budget
            ):
                k -= 1
            i = k
    return chunks


def _paragraphs(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    at = start
    for m in _PARAGRAPH.finditer(text, start, end):
        yield at, m.start()
        at = m.end()
    yield at, end
