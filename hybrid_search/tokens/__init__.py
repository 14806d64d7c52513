"""Compressed ColBERT document tokens: storage kinds, packing, token pooling and MaxSim."""

from hybrid_search.tokens.codec import (
    STORAGE_KINDS,
    PackedTokens,
    StorageKind,
    bytes_per_token,
    check_kind,
    concat,
    decode,
    encode,
)
from hybrid_search.tokens.maxsim import (
    maxsim,
    maxsim_by_key,
    maxsim_float32,
    maxsim_many,
    one_blas_thread,
)
from hybrid_search.tokens.pooling import pool_tokens
from hybrid_search.tokens.text7 import from_text, text_length, to_text

__all__ = [
    "STORAGE_KINDS",
    "PackedTokens",
    "StorageKind",
    "bytes_per_token",
    "check_kind",
    "concat",
    "decode",
    "encode",
    "from_text",
    "maxsim",
    "maxsim_by_key",
    "maxsim_float32",
    "maxsim_many",
    "one_blas_thread",
    "pool_tokens",
    "text_length",
    "to_text",
]
