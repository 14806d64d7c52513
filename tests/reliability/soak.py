"""Soak: mixed load on `hybrid-search serve` for DURATION seconds with a Milvus restart midway,
checking invariants throughout against an oracle of what each tenant wrote.

Each tenant's client ingests, replaces, deletes (one and in bulk), searches, batch searches,
and submits and cancels jobs; every acknowledged document must read back as exactly its latest
version and be found by its unique marker, no hit may be deleted or another tenant's, and every
status must be one the README documents. Ends with one JSON line.

    python -m tests.reliability.soak [--duration 600]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.procs import (
    MilvusServer,
    ServeProcess,
    Workspace,
    api_keys_setting,
    base_env,
    log,
)
from tests.reliability.run import _models

KEYS = {"A": "soak-key-a", "B": "soak-key-b", "C": "soak-key-c"}
DOCUMENTED = {200, 202, 400, 401, 403, 404, 413, 422, 429, 503, 504}
POOL = 40  # document ids per tenant
#: RSS sampling: the trim after each write hands up to ~10 MiB back and the next ones take it
#: again, so minute samples landed anywhere in that swing (docs/reliability-soak.md)
RSS_EVERY_S = 10.0
#: first use of each code path (request series, encode shapes, Milvus client) settles by then
WARM_UP_S = 120.0


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _slope_per_h(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    ts, ys = [t for t, _ in samples], [y for _, y in samples]
    mt, my = statistics.fmean(ts), statistics.fmean(ys)
    var = sum((t - mt) ** 2 for t in ts) or 1.0
    return round(sum((t - mt) * (y - my) for t, y in samples) / var * 3600, 1)


class Soak:
    def __init__(self, url: str, seed: int) -> None:
        self.url, self.rng = url, random.Random(seed)
        self.oracle: dict[str, dict[str, str]] = {t: {} for t in KEYS}
        self.version = 0
        self.statuses: Counter[int] = Counter()
        self.undocumented: Counter[int] = Counter()
        self.violations: list[str] = []
        self.latency: dict[str, list[tuple[float, float]]] = defaultdict(list)
        self.restarting = False
        self.errors_5xx_outside = 0
        self.started = time.monotonic()
        self.http = httpx.Client(base_url=url, timeout=120)

    def call(self, tenant: str, method: str, path: str, body: Any = None) -> httpx.Response:
        """One request, retried while Milvus is away (503), so every write ends acknowledged."""
        while True:
            began = time.monotonic()
            r = self.http.request(method, path, json=body, headers={"X-API-Key": KEYS[tenant]})
            name = f"{method} {path.split('/')[2] if path.count('/') > 1 else path}"
            self.latency[name].append((began - self.started, (time.monotonic() - began) * 1000))
            self.statuses[r.status_code] += 1
            if r.status_code not in DOCUMENTED:
                self.undocumented[r.status_code] += 1
            if r.status_code >= 500 and not self.restarting and r.status_code != 503:
                self.errors_5xx_outside += 1
            if r.status_code not in (429, 503, 504):
                return r
            time.sleep(0.5)

    def text(self, tenant: str, doc_id: str) -> str:
        self.version += 1
        return f"soak {tenant} {doc_id} marker{tenant}{doc_id}v{self.version} about vector search"

    def upsert(self, tenant: str, n: int) -> None:
        docs = [{"id": d, "text": self.text(tenant, d)} for d in self.ids(n)]
        r = self.call(tenant, "POST", "/v1/documents", {"documents": docs})
        self.apply(tenant, docs, r.json().get("outcomes", []))

    def apply(
        self, tenant: str, docs: list[dict[str, str]], outcomes: list[dict[str, Any]]
    ) -> None:
        for doc, o in zip(docs, outcomes, strict=False):
            if o["status"] in ("inserted", "replaced", "unchanged"):
                self.oracle[tenant][doc["id"]] = doc["text"]

    def ids(self, n: int) -> list[str]:
        return list(dict.fromkeys(f"d{self.rng.randrange(POOL)}" for _ in range(n)))

    def delete(self, tenant: str) -> None:
        ids = self.ids(self.rng.randint(1, 4))
        if self.rng.random() < 0.5:
            r = self.call(tenant, "DELETE", "/v1/documents", {"ids": ids})
        else:
            r = self.call(tenant, "DELETE", f"/v1/documents/{ids[0]}")
            ids = ids[:1]
        got = {o["id"]: o["status"] == "deleted" for o in r.json().get("outcomes", [])}
        if not got:  # the one-document route: 200 or 404
            got = {ids[0]: r.status_code == 200}
        for d in ids:
            self.check(got.get(d) == (d in self.oracle[tenant]), f"{tenant}: delete of {d}")
            self.oracle[tenant].pop(d, None)

    def job(self, tenant: str) -> None:
        docs = [{"id": d, "text": self.text(tenant, d) + " pad" * 600} for d in self.ids(8)]
        r = self.call(tenant, "POST", "/v1/documents", {"documents": docs})
        if r.status_code == 200:
            return self.apply(tenant, docs, r.json()["outcomes"])
        job_id = r.json()["job_id"]
        if self.rng.random() < 0.5:
            self.call(tenant, "DELETE", f"/v1/jobs/{job_id}")
        while (j := self.call(tenant, "GET", f"/v1/jobs/{job_id}").json())["state"] in (
            "queued",
            "running",
        ):
            time.sleep(0.2)
        self.apply(tenant, docs, (j.get("summary") or {}).get("outcomes") or [])

    def search(self, tenant: str) -> None:
        known = sorted(self.oracle[tenant])
        if not known:
            return
        targets = self.rng.sample(known, min(2, len(known)))
        markers = [self.oracle[tenant][d].split()[3] for d in targets]
        if self.rng.random() < 0.5:
            r = self.call(
                tenant, "POST", "/v1/search", {"query": markers[0], "routes": ["bm25"], "top_k": 5}
            )
            results = [r.json()] if r.status_code == 200 else []
        else:
            r = self.call(
                tenant,
                "POST",
                "/v1/search/batch",
                {"queries": markers, "routes": ["bm25"], "top_k": 5},
            )
            results = r.json()["results"] if r.status_code == 200 else []
        for doc_id, res in zip(targets, results, strict=False):
            hits = res["hits"]
            self.check(
                any(h["doc_id"] == doc_id for h in hits),
                f"{tenant}: {doc_id} not found by its marker",
            )
            for h in hits:
                self.check(
                    h["doc_id"] in self.oracle[tenant], f"{tenant}: hit {h['doc_id']} not stored"
                )
        doc_id = targets[0]
        r = self.call(tenant, "GET", f"/v1/documents/{doc_id}")
        words = " ".join(c["text"] for c in r.json().get("chunks", [])).split()
        versions = {w for w in words if w.startswith(f"marker{tenant}{doc_id}v")}
        latest = self.oracle[tenant][doc_id].split()[3]
        self.check(versions == {latest}, f"{tenant}: {doc_id} is {versions}, not {latest}")

    def check(self, ok: bool, what: str) -> None:
        if not ok and len(self.violations) < 50:
            self.violations.append(what)
        self.violation_count = getattr(self, "violation_count", 0) + (not ok)

    def step(self) -> None:
        tenant = self.rng.choice(list(KEYS))
        op = self.rng.choices(["upsert", "delete", "search", "job"], [4, 2, 5, 1])[0]
        if op == "upsert":
            self.upsert(tenant, self.rng.randint(1, 5))
        else:
            getattr(self, op)(tenant)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.soak")
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = run(args.duration, args.seed)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if not result["violations"] and not result["undocumented_statuses"] else 1


def run(duration: float, seed: int = 7, root: Path | None = None) -> dict[str, Any]:
    root = root or Path(tempfile.mkdtemp(prefix="soak-"))
    ws = Workspace(root, _models(root / "models"), quick=True)
    d = ws.dir("service")
    milvus = MilvusServer.started_in(d)
    env = base_env(
        ws.models,
        milvus.uri,
        collection="soak",
        service__api_keys=api_keys_setting(KEYS),
        service__job_threshold_bytes="10000",
        max_chunk_tokens="64",
        chunk_overlap_tokens="8",
    )
    serve = ServeProcess(env, d)
    serve.start()
    soak = Soak(serve.url, seed)
    every = min(60.0, max(5.0, duration / 6))  # the latency buckets
    memory: dict[str, list[tuple[float, float]]] = {"service": [], "milvus": []}
    next_sample, restarted = 0.0, False
    try:
        while (now := time.monotonic() - soak.started) < duration:
            if now >= next_sample:
                memory["service"].append((round(now, 1), round(_rss_mib(serve.pid), 1)))
                if milvus.proc is not None:
                    memory["milvus"].append((round(now, 1), round(_rss_mib(milvus.proc.pid), 1)))
                next_sample += RSS_EVERY_S
            if not restarted and now >= duration / 2:
                log("soak: restarting Milvus")
                soak.restarting, restarted = True, True
                milvus.kill()
                milvus.start()
                soak.step()
                soak.restarting = False
            soak.step()
    finally:
        serve.stop()
        milvus.stop()
    warm = [(t, y) for t, y in memory["service"] if t >= min(WARM_UP_S, duration / 3)]
    latency = {}
    for name, points in soak.latency.items():
        buckets: dict[int, list[float]] = defaultdict(list)
        for t, ms in points:
            buckets[int(t // every)].append(ms)
        latency[name] = [
            {
                "from_s": round(b * every),
                "n": len(v),
                "p50_ms": round(statistics.median(v), 1),
                "p95_ms": round(sorted(v)[int(0.95 * (len(v) - 1))], 1),
            }
            for b, v in sorted(buckets.items())
        ]
    return {
        "duration_s": duration,
        "requests": sum(soak.statuses.values()),
        "statuses": {str(k): v for k, v in sorted(soak.statuses.items())},
        "errors_by_code": {str(k): v for k, v in sorted(soak.statuses.items()) if k >= 400},
        "errors_5xx_outside_restart": soak.errors_5xx_outside,
        "violations": getattr(soak, "violation_count", 0),
        "violation_examples": soak.violations[:10],
        "undocumented_statuses": sum(soak.undocumented.values()),
        "documents": {t: len(o) for t, o in soak.oracle.items()},
        "latency": latency,
        "memory": {
            "service_mib": memory["service"],
            "milvus_mib": memory["milvus"],
            "service_slope_mib_per_h": _slope_per_h(warm),
            "slope_from_s": min(WARM_UP_S, duration / 3),
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
