"""The token codec: sizes, round trips, MaxSim against the plain float formula, pooling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hybrid_search.errors import ConfigError
from hybrid_search.tokens import (
    PackedTokens,
    bytes_per_token,
    check_kind,
    concat,
    decode,
    encode,
    from_text,
    maxsim,
    maxsim_many,
    pool_tokens,
    text_length,
    to_text,
)


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _reference(q: np.ndarray, d: np.ndarray) -> float:
    """BGEM3FlagModel.colbert_score: sum over query tokens of the best match, / |q|."""
    return float((q @ d.T).max(axis=1).sum() / len(q)) if len(d) else 0.0


def test_bytes_per_token_at_bge_m3_width() -> None:
    assert bytes_per_token("binary", 1024) == 128
    assert bytes_per_token("int8", 1024) == 1028
    assert bytes_per_token("float32", 1024) == 4096
    assert bytes_per_token("none", 1024) == 0
    assert bytes_per_token("binary", 33) == 5  # padded to whole bytes
    with pytest.raises(ConfigError, match="unknown ColBERT storage 'fp16'"):
        check_kind("fp16")


@pytest.mark.parametrize("dim", [1024, 32, 33])
def test_round_trips(dim: int) -> None:
    rng = np.random.default_rng(dim)
    x = _unit(rng, 17, dim)
    f = encode(x, "float32")
    assert np.array_equal(decode(f), x)
    i8 = encode(x, "int8")
    assert i8.data.shape == (17, dim + 4)
    # per-token scale: the error is at most half a step of that token's scale
    step = np.abs(x).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(decode(i8) - x) <= step / 2 + 1e-7)
    b = encode(x, "binary")
    assert b.data.shape == (17, math.ceil(dim / 8))
    signs = decode(b)
    assert np.array_equal(signs > 0, x > 0)
    np.testing.assert_allclose(np.linalg.norm(signs, axis=1), 1.0, rtol=1e-6)
    for p in (f, i8, b):  # bytes -> PackedTokens -> bytes
        back = PackedTokens.frombuffer(p.kind, dim, p.tobytes())
        assert np.array_equal(back.data, p.data) and len(back) == 17
        assert np.array_equal(from_text(to_text(p.tobytes()), p.nbytes), p.data.reshape(-1))
        # decoded and packed again (how `migrate` copies token rows): the same bytes
        assert np.array_equal(encode(decode(p), p.kind).data, p.data)


def test_zero_token_and_bad_input() -> None:
    z = encode(np.zeros((2, 8), np.float32), "int8")
    assert np.array_equal(decode(z), np.zeros((2, 8), np.float32))
    with pytest.raises(ValueError, match=r"\(n_tokens, dim\)"):
        encode(np.zeros(8, np.float32), "binary")
    with pytest.raises(ValueError, match="not a whole number of 128-byte tokens"):
        PackedTokens.frombuffer("binary", 1024, b"x" * 129)
    with pytest.raises(ValueError, match="'none' keeps no token vectors"):
        encode(np.zeros((1, 8), np.float32), "none")
    with pytest.raises(ValueError, match="different kinds"):
        concat(
            [
                encode(np.ones((1, 8), np.float32), "binary"),
                encode(np.ones((1, 8), np.float32), "int8"),
            ]
        )


@pytest.mark.parametrize("n", [0, 1, 6, 7, 8, 13, 14, 15, 127, 128, 1000])
def test_text7_is_ascii_at_eight_sevenths(n: int) -> None:
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8)
    text = to_text(data)
    assert len(text) == text_length(n) == math.ceil(n * 8 / 7)
    assert all(ord(c) < 128 for c in text)
    assert np.array_equal(from_text(text, n), data)
    with pytest.raises(ValueError, match="cannot hold exactly"):
        from_text(text + "a", n)


@pytest.mark.parametrize("kind", ["float32", "int8", "binary"])
def test_maxsim_many_equals_the_formula_per_document(kind: str) -> None:
    rng = np.random.default_rng(1)
    q = _unit(rng, 9, 64)
    docs = [_unit(rng, n, 64) for n in (5, 0, 40, 1, 300, 17)]
    packed = [encode(d, kind) for d in docs]  # type: ignore[arg-type]
    want = [_reference(q, decode(p)) if len(p) else 0.0 for p in packed]
    # tiny blocks force several matrix products and per-block reductions
    for block in (8, 64, 10_000):
        got = maxsim_many(q, packed, block_tokens=block)
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert maxsim(q, packed[2]) == pytest.approx(want[2], abs=1e-5)
    if kind == "float32":
        np.testing.assert_allclose(want, [_reference(q, d) for d in docs], atol=1e-6)
    with pytest.raises(ValueError, match="dim 32, document tokens 64"):
        maxsim_many(q[:, :32], packed)


def test_compressed_scores_track_float32() -> None:
    """On clustered vectors the compressed kinds rank a relevant document first, as float32 does."""
    rng = np.random.default_rng(2)
    topic = _unit(rng, 1, 256)
    q = _unit(rng, 8, 256) * 0.3 + topic
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    relevant = _unit(rng, 30, 256) * 0.3 + topic
    relevant /= np.linalg.norm(relevant, axis=1, keepdims=True)
    docs = [_unit(rng, 30, 256) for _ in range(20)] + [relevant]
    for kind in ("float32", "int8", "binary"):
        scores = maxsim_many(q, [encode(d, kind) for d in docs])  # type: ignore[arg-type]
        assert int(np.argmax(scores)) == 20, kind


def test_pooling_halves_and_keeps_near_duplicates_together() -> None:
    rng = np.random.default_rng(3)
    base = _unit(rng, 10, 64)
    noisy = base + 0.01 * rng.standard_normal(base.shape).astype(np.float32)
    tokens = np.concatenate([base, noisy / np.linalg.norm(noisy, axis=1, keepdims=True)])
    pooled = pool_tokens(tokens, 2)
    assert pooled.shape == (10, 64)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, rtol=1e-5)
    # every pooled vector is the mean of a token and its near duplicate: close to the original
    assert np.all((pooled @ base.T).max(axis=1) > 0.99)
    assert np.array_equal(pool_tokens(tokens, 1), tokens)
    assert pool_tokens(tokens[:2], 2).shape == (2, 64)  # too few to pool
    assert np.array_equal(pool_tokens(tokens, 2), pooled)  # deterministic
    with pytest.raises(ValueError, match="pool_factor"):
        pool_tokens(tokens, 0)


def test_maxsim_float32_scores_a_mapping_of_matrices() -> None:
    from hybrid_search.tokens import maxsim_float32

    rng = np.random.default_rng(4)
    q = _unit(rng, 5, 16)
    vectors = {
        "a": _unit(rng, 7, 16),
        "empty": np.zeros((0, 16), np.float32),
        "b": _unit(rng, 3, 16),
    }
    got = maxsim_float32(q, vectors)
    assert list(got) == ["a", "empty", "b"]
    assert got["empty"] == 0.0
    for pk in ("a", "b"):
        assert got[pk] == pytest.approx(_reference(q, vectors[pk]), abs=1e-6)
