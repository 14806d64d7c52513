"""A CLI search that loads real-size weights says so once on a terminal, and points at serve."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_first_minutes import cli_env, invoke

__all__ = ["cli_env"]


@pytest.fixture
def big_reranker(cli_env: Path, tiny_models, monkeypatch: pytest.MonkeyPatch) -> Path:  # type: ignore[no-untyped-def]
    """The tiny reranker beside a sparse 1.1 GB file: a directory the size of real weights."""
    big = shutil.copytree(tiny_models.reranker_model, cli_env.parent / "reranker-big")
    (big / "padding.bin").touch()
    os.truncate(big / "padding.bin", 1_100_000_000)
    monkeypatch.setenv("HYBRID_SEARCH_RERANKER_MODEL", str(big))
    docs = cli_env.parent / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "Milvus stores vectors."}\n', "utf-8")
    subprocess.run([*hybrid_search_command(), "ingest", str(docs)], check=True)
    return big


def hybrid_search_command() -> list[str]:
    """The console script a user runs (this interpreter's own, when it has one)."""
    script = Path(sys.executable).with_name("hybrid-search")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from hybrid_search.cli import app; app()"]


def test_a_search_loading_big_weights_says_so_on_a_terminal(big_reranker: Path) -> None:
    parent, terminal = pty.openpty()
    command = [*hybrid_search_command(), "search", "Milvus"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=terminal) as proc:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(parent, 4096)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            chunks.append(chunk)
        out, _ = proc.communicate(timeout=600)
    os.close(parent)
    stderr = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 0, stderr
    assert stderr.count("`hybrid-search serve`") == 1 and "Python API" in stderr, stderr
    assert "loading reranker (1.0 GB): done in" in stderr, stderr
    assert "Milvus" in out.decode()  # the answer itself still on stdout


def test_no_note_when_stderr_is_not_a_terminal(big_reranker: Path) -> None:
    result = invoke("search", "Milvus")
    assert result.exit_code == 0, result.output
    assert "hybrid-search serve" not in result.output and "loading reranker" not in result.output
