"""The encoder survives transformers releases: same outputs, and FlagEmbedding loads even when
transformers drops a module only FlagEmbedding's LLM rerankers import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.encoders.record_reference import REFERENCE, SHAPES, encode

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_outputs_equal_the_recorded_reference(shape: str, tmp_path: Path) -> None:
    reference = np.load(REFERENCE)
    now = encode(shape, tmp_path)
    # the models are built from a seed: equal outputs mean anything only from equal weights
    assert now.pop(f"{shape}.weights_sha256") == str(reference[f"{shape}.weights_sha256"])
    expected = {
        k for k in reference.files if k.startswith(f"{shape}.") and not k.endswith("sha256")
    }
    assert set(now) == expected
    for key, value in now.items():
        if key.endswith("sparse_ids"):
            np.testing.assert_array_equal(value, reference[key], err_msg=key)
        else:
            np.testing.assert_allclose(value, reference[key], rtol=0, atol=1e-5, err_msg=key)


DROPPED = """
import importlib.abc, sys, tempfile
class Dropped(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "transformers.modeling_attn_mask_utils":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Dropped())
from hybrid_search.encoders.bge_m3 import BGEM3Encoder
from hybrid_search.encoders.tiny import build_tiny_models
from hybrid_search.rerank.bge import BGEReranker
models = build_tiny_models(sys.argv[1])
batch = BGEM3Encoder(str(models.embedding_model), device="cpu").encode_queries(["a query"])
scores = BGEReranker(str(models.reranker_model), device="cpu").score("a query", ["a passage"])
print("dense", len(batch.dense[0]), "scores", len(scores))
"""


def test_flagembedding_loads_when_transformers_drops_a_module(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", DROPPED, str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["dense", "32", "scores", "1"]
