"""bge-reranker through FlagEmbedding's FlagReranker, batched by token budget.

CPU options: `rerank_single_pass` tokenizes each batch exactly as `compute_score` does and runs
one forward pass (`compute_score` first probes the longest batch for out-of-memory errors, so a
one-batch call costs two); `rerank_quantize` quantises the Linear layers to int8 (CPU only).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any, Unpack

from hybrid_search.encoders.loading import LazyModel, Precision, flag_embedding
from hybrid_search.errors import EncoderError, RerankDeadlineExceeded
from hybrid_search.rerank.base import RerankOptions

logger = logging.getLogger(__name__)


class BGEReranker(LazyModel):
    """FlagReranker loaded on first use (see LazyModel)."""

    kind = "reranker"

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        use_fp16: bool = False,
        max_length: int = 512,
        batch_tokens: int = 8192,
        single_pass: bool = False,
        quantize: bool = False,
    ) -> None:
        precision: Precision = "int8" if quantize else "float32"
        super().__init__(model, device=device, use_fp16=use_fp16, precision=precision)
        self.max_length = max_length
        self.batch_tokens = batch_tokens
        self.single_pass = single_pass
        self.quantize = quantize

    def _build(self, path: str) -> Any:
        return flag_embedding().FlagReranker(
            path, use_fp16=self._use_fp16, devices=self._device, max_length=self.max_length
        )

    def _lengths(self, query: str, passages: Sequence[str]) -> list[int]:
        with self.tokenizers.use() as tok:
            q = len(tok(query, add_special_tokens=False, verbose=False)["input_ids"])
            ps = tok(list(passages), add_special_tokens=False, verbose=False)["input_ids"]
        return [min(self.max_length, q + len(p) + 4) for p in ps]

    def score(
        self, query: str, passages: Sequence[str], **options: Unpack[RerankOptions]
    ) -> list[float]:
        normalize, deadline = options.get("normalize", False), options.get("deadline")
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
            try:
                if self.single_pass:  # concurrent forward passes: see LazyModel
                    out = self._forward(model, pairs, normalize)
                else:
                    with self._lock:
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

    def _forward(self, model: Any, pairs: list[tuple[str, str]], normalize: bool) -> list[float]:
        """FlagEmbedding 1.4's `compute_score_single_gpu` for one batch, minus its probe pass."""
        import torch

        device = model.target_devices[0]
        query_max = model.query_max_length or self.max_length * 3 // 4
        detailed = model.get_detailed_inputs([list(p) for p in pairs])
        with self.tokenizers.use() as tok:
            inputs = self._tokenized(tok, detailed, query_max).to(device)
        net = model.model

        def place() -> None:
            if model.use_fp16 and device != "cpu":
                net.half()
            net.to(device)
            net.eval()

        self._place_once(place)
        with torch.inference_mode():
            logits = net(**inputs, return_dict=True).logits.view(-1).float()
        scores = [float(v) for v in logits.cpu().tolist()]
        if normalize:
            scores = [1.0 / (1.0 + math.exp(-v)) for v in scores]
        return scores

    def _tokenized(self, tok: Any, detailed: list[Any], query_max: int) -> Any:
        """The padded pair batch, exactly as compute_score builds it (`tok`: for this call only)."""
        from FlagEmbedding.utils.tokenizer_compat import pad_with_compat, prepare_for_model_compat

        q_ids, p_ids = (
            tok([p[i] for p in detailed], add_special_tokens=False, max_length=n, truncation=True)
            for i, n in ((0, query_max), (1, self.max_length))
        )
        items = [
            prepare_for_model_compat(
                tok, q, p, truncation="only_second", max_length=self.max_length, padding=False
            )
            for q, p in zip(q_ids["input_ids"], p_ids["input_ids"], strict=True)
        ]
        return pad_with_compat(tok, items, padding=True, return_tensors="pt")
