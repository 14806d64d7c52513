"""The install is the lock: every package requirements.lock pins is installed at that version,
and pyproject.toml's ranges admit every locked version (so `make lock` reproduces the lock)."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from hybrid_search.cli.doctor_cmd import locked_versions

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", re.M)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, str]:
    return {norm(n): v for n, v in PIN.findall(LOCK.read_text("utf-8"))}


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    installed = {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {
        name: (version, installed.get(name))
        for name, version in locked_versions().items()
        if installed.get(name) != version
    }
    assert not wrong, f"installed != lock (run `make install`): {wrong}"


def test_every_locked_package_has_hashes() -> None:
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text("utf-8").split("\n", 2)[2])
    unhashed = [e.split()[0] for e in entries if PIN.match(e) and "--hash=sha256:" not in e]
    assert not unhashed


def test_the_ranges_admit_the_locked_versions() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    pins = locked()
    outside = []
    for spec in specs:
        req = Requirement(spec)
        version = pins.get(norm(req.name))
        if req.name != "hybrid-search" and (version is None or version not in req.specifier):
            outside.append(f"{req} (lock: {version})")
    assert not outside, f"pyproject.toml and the lock disagree; run `make lock`: {outside}"
