"""Commands that need no model load none: no torch, no FlagEmbedding in the process (nor scipy,
which pymilvus would load for inputs never given it: connection.milvus_client)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_first_minutes import cli_env, ingest_two, invoke

__all__ = ["cli_env"]

RUN = """
import sys
from hybrid_search.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "FlagEmbedding", "transformers", "scipy"})
print("heavy:", heavy)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["search", "Milvus", "--routes", "bm25", "--no-rerank"],
        ["stats"],
        ["delete", "a", "--missing-ok"],
        ["ingest", "nothere.md"],
        ["doctor", "--skip-models"],
    ],
)
def test_commands_that_need_no_model_import_none(cli_env: Path, args: list[str]) -> None:
    ingest_two(cli_env.parent)
    out = subprocess.run(
        [sys.executable, "-c", RUN, *args], capture_output=True, text=True, check=True
    )
    assert "heavy: []" in out.stdout, out.stdout + out.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HYBRID_SEARCH_SERVICE__API_KEYS", "{bad", "HYBRID_SEARCH_SERVICE__API_KEYS=<hidden>"),
        ("HYBRID_SEARCH_BATCH_SIZE", "abc", "HYBRID_SEARCH_BATCH_SIZE='abc'"),
        ("HYBRID_SEARCH_BM25_ANALYZER", "english", "'english' needs a Milvus server"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    for args in (["stats"], ["search", "x"]):
        out = subprocess.run(
            [sys.executable, "-c", "from hybrid_search.cli import app; app()", *args],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2
        assert out.stderr.count("\n") == 1 and expected in out.stderr, out.stderr


def test_search_on_a_missing_lite_file_leaves_no_folder(cli_env: Path) -> None:
    missing = cli_env.parent / "new" / "x.db"
    result = invoke("--milvus-uri", str(missing), "search", "x")
    assert result.exit_code == 1
    assert "no Milvus Lite file" in result.output and "HYBRID_SEARCH_MILVUS_URI" in result.output
    assert not missing.parent.exists()


def test_search_and_doctor_remind_that_tiny_models_are_random(cli_env: Path) -> None:
    ingest_two(cli_env.parent)
    for args in (
        ["search", "Milvus"],
        ["search", "Milvus", "--json"],
        ["doctor", "--skip-models", "--json"],
    ):
        result = invoke(*args)
        assert "tiny random models: rankings mean nothing" in result.output, args
        assert "HYBRID_SEARCH_EMBEDDING_MODEL" in result.output


def test_ingest_into_a_collection_of_another_model_fails_before_any_model_loads(
    cli_env: Path, tiny_models, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    (cli_env.parent / "docs.jsonl").write_text('{"id": "a", "text": "Milvus."}\n', "utf-8")
    command = [sys.executable, "-c", RUN, "ingest", "docs.jsonl"]
    subprocess.run(command, capture_output=True, check=True)  # written by the tiny model
    other = shutil.copytree(tiny_models.embedding_model, cli_env.parent / "other-m3")
    monkeypatch.setenv("HYBRID_SEARCH_EMBEDDING_MODEL", str(other))
    out = subprocess.run(command, capture_output=True, text=True)
    assert "written by model" in out.stderr and "other-m3" in out.stderr, out.stderr
    assert "hybrid-search drop first" in out.stderr
    assert "heavy: []" in out.stdout, out.stdout + out.stderr
