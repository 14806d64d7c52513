"""(g) Scale data: chunk rows and queries at BGE-M3's width, made without an encoder.

Text is real: each chunk is ~200 words of consecutive sentences of one SciFact abstract, started
at a seeded random sentence and run on into the next abstract, so 100k chunks share SciFact's
vocabulary and word frequencies (Python's reference text when SciFact is absent). Queries are
SciFact's claims. Vectors are seeded and cheap: dense is a random unit vector per chunk; sparse
weights one id per distinct word (a hash of the word, BGE-M3-sized ids) with a random weight, so
a query's words meet the chunks that hold them, as BGE-M3's lexical weights do; ColBERT holds one
unit vector per word (from a bank, by the word's hash) for every other token, i.e. already
pooled by 2 as the binary storage pools (`default_pool_factor`). `HashEncoder` gives queries the
same vectors, so no model runs anywhere in (g).
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, FloatArray, Representation, SparseVector
from hybrid_search.store.types import ChunkRow

DIM = 1024
VOCAB = 250_002
WORDS_PER_CHUNK = 200
#: BGE-M3's tokenizer cuts English into ~1.3 tokens per word; stored tokens are pooled by 2
TOKENS_PER_WORD = 1.3
MODEL = "bench-scale-hash"
_WORD = re.compile(r"\w+", re.UNICODE)


@lru_cache(maxsize=1 << 18)
def _word_id(word: str) -> int:
    return zlib.crc32(word.lower().encode()) % VOCAB


class _Bank:
    """Unit vectors by word id: the same word gets the same ColBERT vector everywhere."""

    def __init__(self, size: int = 8192, seed: int = 7) -> None:
        v = np.random.default_rng(seed).standard_normal((size, DIM), dtype=np.float32)
        self.vectors = v / np.linalg.norm(v, axis=1, keepdims=True)

    def tokens(self, words: Sequence[str]) -> FloatArray:
        n = max(1, round(len(words) * TOKENS_PER_WORD / 2))
        ids = [_word_id(words[i % len(words)]) % len(self.vectors) for i in range(n)]
        out: FloatArray = self.vectors[ids]
        return out


def sparse_of(words: Sequence[str], rng: np.random.Generator) -> SparseVector:
    ids = sorted({_word_id(w) for w in words})
    weights = rng.uniform(0.02, 0.35, len(ids))
    return {i: float(w) for i, w in zip(ids, weights, strict=True)}


def _unit(rng: np.random.Generator, n: int) -> FloatArray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    out: FloatArray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def load_sentences(scifact: Path) -> tuple[list[str], list[str]]:
    """SciFact's sentences in corpus order, and its claims (the queries)."""
    corpus, queries = scifact / "corpus.jsonl", scifact / "queries.jsonl"
    if not corpus.is_file():
        from hybrid_search.benchmarks.corpus import synthetic

        syn = synthetic(400, 50)
        return [s for d in syn.docs for s in re.split(r"(?<=[.!?]) ", d.text)], syn.queries
    sentences: list[str] = []
    for line in corpus.read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        sentences += [s for s in re.split(r"(?<=[.!?])\s+", doc["text"]) if s.strip()]
    claims = [json.loads(x)["text"] for x in queries.read_text(encoding="utf-8").splitlines()]
    return sentences, claims


class ScaleRows:
    """Chunk `i` is the same text and vectors on every run (seeded by `i`)."""

    def __init__(self, sentences: list[str], tenant: str = "bench") -> None:
        self.sentences = sentences
        self.tenant = tenant
        self.bank = _Bank()

    def text(self, i: int) -> str:
        rng = random.Random(i)
        at, words, parts = rng.randrange(len(self.sentences)), 0, []
        while words < WORDS_PER_CHUNK:
            s = self.sentences[at % len(self.sentences)]
            parts.append(s)
            words += len(s.split())
            at += 1
        return " ".join(parts)

    def rows(self, start: int, stop: int) -> list[ChunkRow]:
        rng = np.random.default_rng(start)
        dense = _unit(rng, stop - start)
        out = []
        for j, i in enumerate(range(start, stop)):
            text = self.text(i)
            words = _WORD.findall(text)
            out.append(
                ChunkRow(
                    tenant=self.tenant,
                    doc_id=f"d{i}",
                    chunk_index=0,
                    chunk_count=1,
                    title="",
                    text=text,
                    search_text=text,
                    metadata={"n": i},
                    content_hash=f"h{i}",
                    dense=dense[j],
                    sparse=sparse_of(words, rng),
                    colbert=self.bank.tokens(words),
                )
            )
        return out

    def batches(self, start: int, stop: int, size: int = 256) -> Iterator[list[ChunkRow]]:
        for b in range(start, stop, size):
            yield self.rows(b, min(stop, b + size))


class _Words:
    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _WORD.finditer(text)]

    def count_tokens(self, text: str) -> int:
        return len(_WORD.findall(text))


class HashEncoder:
    """The `Encoder` of (g): query vectors from the words, as the rows were made (no model)."""

    name = MODEL
    representations: frozenset[Representation] = frozenset({"dense", "sparse", "colbert"})
    dense_dim = DIM
    colbert_dim: int | None = DIM
    tokenizer = _Words()

    def __init__(self, bank: _Bank) -> None:
        self.bank = bank

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch:
        rng = np.random.default_rng(zlib.crc32("\n".join(texts).encode()))
        words = [_WORD.findall(t) or ["empty"] for t in texts]
        colbert = [
            self.bank.vectors[[_word_id(w) % len(self.bank.vectors) for w in ws]] for ws in words
        ]
        return EncodedBatch(
            dense=_unit(rng, len(texts)),
            sparse=[sparse_of(ws, rng) for ws in words],
            colbert=colbert,
            token_counts=[len(ws) for ws in words],
        )

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch:
        return self.encode_queries(texts)
