"""The Encoder protocol: what ingest and search may rely on from any text encoder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Representation = Literal["dense", "sparse", "colbert"]
FloatArray = npt.NDArray[np.float32]
SparseVector = dict[int, float]


@dataclass(slots=True)
class EncodedBatch:
    """Encoder output for n texts; a representation the encoder lacks is None.

    dense: (n, dense_dim) float32, rows L2-normalised.
    sparse: n dicts token id -> weight (> 0), as Milvus SPARSE_FLOAT_VECTOR rows.
    colbert: n arrays (tokens_i, colbert_dim) float32, rows L2-normalised, CLS excluded.
    """

    dense: FloatArray | None = None
    sparse: list[SparseVector] | None = None
    colbert: list[FloatArray] | None = None
    token_counts: list[int] = field(default_factory=list)


class TextTokenizer(Protocol):
    """The model's own tokenizer, so chunks are measured in the tokens the model sees."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character (start, end) of every token, special tokens excluded."""
        ...

    def count_tokens(self, text: str) -> int: ...


class Encoder(Protocol):
    """Turns text into BGE-M3-style representations. Safe to call from several threads."""

    @property
    def name(self) -> str: ...

    @property
    def representations(self) -> frozenset[Representation]:
        """Which of dense/sparse/colbert this encoder produces."""
        ...

    @property
    def dense_dim(self) -> int: ...

    @property
    def colbert_dim(self) -> int | None: ...

    @property
    def tokenizer(self) -> TextTokenizer: ...

    def encode_documents(self, texts: Sequence[str]) -> EncodedBatch: ...

    def encode_queries(self, texts: Sequence[str]) -> EncodedBatch: ...
