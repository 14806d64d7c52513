"""Commands that need no model load none: no torch, no FlagEmbedding in the process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_first_minutes import cli_env, ingest_two

__all__ = ["cli_env"]

RUN = """
import sys
from hybrid_search.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "FlagEmbedding", "transformers"})
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
