"""The remote client installs light: `pip install 'hybrid-search[client]'` brings no engine.

A RAG application that only calls the HTTP service needs httpx, pydantic and the wire models,
not torch, FlagEmbedding, transformers, pymilvus or milvus-lite (~2.3 GB). This builds that
install in a fresh venv (uv, versions constrained to requirements.lock) and imports the client.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENGINE = {"torch", "transformers", "flagembedding", "pymilvus", "milvus-lite", "tokenizers"}
ENGINE_MODULES = {"torch", "transformers", "FlagEmbedding", "pymilvus", "milvus_lite"}

IMPORTS = """
import sys
from hybrid_search.client import AsyncHybridSearchClient, HybridSearchClient
from schemas.api import SearchRequest, SearchResponse
from schemas.service import DocumentResponse
{extra}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {modules!r})
assert not heavy, f"the light install imported {{heavy}}"
print("ok")
"""


def _uv() -> str:
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        found = shutil.which("uv")
        if found is None:
            pytest.skip("uv is not installed (it is in the dev extra)")
        return found
    return str(uv)


def _install(venv: Path, extras: str) -> set[str]:
    uv = _uv()
    subprocess.run([uv, "venv", "--quiet", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    lock = str(REPO / "requirements.lock")
    subprocess.run(
        [uv, "pip", "install", "--quiet", "--python", python, f"{REPO}[{extras}]", "-c", lock],
        check=True,
    )
    listed = subprocess.run(
        [uv, "pip", "freeze", "--python", python], capture_output=True, text=True, check=True
    ).stdout
    # "name==1.0" for packages, "name @ file:///..." for the project itself
    return {re.split(r"==| @ ", line)[0].lower() for line in listed.splitlines() if line}


def _size_mb(venv: Path) -> float:
    site = next((venv / "lib").glob("python3*/site-packages"))
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6


@pytest.mark.parametrize(
    ("extras", "extra_import"),
    [
        ("client", ""),
        (
            "client,langchain",
            "from hybrid_search.integrations.langchain import HybridSearchRetriever",
        ),
    ],
)
def test_light_install_has_no_engine(tmp_path: Path, extras: str, extra_import: str) -> None:
    venv = tmp_path / "venv"
    installed = _install(venv, extras)
    assert not installed & ENGINE, f"[{extras}] installed {sorted(installed & ENGINE)}"
    assert {"httpx", "pydantic", "hybrid-search"} <= installed
    code = IMPORTS.format(extra=extra_import, modules=ENGINE_MODULES)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the repo: the import must come from the installed package
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    print(f"[{extras}]: {len(installed)} packages, {_size_mb(venv):.0f} MB in site-packages")
