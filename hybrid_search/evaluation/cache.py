"""An Encoder wrapper that remembers query encodings: an ablation of N configurations encodes each
query once, not N times."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, Encoder, Representation, TextTokenizer


class QueryCachingEncoder:
    """Same answers as the wrapped encoder (the query batch of a cache miss is encoded in one
    call, as the searcher would); only repeated queries are served from memory."""

    def __init__(self, inner: Encoder) -> None:
        self.inner = inner
        self._cache: dict[str, EncodedBatch] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def representations(self) -> frozenset[Representation]:
        return self.inner.representations

    @property
    def dense_dim(self) -> int:
        return self.inner.dense_dim

    @property
    def colbert_dim(self) -> int | None:
        return self.inner.colbert_dim

    @property
    def tokenizer(self) -> TextTokenizer:
        return self.inner.tokenizer

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch:
        return self.inner.encode_documents(texts)

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            enc = self.inner.encode_queries(missing)
            with self._lock:
                for i, t in enumerate(missing):
                    self._cache[t] = _row(enc, i)
        with self._lock:
            rows = [self._cache[t] for t in texts]
        return _stack(rows, self.inner.dense_dim)


def _row(enc: EncodedBatch, i: int) -> EncodedBatch:
    return EncodedBatch(
        dense=None if enc.dense is None else enc.dense[i : i + 1],
        sparse=None if enc.sparse is None else [enc.sparse[i]],
        colbert=None if enc.colbert is None else [enc.colbert[i]],
        token_counts=enc.token_counts[i : i + 1],
    )


def _stack(rows: list[EncodedBatch], dim: int) -> EncodedBatch:
    if not rows:
        return EncodedBatch(np.zeros((0, dim), np.float32))
    first = rows[0]
    return EncodedBatch(
        dense=None
        if first.dense is None
        else np.concatenate([r.dense for r in rows if r.dense is not None]),
        sparse=None if first.sparse is None else [s for r in rows for s in r.sparse or []],
        colbert=None if first.colbert is None else [c for r in rows for c in r.colbert or []],
        token_counts=[n for r in rows for n in r.token_counts],
    )
