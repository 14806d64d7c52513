"""What oneDNN's kernel cache costs a long-running process: RSS after forward passes over random
(batch, length) shapes, as a service meets them, for several cache capacities. Each capacity runs
in its own process (oneDNN reads it at the first forward pass).

    python -m hybrid_search.benchmarks.kernel_cache MODEL_DIR [PASSES] [CAPACITY ...] [--bf16]

MODEL_DIR: a transformers model directory (`hybrid-search models tiny DIR` makes one); `--bf16`
runs it in bf16, the encoder's default on a CPU with native bf16, whose matmuls are oneDNN
kernels too. Prints one JSON line: per capacity, RSS (MiB) every PASSES/10 passes and the CPU
seconds of the passes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from hybrid_search.process import KERNEL_CACHE_CAPACITY


def _rss_mib() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def _passes(model_dir: str, passes: int, bf16: bool) -> dict[str, Any]:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir).eval()
    if bf16:
        model = model.to(torch.bfloat16)
    rng, rss = random.Random(0), []
    began = time.process_time()
    with torch.inference_mode():
        for i in range(passes):
            ids = torch.randint(5, 1000, (rng.randint(1, 16), rng.randint(4, 70)))
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
            if i % max(1, passes // 10) == 0:
                rss.append([i, round(_rss_mib(), 1)])
    rss.append([passes, round(_rss_mib(), 1)])
    return {"rss_mib": rss, "cpu_s": round(time.process_time() - began, 1)}


def main(argv: list[str]) -> None:
    bf16 = "--bf16" in argv
    argv = [a for a in argv if a != "--bf16"]
    if argv[:1] == ["--child"]:
        sys.stdout.write(json.dumps(_passes(argv[1], int(argv[2]), bf16)) + "\n")
        return
    model_dir, passes = argv[0], int(argv[1]) if len(argv) > 1 else 3000
    capacities = argv[2:] or ["1024", str(KERNEL_CACHE_CAPACITY)]
    out = {}
    for capacity in capacities:
        env = {**os.environ, "ONEDNN_PRIMITIVE_CACHE_CAPACITY": capacity}
        cmd = [
            sys.executable,
            "-m",
            "hybrid_search.benchmarks.kernel_cache",
            "--child",
            model_dir,
            str(passes),
            *(["--bf16"] if bf16 else []),
        ]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out[capacity] = json.loads(run.stdout.strip().splitlines()[-1])
    sys.stdout.write(json.dumps({"passes": passes, "bf16": bf16, "capacities": out}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
