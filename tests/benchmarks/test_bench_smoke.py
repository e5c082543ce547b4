"""Smoke test of the benchmark pipeline: ``run --quick`` writes a report with driftline and floor rows.

No timing assertions: the numbers of a quick run on a shared machine mean nothing; this only proves
that ``make bench`` can measure and render.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _rows(text: str, name: str) -> list[list[str]]:
    """Cells of every table row whose first cell is ``name`` (bold or not)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].strip("*") == name:
            rows.append(cells)
    return rows


def _number(cell: str) -> float:
    return float(cell.strip("*").replace(",", ""))


def test_quick_run_writes_driftline_and_floor_rows(tmp_path: Path) -> None:
    """Both per-call tables have a driftline row and two floor rows with positive per-call times."""
    out = tmp_path / "performance.md"
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.run", "--quick", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=110, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert "### Per-call overhead, non-streamed (µs)" in text
    for name in ("driftline", "floor (span+metrics)", "floor (span only)"):
        rows = _rows(text, name)
        per_call = [r for r in rows if len(r) == 8]  # the two per-call overhead tables
        assert len(per_call) == 2, (name, rows)
        for row in per_call:
            uninstrumented, instrumented, overhead = (_number(c) for c in row[2:5])
            assert uninstrumented > 0
            assert instrumented > 0
            assert math.isfinite(overhead)  # its sign is noise in a quick run
