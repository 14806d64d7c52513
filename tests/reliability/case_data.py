"""The hostile-input cases: data files under `cases/`, each with its expected outcome.

Layout (see cases/README.md): `cases/ingest/manifest.json` + `cases/ingest/files/` for the
ingest job, `cases/http.jsonl` for the HTTP API, `cases/client.jsonl` for the Python client.
`$repeat(TEXT,N)` anywhere in a string (TEXT without commas or parentheses) stands for TEXT
repeated N times (and
`{"$repeat_list": ITEM, "n": N}` for N copies of ITEM), so long inputs stay short on disk; `generate` entries build large files at run time instead of committing them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CASES = Path(__file__).parent / "cases"
_REPEAT = re.compile(r"\$repeat\(([^,()]*),(\d+)\)")
#: what must never reach an HTTP client: stack traces and internals
LEAK_MARKERS = ("Traceback", 'File "', "site-packages", "pymilvus", "grpc", "MilvusException")


@dataclass
class CaseResult:
    area: str
    id: str
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def expand(value: Any) -> Any:
    """Replace every `$repeat(TEXT,N)` in strings, at any depth, by TEXT * N, and every
    `{"$repeat_list": ITEM, "n": N}` object by a list of N copies of ITEM."""
    if isinstance(value, str):
        return _REPEAT.sub(lambda m: m.group(1) * int(m.group(2)), value)
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"$repeat_list", "n"}:
            return [expand(value["$repeat_list"]) for _ in range(int(value["n"]))]
        return {k: expand(v) for k, v in value.items()}
    return value


def load_jsonl(name: str) -> list[dict[str, Any]]:
    lines = (CASES / name).read_text("utf-8").splitlines()
    return [json.loads(ln) for ln in lines if ln.strip() and not ln.startswith("//")]


def load_ingest() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((CASES / "ingest" / "manifest.json").read_text())
    return cases


def generate(spec: dict[str, Any], case_id: str, path: Path) -> None:
    """Write a large input at run time: `big_text` (bytes of prose) or `one_word` (chars)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec["kind"] == "big_text":
        unit = "The quick brown fox jumps over the lazy dog. 熊猫吃竹子。 "
        text = (unit * (spec["bytes"] // len(unit.encode()) + 1)).encode()[: spec["bytes"]]
        body = text.decode("utf-8", errors="ignore")
    elif spec["kind"] == "one_word":
        body = ("abcdefghij" * (spec["chars"] // 10 + 1))[: spec["chars"]]
    else:
        raise ValueError(f"unknown generator {spec['kind']!r}")
    path.write_text(json.dumps({"id": case_id, "text": body}) + "\n", "utf-8")


def leaks(text: str) -> list[str]:
    return [m for m in LEAK_MARKERS if m in text]
