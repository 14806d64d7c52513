"""`pytest -m reliability`: the reliability suite at its quick size (full size: make reliability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.run import _parse, run

pytestmark = [pytest.mark.reliability, pytest.mark.slow]


def test_quick_reliability_suite(tmp_path: Path) -> None:
    result, ok = run(_parse(["--quick", "--workdir", str(tmp_path)]))
    assert ok, result
    assert result["crash_resume"] == "pass" and result["data_intact"] is True
    assert result["bad_inputs"] >= 100 and result["bad_input_failures"] == 0
    assert result["tenant_attempts"] >= 50 and result["tenant_breaches"] == 0
    assert result["load"]["errors"] == 0


def test_a_short_soak_keeps_every_invariant(tmp_path: Path) -> None:
    from tests.reliability.soak import run as soak

    result = soak(60.0, root=tmp_path)
    assert result["violations"] == 0 and result["undocumented_statuses"] == 0, result
    assert result["errors_5xx_outside_restart"] == 0 and result["requests"] > 50, result
