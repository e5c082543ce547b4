"""Smoke test of the ML/tool overhead benchmark: ``run --ml`` with a few rounds renders its section.

No timing assertions: a few rounds on a shared machine measure nothing. This proves that the
worker runs, that its pre-timing check passes (driftline's span and the floor's carry the same
attributes), and that the section is rendered with numbers and spliced into an existing report
without disturbing the rest of it.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.ml.section import HEADING
from tests.benchmarks.report import splice_ml_section

REPO = Path(__file__).resolve().parents[3]

_EXISTING = """# Performance

## Summary

Kept as it is.

## Processor throughput

Also kept.

## Noise

Kept too.

## Method

And this.
"""

_CASES = ("LogisticRegression.predict_proba, 1 row", "LogisticRegression.predict_proba, 1,000 rows",
          "HistGradientBoostingClassifier.predict, 1 row", "HistGradientBoostingClassifier.predict, 1,000 rows",
          "Pipeline.predict, 1 row", "Pipeline.predict, 1,000 rows", "`@tool` on a trivial sync function")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _number(cell: str) -> float:
    """The first number in a cell such as ``**209** [170, 264]`` or ``1.66× [1.35, 3.71]``."""
    return float(cell.split()[0].strip("*×").replace(",", ""))


def test_ml_run_renders_its_section_with_numbers(tmp_path: Path) -> None:
    """Every case has a row with finite per-call numbers; the rest of the report is untouched."""
    out = tmp_path / "performance.md"
    out.write_text(_EXISTING)
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.run", "--ml", "--ml-rounds", "3", "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    lines = text.splitlines()
    assert lines.count(HEADING) == 1
    assert lines.index("## Processor throughput") < lines.index(HEADING) < lines.index("## Noise")
    for kept in ("Kept as it is.", "Also kept.", "Kept too.", "And this."):
        assert kept in text
    assert "Smoke run" in text
    section = lines[lines.index(HEADING):lines.index("## Noise")]
    header = next(i for i, line in enumerate(section) if line.startswith("| Case | Uninstrumented"))
    end = next(i for i in range(header, len(section)) if not section[i].startswith("|"))
    rows = {_cells(line)[0]: _cells(line) for line in section[header + 2:end]}
    assert set(_CASES) <= set(rows), rows.keys()
    for case in _CASES:
        uninstrumented, driftline, _p90, floor, ratio = (_cells_at(rows[case], i) for i in range(1, 6))
        assert uninstrumented > 0
        assert math.isfinite(driftline)  # the sign of a 3-round overhead is noise
        assert math.isfinite(floor)
        assert ratio == ratio or rows[case][5].startswith("n/a")  # NaN only when the floor's median is ≤ 0
    records = [line for line in section if line.startswith("| ") and line.endswith("| yes |")]
    assert len(records) == len(_CASES)


def _cells_at(row: list[str], i: int) -> float:
    try:
        return _number(row[i])
    except ValueError:
        return float("nan")


def test_splice_replaces_the_section_once() -> None:
    """Splicing twice leaves one section, in place, with the new content."""
    first = splice_ml_section(_EXISTING, [HEADING, "", "old", ""])
    second = splice_ml_section(first, [HEADING, "", "new", ""])
    assert second.count(HEADING) == 1
    assert "new" in second
    assert "old" not in second
    assert second.index("## Processor throughput") < second.index(HEADING) < second.index("## Noise")
    assert splice_ml_section("# Performance\n", [HEADING, "", "x"]).endswith(f"{HEADING}\n\nx\n")
