"""What a fast tokenizer's word cache costs and buys: heap growth per 1,000 words it has never
seen, and CPU seconds to tokenize a corpus, for cache capacities 10,000 (the `tokenizers`
default), 1,000 and TOKENIZER_CACHE_WORDS (0), interleaved over `repeats` runs (min and median).

    python -m hybrid_search.benchmarks.tokenizer_cache MODEL_DIR CORPUS.jsonl [DOCS] [REPEATS]

MODEL_DIR: a model directory with a fast tokenizer (`hybrid-search models tiny DIR` makes one).
Prints one JSON line. Linux/glibc only (heap figures from mallinfo2).
"""

from __future__ import annotations

import copy
import ctypes
import gc
import json
import statistics
import sys
import time
from typing import Any

from hybrid_search.encoders.loading import TOKENIZER_CACHE_WORDS, bound_cache

NEW_WORDS = 5_000


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks")
    ] + [(name, ctypes.c_size_t) for name in ("uordblks", "fordblks", "keepcost")]


def _in_use_mib() -> float:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    gc.collect()
    return float(libc.mallinfo2().uordblks) / 2**20


def measure(base: Any, texts: list[str], repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    cpu: dict[int, list[float]] = {}
    for _ in range(repeats):
        for cap in dict.fromkeys((10_000, 1_000, TOKENIZER_CACHE_WORDS, 0)):
            tok = bound_cache(copy.deepcopy(base), cap)
            began = time.process_time()
            for text in texts:
                tok(text, add_special_tokens=False)
            cpu.setdefault(cap, []).append(time.process_time() - began)
    for cap, seconds in cpu.items():
        tok = bound_cache(copy.deepcopy(base), cap)
        before = _in_use_mib()
        for i in range(NEW_WORDS):
            tok(f"order{i}x{i * 7919} shipped", add_special_tokens=False)
        out[str(cap)] = {
            "cpu_s_min": round(min(seconds), 3),
            "cpu_s_median": round(statistics.median(seconds), 3),
            "heap_mib_per_1000_new_words": round((_in_use_mib() - before) * 1000 / NEW_WORDS, 3),
        }
    return out


def main(argv: list[str]) -> int:
    from transformers import AutoTokenizer

    model, corpus = argv[0], argv[1]
    docs = int(argv[2]) if len(argv) > 2 else 1000
    repeats = int(argv[3]) if len(argv) > 3 else 5
    with open(corpus, encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line, _ in zip(fh, range(docs), strict=False)]
    base = AutoTokenizer.from_pretrained(model)
    result = {"docs": len(texts), "repeats": repeats, "by_capacity": measure(base, texts, repeats)}
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
