"""How to keep packed ColBERT tokens in Milvus Lite: candidate layouts measured on a real Milvus
Lite in a scratch directory (`python -m hybrid_search.benchmarks.token_packing`).

Milvus Lite has FLOAT_VECTOR, SPARSE_FLOAT_VECTOR and scalar fields (VARCHAR <= 65,535 bytes,
JSON, INT) but no binary or int8 vector. Candidates, each one row per block of a chunk's tokens:
- `float32_blocks`: today's layout, 16 float32 tokens per FLOAT_VECTOR row (the baseline);
- `varchar_text7`: sign bits as 7-bit ASCII in a VARCHAR (8/7 of the bits);
- `varchar_base64`: sign bits as base64 in a VARCHAR (4/3 of the bits);
- `float_bits31`: sign bits carried as raw float32 bit patterns, 31 per float (bit 30 forced 0,
  so no NaN or Inf can appear) in a FLOAT_VECTOR.
For each: stored bytes per token from the data directory's growth (after the client closes,
all overhead included), write time, and the time to read 120 chunks' tokens back by key and
turn them into packed arrays.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybrid_search.tokens import encode, from_text, text_length, to_text

DIM = 1024
BYTES = DIM // 8  # one binary token


@dataclass(frozen=True)
class Layout:
    name: str
    tokens_per_row: int
    field: str  # "varchar" or "vector"
    width: int  # VARCHAR max_length or FLOAT_VECTOR dim
    pack: Callable[[np.ndarray, np.ndarray], Any]  # (binary rows, float rows) -> field value
    unpack: Callable[[Any, int], np.ndarray]  # (field value, tokens) -> packed uint8 (n, 128)


def _bits31_pack(binary: np.ndarray) -> np.ndarray:
    flat = np.unpackbits(binary.reshape(-1))
    pad = (-len(flat)) % 31
    bits = np.concatenate([flat, np.zeros(pad, np.uint8)]).reshape(-1, 31)
    words = np.zeros((len(bits), 32), np.uint8)  # bit 30 (the exponent's top bit) stays 0
    words[:, 0] = bits[:, 0]  # the sign bit carries payload
    words[:, 2:] = bits[:, 1:]
    return np.packbits(words, axis=1).view(">u4").astype("<u4").view(np.float32).reshape(-1)


def _bits31_unpack(value: Any, n_tokens: int) -> np.ndarray:
    words = np.asarray(value, dtype=np.float32).view("<u4").astype(">u4").view(np.uint8)
    bits = np.unpackbits(words.reshape(-1, 4), axis=1)
    payload = np.concatenate([bits[:, :1], bits[:, 2:]], axis=1).reshape(-1)
    return np.packbits(payload[: n_tokens * DIM]).reshape(n_tokens, BYTES)


def layouts() -> list[Layout]:
    t7 = 256  # 256 tokens: 37,449 characters
    b64 = 256  # 256 tokens: 43,692 characters
    f31 = 64  # 64 tokens: 2,115 floats
    return [
        Layout(
            "float32_blocks",
            16,
            "vector",
            16 * DIM,
            lambda b, f: np.pad(f, ((0, 16 - len(f)), (0, 0))).reshape(-1),
            lambda v, n: np.packbits(np.asarray(v, np.float32).reshape(16, DIM)[:n] > 0, axis=1),
        ),
        Layout(
            "varchar_text7",
            t7,
            "varchar",
            text_length(t7 * BYTES),
            lambda b, f: to_text(b),
            lambda v, n: from_text(v, n * BYTES).reshape(n, BYTES),
        ),
        Layout(
            "varchar_base64",
            b64,
            "varchar",
            4 * math.ceil(b64 * BYTES / 3),
            lambda b, f: base64.b64encode(b.tobytes()).decode("ascii"),
            lambda v, n: np.frombuffer(base64.b64decode(v), np.uint8).reshape(n, BYTES),
        ),
        Layout(
            "float_bits31",
            f31,
            "vector",
            math.ceil(f31 * DIM / 31),
            lambda b, f: np.pad(
                _bits31_pack(b), (0, math.ceil(f31 * DIM / 31) - len(_bits31_pack(b)))
            ),
            lambda v, n: _bits31_unpack(v, n),
        ),
    ]


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _chunks(n_chunks: int, tokens: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(tokens // 2, tokens * 3 // 2, n_chunks)
    out = []
    for n in lengths:
        x = rng.standard_normal((int(n), DIM)).astype(np.float32)
        out.append(x / np.linalg.norm(x, axis=1, keepdims=True))
    return out


def measure_layout(
    layout: Layout, chunks: list[np.ndarray], root: Path, reads: int
) -> dict[str, Any]:
    from pymilvus import DataType, MilvusClient

    work = root / layout.name
    work.mkdir(parents=True)
    uri = str(work / "milvus.db")
    client = MilvusClient(uri=uri)
    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=256)
    s.add_field("chunk_pk", DataType.VARCHAR, max_length=256)
    s.add_field("doc_id", DataType.VARCHAR, max_length=256)
    s.add_field("tenant", DataType.VARCHAR, max_length=64)
    s.add_field("block_tokens", DataType.INT64)
    if layout.field == "varchar":
        s.add_field("payload", DataType.VARCHAR, max_length=layout.width)
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
    else:
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=layout.width)
    ip = client.prepare_index_params()
    ip.add_index("vector", index_type="FLAT", metric_type="IP")
    client.create_collection("t", schema=s, index_params=ip)
    client.load_collection("t")
    empty = _dir_bytes(work)
    per = layout.tokens_per_row
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for c, tokens in enumerate(chunks):
        binary = encode(tokens, "binary").data
        for b, start in enumerate(range(0, len(tokens), per)):
            row: dict[str, Any] = {
                "pk": f"default/doc{c}#0:{b}",
                "chunk_pk": f"default/doc{c}#0",
                "doc_id": f"doc{c}",
                "tenant": "default",
                "block_tokens": min(per, len(tokens) - start),
            }
            value = layout.pack(binary[start : start + per], tokens[start : start + per])
            if layout.field == "varchar":
                row["payload"], row["vector"] = value, [1.0, 0.0]
            else:
                row["vector"] = value
            rows.append(row)
        if len(rows) >= 64:
            client.insert("t", rows)
            rows = []
    if rows:
        client.insert("t", rows)
    client.flush("t")
    write_s = time.perf_counter() - started
    client.close()
    total_tokens = sum(len(t) for t in chunks)
    stored = _dir_bytes(work) - empty
    client = MilvusClient(uri=uri)
    client.load_collection("t")
    field = "payload" if layout.field == "varchar" else "vector"
    keys = [f"default/doc{c}#0:{b}" for c in range(reads) for b in range(-(-len(chunks[c]) // per))]
    samples = []
    for _ in range(3):
        t = time.perf_counter()
        got = client.get("t", ids=keys, output_fields=["chunk_pk", "block_tokens", field])
        packed = [layout.unpack(r[field], int(r["block_tokens"])) for r in got]
        samples.append(time.perf_counter() - t)
    client.close()
    assert sum(len(p) for p in packed) == sum(len(chunks[c]) for c in range(reads))
    return {
        "tokens": total_tokens,
        "tokens_per_row": per,
        "bytes_per_token": round(stored / total_tokens, 1),
        "write_tokens_per_s": round(total_tokens / write_s),
        "read_chunks": reads,
        "read_ms": round(min(samples) * 1000, 1),
    }


def main(n_chunks: int = 400, tokens: int = 330, reads: int = 120) -> dict[str, Any]:
    chunks = _chunks(n_chunks, tokens)
    root = Path(tempfile.mkdtemp(prefix="token-packing-"))
    try:
        return {lay.name: measure_layout(lay, chunks, root, reads) for lay in layouts()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    import sys

    sys.stdout.write(json.dumps(main(), indent=1) + "\n")
