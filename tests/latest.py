"""`make test-latest`: the newest releases pyproject.toml's ranges allow, in a venv of their own.

The lock is what users of `make install` get; `pip install hybrid-search[engine]` users get
whatever is newest inside the ranges. This builds that second set, prints every package that
differs from requirements.lock, runs the suite against it, and then probes each upper bound
pyproject.toml declares (`transformers<5.24`, ...): it installs the first release beyond the
bound and runs a model-loading smoke test, so a bound that is still needed shows as a named
failure and one that can go shows as a pass. Run it before `make lock` and on a schedule.

    python -m tests.latest --venv .venv-latest [extra uv pip flags, e.g. --find-links DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
LITE25_LOCK = REPO / "requirements-lite25.lock"
PYTEST_ARGS = ["-q", "-m", "not integration and not reliability", "-p", "no:cacheprovider"]

#: what "loads" means for a capped package: import FlagEmbedding and encode with a tiny BGE-M3
SMOKE = """
import tempfile
from hybrid_search.encoders.tiny import build_tiny_models
from hybrid_search.encoders.bge_m3 import BGEM3Encoder
models = build_tiny_models(tempfile.mkdtemp())
enc = BGEM3Encoder(str(models.embedding_model), device="cpu")
enc.load()
print("encoded", len(enc.encode_queries(["smoke test"])))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", type=Path, default=REPO / ".venv-latest")
    parser.add_argument("--skip-suite", action="store_true", help="only the diff and the probes")
    args, uv_flags = parser.parse_known_args()
    venv: Path = args.venv
    python = venv / "bin" / "python"
    uv = [str(Path(sys.executable).parent / "uv"), "pip"]

    _run([str(Path(sys.executable).parent / "uv"), "venv", "--quiet", "--clear", str(venv)])
    extras = ",".join(_extras())
    install = [*uv, "install", "--python", str(python), "--upgrade", *uv_flags]
    install += ["-c", str(REPO / "lock-constraints.txt"), "-e", f".[{extras}]"]
    _run(install)
    # the C++ Milvus Lite engine beside the venv, as `make install` unpacks it (pinned: its last
    # release; the suite runs both engines)
    engine = [*uv, "install", "--python", str(python), "--no-deps", "--require-hashes"]
    engine += ["--target", str(venv / "milvus-lite-2.5"), "-r", str(LITE25_LOCK)]
    _run(engine)

    latest = _freeze(uv, python)
    # this environment is installed from the latest set, not the lock: it carries that set as its
    # own lock, which `doctor` and the lock test then compare against
    own = "".join(f"{name}=={version}\n" for name, version in sorted(latest.items()))
    (venv / "requirements.lock").write_text(own)
    locked = _locked()
    differ = sorted(n for n in latest.keys() & locked.keys() if latest[n] != locked[n])
    print(f"\n== {len(differ)} packages newer than requirements.lock ==")
    for name in differ:
        print(f"  {name:32} lock {locked[name]:14} latest {latest[name]}")
    for name in sorted(latest.keys() - locked.keys() - {"hybrid-search"}):
        print(f"  {name:32} (not in the lock)   latest {latest[name]}")

    suite_rc = 0
    if not args.skip_suite:
        print("\n== the suite against the latest set ==", flush=True)
        suite_rc = subprocess.call([str(python), "-m", "pytest", *PYTEST_ARGS], cwd=REPO)
        print(f"suite: {'passed' if suite_rc == 0 else f'FAILED (pytest exit {suite_rc})'}")

    # last: the probes leave a package beyond its bound in this throwaway venv
    print("\n== upper bounds in pyproject.toml: still needed? ==")
    for req in _capped():
        beyond = _first_release_beyond(uv, python, req, uv_flags)
        if beyond is None:
            print(f"  {req}: no release beyond the bound yet")
            continue
        verdict = _probe(uv, python, req.name, beyond, uv_flags)
        print(f"  {req.name} {beyond} (beyond {req.specifier}): {verdict}")
    return suite_rc


def _extras() -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return sorted(project["optional-dependencies"])


def _capped() -> list[Requirement]:
    """Every dependency with an upper bound (`<` or `<=`) in any extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    found: dict[str, Requirement] = {}
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    for spec in specs:
        req = Requirement(spec)
        if any(s.operator in ("<", "<=") for s in req.specifier) and not req.name.startswith(
            "hybrid-search"
        ):
            found[req.name.lower()] = req
    return list(found.values())


def _first_release_beyond(
    uv: list[str], python: Path, req: Requirement, uv_flags: list[str]
) -> str | None:
    """The newest release outside the bound, resolved the way an unbounded install would."""
    bounds = SpecifierSet(",".join(str(s) for s in req.specifier if s.operator in ("<", "<=")))
    out = subprocess.run(
        [*uv, "compile", "--quiet", "--no-header", "--python", str(python), *uv_flags, "-"],
        input=f"{req.name}\n",
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(rf"^{re.escape(req.name.lower())}==(\S+)", out.lower(), re.MULTILINE)
    if not match or Version(match.group(1)) in bounds:
        return None
    return match.group(1)


def _probe(uv: list[str], python: Path, name: str, version: str, uv_flags: list[str]) -> str:
    _run([*uv, "install", "--python", str(python), "--quiet", *uv_flags, f"{name}=={version}"])
    done = subprocess.run(
        [str(python), "-c", SMOKE], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode == 0:
        return "PASSES the smoke test: the bound may be lifted (run the suite with it first)"
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return f"FAILS, the bound is still needed: {last}"


def _freeze(uv: list[str], python: Path) -> dict[str, str]:
    out = subprocess.run(
        [*uv, "freeze", "--python", str(python)], capture_output=True, text=True, check=True
    ).stdout
    return _pins(out)


def _locked() -> dict[str, str]:
    return _pins(LOCK.read_text())


def _pins(text: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", text, re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


if __name__ == "__main__":
    sys.exit(main())
