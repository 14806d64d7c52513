"""No tokenizer copy the models hold memoizes words (TOKENIZER_CACHE_WORDS is 0): the
`tokenizers` default keeps the first 10,000 words it sees for good (~0.65 KiB each), and a
service that keeps meeting new words (ids, numbers, names) grew by that much per copy."""

from __future__ import annotations

import ctypes
import gc
import sys
from typing import Any

import pytest

from hybrid_search.encoders.bge_m3 import BGEM3Encoder
from hybrid_search.encoders.loading import TOKENIZER_CACHE_WORDS, bound_cache

WORDS = 6_000  # an unbounded copy grows by megabytes on these

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads glibc's heap figures"
)


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


def _heap_in_use_mib() -> float:
    """Bytes malloc has handed out and not had back: live objects, not free fragments."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    gc.collect()
    return float(libc.mallinfo2().uordblks) / 2**20


def _growth(tokenize: Any, start: int) -> float:
    before = _heap_in_use_mib()
    for i in range(start, start + WORDS):
        tokenize(f"order{i}x{i * 7919} shipped")  # one word it has never seen per call
    return _heap_in_use_mib() - before


def test_an_unbounded_copy_grows_with_every_new_word(encoder: BGEM3Encoder) -> None:
    """The baseline the bound is for: without it the same words cost megabytes."""
    import copy

    raw = copy.deepcopy(encoder.flag_model.tokenizer)
    assert _growth(lambda t: raw(t, add_special_tokens=False), 0) > 2.5


def test_every_copy_is_bounded(encoder: BGEM3Encoder) -> None:
    """The chunking tokenizer and each copy of the pool keep no new word."""
    chunker = encoder.tokenizer
    assert _growth(chunker.count_tokens, 100_000) < 0.25
    for n in range(2):  # both copies of the pool, each tokenizing its own new words
        with encoder.tokenizers.use() as tok:
            grew = _growth(lambda t, tok=tok: tok(t, add_special_tokens=False), 200_000 * (n + 1))
        assert grew < 0.25, f"pool copy {n}"


def test_bound_cache_leaves_a_tokenizer_without_one_alone() -> None:
    class Slow:
        pass

    slow = Slow()
    assert bound_cache(slow, TOKENIZER_CACHE_WORDS) is slow
    assert vars(slow) == {}
