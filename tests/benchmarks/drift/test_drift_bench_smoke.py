"""Smoke test of the drift benchmark: the quick mode of driftline's contender alone (no virtualenvs).

The streams are seeded, so detection results are deterministic; the assertions are loose bounds on values
(every repetition of a 1 σ shift detected quickly, no false alarm on the short null streams, state under
the target), not only "it ran". The section renders and splices into an existing report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.benchmarks.drift import run_drift, streams
from tests.benchmarks.drift.section import HEADING, delays, null_rate, render_section
from tests.benchmarks.report import splice_section

_EXISTING = """# Performance

## Summary

Kept as it is.

## Noise

Kept too.
"""


@pytest.fixture(scope="module")
def quick_run() -> tuple[run_drift.DriftRun, float]:
    started = time.monotonic()
    run = run_drift.measure(run_drift.Settings.make(quick=True, ours_only=True))
    return run, time.monotonic() - started


def test_quick_run_is_quick_and_has_every_result(quick_run: tuple[run_drift.DriftRun, float]) -> None:
    run, elapsed = quick_run
    assert elapsed < 30, f"quick mode of ours took {elapsed:.1f} s"
    assert run.ours is not None, run.ours_error
    assert run.peers == []
    plan = run.settings.plan
    results = run.ours["results"]
    assert {"ours", "ours_cusum", "ours_windows", "ours_categorical", "bernoulli_cusum"} <= set(results)
    for scenario in streams.ALL:
        reps = results["ours"][scenario.key]
        assert len(reps) == plan.reps_of(scenario)
        for rep in reps:
            assert len(rep) == scenario.signals
            for pre, post, first in rep:
                assert pre == 0  # nothing can alarm during the warm-up
                assert post >= 0
                assert first == -1 or first > streams.CHANGE
    for key in ("bernoulli_0.04", "bernoulli_0.06", "null_bernoulli"):
        assert key in results["ours_categorical"]
        assert key in results["bernoulli_cusum"]


def test_detections_and_false_alarms(quick_run: tuple[run_drift.DriftRun, float]) -> None:
    run, _ = quick_run
    assert run.ours is not None
    results = run.ours["results"]
    one_sigma = delays(results["ours"]["shift_1"])
    assert one_sigma.misses == 0
    assert max(one_sigma.delays) <= 200
    assert one_sigma.median <= 100
    assert delays(results["ours"]["shift_0.5"]).misses == 0
    assert max(delays(results["ours"]["new_cat_5"]).delays) <= 500
    # the window component alone needs two flagged windows: it lands exactly on the second window's end
    assert set(delays(results["ours_windows"]["shift_1"]).delays) == {2.0 * streams.WINDOW}
    # the change detector cannot see a shape change at equal mean and variance; the windows do (exponential)
    assert delays(results["ours_cusum"]["shape_exp"]).misses == len(results["ours_cusum"]["shape_exp"])
    assert delays(results["ours_windows"]["shape_exp"]).misses == 0
    family = delays(results["ours"]["family"])
    assert family.misses == 0
    assert family.median <= 400
    length = run.settings.plan.null_length
    for key in ("null_normal", "null_ar1", "null_categorical"):
        assert null_rate(results["ours"][key], length).alarms <= 1, key


def test_state_and_throughput(quick_run: tuple[run_drift.DriftRun, float]) -> None:
    run, _ = quick_run
    assert run.ours is not None
    state = run.ours["state_bytes"]["null_normal"][0]
    assert 0 < state["estimate"] <= 8 * 1024
    assert state["profiles"] > 0
    assert state["detector"] > 0
    assert state["json"] > 0
    for name in ("monitor", "monitor_chunks_1000", "cusum_bank", "monitor_drifting", "monitor_categorical"):
        assert run.ours["throughput"][name]["per_s"] > 0


def test_section_renders_and_splices(quick_run: tuple[run_drift.DriftRun, float], tmp_path: Path) -> None:
    run, _ = quick_run
    lines = render_section(run)
    assert lines[0] == HEADING
    text = "\n".join(lines)
    for scenario in streams.SCENARIOS:
        assert scenario.title in text
    assert "### Targets" in text
    assert "### Method" in text
    assert "| mean shift +1 σ (target ≤ 50) |" in text
    spliced = splice_section(_EXISTING, HEADING, lines)
    assert spliced.index("## Summary") < spliced.index(HEADING) < spliced.index("## Noise")
    assert "Kept as it is." in spliced
    assert "Kept too." in spliced
    again = splice_section(spliced, HEADING, lines)
    assert again == spliced
    out = tmp_path / "performance.md"
    out.write_text(_EXISTING)
    run_drift.write_section(run, out)
    assert out.read_text() == spliced
