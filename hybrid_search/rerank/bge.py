"""bge-reranker through FlagEmbedding's FlagReranker, batched by token budget."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from hybrid_search.encoders.bge_m3 import quiet_transformers, resolve_model_path
from hybrid_search.errors import EncoderError
from hybrid_search.rerank.base import RerankDeadlineExceeded

logger = logging.getLogger(__name__)


class BGEReranker:
    """Loads FlagReranker lazily, once; one forward pass per token-budget batch."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        use_fp16: bool = False,
        max_length: int = 512,
        batch_tokens: int = 8192,
    ) -> None:
        self._model_name = model
        self._device = device
        self._use_fp16 = use_fp16
        self.max_length = max_length
        self.batch_tokens = batch_tokens
        self._lock = threading.RLock()
        self._model: Any = None

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = resolve_model_path(self._model_name)
                quiet_transformers()
                try:
                    from FlagEmbedding import FlagReranker

                    self._model = FlagReranker(
                        path,
                        use_fp16=self._use_fp16,
                        devices=self._device,
                        max_length=self.max_length,
                    )
                except Exception as exc:
                    raise EncoderError(f"cannot load reranker from {path}: {exc}") from exc
            return self._model

    @property
    def flag_model(self) -> Any:
        return self.load()

    def _lengths(self, query: str, passages: Sequence[str]) -> list[int]:
        tok = self.load().tokenizer
        q = len(tok(query, add_special_tokens=False, verbose=False)["input_ids"])
        ps = tok(list(passages), add_special_tokens=False, verbose=False)["input_ids"]
        return [min(self.max_length, q + len(p) + 4) for p in ps]

    def score(
        self,
        query: str,
        passages: Sequence[str],
        *,
        normalize: bool = False,
        deadline: float | None = None,
    ) -> list[float]:
        if not passages:
            return []
        model = self.load()
        lengths = self._lengths(query, passages)
        order = sorted(range(len(passages)), key=lambda i: -lengths[i])
        scores: list[float] = [0.0] * len(passages)
        batch: list[int] = []

        def flush() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise RerankDeadlineExceeded("rerank deadline passed")
            pairs = [(query, passages[i]) for i in batch]
            with self._lock:
                try:
                    out = model.compute_score(
                        pairs,
                        batch_size=len(pairs) + 1,
                        max_length=self.max_length,
                        normalize=normalize,
                    )
                except Exception as exc:
                    raise EncoderError(f"rerank failed: {exc}") from exc
            values = out if isinstance(out, list) else [out]
            for i, s in zip(batch, values, strict=True):
                scores[i] = float(s)

        for i in order:
            longest = lengths[batch[0]] if batch else lengths[i]
            if batch and (len(batch) + 1) * longest > self.batch_tokens:
                flush()
                batch = []
            batch.append(i)
        if batch:
            flush()
        return scores
