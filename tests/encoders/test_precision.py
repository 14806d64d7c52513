"""Encoder precision on CPU: bf16 and int8 give the same three outputs, with the same shapes, as
float32, and stay close to it; the setting rejects other values by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from hybrid_search.encoders import loading
from hybrid_search.encoders.base import EncodedBatch
from hybrid_search.encoders.bge_m3 import BGEM3Encoder
from hybrid_search.settings import Settings

TEXTS = [
    "Vitamin D supplementation and the risk of fractures in older adults.",
    "A longer passage about hybrid search: dense vectors, sparse lexical weights and late "
    "interaction over token vectors, scored by MaxSim against every query token. " * 2,
    "短文本",
]


@pytest.fixture(scope="module")
def encoded(tiny_models) -> dict[str, tuple[BGEM3Encoder, EncodedBatch, EncodedBatch]]:  # type: ignore[no-untyped-def]
    out = {}
    for precision in ("float32", "bf16", "int8"):
        enc = BGEM3Encoder(str(tiny_models.embedding_model), precision=precision)  # type: ignore[arg-type]
        out[precision] = (enc, enc.encode_documents(TEXTS), enc.encode_queries(TEXTS[:1]))
    return out


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("precision", ["float32", "bf16", "int8"])
def test_three_outputs_with_the_right_shapes(encoded, precision: str) -> None:  # type: ignore[no-untyped-def]
    enc, docs, queries = encoded[precision]
    assert enc.precision == precision
    assert docs.dense is not None and docs.dense.shape == (len(TEXTS), enc.dense_dim)
    assert queries.dense is not None and queries.dense.shape == (1, enc.dense_dim)
    assert docs.dense.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs.dense, axis=1), 1.0, atol=1e-3)
    assert docs.sparse is not None and len(docs.sparse) == len(TEXTS)
    assert all(w > 0 for s in docs.sparse for w in s.values())
    ref = encoded["float32"][1]
    assert docs.colbert is not None and ref.colbert is not None
    for got, want in zip(docs.colbert, ref.colbert, strict=True):
        assert got.dtype == np.float32 and got.shape == want.shape == (len(want), enc.colbert_dim)
    assert docs.token_counts == ref.token_counts


def test_the_weights_are_what_the_precision_says(encoded) -> None:  # type: ignore[no-untyped-def]
    net = encoded["bf16"][0].flag_model.model
    assert {p.dtype for p in net.parameters()} == {torch.bfloat16}
    net = encoded["int8"][0].flag_model.model
    assert not [m for m in net.modules() if type(m) is torch.nn.Linear]  # all quantised


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_close_to_float32(encoded, precision: str) -> None:  # type: ignore[no-untyped-def]
    _, ref, ref_q = encoded["float32"]
    _, docs, queries = encoded[precision]
    assert _cos(docs.dense, ref.dense).min() > 0.99  # int8 0.995, bf16 0.9998
    assert _cos(queries.dense, ref_q.dense).min() > 0.99
    for got, want in zip(docs.colbert, ref.colbert, strict=True):
        assert _cos(got, want).mean() > 0.99
    for got, want in zip(docs.sparse, ref.sparse, strict=True):
        if max(want.values(), default=0.0) < 0.01:
            continue  # the tiny model's weights near 0 may drop out through the ReLU
        ids = sorted({*got, *want})
        a, b = (np.array([w.get(t, 0.0) for t in ids]) for w in (got, want))
        assert _cos(a, b) > 0.95  # int8 0.963


def test_the_setting_names_a_bad_value() -> None:
    assert Settings(_env_file=None).encoder_precision == "auto"  # type: ignore[call-arg]
    assert Settings(encoder_precision="int8").encoder_precision == "int8"
    with pytest.raises(ValidationError) as err:
        Settings(encoder_precision="fp8")  # type: ignore[arg-type]
    text = str(err.value)
    assert "encoder_precision" in text and "'int8'" in text and "fp8" in text


def test_auto_is_bf16_only_on_a_cpu_with_native_bf16(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for native, want in ((True, "bf16"), (False, "float32")):
        monkeypatch.setattr(loading, "cpu_has_native_bf16", lambda native=native: native)
        assert loading.resolve_precision("auto", "cpu") == want
        assert loading.resolve_precision("int8", "cpu") == "int8"  # a named precision stays
        for precision in ("auto", "bf16", "int8"):
            assert loading.resolve_precision(precision, "cuda") == "float32"  # CPU only


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    with open("/proc/cpuinfo", encoding="utf-8") as fh:
        flags = set(next(line for line in fh if line.startswith("flags")).split())
    assert loading.cpu_has_native_bf16() == bool(flags & {"avx512_bf16", "amx_bf16"})


def test_the_default_loads_what_this_cpu_allows(settings, encoded) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_encoder

    enc = build_encoder(settings.model_copy(update={"encoder_precision": "auto"}))
    assert enc.precision == "float32"  # type: ignore[attr-defined]  # nothing loaded yet
    queries = enc.encode_queries(TEXTS[:1])
    want = "bf16" if loading.cpu_has_native_bf16() else "float32"
    assert enc.precision == want  # type: ignore[attr-defined]
    dtypes = {p.dtype for p in enc.flag_model.model.parameters()}  # type: ignore[attr-defined]
    assert dtypes == {torch.bfloat16 if want == "bf16" else torch.float32}
    assert _cos(queries.dense, encoded[want][2].dense).min() > 0.9999


def test_settings_reach_the_encoder(settings) -> None:  # type: ignore[no-untyped-def]
    from hybrid_search.factory import build_encoder

    enc = build_encoder(settings.model_copy(update={"encoder_precision": "int8"}))
    assert enc.precision == "int8"  # type: ignore[attr-defined]
