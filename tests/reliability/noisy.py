"""The noisy neighbour: tenant A ingests large documents and sends heavy batches (some of them
dropped by their clients after a second) while tenant B searches; B must barely notice.

Phase 1 times B alone (one client, sequential searches); phase 2 times B again while A's
clients run. A's 429/503 answers with Retry-After are the service protecting B, not errors; any
non-200 answer to B is. `abandoned_work_s` is the service's own count of worker seconds spent on
requests after their clients left (`hybrid_search_abandoned_work_seconds_total`), read after A's
work has drained.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

B_QUERIES = ["zebra migration report", "熊猫吃竹子", "vector index recall", "confidential notes"]
#: a batch as heavy as the service accepts (max_batch), from A
A_BATCH = [f"heavy batch query {i} 向量 检索 tenant cluster" for i in range(64)]


@dataclass
class NoisyReport:
    b_alone_ms: list[float] = field(default_factory=list)
    b_under_a_ms: list[float] = field(default_factory=list)
    #: B's server-side stage timings (the response's timings_ms), per phase
    b_stages: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    b_errors: int = 0
    b_error_samples: list[str] = field(default_factory=list)
    a_statuses: dict[str, int] = field(default_factory=dict)
    abandoned_work_s: float | None = None
    jobs: list[str] = field(default_factory=list)

    @staticmethod
    def _p95(values: list[float]) -> float | None:
        if not values:
            return None
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1)

    def summary(self) -> dict[str, Any]:
        alone, under = self._p95(self.b_alone_ms), self._p95(self.b_under_a_ms)
        ratio = round(under / alone, 2) if alone and under else None
        return {
            "b_p95_ms_alone": alone,
            "b_p95_ms_under_a": under,
            "ratio": ratio,
            "b_errors": self.b_errors,
        }

    def stage_p50(self, phase: str) -> dict[str, float]:
        """The median of each server-side stage of B's searches in `phase`: where B's time goes."""
        rows = self.b_stages.get(phase, [])
        stages = sorted({k for row in rows for k in row})
        return {k: round(statistics.median(r.get(k, 0.0) for r in rows), 1) for k in stages}

    def details(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "b_stage_p50_ms_alone": self.stage_p50("alone"),
            "b_stage_p50_ms_under_a": self.stage_p50("under_a"),
            "b_requests_alone": len(self.b_alone_ms),
            "b_requests_under_a": len(self.b_under_a_ms),
            "b_error_samples": self.b_error_samples[:5],
            "a_statuses": self.a_statuses,
            "abandoned_work_s": self.abandoned_work_s,
            "a_jobs": self.jobs,
        }


def _b_loop(url: str, key: str, until: float, phase: str, report: NoisyReport) -> None:
    out = report.b_alone_ms if phase == "alone" else report.b_under_a_ms
    stages = report.b_stages.setdefault(phase, [])
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=120) as http:
        i = 0
        while time.monotonic() < until:
            started = time.perf_counter()
            try:
                r = http.post("/v1/search", json={"query": B_QUERIES[i % 4]}, headers=headers)
                problem = "" if r.status_code == 200 else f"{r.status_code}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            i += 1
            if problem:
                report.b_errors += 1
                report.b_error_samples.append(problem)
            else:
                out.append((time.perf_counter() - started) * 1000)
                stages.append(r.json().get("timings_ms", {}))


def _count(report: NoisyReport, lock: threading.Lock, what: str) -> None:
    with lock:
        report.a_statuses[what] = report.a_statuses.get(what, 0) + 1


def _a_batches(
    url: str,
    key: str,
    until: float,
    give_up_s: float | None,
    report: NoisyReport,
    lock: threading.Lock,
) -> None:
    """A's heavy batches; with `give_up_s` the client drops each request after that long."""
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(give_up_s if give_up_s else 300.0)
    with httpx.Client(base_url=url, timeout=timeout) as http:
        while time.monotonic() < until:
            try:
                r = http.post("/v1/search/batch", json={"queries": A_BATCH}, headers=headers)
                _count(report, lock, str(r.status_code))
                if r.status_code in (429, 503):
                    time.sleep(min(float(r.headers.get("retry-after", "1")), 1.0))
            except httpx.TimeoutException:
                _count(report, lock, "gave_up")
            except httpx.HTTPError as exc:
                _count(report, lock, type(exc).__name__)


def _a_ingest(url: str, key: str, report: NoisyReport, lock: threading.Lock) -> None:
    """A's large write: three documents of ~1 MiB (a job, off the search slots)."""
    words = ["向量", "检索", "tenant", "cluster", "replica", "segment", "latency", "recall"]
    text = " ".join(words[i % len(words)] for i in range(150_000))
    docs = [{"id": f"noisy-big-{i}", "text": text} for i in range(3)]
    with httpx.Client(base_url=url, timeout=600) as http:
        r = http.post(
            "/v1/documents", json={"documents": docs}, headers={"Authorization": f"Bearer {key}"}
        )
        _count(report, lock, f"ingest_{r.status_code}")
        if r.status_code == 202:
            report.jobs.append(r.json()["job_id"])


def abandoned_seconds(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    for line in text.splitlines():
        if line.startswith("hybrid_search_abandoned_work_seconds_total"):
            return float(line.split()[-1])
    return 0.0


def run_noisy(url: str, key_a: str, key_b: str, seconds: float) -> NoisyReport:
    report = NoisyReport()
    lock = threading.Lock()
    _b_loop(url, key_b, time.monotonic() + seconds / 2, "alone", report)
    before = abandoned_seconds(url)
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_a_ingest, args=(url, key_a, report, lock)),
        threading.Thread(target=_a_batches, args=(url, key_a, until, None, report, lock)),
        threading.Thread(target=_a_batches, args=(url, key_a, until, None, report, lock)),
        threading.Thread(target=_a_batches, args=(url, key_a, until, 1.0, report, lock)),
        threading.Thread(target=_a_batches, args=(url, key_a, until, 1.0, report, lock)),
    ]
    for t in threads:
        t.start()
    time.sleep(1.0)  # A's load is on before B measures
    _b_loop(url, key_b, until, "under_a", report)
    for t in threads:
        t.join()
    # let the work A's departed clients left behind drain before reading the counter
    drain_until = time.monotonic() + 60
    with httpx.Client(base_url=url, timeout=30) as http:
        for job in report.jobs:
            while time.monotonic() < drain_until:
                state = http.get(
                    f"/v1/jobs/{job}", headers={"Authorization": f"Bearer {key_a}"}
                ).json()
                if state.get("state") not in ("queued", "running"):
                    break
                time.sleep(1.0)
    time.sleep(2.0)
    report.abandoned_work_s = round(abandoned_seconds(url) - before, 2)
    return report
