"""Hostile files through the ingest job: every case ends with its expected summary, no crash."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from hybrid_search.encoders.base import Encoder
from hybrid_search.store import ops
from hybrid_search.store.base import VectorStore
from hybrid_search.store.types import StoredChunk
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import read_paths
from schemas.collection import CollectionSpec
from schemas.documents import IngestSummary
from tests.reliability.case_data import CASES, CaseResult, generate, load_ingest

_COUNTS = ("documents", "inserted", "replaced", "unchanged", "failed")


def _error_matches(want: dict[str, Any], got: dict[str, Any]) -> bool:
    for key in ("line", "field", "doc_id"):
        if key in want and got.get(key) != want[key]:
            return False
    return str(want.get("contains", "")) in str(got.get("message", ""))


def judge(
    expect: dict[str, Any], summary: IngestSummary, stored: dict[str, list[StoredChunk]]
) -> list[str]:
    problems = [
        f"{k} = {getattr(summary, k)}, expected {expect[k]}"
        for k in _COUNTS
        if k in expect and getattr(summary, k) != expect[k]
    ]
    errors = [e.model_dump() for e in summary.errors]
    if len(errors) != summary.failed:
        problems.append(f"{summary.failed} failed but {len(errors)} errors reported")
    for e in errors:
        if not e["message"] or not (e["source"] or e["doc_id"]):
            problems.append(f"an error that names neither source nor document: {e}")
    for want in expect.get("errors", []):
        if not any(_error_matches(want, got) for got in errors):
            problems.append(f"no error like {want}; got {errors}")
    for doc_id in expect.get("stored", []):
        chunks = stored.get(doc_id, [])
        if not chunks:
            problems.append(f"document {doc_id!r} not stored")
        elif len(chunks) < expect.get("min_chunks", 1):
            problems.append(f"{doc_id!r}: {len(chunks)} chunks, expected >= {expect['min_chunks']}")
    for doc_id, snippet in expect.get("text_contains", {}).items():
        if not any(snippet in c.text for c in stored.get(doc_id, [])):
            problems.append(f"{doc_id!r} does not hold {snippet!r}")
    problems += [f"document {d!r} stored" for d in expect.get("absent", []) if stored.get(d)]
    return problems


def run_ingest_cases(
    store: VectorStore,
    encoder: Encoder,
    spec: CollectionSpec,
    options: IngestOptions,
    scratch: Path,
) -> list[CaseResult]:
    results = []
    for case in load_ingest():
        result = CaseResult("ingest", case["id"])
        started = time.monotonic()
        paths = []
        for p in case["paths"]:
            if p.startswith("generated/"):
                path = scratch / p
                generate(case["generate"], case["id"], path)
            else:
                path = CASES / "ingest" / p
            paths.append(path)
        expect = case["expect"]
        try:
            summary = IngestJob(store, encoder, spec, options).run(read_paths(paths))
            ids = [
                *expect.get("stored", []),
                *expect.get("text_contains", {}),
                *expect.get("absent", []),
            ]
            stored = {d: ops.get_chunks(store, spec.name, options.tenant, d) for d in ids}
            result.problems = judge(expect, summary, stored)
        except Exception as exc:  # a crash is exactly what this suite looks for
            result.problems = [f"raised {type(exc).__name__}: {exc}"[:500]]
        result.seconds = round(time.monotonic() - started, 2)
        results.append(result)
    return results
