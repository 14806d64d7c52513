"""`hybrid-search migrate` from a Milvus Lite file to a `milvus-lite server` child process: a
collection with binary ColBERT storage, two tenants and saved defaults arrives whole (counts,
stored vectors, the same top 10 per route), a run SIGKILLed halfway and run again ends equal with
nothing duplicated, and a target that holds a different collection is refused."""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hybrid_search.benchmarks.env import tiny_settings
from hybrid_search.errors import SchemaMismatchError
from hybrid_search.factory import build_encoder, build_store, collection_spec
from hybrid_search.store import ops
from hybrid_search.store.migrate import migrate
from hybrid_search.store.types import Scope
from ingest.pipeline import IngestJob, IngestOptions
from ingest.readers import record_from_object
from schemas import collection as C
from tests.reliability.procs import CliRun, MilvusServer, Models, base_env

pytestmark = pytest.mark.slow  # a server child, two CLI runs and a child that ingests

TENANTS = ("acme", "globex")
WORDS = [
    "river",
    "glacier",
    "zebra",
    "savanna",
    "climate",
    "harbor",
    "orbit",
    "violin",
    "copper",
    "maple",
    "lantern",
    "desert",
    "falcon",
    "basalt",
    "meadow",
    "tundra",
    "canyon",
    "pepper",
    "quartz",
    "sailor",
    "timber",
    "walnut",
    "cobalt",
    "ember",
]
DEFAULTS = {"rrf_k": 30, "routes": ["dense", "bm25"]}


def docs(tenant: str) -> list[dict[str, Any]]:
    """Documents of distinct random words, so every route ranks them apart."""
    rng = random.Random(tenant)
    return [
        {"id": f"d{i}", "title": f"{tenant} {i}", "text": " ".join(rng.sample(WORDS, 8)) + "."}
        for i in range(24)
    ]


def build_source(d: Path, models: Any) -> None:
    """The source collection, written by a child process: Milvus Lite lets one process hold a
    file for its lifetime, and the migrate CLI under test must open it after this."""
    s = tiny_settings(d, models, collection="kb", colbert_storage="binary")
    encoder = build_encoder(s)
    store = build_store(s)
    spec = collection_spec(s, encoder)
    for tenant in TENANTS:
        opts = IngestOptions(max_chunk_tokens=48, chunk_overlap_tokens=8, tenant=tenant)
        records = [record_from_object(x, tenant, i) for i, x in enumerate(docs(tenant))]
        IngestJob(store, encoder, spec, opts).run(records)
    store.search_defaults("kb", save=DEFAULTS)
    store.sync(spec)
    store.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_models, encoder) -> Iterator[dict[str, Any]]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("migrate")
    child = multiprocessing.get_context("spawn").Process(target=build_source, args=(d, tiny_models))
    child.start()
    child.join(300)
    assert child.exitcode == 0
    s = tiny_settings(d, tiny_models, collection="kb", colbert_storage="binary")
    server = MilvusServer(d / "server", d / "server.log")
    server.start()
    models = Models(tiny_models.embedding_model, tiny_models.reranker_model)
    cli_env = base_env(models, s.milvus_uri, collection="kb", colbert_storage="binary")
    spec = collection_spec(s, encoder)
    yield {"settings": s, "server": server, "env": cli_env, "dir": d, "spec": spec}
    server.stop()


def run_cli(env: dict[str, Any], name: str, *args: str) -> CliRun:
    return CliRun.start(["migrate", "--to", env["server"].uri, *args], env["env"], env["dir"], name)


def test_killed_migration_reruns_to_an_equal_copy(env: dict[str, Any]) -> None:
    # a window of 2 chunks: the run is SIGKILLed once a third of the chunks are copied
    run = run_cli(env, "killed", "--window", "2")
    deadline = time.monotonic() + 120
    while True:
        lines = run.stderr.read_text().splitlines()
        copied = [int(x.split(": ")[1].split("/")[0]) for x in lines if "chunks copied" in x]
        if copied and copied[-1] >= 16:
            break
        assert run.proc.poll() is None, run.stderr.read_text()
        assert time.monotonic() < deadline, "the migration made no progress"
        time.sleep(0.05)
    run.proc.kill()
    run.proc.wait(30)
    s = env["settings"]
    # the target alone: this process must not hold the source file before the re-run
    target = build_store(s.model_copy(update={"milvus_uri": env["server"].uri}))
    total, partial = 48, ops.count_chunks(target, "kb", Scope(""))
    assert 16 <= partial < total
    target.close()

    again = run_cli(env, "rerun", "--window", "4", "--json")
    assert again.wait(180) == 0, again.stderr.read_text()
    report = json.loads(again.stdout.read_text().splitlines()[-1])
    assert report["ok"] and report["rows_equal"] and report["vectors_equal"]
    assert report["present"] == partial and report["copied"] == total - partial
    assert set(report["counts"]) == set(TENANTS)
    for counts in report["counts"].values():
        assert counts["chunks"] == [24, 24] and counts["documents"] == [24, 24]
        assert counts["token_rows"][0] == counts["token_rows"][1] > 0
    print("top-10 overlap per route:", report["overlap"])  # BM25's is reported, not required
    assert {r: report["overlap"][r] for r in ("dense", "sparse", "colbert")} == {
        "dense": 1.0,
        "sparse": 1.0,
        "colbert": 1.0,
    }
    assert 0.0 <= report["overlap"]["bm25"] <= 1.0

    source = build_store(s, create=False)
    target = build_store(s.model_copy(update={"milvus_uri": env["server"].uri}))
    try:
        spec = target.describe("kb")
        assert spec.colbert_storage == "binary" and spec.model == env["spec"].model
        assert target.search_defaults("kb") == DEFAULTS
        # nothing duplicated: every key once, as many rows as the source on both collections
        keys = [r[C.PK_FIELD] for r in target.query("kb", Scope(""), [C.PK_FIELD])]
        assert len(keys) == len(set(keys)) == total
        for tenant in TENANTS:
            a, b = ops.stats(source, "kb", tenant), ops.stats(target, "kb", tenant)
            assert (a.documents, a.chunks, a.colbert_rows) == (
                b.documents,
                b.chunks,
                b.colbert_rows,
            )
        # stored vectors equal for sampled keys
        sample = sorted(keys)[::7]
        src = source.get_rows("kb", sample, with_vectors=True)
        dst = target.get_rows("kb", sample, with_vectors=True)
        assert set(src) == set(dst) == set(sample)
        for pk, row in src.items():
            assert np.array_equal(row.dense, dst[pk].dense) and row.sparse == dst[pk].sparse
            assert row.search_text == dst[pk].search_text and row.token_count > 0
            counts = {pk: row.token_count}
            tokens = [
                x.read_token_vectors("kb", row.tenant, [pk], counts)[pk] for x in (source, target)
            ]
            assert np.array_equal(*tokens)

        # run again: nothing left to copy, still equal
        report2 = migrate(source, target, "kb")
        assert (report2.copied, report2.present, report2.ok) == (0, total, True)
    finally:
        source.close()
        target.close()


def test_a_different_target_collection_is_refused(env: dict[str, Any], tmp_path: Path) -> None:
    s = env["settings"]
    other = build_store(s.model_copy(update={"milvus_uri": str(tmp_path / "other.db")}))
    source = build_store(s, create=False)
    try:
        other.ensure_collection(replace(env["spec"], colbert_storage="float32", colbert_pool=1))
        with pytest.raises(SchemaMismatchError, match="refusing to overwrite") as exc:
            migrate(source, other, "kb")
        assert "ColBERT storage" in str(exc.value)
        assert ops.count_chunks(other, "kb", Scope("")) == 0
    finally:
        source.close()
        other.close()


def test_collection_tenancy_migrates_tenant_by_tenant(tmp_path: Path, tiny_models, encoder) -> None:  # type: ignore[no-untyped-def]
    """One Milvus collection per tenant on both sides: the same verbs, mapped per tenant."""
    s = tiny_settings(tmp_path, tiny_models, collection="kb", tenancy="collection")
    source = build_store(s)
    target = build_store(s.model_copy(update={"milvus_uri": str(tmp_path / "target.db")}))
    try:
        spec = collection_spec(s, encoder)
        for tenant in TENANTS:
            opts = IngestOptions(max_chunk_tokens=48, chunk_overlap_tokens=8, tenant=tenant)
            records = [record_from_object(x, tenant, i) for i, x in enumerate(docs(tenant)[:6])]
            IngestJob(source, encoder, spec, opts).run(records)
        report = migrate(source, target, "kb", window=4, samples=6)
        assert report.ok and report.copied == 12, report
        assert {t: c["chunks"] for t, c in report.counts.items()} == {t: [6, 6] for t in TENANTS}
        assert len(target.tenant_collections("kb")) == 2  # type: ignore[attr-defined]
    finally:
        source.close()
        target.close()


def test_a_collection_moves_to_the_other_lite_engines_file(
    env: dict[str, Any], tmp_path: Path
) -> None:
    """The two Milvus Lite engines' files are not interchangeable: migrate copies between them
    without re-encoding, and the copy answers dense, sparse and ColBERT searches alike."""
    from hybrid_search.store.lite_engines import engine_of

    s = env["settings"]
    source_engine = engine_of(Path(s.milvus_uri))
    other = "3" if source_engine == "2.5" else "2.5"
    to = tmp_path / "other.db"
    source = build_store(s, create=False)
    target = build_store(s.model_copy(update={"milvus_uri": str(to), "lite_engine": other}))
    try:
        report = migrate(source, target, "kb", window=16, samples=10)
        assert report.ok and report.rows_equal and report.vectors_equal, report
        assert {t: c["chunks"] for t, c in report.counts.items()} == {t: [24, 24] for t in TENANTS}
        assert {r: report.overlap[r] for r in ("dense", "sparse", "colbert")} == {
            "dense": 1.0,
            "sparse": 1.0,
            "colbert": 1.0,
        }
        assert target.search_defaults("kb") == DEFAULTS
    finally:
        source.close()
        target.close()
    assert engine_of(to) == other
