"""What the in-memory store computes in Python: filters, BM25 and the analyzer it scores over.

Filters follow Milvus' semantics as far as the congruence tests reach: a condition on a
metadata key a row lacks, or of another value type, is false (so `ne` / `nin` do not match it
either), and `not` negates what its child evaluates to.

BM25 is the formula Milvus' BM25 function uses (Robertson/Sparck Jones idf with +1 inside the
log, k1=1.2, b=0.75; tf, document length and average length over the analysed `search_text`),
with corpus statistics over the whole collection. The analyzer approximates Milvus' default
`jieba` tokenizer + lowercase with Python's jieba (Milvus runs the Rust port jieba-rs) and keeps
tokens with a letter or digit; other analyzers split on non-word characters. Measured on Milvus
Lite 3.x: with the jieba tokenizer the `{"type": "stop", "stop_words": ["_english_"]}` filter
removes nothing (a BM25 query "and" or "the" matches every chunk holding the word), so stop
words are kept here too, to rank as Milvus does. Scores agree only approximately; the
congruence tests say how far.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from schemas.filters import AndFilter, Condition, Filter, NotFilter, OrFilter, Scalar

#: Lucene's English stop words, the list Milvus' `_english_` names
ENGLISH_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
BM25_K1 = 1.2
BM25_B = 0.75
_WORD = re.compile(r"\w", re.UNICODE)
_SPLIT = re.compile(r"[^\w]+", re.UNICODE)


# -- filters -----------------------------------------------------------------------------------


def matches(f: Filter, fields: dict[str, Any]) -> bool:
    """Whether a row (`doc_id`, `tenant`, `chunk_index`, `title`, `metadata`) passes `f`."""
    if isinstance(f, AndFilter):
        return all(matches(c, fields) for c in f.all_of)
    if isinstance(f, OrFilter):
        return any(matches(c, fields) for c in f.any_of)
    if isinstance(f, NotFilter):
        return not matches(f.negated, fields)
    return _condition(f, fields)


def _condition(c: Condition, fields: dict[str, Any]) -> bool:
    found, value = _lookup(c.field, fields)
    if not found:
        return False
    if c.op in ("in", "nin"):
        values = c.value if isinstance(c.value, list) else [c.value]
        hit = any(_same_type(value, v) and value == v for v in values)
        return hit if c.op == "in" else all(_same_type(value, v) for v in values) and not hit
    want = c.value
    if isinstance(want, list) or not _same_type(value, want):
        return False
    if c.op == "eq":
        return bool(value == want)
    if c.op == "ne":
        return bool(value != want)
    if c.op == "gt":
        return bool(value > want)
    if c.op == "gte":
        return bool(value >= want)
    if c.op == "lt":
        return bool(value < want)
    return bool(value <= want)


def _lookup(field: str, fields: dict[str, Any]) -> tuple[bool, Any]:
    if not field.startswith("metadata."):
        return field in fields, fields.get(field)
    node: Any = fields.get("metadata") or {}
    for key in field[len("metadata.") :].split("."):
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _same_type(a: Any, b: Scalar) -> bool:
    """Milvus compares JSON values of one kind: numbers with numbers, strings with strings,
    booleans with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return True
    return isinstance(a, str) and isinstance(b, str)


# -- BM25 --------------------------------------------------------------------------------------


def analyze(text: str, analyzer: str = "jieba", stop_words: bool = True) -> list[str]:
    """Tokens as the collection's BM25 analyzer would cut them (approximately, see above)."""
    if analyzer == "jieba":
        import jieba

        raw: Iterable[str] = jieba.lcut(text)
    else:
        raw = _SPLIT.split(text)
    tokens = [t.strip().lower() for t in raw]
    tokens = [t for t in tokens if t and _WORD.search(t)]
    if analyzer == "jieba":  # Milvus Lite keeps stop words here (see the module docstring)
        return tokens
    stop = ENGLISH_STOP_WORDS if stop_words or analyzer == "english" else frozenset()
    return [t for t in tokens if t not in stop]


class BM25Index:
    """Term statistics of a set of analysed documents; `score` is Milvus' BM25."""

    def __init__(self, docs: dict[str, Sequence[str]]) -> None:
        self.tf = {pk: Counter(tokens) for pk, tokens in docs.items()}
        self.length = {pk: len(tokens) for pk, tokens in docs.items()}
        self.n = len(docs)
        self.avg = (sum(self.length.values()) / self.n) if self.n else 0.0
        self.df: Counter[str] = Counter()
        for counts in self.tf.values():
            self.df.update(counts.keys())

    def idf(self, term: str) -> float:
        df = self.df.get(term, 0)
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def score(self, query: Sequence[str], pk: str) -> float:
        counts, length = self.tf[pk], self.length[pk]
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / self.avg) if self.avg else BM25_K1
        total = 0.0
        for term in query:
            tf = counts.get(term, 0)
            if tf:
                total += self.idf(term) * tf * (BM25_K1 + 1.0) / (tf + norm)
        return total
