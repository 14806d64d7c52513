"""What a new user meets first: `doctor`, a locked Milvus Lite file, deleting ids that are not
stored, and the `.env` the demo leaves behind. Real tiny models, a real Milvus Lite in tmp_path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hybrid_search.cli import app
from hybrid_search.cli.demo_cmd import ENV_HEADER, demo_env
from hybrid_search.cli.doctor_cmd import check_packages


@pytest.fixture
def cli_env(tmp_path: Path, tiny_models, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    uri = tmp_path / "first.db"
    monkeypatch.chdir(tmp_path)  # no .env of the repository's
    monkeypatch.setenv("HYBRID_SEARCH_MILVUS_URI", str(uri))
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(tiny_models.embedding_model))
    monkeypatch.setenv("HYBRID_SEARCH_RERANKER_MODEL", str(tiny_models.reranker_model))
    monkeypatch.setenv("HYBRID_SEARCH_DEVICE", "cpu")
    monkeypatch.setenv("HYBRID_SEARCH_COLLECTION", "first")
    return uri


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def last_json(output: str) -> dict[str, Any]:
    return json.loads([line for line in output.splitlines() if line.startswith("{")][-1])  # type: ignore[no-any-return]


def ingest_two(tmp_path: Path) -> None:
    src = tmp_path / "docs.jsonl"
    docs = [{"id": "a", "text": "Milvus stores vectors."}, {"id": "b", "text": "BM25 ranks."}]
    src.write_text("".join(json.dumps(d) + "\n" for d in docs), "utf-8")
    result = invoke("ingest", str(src), "--json")
    assert result.exit_code == 0, result.output


def test_doctor_reports_packages_models_milvus_and_disk(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    result = invoke("doctor", "--json")
    assert result.exit_code == 0, result.output
    report = last_json(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["ok"] is True
    assert "M3Embedder" in checks["embedding model"]["detail"]  # BGEM3FlagModel's class
    assert "Reranker" in checks["reranker"]["detail"]
    assert "Milvus Lite" in checks["milvus"]["detail"]
    assert "collection 'first' present" in checks["milvus"]["detail"]
    assert "GiB free" in checks["disk"]["detail"]
    assert checks["package FlagEmbedding"]["ok"]


def test_doctor_names_a_package_that_differs_from_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text("pymilvus==0.0.1 \\\n    --hash=sha256:00\n", "utf-8")
    checks = {c.name: c for c in check_packages(lock)}
    assert not checks["package pymilvus"].ok
    assert "the lock says 0.0.1" in checks["package pymilvus"].detail
    assert "make install" in checks["package pymilvus"].detail


def test_doctor_fails_on_bad_models_without_stopping(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(cli_env.parent / "nowhere"))
    result = invoke("doctor", "--json")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in last_json(result.stdout)["checks"]}
    assert not checks["embedding model"]["ok"]
    assert "not found" in checks["embedding model"]["detail"]
    assert checks["milvus"]["ok"] and checks["disk"]["ok"]  # the other checks still ran


def test_delete_of_missing_ids_names_them_and_exits_non_zero(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    result = invoke("delete", "a", "ghost", "--json")
    assert result.exit_code == 3
    body = last_json(result.stdout)["error"]
    assert body["code"] == "not_found"
    assert "'ghost'" in body["message"] and "--missing-ok" in body["message"]
    assert body["details"] == {"deleted": 1, "requested": 2, "missing": ["ghost"]}
    assert "hybrid-search: error: 1 of 2 documents not found" in result.stderr

    allowed = invoke("delete", "b", "ghost", "--missing-ok", "--json")
    assert allowed.exit_code == 0, allowed.output
    assert last_json(allowed.stdout) == {"deleted": 1, "requested": 2, "missing": ["ghost"]}
    stats = last_json(invoke("stats", "--json").stdout)
    assert stats["documents"] == 0


def test_a_locked_lite_file_gives_one_line_naming_the_process(cli_env: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pymilvus import MilvusClient\n"
            f"MilvusClient({str(cli_env)!r})\nprint('held', flush=True)\ntime.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "hybrid-search"), "stats"],
            capture_output=True,
            text=True,
            cwd=cli_env.parent,
            check=False,
        )
        assert done.returncode != 0
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr  # no milvus_lite traceback before it
        assert f"in use by process {holder.pid}" in lines[0]
        assert "milvus-lite server" in lines[0] and "HYBRID_SEARCH_MILVUS_URI" in lines[0]
        assert time.monotonic() - started < 60  # no retrying a lock that will not go away
    finally:
        holder.kill()
        holder.wait()


def test_demo_env_is_written_once_and_never_over_a_users_file(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    values = {"milvus_uri": "./data/demo.db", "collection": "demo_tiny"}
    said = demo_env(values, env)
    assert "wrote" in said
    text = env.read_text("utf-8")
    assert text.startswith(ENV_HEADER)
    assert "HYBRID_SEARCH_MILVUS_URI=./data/demo.db\nHYBRID_SEARCH_COLLECTION=demo_tiny\n" in text
    assert "wrote" in demo_env({**values, "collection": "demo"}, env)  # its own file: rewritten
    assert "HYBRID_SEARCH_COLLECTION=demo\n" in env.read_text("utf-8")

    env.write_text("HYBRID_SEARCH_COLLECTION=mine\n", "utf-8")
    said = demo_env(values, env)
    assert env.read_text("utf-8") == "HYBRID_SEARCH_COLLECTION=mine\n"
    assert "left alone" in said and "export HYBRID_SEARCH_COLLECTION=demo_tiny" in said


def test_delete_by_filter_removes_what_it_matches(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    where = '{"field": "doc_id", "op": "eq", "value": "a"}'
    result = invoke("delete", "--filter", where, "--json")
    assert result.exit_code == 0, result.output
    assert last_json(result.stdout) == {"deleted": 1, "requested": 1, "missing": []}
    assert last_json(invoke("stats", "--json").stdout)["documents"] == 1
    assert invoke("delete", "a", "--filter", where).exit_code != 0  # one or the other
