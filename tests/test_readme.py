"""The README's first steps, as a stranger runs them: `make demo`'s command in a fresh directory,
then exactly the shell and Python blocks between the README's `after-demo` markers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"```(bash|python)\n(.*?)```", re.S)


def after_demo_blocks() -> list[tuple[str, str]]:
    text = README.read_text("utf-8")
    section = text.split("<!-- after-demo:start -->")[1].split("<!-- after-demo:end -->")[0]
    return BLOCK.findall(section)


def make_demo_command() -> list[str]:
    """The demo target's command, read from the Makefile so the test follows it."""
    makefile = (REPO / "Makefile").read_text("utf-8")
    recipe = re.search(r"^demo: .*\n\t(.+)$", makefile, re.M)
    assert recipe, "no demo target in the Makefile"
    words = recipe.group(1).replace("$(BIN)/", ".venv/bin/").replace("$(MODELS)", "models/tiny")
    return words.split()


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stranger")
    (d / ".venv").symlink_to(sys.prefix)  # the venv running the tests
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_SEARCH_")}
    command = make_demo_command()
    command[0] = str(d / command[0])  # .venv/bin/hybrid-search, in the demo's directory
    done = subprocess.run(command, cwd=d, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "wrote .env" in done.stderr
    return d


def test_the_readme_has_blocks_after_the_demo() -> None:
    kinds = [kind for kind, _ in after_demo_blocks()]
    assert "bash" in kinds and "python" in kinds


def test_readme_commands_after_the_demo_run_as_printed(demo_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYBRID_SEARCH_")}
    for kind, code in after_demo_blocks():
        if kind == "bash":
            for line in filter(None, (ln.split("  #")[0].strip() for ln in code.splitlines())):
                done = subprocess.run(
                    ["bash", "-c", line], cwd=demo_dir, env=env, capture_output=True, text=True
                )
                assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
                assert done.stdout.strip(), f"{line} printed nothing"
                if "stats --json" in line:
                    assert json.loads(done.stdout)["documents"] > 0
                if " search " in line and "--json" in line:
                    assert json.loads(done.stdout)["hits"], line
        else:
            done = subprocess.run(
                [str(demo_dir / ".venv" / "bin" / "python"), "-c", code],
                cwd=demo_dir,
                env=env,
                capture_output=True,
                text=True,
            )
            assert done.returncode == 0, f"{code}\n{done.stderr[-2000:]}"
            lines = done.stdout.strip().splitlines()
            assert len(lines) == 3, done.stdout
            # it shows the score it sorts by, and the hits come best first
            scores = [float(line.split("rerank ")[1].split()[0]) for line in lines]
            assert scores == sorted(scores, reverse=True), done.stdout
