"""Where a query's terms occur in a hit's text, and a snippet around them. Both are cut as the
collection's BM25 analyzer cuts them (jieba search mode, or runs of word characters; lowercased;
stop words dropped when the collection drops them), so a span marks what BM25 matched on; the
`english` analyzer's stemming is not reproduced. Pure functions: no Milvus, no model."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from schemas.api import HitHighlight, SearchHit
from schemas.collection import CollectionSpec

__all__ = [
    "ANALYZERS",
    "CHINESE_FUNCTION_WORDS",
    "DEFAULT_SNIPPET_CHARS",
    "Highlight",
    "Token",
    "find_terms",
    "highlight",
    "highlight_hits",
    "query_terms",
    "tokenize",
]

ANALYZERS = ("jieba", "standard", "english", "chinese")
DEFAULT_SNIPPET_CHARS = 200


def _words(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


#: Lucene's English stop words: what Milvus' `_english_` stop filter expands to
ENGLISH_STOP_WORDS = _words(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with"
)

#: Chinese function and question words: BM25 weighs them near zero, and marking every 的 and
#: 什么 in a passage hides the words that matter. Never highlighted (the analyzer keeps them).
CHINESE_FUNCTION_WORDS = _words(
    "的 地 得 了 着 过 是 在 有 和 与 及 或 而 也 都 就 又 被 把 对 从 以 为 于 由 之 其 此 这 那 "
    "个 所 中 上 下 内 后 前 吗 呢 吧 啊 呀 么 谁 哪 哪个 哪些 哪里 哪儿 哪一 什么 什么样 为什么 "
    "怎么 怎样 如何 多少 几 何 何时 时候 会 能 要"
)

_WORD = re.compile(r"\w+")
#: scripts written without spaces: a snippet may start or end anywhere inside a run of them
_UNSPACED = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


@dataclass(frozen=True)
class Token:
    """One analyzed term and where it lies in the text: text[start:end] is its surface form."""

    term: str
    start: int
    end: int


@dataclass(frozen=True)
class Highlight:
    """Spans: sorted, non-overlapping [start, end) offsets into the text; snippet_spans: those
    inside the snippet (text[snippet_start:...]), relative to it."""

    terms: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    snippet: str
    snippet_start: int
    snippet_spans: tuple[tuple[int, int], ...]


def tokenize(text: str, analyzer: str = "jieba", *, stop_words: bool = True) -> list[Token]:
    """The analyzer's terms with their character offsets; punctuation and spaces are no terms."""
    return _terms(_raw_tokens(text, analyzer), stop_words)


def _raw_tokens(
    text: str, analyzer: str, within: frozenset[str] | None = None
) -> Iterable[tuple[str, int, int]]:
    if analyzer not in ANALYZERS:
        raise ValueError(f"unknown analyzer {analyzer!r}; expected one of {list(ANALYZERS)}")
    if analyzer in ("jieba", "chinese"):
        return _jieba_tokens(text, within)
    return ((m.group(), m.start(), m.end()) for m in _WORD.finditer(text))


def _terms(raw: Iterable[tuple[str, int, int]], stop_words: bool) -> list[Token]:
    out = []
    for word, start, end in raw:
        term = word.strip().lower()
        if not term or not _WORD.search(term):
            continue
        if stop_words and term in ENGLISH_STOP_WORDS:
            continue
        out.append(Token(term, start, end))
    return out


def query_terms(query: str, analyzer: str = "jieba", *, stop_words: bool = True) -> frozenset[str]:
    """The query's distinct terms, less Chinese function and question words."""
    terms = (t.term for t in tokenize(query, analyzer, stop_words=stop_words))
    return frozenset(t for t in terms if t not in CHINESE_FUNCTION_WORDS)


def find_terms(
    terms: frozenset[str], text: str, analyzer: str = "jieba", *, stop_words: bool = True
) -> list[Token]:
    """The text's tokens that are query terms, in text order (jieba's overlapping ones too)."""
    if not terms or not text:
        return []
    raw = _raw_tokens(text, analyzer, within=terms)
    found = [t for t in _terms(raw, stop_words) if t.term in terms]
    return sorted(found, key=lambda t: (t.start, -t.end))


def highlight(
    query: str | frozenset[str],
    text: str,
    analyzer: str = "jieba",
    *,
    stop_words: bool = True,
    snippet_chars: int = DEFAULT_SNIPPET_CHARS,
) -> Highlight:
    """Spans of the query's terms (or query_terms(), computed once for many hits) in `text`, and
    a snippet of at most `snippet_chars` around the window with the most distinct terms (then
    the most matched characters, then the earliest); no match: the text's start."""
    if snippet_chars < 1:
        raise ValueError(f"snippet_chars must be at least 1, got {snippet_chars}")
    terms = (
        query
        if isinstance(query, frozenset)
        else query_terms(query, analyzer, stop_words=stop_words)
    )
    found = find_terms(terms, text, analyzer, stop_words=stop_words)
    spans = tuple(_merged((t.start, t.end) for t in found))
    first, last = _best_window(found, snippet_chars) if found else (0, 0)
    start, end = _snippet_bounds(text, first, last, snippet_chars)
    while start < min(first, end) and _leading_junk(text[start]):
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    inside = tuple(
        (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
    )
    return Highlight(
        terms=tuple(dict.fromkeys(t.term for t in found)),
        spans=spans,
        snippet=text[start:end],
        snippet_start=start,
        snippet_spans=inside,
    )


def _jieba_tokens(
    text: str, within: frozenset[str] | None = None
) -> Iterator[tuple[str, int, int]]:
    """jieba's search-mode tokens; jieba cuts each run of Han and ASCII word characters on its
    own, so with `within` only the runs holding one of those terms are cut (the same matches)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    if within is None:
        yield from jieba.tokenize(text, mode="search")
        return
    offset = 0
    for block in jieba.re_han_default.split(text):
        start, offset = offset, offset + len(block)
        if jieba.re_han_default.fullmatch(block):
            lowered = block.lower()
            if any(term in lowered for term in within):
                for word, s, e in jieba.tokenize(block, mode="search"):
                    yield word, start + s, start + e
        else:
            yield from ((ch, start + i, start + i + 1) for i, ch in enumerate(block))


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping spans as one (adjacent ones stay apart: they are different terms)."""
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _best_window(found: list[Token], width: int) -> tuple[int, int]:
    """[first start, last end] of the best `width`-character window starting at a match."""
    best: tuple[int, int, int] = (-1, -1, 0)
    best_range = (found[0].start, found[0].end)
    counts: Counter[str] = Counter()
    chars = 0
    j = 0
    for i, anchor in enumerate(found):
        if j < i:
            j = i
        while j < len(found) and found[j].end - anchor.start <= width:
            counts[found[j].term] += 1
            chars += found[j].end - found[j].start
            j += 1
        if j > i:
            distinct = sum(1 for c in counts.values() if c)
            score = (distinct, chars, -anchor.start)
            if score > best:
                best = score
                best_range = (anchor.start, max(t.end for t in found[i:j]))
            counts[anchor.term] -= 1
            chars -= anchor.end - anchor.start
    return best_range


def _snippet_bounds(text: str, first: int, last: int, width: int) -> tuple[int, int]:
    """At most `width` characters around [first, last), the slack split evenly, then moved off
    the middle of a space-separated word where that does not cut into the matches."""
    if len(text) <= width:
        return 0, len(text)
    if last - first >= width:
        return first, first + width
    start = max(0, first - (width - (last - first)) // 2)
    end = min(len(text), start + width)
    start = max(0, end - width)
    if start > 0 and _inside_word(text, start):
        space = text.find(" ", start, first)
        if space != -1:
            start = space + 1
    if end < len(text) and _inside_word(text, end):
        space = text.rfind(" ", last, end)
        if space != -1:
            end = space
    return start, end


def _leading_junk(char: str) -> bool:
    """Space or closing punctuation (a full stop, a closing bracket): no way to begin a snippet."""
    return char.isspace() or unicodedata.category(char) in ("Po", "Pe", "Pf")


def _inside_word(text: str, i: int) -> bool:
    """Does offset i fall between two characters of a space-separated word?"""
    a, b = text[i - 1], text[i]
    return a.isalnum() and b.isalnum() and not _UNSPACED.match(a) and not _UNSPACED.match(b)


def highlight_hits(
    query: str, hits: list[SearchHit], spec: CollectionSpec, snippet_chars: int
) -> list[SearchHit]:
    """The hits with their `highlight` set, the query cut once by the collection's analyzer."""
    terms = query_terms(query, spec.analyzer, stop_words=spec.stop_words)
    out = []
    for hit in hits:
        h = highlight(
            terms, hit.text, spec.analyzer, stop_words=spec.stop_words, snippet_chars=snippet_chars
        )
        out.append(hit.model_copy(update={"highlight": HitHighlight(**asdict(h))}))
    return out
