"""Bytes <-> 7-bit ASCII text, so packed tokens fit a Milvus VARCHAR at 8/7 of their size.

Milvus Lite has no binary field; a VARCHAR holds UTF-8, where bytes >= 0x80 cost two bytes and
base64 costs 4/3. Seven payload bits per ASCII character cost 8/7 (146.3 B per 1024-bit token),
and both directions are a few vectorised numpy calls (no per-byte Python).
"""

from __future__ import annotations

import numpy as np

from hybrid_search.tokens.codec import ByteArray

_HIGH_BITS = np.arange(7, dtype=np.uint8)


def text_length(n_bytes: int) -> int:
    """Text characters needed for `n_bytes` bytes."""
    return -(-n_bytes * 8 // 7)


def to_text(data: bytes | ByteArray) -> str:
    """`data` as ASCII text (characters 0x00-0x7F): every 7 bytes become their 7 low septets
    followed by one character holding their 7 high bits (byte k's in bit k)."""
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data.reshape(-1)
    n = len(raw)
    groups = np.zeros((-(-n // 7), 7), dtype=np.uint8)
    groups.reshape(-1)[:n] = raw
    chars = np.empty((len(groups), 8), dtype=np.uint8)
    chars[:, :7] = groups & 0x7F
    chars[:, 7] = np.packbits(groups >> 7, axis=1, bitorder="little")[:, 0]
    return _trim(chars, n).tobytes().decode("ascii")


def from_text(text: str, n_bytes: int) -> ByteArray:
    """The inverse of `to_text` for data of `n_bytes` bytes."""
    chars = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    if len(chars) != text_length(n_bytes):
        raise ValueError(f"{len(chars)} characters cannot hold exactly {n_bytes} bytes")
    full, rest = divmod(n_bytes, 7)
    out = np.empty(n_bytes, dtype=np.uint8)
    body = chars[: full * 8].reshape(full, 8)
    out[: full * 7].reshape(full, 7)[:] = body[:, :7] | (((body[:, 7:8] >> _HIGH_BITS) & 1) << 7)
    if rest:
        tail = chars[full * 8 :]  # rest low septets, then their high bits
        out[full * 7 :] = tail[:rest] | (((tail[rest] >> _HIGH_BITS[:rest]) & 1) << 7)
    return out


def _trim(chars: ByteArray, n_bytes: int) -> ByteArray:
    """A last group of r < 7 bytes needs r + 1 characters: its septets and its high bits."""
    full, rest = divmod(n_bytes, 7)
    if not rest:
        return chars.reshape(-1)
    return np.concatenate([chars[:full].reshape(-1), chars[full, :rest], chars[full, 7:]])
