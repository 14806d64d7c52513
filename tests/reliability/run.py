"""`python -m tests.reliability.run [--quick]`: the whole reliability suite, one JSON line at the end.

Sections: crash/resume (`crash.py`), hostile input (`hostile.py`), tenant isolation
(`tenants.py`), load (`load.py`) and the noisy neighbour (`noisy.py`), all against real
processes on loopback: `milvus-lite server` and `hybrid-search serve` with tiny offline models.
Progress goes to stderr; stdout gets exactly one line:

    {"crash_resume": "pass"|"fail", "bad_inputs": n, "bad_input_failures": n,
     "tenant_attempts": n, "tenant_breaches": n,
     "load": {"requests", "errors", "p50_ms", "p95_ms", "p99_ms"}, "data_intact": bool,
     "noisy_neighbour": {"b_p95_ms_alone", "b_p95_ms_under_a", "ratio", "b_errors"},
     "abandoned_work_s": s, "tenancy": "collection"|"partition_key"}

The exit status is 0 only if every section passed. `--quick` is the CI size: a smaller corpus,
no long-outage phase, a 10 s load run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.reliability.procs import Models, Workspace, log

SECTIONS = ("crash", "hostile", "tenants", "load", "noisy")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI size: minutes, not tens")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated subset of {SECTIONS}"
    )
    parser.add_argument("--workdir", type=Path, help="scratch directory (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--load-seconds", type=float, help="override the load duration")
    parser.add_argument(
        "--tenancy",
        choices=("collection", "partition_key"),
        default="collection",
        help="the service's tenancy mode (HYBRID_SEARCH_TENANCY); see service.py",
    )
    return parser.parse_args(argv)


def _models(root: Path) -> Models:
    from hybrid_search.encoders.bge_m3 import quiet_transformers
    from hybrid_search.encoders.tiny import build_tiny_models

    quiet_transformers()
    tiny = build_tiny_models(root)
    return Models(Path(tiny.embedding_model), Path(tiny.reranker_model))


def run(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections: {sorted(unknown)}")
    root = args.workdir or Path(tempfile.mkdtemp(prefix="hs-reliability-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    ws = Workspace(root=root, models=_models(root / "models"), quick=args.quick)
    result: dict[str, Any] = {
        "crash_resume": "skipped",
        "bad_inputs": 0,
        "bad_input_failures": 0,
        "tenant_attempts": 0,
        "tenant_breaches": 0,
        "load": {"requests": 0, "errors": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None},
        "data_intact": None,
        "noisy_neighbour": None,
        "abandoned_work_s": None,
        "tenancy": args.tenancy,
    }
    ok = True
    try:
        if "crash" in only:
            from tests.reliability.crash import run_crash

            crash = run_crash(ws)
            result["crash_resume"] = "pass" if crash.passed else "fail"
            ok &= crash.passed
            (root / "crash-report.json").write_text(json.dumps(vars(crash), indent=2))
            log(f"crash/resume: {result['crash_resume']} {json.dumps(crash.phases)}")
        if only & {"hostile", "tenants", "load", "noisy"}:
            from tests.reliability.service import run_service_sections

            service_result, service_ok = run_service_sections(
                ws, only, args.load_seconds, args.tenancy
            )
            # a Milvus restart under the live service is part of crash/resume
            if not service_result.pop("service_survives_milvus_restart", True):
                result["crash_resume"] = "fail"
            result.update(service_result)
            ok &= service_ok
    finally:
        log(f"suite finished in {time.monotonic() - started:.0f}s; scratch dir {root}")
        if not args.keep and args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    return result, ok


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import pymilvus  # noqa: F401  (it configures its loggers on import; quiet them after)

    for noisy in ("pymilvus", "pymilvus.milvus_client", "httpx", "jieba", "hybrid_search.retry"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    args = _parse(argv)
    result, ok = run(args)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
