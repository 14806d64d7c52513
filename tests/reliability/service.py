"""The service sections: one `milvus-lite server` and one `hybrid-search serve` with three
tenant keys; seed data; then hostile input, tenant attacks and load; then prove the seed data
is exactly as it was (counts and content hashes of every chunk and its token vectors).

The service runs in `collection` tenancy by default (`--tenancy partition_key` for the other
mode): the deployment docs/operations.md recommends for tenants that must not share cost, which the
noisy-neighbour section measures. In `partition_key` mode on Milvus Lite every search pays for
every tenant's rows (the hostile tenant's 10 MB write made B's single search 436 ms instead
of ~50), so B's latency is not its own to begin with."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import httpx

from hybrid_search.factory import build_encoder, build_store, collection_spec
from hybrid_search.settings import Settings
from hybrid_search.store.milvus import MilvusStore
from hybrid_search.store.tenancy import tenant_collection
from ingest.pipeline import IngestOptions
from tests.reliability import snapshot
from tests.reliability.case_data import CaseResult
from tests.reliability.procs import (
    MilvusServer,
    ServeProcess,
    Workspace,
    api_keys_setting,
    base_env,
    log,
)
from tests.reliability.tenants import seed_documents

COLLECTION = "svc"
CHUNKING = {"max_chunk_tokens": "64", "chunk_overlap_tokens": "8"}
#: tenant -> API key; "hostile" takes the hostile input, A attacks B, B is the victim
#: the service's queue in this suite (default 16), below the load test's 16 clients
MAX_QUEUE = 8
#: seconds the service may take to serve again after Milvus comes back
RECOVERY_S = 60.0
KEYS = {
    "A": "reliability-key-tenant-a",
    "B": "reliability-key-tenant-b",
    "hostile": "reliability-key-h",
}
SEED_IDS_HOSTILE = [f"seed-{i}" for i in range(5)]
#: the noisy-neighbour phase: seconds of A's load, and what B and the service must stay within
NOISY_SECONDS = 60.0
NOISY_RATIO_BOUND = 3.0
ABANDONED_BOUND_S = 5.0


@dataclass
class Service:
    ws: Workspace
    milvus: MilvusServer
    serve: ServeProcess
    store: MilvusStore
    tenancy: str

    def physical(self, tenant: str) -> str:
        """The Milvus collection that holds `tenant`'s chunks."""
        if self.tenancy == "collection":
            return tenant_collection(COLLECTION, tenant)
        return COLLECTION

    def seed_snapshot(self) -> dict[str, str]:
        """Digests of the seed data: all of B (the victim), the seed documents of A and of the
        hostile tenant (which legitimately gain documents during the run)."""
        out = {}
        for tenant in KEYS:
            snap = snapshot.take(self.store, self.physical(tenant), tenant)
            if tenant != "B":
                seeds = (
                    {d["id"] for d in seed_documents(tenant)}
                    if tenant == "A"
                    else set(SEED_IDS_HOSTILE)
                )
                snap.chunks = {pk: c for pk, c in snap.chunks.items() if c.doc_id in seeds}
                snap.orphans = []
            out[tenant] = snap.digest()
            out[f"{tenant}_chunks"] = str(len(snap.chunks))
        return out

    def b_digest(self) -> str:
        return snapshot.take(self.store, self.physical("B"), "B").digest()


def _start(ws: Workspace, tenancy: str) -> Service:
    d = ws.dir("service")
    milvus = MilvusServer.started_in(d)
    env = base_env(
        ws.models,
        milvus.uri,
        collection=COLLECTION,
        tenancy=tenancy,
        service__api_keys=api_keys_setting(KEYS),
        # 2 workers + 8 waiting: 16 load clients saturate it, so shedding (503) is exercised
        service__max_queue=str(MAX_QUEUE),
        **CHUNKING,
    )
    serve = ServeProcess(env, d)
    serve.start()
    return Service(ws, milvus, serve, MilvusStore(milvus.uri), tenancy)


def _seed(svc: Service) -> None:
    with httpx.Client(base_url=svc.serve.url, timeout=300) as http:
        for tenant, key in KEYS.items():
            docs = (
                seed_documents(tenant)
                if tenant != "hostile"
                else [
                    {"id": i, "text": f"Seed document {i} of the hostile tenant, 熊猫 zebra."}
                    for i in SEED_IDS_HOSTILE
                ]
            )
            r = http.post("/v1/documents", json={"documents": docs}, headers={"X-API-Key": key})
            body = r.json()
            if r.status_code != 200 or body.get("failed") or body.get("inserted") != len(docs):
                raise RuntimeError(f"seeding {tenant} failed: {r.status_code} {r.text[:500]}")


def _hostile(svc: Service) -> list[CaseResult]:
    from tests.reliability.hostile_api import run_client_cases, run_http_cases
    from tests.reliability.hostile_ingest import run_ingest_cases

    settings = Settings(
        _env_file=None,
        milvus_uri=svc.milvus.uri,
        collection=COLLECTION,
        tenancy=svc.tenancy,
        embedding_model=str(svc.ws.models.embedding),
        device="cpu",
        max_chunk_tokens=int(CHUNKING["max_chunk_tokens"]),
        chunk_overlap_tokens=int(CHUNKING["chunk_overlap_tokens"]),
    )
    encoder = build_encoder(settings)
    store = build_store(settings)
    try:
        options = IngestOptions(
            tenant="hostile",
            max_chunk_tokens=settings.max_chunk_tokens,
            chunk_overlap_tokens=settings.chunk_overlap_tokens,
        )
        spec = collection_spec(settings, encoder, COLLECTION)
        results = run_ingest_cases(store, encoder, spec, options, svc.ws.root)
    finally:
        store.close()
    log(f"hostile ingest: {sum(not r.ok for r in results)} failures of {len(results)}")
    keys: dict[str, str | None] = {"H": KEYS["hostile"], "none": None, "bad": "not-a-key"}
    results += run_http_cases(svc.serve.url, keys)
    results += run_client_cases(svc.serve.url, KEYS["hostile"])
    return results


def _milvus_restart(svc: Service) -> dict[str, Any]:
    """SIGKILL Milvus under the live service: while it is down, searches must answer 503 with
    Retry-After (never 500, never empty hits presented as an answer); after the restart the
    service must be ready and find documents again by itself, within RECOVERY_S."""
    out: dict[str, Any] = {"passed": False}
    headers = {"X-API-Key": KEYS["A"]}
    body = {"query": "zebra migration notes", "top_k": 3}
    with httpx.Client(base_url=svc.serve.url, timeout=120) as http:
        svc.milvus.kill()
        down = http.post("/v1/search", json=body, headers=headers)
        out["while_down"] = {
            "status": down.status_code,
            "retry_after": down.headers.get("retry-after"),
        }
        out["ready_while_down"] = http.get("/readyz").status_code
        svc.milvus.start()
        restarted = time.monotonic()
        while time.monotonic() - restarted < RECOVERY_S:
            r = http.post("/v1/search", json=body, headers=headers)
            hits = r.json().get("hits") if r.status_code == 200 else None
            if hits and http.get("/readyz").status_code == 200:
                out["recovered_after_s"] = round(time.monotonic() - restarted, 1)
                break
            out["last"] = {"status": r.status_code, "body": r.text[:300]}
            time.sleep(1.0)
    svc.store.close()
    svc.store = MilvusStore(svc.milvus.uri)  # this process's client must load them again too
    shed = out["while_down"]["status"] == 503 and out["while_down"]["retry_after"] is not None
    out["passed"] = shed and out["ready_while_down"] == 503 and "recovered_after_s" in out
    return out


def run_service_sections(
    ws: Workspace, only: set[str], load_seconds: float | None, tenancy: str = "collection"
) -> tuple[dict[str, Any], bool]:
    """Run hostile / tenants / load / noisy as selected; returns the JSON fields and whether all
    passed."""
    result: dict[str, Any] = {}
    ok = True
    report: dict[str, Any] = {}
    svc = _start(ws, tenancy)
    before_restart: int | None = None
    try:
        _seed(svc)
        before = svc.seed_snapshot()
        if "hostile" in only:
            cases = _hostile(svc)
            failures = [r for r in cases if not r.ok]
            result["bad_inputs"] = len(cases)
            result["bad_input_failures"] = len(failures)
            report["hostile_failures"] = {f"{r.area}/{r.id}": r.problems for r in failures}
            report["hostile_slowest"] = sorted(((r.seconds, r.id) for r in cases), reverse=True)[:5]
            ok &= not failures
            for r in failures:
                log(f"bad input FAIL {r.area}/{r.id}: {'; '.join(r.problems)[:400]}")
            log(f"hostile input: {len(cases)} cases, {len(failures)} failures")
        if "tenants" in only:
            from tests.reliability.tenants import run_tenants

            t = run_tenants(svc.serve.url, KEYS["A"], KEYS["B"], svc.b_digest)
            result["tenant_attempts"] = t.attempts
            result["tenant_breaches"] = len(t.breaches)
            report["tenant_breaches"], report["tenant_unexpected"] = t.breaches, t.unexpected
            ok &= not t.breaches and not t.unexpected
            for line in [*t.breaches, *t.unexpected]:
                log(f"tenant FAIL {line}")
            log(
                f"tenants: {t.attempts} attempts, {len(t.breaches)} breaches, {len(t.unexpected)} unexpected"
            )
        if "load" in only:
            from tests.reliability.load import RSS_GROWTH_BOUND_MIB, run_load

            seconds = load_seconds or (10.0 if ws.quick else 60.0)
            keys = [KEYS["A"], KEYS["B"]]
            load = run_load(svc.serve.url, keys, svc.serve.pid, seconds)
            result["load"] = load.summary()
            report["load"] = load.details()
            growth_ok = load.rss_mib["growth"] <= RSS_GROWTH_BOUND_MIB
            ok &= load.errors == 0 and load.ok > 0 and growth_ok
            log(f"load: {json.dumps(load.details())}")
        if "noisy" in only:
            from tests.reliability.noisy import run_noisy

            noisy = run_noisy(
                svc.serve.url, KEYS["A"], KEYS["B"], 20.0 if ws.quick else NOISY_SECONDS
            )
            result["noisy_neighbour"] = noisy.summary()
            result["abandoned_work_s"] = noisy.abandoned_work_s
            report["noisy_neighbour"] = noisy.details()
            ratio = noisy.summary()["ratio"]
            ok &= ratio is not None and ratio <= NOISY_RATIO_BOUND and noisy.b_errors == 0
            ok &= (noisy.abandoned_work_s or 0.0) <= ABANDONED_BOUND_S
            log(f"noisy neighbour: {json.dumps(noisy.details())[:600]}")
        # the restart below makes pymilvus log tracebacks in serve's log by design; the
        # sections before it must not have caused any
        before_restart = svc.serve.log_path.stat().st_size
        restart = _milvus_restart(svc)
        report["milvus_restart"] = restart
        result["service_survives_milvus_restart"] = restart["passed"]
        ok &= restart["passed"]
        log(f"milvus restart under serve: {json.dumps(restart)[:600]}")
        after = svc.seed_snapshot()
        result["data_intact"] = after == before
        report["seed_snapshot"] = {"before": before, "after": after}
        ok &= after == before
        alive = svc.serve.proc is not None and svc.serve.proc.poll() is None
        ok &= alive
        report["serve_alive"] = alive
    finally:
        code = svc.serve.stop()
        svc.store.close()
        svc.milvus.stop()
    log_bytes = svc.serve.log_path.read_bytes()[:before_restart]
    report["serve_exit"] = code
    report["serve_tracebacks"] = log_bytes.count(b"Traceback")
    ok &= report["serve_tracebacks"] == 0
    if report["serve_tracebacks"]:
        log(f"serve logged {report['serve_tracebacks']} tracebacks; see {svc.serve.log_path}")
    (ws.root / "service-report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    return result, ok
