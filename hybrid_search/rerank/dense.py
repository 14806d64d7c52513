"""A stand-in reranker: the cosine of a dense model's query and passage embeddings, so
`rerank_mode` can be measured with real weights where no cross-encoder is on the machine.
Selected by `HYBRID_SEARCH_RERANKER_MODEL=dense:<model>`, e.g. `dense:minilm` (mean pooling).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Unpack

import numpy as np

from hybrid_search.encoders.base import FloatArray
from hybrid_search.encoders.dense import DenseEncoder
from hybrid_search.errors import RerankDeadlineExceeded
from hybrid_search.rerank.base import RerankOptions

#: reranker_model prefix that selects this reranker
DENSE_PREFIX = "dense:"
#: passage embeddings kept (a bi-encoder embeds a passage the same way for every query, and an
#: ablation reranks the same passages under many configurations)
CACHE_PASSAGES = 200_000


class DenseCosineReranker:
    """score = cos(q, p) in [-1, 1] (`normalize` maps it to [0, 1]). Thread-safe."""

    def __init__(self, encoder: DenseEncoder) -> None:
        self.encoder = encoder
        self._passages: dict[str, FloatArray] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{DENSE_PREFIX}{self.encoder.name}"

    def load(self) -> DenseCosineReranker:
        self.encoder.load()
        return self

    def score(
        self, query: str, passages: Sequence[str], **options: Unpack[RerankOptions]
    ) -> list[float]:
        if not passages:
            return []
        if (deadline := options.get("deadline")) is not None and time.monotonic() > deadline:
            raise RerankDeadlineExceeded("deadline passed before the dense reranker ran")
        q = self.encoder.encode_queries([query]).dense
        assert q is not None  # a dense encoder always returns dense
        p = np.stack([self._embedded(passages)[t] for t in passages])
        cos = (p @ q[0]).astype(np.float64)  # both L2-normalised by the model
        if options.get("normalize"):
            cos = (cos + 1.0) / 2.0
        return [float(c) for c in cos]

    def _embedded(self, passages: Sequence[str]) -> dict[str, FloatArray]:
        with self._lock:
            found = {t: self._passages[t] for t in passages if t in self._passages}
        missing = [t for t in dict.fromkeys(passages) if t not in found]
        if missing:
            dense = self.encoder.encode_documents(missing).dense
            assert dense is not None
            fresh = dict(zip(missing, dense, strict=True))
            found.update(fresh)
            with self._lock:
                if len(self._passages) + len(fresh) > CACHE_PASSAGES:
                    self._passages.clear()
                self._passages.update(fresh)
        return found
