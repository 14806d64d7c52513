"""Crash and resume: SIGKILL the Milvus server, then the ingesting process, mid-write.

A clean ingest of the corpus is the reference. Then, each into its own collection on the same
`milvus-lite server` process:

- server-kill: the server is SIGKILLed once a quarter of the documents are committed and
  restarted 2 s later; the running job must ride it out (its summary counts the retries), and a
  re-run of the same ingest finds every document complete.
- server-down (full run only): the server is killed and stays down until the job gives up; the
  job must stop with a clean `store_unavailable` error, and a re-run after the restart resumes.
- ingest-kill: the `hybrid-search ingest` process itself is SIGKILLed mid-run; a re-run resumes.

After each, every document must be present exactly once, with chunk for chunk the clean run's
content hash, text and token-vector count, and no orphan ColBERT row. Finally the clean
collection must have survived the server kills unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from hybrid_search.store.milvus import MilvusStore
from schemas import collection as C
from tests.reliability import snapshot
from tests.reliability.corpus import write_corpus
from tests.reliability.procs import CliRun, MilvusServer, Workspace, base_env, log

TENANT = "crash"
#: chunking that gives the synthetic documents 1 to 4 chunks; window = commit unit of the job
SETTINGS = {"max_chunk_tokens": "128", "chunk_overlap_tokens": "16", "window_documents": "64"}
INGEST_TIMEOUT_S = 900.0


@dataclass
class CrashReport:
    passed: bool = True
    problems: list[str] = field(default_factory=list)
    phases: dict[str, Any] = field(default_factory=dict)

    def check(self, ok: bool, problem: str) -> None:
        if not ok:
            self.passed = False
            self.problems.append(problem)
            log(f"crash/resume FAIL: {problem}")


class _Crash:
    def __init__(self, ws: Workspace, report: CrashReport) -> None:
        self.ws, self.report = ws, report
        self.dir = ws.dir("crash")
        self.n_docs = 200 if ws.quick else 2000
        self.corpus = self.dir / "corpus.jsonl"
        self.ids = write_corpus(self.corpus, self.n_docs)
        self.server = MilvusServer(self.dir / "milvus", self.dir / "milvus.log")
        self.runs = 0

    # -- processes ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return base_env(self.ws.models, self.server.uri, **SETTINGS)

    def start_ingest(self, collection: str) -> CliRun:
        self.runs += 1
        args = ["ingest", str(self.corpus), "--collection", collection, "--tenant", TENANT]
        return CliRun.start([*args, "--json"], self.env(), self.dir, f"ingest-{self.runs}")

    def ingest(self, collection: str) -> tuple[int, dict[str, Any]]:
        run = self.start_ingest(collection)
        rc = run.wait(INGEST_TIMEOUT_S)
        return rc, run.result()

    def committed(self, collection: str) -> int:
        """Documents whose first chunk is stored (a cheap count through a short-lived client)."""
        store = MilvusStore(self.server.uri, timeout_s=10)
        try:
            if not store.has_collection(collection):
                return 0
            return store.count(collection, f"{C.CHUNK_INDEX_FIELD} == 0")
        finally:
            store.close()

    def wait_committed(self, run: CliRun, collection: str, fraction: float) -> int | None:
        """Block until `fraction` of the corpus is committed and return the count seen; None if
        the run ended first (then no kill can land mid-run)."""
        target = int(self.n_docs * fraction)
        while run.proc.poll() is None:
            with contextlib.suppress(Exception):
                if (seen := self.committed(collection)) >= target:
                    return seen
            time.sleep(0.5)
        return None

    def snap(self, collection: str) -> snapshot.Snapshot:
        store = MilvusStore(self.server.uri)
        try:
            return snapshot.take(store, collection, TENANT)
        finally:
            store.close()

    def verify(self, name: str, collection: str, clean: snapshot.Snapshot) -> None:
        snap = self.snap(collection)
        problems = snapshot.completeness_problems(snap, self.ids, TENANT)
        problems += snapshot.difference(snap, clean)
        for p in problems:
            self.report.check(False, f"{name}: {p}")
        self.report.phases[name]["chunks"] = len(snap.chunks)
        self.report.phases[name]["orphans"] = len(snap.orphans)

    def resume(self, name: str, collection: str) -> dict[str, Any]:
        rc, summary = self.ingest(collection)
        phase = self.report.phases[name]
        phase["resume"] = _brief(summary)
        self.report.check(
            rc == 0 and summary.get("failed") == 0, f"{name}: resume rc={rc} {summary}"
        )
        done = sum(summary.get(k, 0) for k in ("inserted", "replaced", "unchanged"))
        self.report.check(done == self.n_docs, f"{name}: resume accounted for {done} documents")
        return summary

    # -- phases ---------------------------------------------------------------------------

    def clean(self) -> snapshot.Snapshot:
        started = time.monotonic()
        rc, summary = self.ingest("clean")
        seconds = round(time.monotonic() - started, 1)
        self.report.phases["clean"] = {"seconds": seconds, "summary": _brief(summary)}
        ok = rc == 0 and summary.get("inserted") == self.n_docs and summary.get("failed") == 0
        self.report.check(ok, f"clean run rc={rc} {summary}")
        snap = self.snap("clean")
        for p in snapshot.completeness_problems(snap, self.ids, TENANT):
            self.report.check(False, f"clean: {p}")
        log(f"clean run: {self.n_docs} documents, {len(snap.chunks)} chunks in {seconds}s")
        return snap

    def server_kill(self, clean: snapshot.Snapshot) -> None:
        name, collection = "server_kill", "server_kill"
        run = self.start_ingest(collection)
        seen = self.wait_committed(run, collection, 0.25)
        self.report.check(seen is not None, f"{name}: the ingest ended before the kill")
        self.server.kill()
        time.sleep(2.0)
        self.server.start()
        rc = run.wait(INGEST_TIMEOUT_S)
        summary = run.result()
        self.report.phases[name] = {"killed_after_docs": seen, "run": _brief(summary)}
        self.report.check(rc == 0 and summary.get("failed") == 0, f"{name}: job rc={rc} {summary}")
        self.report.check(summary.get("retries", 0) > 0, f"{name}: the summary shows no retries")
        log(f"{name}: job survived a server SIGKILL with {summary.get('retries')} retries")
        self.resume(name, collection)
        self.verify(name, collection, clean)

    def server_down(self, clean: snapshot.Snapshot) -> None:
        name, collection = "server_down", "server_down"
        run = self.start_ingest(collection)
        seen = self.wait_committed(run, collection, 0.25)
        self.report.check(seen is not None, f"{name}: the ingest ended before the kill")
        self.server.kill()
        killed = time.monotonic()
        rc = run.wait(INGEST_TIMEOUT_S)
        gave_up_s = round(time.monotonic() - killed, 1)
        error = run.result().get("error", {})
        self.server.start()
        self.report.phases[name] = {
            "killed_after_docs": seen,
            "gave_up_after_s": gave_up_s,
            "error_code": error.get("code"),
        }
        self.report.check(
            rc != 0 and error.get("code") == "store_unavailable",
            f"{name}: with Milvus down the job ended rc={rc} error={error}",
        )
        log(f"{name}: job stopped cleanly {gave_up_s}s after the kill ({error.get('code')})")
        summary = self.resume(name, collection)
        self.report.check(summary.get("unchanged", 0) > 0, f"{name}: resume redid everything")
        self.verify(name, collection, clean)

    def ingest_kill(self, clean: snapshot.Snapshot) -> None:
        name, collection = "ingest_kill", "ingest_kill"
        run = self.start_ingest(collection)
        seen = self.wait_committed(run, collection, 0.3)
        self.report.check(seen is not None, f"{name}: the ingest ended before the kill")
        run.kill()
        self.report.phases[name] = {"killed_after_docs": seen}
        before = self.snap(collection)
        self.report.phases[name]["orphans_before_resume"] = len(before.orphans)
        summary = self.resume(name, collection)
        self.report.check(summary.get("unchanged", 0) > 0, f"{name}: resume redid everything")
        self.report.check(summary.get("inserted", 0) > 0, f"{name}: nothing left to resume")
        self.report.check(
            bool(before.orphans) == (summary.get("redone", 0) > 0),
            f"{name}: {len(before.orphans)} uncommitted token rows but redone = "
            f"{summary.get('redone')}",
        )
        log(f"{name}: resumed {summary.get('inserted')} documents after the SIGKILL")
        self.verify(name, collection, clean)


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("documents", "chunks", "inserted", "replaced", "unchanged", "failed", "retries")
    return {k: summary[k] for k in (*keys, "redone", "seconds", "error") if k in summary}


def run_crash(ws: Workspace) -> CrashReport:
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    report = CrashReport()
    crash = _Crash(ws, report)
    crash.server.start()
    try:
        clean = crash.clean()
        crash.server_kill(clean)
        if not ws.quick:
            crash.server_down(clean)
        crash.ingest_kill(clean)
        after = crash.snap("clean")
        report.check(
            after.digest() == clean.digest(),
            "the clean collection changed across the server kills",
        )
        report.phases["restarts"] = crash.server.starts - 1
    except Exception as exc:  # a broken harness is a failed check, never a silent pass
        report.check(False, f"crash harness error: {type(exc).__name__}: {exc}")
    finally:
        crash.server.stop()
    return report
