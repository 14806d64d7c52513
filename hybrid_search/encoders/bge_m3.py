"""BGE-M3 (Chen et al., 2024) through FlagEmbedding: dense, sparse lexical weights and ColBERT
vectors from one forward pass per batch (`m3_forward`); `single_pass=False` calls
`BGEM3FlagModel.encode`, which computes a one-batch call twice."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Unpack

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, FloatArray, Representation, SparseVector
from hybrid_search.encoders.loading import LazyModel, ModelOptions, bound_cache, flag_embedding
from hybrid_search.encoders.loading import quiet_transformers as quiet_transformers
from hybrid_search.encoders.loading import resolve_model_path as resolve_model_path
from hybrid_search.encoders.m3_forward import forward_m3, place
from hybrid_search.errors import EncoderError


class HFTokenizer:
    """A Hugging Face fast tokenizer as a TextTokenizer, on its own copy with truncation and
    padding off for good: calls then never mutate the Rust tokenizer, so they run in several
    threads at once without a lock (encode calls switch the model's own between lengths)."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = bound_cache(copy.deepcopy(tokenizer))
        backend = getattr(self._tok, "_tokenizer", None)
        if backend is not None:
            backend.no_truncation()
            backend.no_padding()

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]

    def count_tokens(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False, verbose=False)["input_ids"])


class BGEM3Encoder(LazyModel):
    """BGEM3FlagModel, loaded on first use (see LazyModel)."""

    kind = "BGE-M3"

    def __init__(
        self,
        model: str,
        *,
        max_passage_tokens: int = 8192,
        max_query_tokens: int = 512,
        single_pass: bool = True,
        **options: Unpack[ModelOptions],
    ) -> None:
        super().__init__(model, **options)
        self._max_passage_tokens = max_passage_tokens
        self._max_query_tokens = max_query_tokens
        self.single_pass = single_pass

    @property
    def representations(self) -> frozenset[Representation]:
        return frozenset({"dense", "sparse", "colbert"})

    def _build(self, path: str) -> Any:
        return flag_embedding().BGEM3FlagModel(
            path,
            use_fp16=self._use_fp16,
            devices=self._device,
            passage_max_length=self._max_passage_tokens,
            query_max_length=self._max_query_tokens,
        )

    @cached_property
    def _hidden(self) -> tuple[int, int]:
        m = self.load().model
        return int(m.model.config.hidden_size), int(m.colbert_linear.out_features)

    @property
    def dense_dim(self) -> int:
        return self._hidden[0]

    @property
    def colbert_dim(self) -> int | None:
        return self._hidden[1]

    @cached_property
    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.load().tokenizer)

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, self._max_passage_tokens)

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, self._max_query_tokens)

    def _encode(self, texts: Sequence[str], max_length: int) -> EncodedBatch:
        if not texts:
            return EncodedBatch(np.zeros((0, self.dense_dim), np.float32), [], [], token_counts=[])
        model = self.load()
        try:
            if self.single_pass:
                self._place_once(lambda: place(model))
                return forward_m3(model, texts, max_length, self.tokenizers)
            with self._lock:  # batch_size > len(texts): one batch (sized by the caller), no tqdm
                out = model.encode(
                    list(texts),
                    batch_size=len(texts) + 1,
                    max_length=max_length,
                    return_dense=True,
                    return_sparse=True,
                    return_colbert_vecs=True,
                )
        except Exception as exc:
            raise EncoderError(f"BGE-M3 encode failed: {exc}") from exc
        colbert: list[FloatArray] = [np.asarray(c, dtype=np.float32) for c in out["colbert_vecs"]]
        return EncodedBatch(
            dense=np.asarray(out["dense_vecs"], dtype=np.float32).reshape(len(texts), -1),
            sparse=[to_sparse(w) for w in out["lexical_weights"]],
            colbert=colbert,
            token_counts=[len(c) + 1 for c in colbert],
        )


def to_sparse(lexical_weights: Any) -> SparseVector:
    """FlagEmbedding's {"token_id": np.float32} -> Milvus sparse row {int: float}."""
    return {int(k): float(v) for k, v in lexical_weights.items() if float(v) > 0.0}
