"""Pack (n_tokens, dim) float32 ColBERT document tokens into bytes and back; pure numpy.

Bytes per token at dim d: `binary` d/8 (sign bits, scored as Vespa scores BGE-M3 sign bits:
full-precision query tokens against +-1/sqrt(d) ones, so a score stays in [-1, 1]); `int8` d + 4
(a float32 scale per token); `float32` 4d; `none` stores nothing. `PackedTokens` keeps the packed
form so MaxSim expands a block at a time instead of every candidate in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from hybrid_search.errors import ConfigError

StorageKind = Literal["binary", "int8", "float32", "none"]
STORAGE_KINDS: tuple[str, ...] = get_args(StorageKind)

FloatArray = npt.NDArray[np.float32]
ByteArray = npt.NDArray[np.uint8]


def check_kind(kind: str, *, where: str = "colbert_storage") -> StorageKind:
    if kind not in STORAGE_KINDS:
        raise ConfigError(f"{where}: unknown ColBERT storage '{kind}' (one of {STORAGE_KINDS})")
    return kind  # type: ignore[return-value]


def bytes_per_token(kind: str, dim: int) -> int:
    """Packed bytes of one token vector (0 for `none`)."""
    check_kind(kind)
    return {"binary": math.ceil(dim / 8), "int8": dim + 4, "float32": 4 * dim}.get(kind, 0)


@dataclass(frozen=True, slots=True)
class PackedTokens:
    """n token vectors of width `dim` in `kind`'s packed form, one row of bytes per token."""

    kind: StorageKind
    dim: int
    data: ByteArray  # (n, bytes_per_token(kind, dim)) uint8, C-contiguous

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def tobytes(self) -> bytes:
        return self.data.tobytes()

    @classmethod
    def frombuffer(cls, kind: StorageKind, dim: int, buf: bytes | ByteArray) -> PackedTokens:
        """The inverse of `tobytes`: the token count follows from the length."""
        width = bytes_per_token(kind, dim)
        raw = np.frombuffer(buf, dtype=np.uint8) if isinstance(buf, bytes) else buf.reshape(-1)
        if width == 0 or raw.size % width:
            raise ValueError(
                f"{kind} tokens of dim {dim}: {raw.size} bytes is not a whole number of "
                f"{width}-byte tokens"
            )
        return cls(kind, dim, raw.reshape(-1, width))


def encode(tokens: FloatArray, kind: StorageKind) -> PackedTokens:
    """Pack float32 token vectors (n, dim) as `kind`."""
    if check_kind(kind) == "none":
        raise ValueError("storage 'none' keeps no token vectors to encode")
    x = np.ascontiguousarray(tokens, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"token vectors must be (n_tokens, dim), got shape {x.shape}")
    n, dim = x.shape
    if kind == "binary":
        data = np.packbits(x > 0, axis=1)
    elif kind == "int8":
        scale = (np.abs(x).max(axis=1) / 127.0).astype(np.float32)
        safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(x / safe[:, None]), -127, 127).astype(np.int8)
        data = np.empty((n, dim + 4), dtype=np.uint8)
        data[:, :4] = scale.view(np.uint8).reshape(n, 4)
        data[:, 4:] = q.view(np.uint8)
    else:
        data = x.view(np.uint8).reshape(n, 4 * dim)
    return PackedTokens(kind, dim, np.ascontiguousarray(data))


def decode(packed: PackedTokens) -> FloatArray:
    """Float32 vectors as MaxSim sees them: +-1/sqrt(dim) for binary, scale * int8 for int8."""
    rows = packed.data
    n, dim = rows.shape[0], packed.dim
    if packed.kind == "binary":
        bits = np.unpackbits(rows, axis=1, count=dim).astype(np.float32)
        return ((2.0 * bits - 1.0) / np.float32(math.sqrt(dim))).astype(np.float32)
    if packed.kind == "int8":
        scale = np.ascontiguousarray(rows[:, :4]).view(np.float32).reshape(n)
        values = np.ascontiguousarray(rows[:, 4:]).view(np.int8).astype(np.float32)
        return values * scale[:, None]
    return np.ascontiguousarray(rows).view(np.float32).reshape(n, dim)


def concat(parts: list[PackedTokens]) -> PackedTokens:
    """One PackedTokens of several of the same kind and width (in order)."""
    if not parts:
        raise ValueError("nothing to concatenate")
    kind, dim = parts[0].kind, parts[0].dim
    if any(p.kind != kind or p.dim != dim for p in parts):
        raise ValueError("cannot concatenate token vectors of different kinds or widths")
    return PackedTokens(kind, dim, np.concatenate([p.data for p in parts]))
