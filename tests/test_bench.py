"""`python -m bench --quick`: every section runs end to end and writes its figures, so the
benchmark cannot rot. Timings are not asserted (tests never assert on wall-clock speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import SECTIONS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_quick_bench_runs_every_section(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench", "--quick", "--backends", "sqlite", "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results["sqlite"]) == set(SECTIONS)
    sqlite = results["sqlite"]
    assert sqlite["floor"]["chunks"] > 0
    assert sqlite["polled"]["create_and_poll"]["p50_ms"] > 0
    assert sqlite["streamed"]["first_delta"]["p50_ms"] > 0
    assert sqlite["tools"]["p50_ms"] > 0
    for level in sqlite["throughput"].values():
        assert level["completed"] > 0
        assert level["errors"] == 0
    load = sqlite["load"]
    assert (load["completed"], load["errors"]) == (load["streams"], 0)
    assert load["rss_peak_mib"] > 0
    assert "growth" in sqlite["growth"]
    for section in SECTIONS:
        assert section in done.stdout
