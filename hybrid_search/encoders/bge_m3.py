"""BGE-M3 through FlagEmbedding's BGEM3FlagModel: dense, sparse lexical weights and ColBERT vectors.

BGE-M3: Chen et al., "BGE M3-Embedding: Multi-Lingual, Multi-Functionality, Multi-Granularity
Text Embeddings Through Self-Knowledge Distillation", 2024.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.encoders.base import EncodedBatch, FloatArray, Representation, SparseVector
from hybrid_search.errors import EncoderError, ModelNotFoundError

logger = logging.getLogger(__name__)


def quiet_transformers() -> None:
    """Silence load reports and progress bars that would garble a CLI's JSON output."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers is a core dependency
        pass


def resolve_model_path(name_or_path: str) -> str:
    """A local directory as is; a hub name only if it is already in the local HF cache or
    downloadable. Fails fast with ModelNotFoundError instead of a long network stack trace."""
    if Path(name_or_path).expanduser().is_dir():
        return str(Path(name_or_path).expanduser())
    if name_or_path.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"model directory not found: {name_or_path}")
    try:
        from huggingface_hub import snapshot_download

        try:
            return str(snapshot_download(name_or_path, local_files_only=True))
        except Exception:  # not cached: try the hub unless offline
            if os.environ.get("HF_HUB_OFFLINE") == "1":
                raise
            return str(snapshot_download(name_or_path))
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot load model '{name_or_path}': not a local directory, not in the Hugging Face "
            f"cache and not downloadable here ({type(exc).__name__}). Point the setting at a local "
            "directory with the weights, or build tiny test models with "
            "`hybrid-search models tiny DIR`."
        ) from exc


class HFTokenizer:
    """Adapter from a Hugging Face fast tokenizer to the TextTokenizer protocol."""

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        enc = self._tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]

    def count_tokens(self, text: str) -> int:
        return len(self._tok(text, add_special_tokens=False, verbose=False)["input_ids"])


class BGEM3Encoder:
    """Loads BGEM3FlagModel on first use, once per instance; calls are serialised by a lock
    because FlagEmbedding moves the model between devices inside `encode`."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        use_fp16: bool = False,
        max_passage_tokens: int = 8192,
        max_query_tokens: int = 512,
    ) -> None:
        self._model_name = model
        self._device = device
        self._use_fp16 = use_fp16
        self._max_passage_tokens = max_passage_tokens
        self._max_query_tokens = max_query_tokens
        self._lock = threading.RLock()
        self._model: Any = None

    @property
    def name(self) -> str:
        return self._model_name

    @property
    def representations(self) -> frozenset[Representation]:
        return frozenset({"dense", "sparse", "colbert"})

    def load(self) -> Any:
        with self._lock:
            if self._model is None:
                path = resolve_model_path(self._model_name)
                quiet_transformers()
                try:
                    from FlagEmbedding import BGEM3FlagModel

                    self._model = BGEM3FlagModel(
                        path,
                        use_fp16=self._use_fp16,
                        devices=self._device,
                        passage_max_length=self._max_passage_tokens,
                        query_max_length=self._max_query_tokens,
                    )
                except Exception as exc:
                    raise EncoderError(f"cannot load BGE-M3 from {path}: {exc}") from exc
                logger.info("loaded BGE-M3 %s on %s", self._model_name, self._device)
            return self._model

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

    @property
    def flag_model(self) -> Any:
        """The underlying BGEM3FlagModel, for tests and benchmarks that compare against it."""
        return self.load()

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, self._max_passage_tokens)

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch:
        return self._encode(texts, self._max_query_tokens)

    def _encode(self, texts: Sequence[str], max_length: int) -> EncodedBatch:
        if not texts:
            return EncodedBatch(np.zeros((0, self.dense_dim), np.float32), [], [], token_counts=[])
        model = self.load()
        with self._lock:
            try:
                # batch_size > len(texts): one forward pass (callers size batches by token
                # budget), and FlagEmbedding's tqdm bars stay off
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
