"""Record the tiny and real-width BGE-M3 outputs that test_transformers_drift compares against.

Run under the transformers release the reference should come from (the file says which):
    python -m tests.encoders.record_reference
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

TEXTS = [
    "BGE-M3 encodes dense, sparse and ColBERT vectors.",
    "西湖在杭州，风景很美。",
    "Milvus Lite stores the rows; a reranker rescores the head.",
]
#: the tiny test model and the real width (hidden 1024, 16 heads), one layer to stay small
SHAPES: dict[str, dict[str, int]] = {"tiny": {}, "wide": {"hidden": 1024, "layers": 1, "heads": 16}}
REFERENCE = Path(__file__).parent / "bge_m3_reference.npz"


def encode(shape: str, root: Path) -> dict[str, Any]:
    """Build the seeded model of `shape` under `root`, encode TEXTS as passages and queries."""
    from hybrid_search.encoders.bge_m3 import BGEM3Encoder
    from hybrid_search.encoders.tiny import build_tiny_models

    models = build_tiny_models(root / shape, **SHAPES[shape])
    weights = (Path(models.embedding_model) / "model.safetensors").read_bytes()
    enc = BGEM3Encoder(str(models.embedding_model), device="cpu")
    out: dict[str, Any] = {f"{shape}.weights_sha256": hashlib.sha256(weights).hexdigest()}
    kinds = {"passage": enc.encode_documents}
    if shape == "tiny":  # the same forward pass; at real width queries would only double the file
        kinds["query"] = enc.encode_queries
    for kind, encode_texts in kinds.items():
        batch = encode_texts(TEXTS)
        out[f"{shape}.{kind}.dense"] = np.asarray(batch.dense, dtype=np.float32)
        for i, (sparse, colbert) in enumerate(zip(batch.sparse, batch.colbert, strict=True)):
            keys = sorted(sparse)
            out[f"{shape}.{kind}.{i}.sparse_ids"] = np.asarray(keys, dtype=np.int64)
            out[f"{shape}.{kind}.{i}.sparse_weights"] = np.asarray(
                [sparse[k] for k in keys], np.float32
            )
            out[f"{shape}.{kind}.{i}.colbert"] = np.asarray(colbert, dtype=np.float32)
    return out


def main() -> None:
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        arrays: dict[str, Any] = {"transformers": np.asarray(transformers.__version__)}
        for shape in SHAPES:
            arrays.update(encode(shape, Path(tmp)))
    np.savez_compressed(REFERENCE, **arrays)
    print(
        f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes) under transformers {transformers.__version__}"
    )


if __name__ == "__main__":
    main()
