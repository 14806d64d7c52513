"""Bounded load on loopback: N concurrent clients searching a live `serve` for a fixed time.

Only 200s and 503s/429s that carry `Retry-After` (the service shedding load, or one tenant's
share of it) are acceptable; any other status or a transport error counts in `errors`. The server's RSS is sampled throughout:
after a warm-up it may grow by at most `RSS_GROWTH_BOUND_MIB` (model caches, allocator arenas
and gRPC buffers settle during the warm-up; a leak keeps growing with the request count).
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

#: the most the server's RSS may grow from the end of the warm-up to the end of the run
RSS_GROWTH_BOUND_MIB = 100.0
QUERIES = [
    "zebra migration report",
    "熊猫吃竹子",
    "vector index recall latency",
    "北京 上海 长江",
    "hybrid search with filters",
    "semantic cache memory 内存",
    "confidential notes number 3",
    "森林 river mountain 山脉",
]


@dataclass
class LoadReport:
    clients: int
    seconds: float
    requests: int = 0
    ok: int = 0
    shed: int = 0  # 503 or 429 with Retry-After
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    rss_mib: dict[str, float] = field(default_factory=dict)
    #: one client alone, before the load: the service time without queueing
    unloaded_p50_ms: float | None = None

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 1)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
        }

    def details(self) -> dict[str, Any]:
        mean = statistics.fmean(self.latencies_ms) if self.latencies_ms else None
        return {
            **self.summary(),
            "clients": self.clients,
            "seconds": self.seconds,
            "ok": self.ok,
            "shed_503": self.shed,
            "throughput_rps": round(self.ok / self.seconds, 1) if self.seconds else None,
            "mean_ms": None if mean is None else round(mean, 1),
            "unloaded_p50_ms": self.unloaded_p50_ms,
            "rss_mib": self.rss_mib,
            "rss_bound_mib": RSS_GROWTH_BOUND_MIB,
            "error_samples": self.error_samples[:5],
        }


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def rss(self) -> float:
        return float(self.proc.memory_info().rss) / 2**20

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.samples.append((time.monotonic(), self.rss()))


def _worker(
    base_url: str, key: str, deadline: float, report: LoadReport, lock: threading.Lock, n: int
) -> None:
    queries = itertools.cycle(QUERIES[n % len(QUERIES) :] + QUERIES[: n % len(QUERIES)])
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, timeout=60) as http:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, problem, wait = 0, "", 0.0
            try:
                r = http.post("/v1/search", json={"query": next(queries)}, headers=headers)
                status = r.status_code
                # shedding: 503 (service full) or 429 (this tenant over its share), both with
                # Retry-After, is the service protecting itself and other tenants
                if status in (429, 503) and "retry-after" in r.headers:
                    wait = min(float(r.headers["retry-after"]), 1.0)
                elif status != 200:
                    problem = f"{status}: {r.text[:200]}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                report.requests += 1
                if problem:
                    report.errors += 1
                    report.error_samples.append(problem)
                elif status in (429, 503):
                    report.shed += 1
                else:
                    report.ok += 1
                    report.latencies_ms.append(elapsed)
            if wait:
                time.sleep(wait)


def _run_clients(
    base_url: str, keys: list[str], clients: int, seconds: float, report: LoadReport
) -> None:
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=_worker, args=(base_url, keys[i % len(keys)], deadline, report, lock, i)
        )
        for i in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_load(
    base_url: str, keys: list[str], pid: int, seconds: float, clients: int = 16
) -> LoadReport:
    """Warm up (every client a few requests), then `seconds` of load from `clients` threads."""
    alone = LoadReport(1, 0.0)
    _run_clients(base_url, keys, 1, 5.0, alone)
    warmup = LoadReport(clients, 0.0)
    _run_clients(base_url, keys, clients, 5.0, warmup)
    sampler = _Sampler(pid)
    baseline = sampler.rss()
    sampler.start()
    report = LoadReport(clients, seconds)
    _run_clients(base_url, keys, clients, seconds, report)
    sampler.stop.set()
    sampler.join()
    end = sampler.rss()
    peak = max([end, *(rss for _, rss in sampler.samples)])
    report.errors += warmup.errors + alone.errors
    report.error_samples += warmup.error_samples + alone.error_samples
    report.unloaded_p50_ms = alone.percentile(50)
    report.rss_mib = {
        "after_warmup": round(baseline, 1),
        "end": round(end, 1),
        "peak": round(peak, 1),
        "growth": round(end - baseline, 1),
    }
    return report
