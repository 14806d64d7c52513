"""Bytes <-> 7-bit ASCII text, so packed tokens fit a Milvus VARCHAR at 8/7 of their size.

Milvus Lite has no binary field; a VARCHAR holds UTF-8, where bytes >= 0x80 cost two bytes and
base64 costs 4/3. Seven payload bits per ASCII character cost 8/7 (146.3 B per 1024-bit token),
and both directions are a few vectorised numpy calls (no per-byte Python).
"""

from __future__ import annotations

import numpy as np

from hybrid_search.tokens.codec import ByteArray

_HIGH_BITS = np.arange(7, dtype=np.uint8)
#: a high-bits character h -> the 64-bit word with bit 7 of byte k set where bit k of h is
_HIGH_WORD = np.array(
    [sum(0x80 << (8 * k) for k in range(7) if h >> k & 1) for h in range(128)], dtype=np.uint64
)
_SEPTETS = np.uint64(0x00FF_FFFF_FFFF_FFFF)
_TOP = np.uint64(56)


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
    """The inverse of `to_text` for data of `n_bytes` bytes. Each 8-character group is read as
    one little-endian 64-bit word: its 7 septets stay in place and the high-bits character
    becomes the 7 bytes' top bits through a 128-entry table, faster than per-bit shifts on the
    megabytes of tokens a ColBERT search decodes (docs/design.md)."""
    raw = text.encode("ascii")
    if len(raw) != text_length(n_bytes):
        raise ValueError(f"{len(raw)} characters cannot hold exactly {n_bytes} bytes")
    full, rest = divmod(n_bytes, 7)
    out = np.empty(n_bytes, dtype=np.uint8)
    words = np.frombuffer(raw, dtype="<u8", count=full)
    merged = ((words & _SEPTETS) | _HIGH_WORD[(words >> _TOP).astype(np.intp)]).astype("<u8")
    out[: full * 7].reshape(full, 7)[:] = merged.view(np.uint8).reshape(full, 8)[:, :7]
    if rest:
        tail = np.frombuffer(raw, dtype=np.uint8, offset=full * 8)  # septets, then high bits
        out[full * 7 :] = tail[:rest] | (((tail[rest] >> _HIGH_BITS[:rest]) & 1) << 7)
    return out


def _trim(chars: ByteArray, n_bytes: int) -> ByteArray:
    """A last group of r < 7 bytes needs r + 1 characters: its septets and its high bits."""
    full, rest = divmod(n_bytes, 7)
    if not rest:
        return chars.reshape(-1)
    return np.concatenate([chars[:full].reshape(-1), chars[full, :rest], chars[full, 7:]])
