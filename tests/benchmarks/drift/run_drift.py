"""Runs the drift benchmark: draws the streams, runs ours in this process and each peer in its virtualenv.

``python -m tests.benchmarks.drift.run_drift [--quick] [--ours-only] [--out docs/performance.md]`` measures
and splices the "Drift detection" section into the report (``python -m tests.benchmarks.run --drift`` does
the same). ``--quick``: 3 repetitions per scenario, 2 of the 50-signal family, one null stream of 100,000
values per kind and short throughput arrays — a CI smoke run, well under a minute.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..venvs import REPO
from . import streams
from .peers import envs
from .streams import Plan

DEFAULT_OUT = REPO / "docs" / "performance.md"

FULL = Plan(reps=50, family_reps=30, null_reps=5, null_length=streams.NULL_LENGTH)
QUICK = Plan(reps=3, family_reps=2, null_reps=1, null_length=100_000)


@dataclass
class Settings:
    """What to measure."""

    quick: bool = False
    ours_only: bool = False
    plan: Plan = field(default=FULL)
    throughput_length: int = 1_000_000
    throughput_repeats: int = 5
    report_checks: int = 4

    @classmethod
    def make(cls, quick: bool, ours_only: bool = False, reps: int | None = None) -> Settings:
        """The full or quick settings (``reps`` overrides the repetitions per drift scenario)."""
        plan = QUICK if quick else FULL
        if reps is not None:
            plan = Plan(reps=reps, family_reps=min(plan.family_reps, reps), null_reps=plan.null_reps,
                        null_length=plan.null_length)
        if quick:
            return cls(quick=True, ours_only=ours_only, plan=plan, throughput_length=200_000, throughput_repeats=1,
                       report_checks=1)
        return cls(quick=False, ours_only=ours_only, plan=plan)


@dataclass
class DriftRun:
    """Everything the section needs."""

    settings: Settings
    ours: dict[str, Any] | None
    ours_error: str | None
    peers: list[envs.PeerRun]
    elapsed_s: float
    ours_s: float
    started: str
    load_before: float | None
    load_after: float | None
    machine: dict[str, str]
    log: list[str]


def loadavg() -> float | None:
    """The 1-minute load average, if readable."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def machine_info() -> dict[str, str]:
    """CPU count and model, kernel, Python."""
    model = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": str(os.cpu_count() or "?"), "cpu_model": model, "kernel": platform.release(),
            "python": platform.python_version(), "implementation": platform.python_implementation()}


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(settings: Settings, log: list[str] | None = None) -> DriftRun:
    """Draw the streams, run every contender one after the other (never two at once on the 2 cores)."""
    from . import ours

    log = [] if log is None else log
    started_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    started = time.monotonic()
    before = loadavg()
    peers: list[envs.PeerRun] = []
    ours_result: dict[str, Any] | None = None
    ours_error: str | None = None
    with tempfile.TemporaryDirectory(prefix="driftline-drift-") as tmp:
        directory = Path(tmp)
        manifest = streams.write_streams(directory, settings.plan)
        _progress(f"drift: streams drawn ({time.monotonic() - started:.0f} s)")
        ours_started = time.monotonic()
        try:
            ours_result = ours.run(directory, manifest, settings.throughput_length, settings.throughput_repeats,
                                   _progress)
        except Exception as exc:  # reported in the section instead of failing the run
            ours_error = f"{type(exc).__name__}: {exc}"
            _progress(f"drift: ours failed: {ours_error}")
        ours_s = time.monotonic() - ours_started
        if not settings.ours_only:
            for peer in envs.PEERS:
                result = envs.run(peer, directory, log, settings.report_checks)
                _progress(f"drift: {peer.key}: {'ok' if result.data else result.error} ({result.elapsed_s:.0f} s)")
                peers.append(result)
    return DriftRun(settings, ours_result, ours_error, peers, time.monotonic() - started, ours_s, started_at,
                    before, loadavg(), machine_info(), log)


def write_section(run: DriftRun, out: Path) -> None:
    """Splice the run's section into ``out`` (created if missing), keeping the rest of the report."""
    from ..report import splice_section
    from .section import HEADING, render_section

    text = out.read_text() if out.exists() else "# Performance\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(splice_section(text, HEADING, render_section(run)))


def main(argv: list[str] | None = None) -> int:
    """Measure and write the section (exit 1 if ours could not be measured)."""
    parser = argparse.ArgumentParser(description="Drift-detection benchmark → the 'Drift detection' section")
    parser.add_argument("--quick", action="store_true", help="few repetitions, short null streams")
    parser.add_argument("--ours-only", action="store_true", help="no peers (no virtualenvs)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per drift scenario")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    run = measure(Settings.make(args.quick, args.ours_only, args.reps))
    for line in run.log:
        print(line, file=sys.stderr)
    write_section(run, args.out)
    print(f"wrote the drift section of {args.out} in {run.elapsed_s:.0f} s", file=sys.stderr)
    return 0 if run.ours is not None else 1


if __name__ == "__main__":
    sys.exit(main())
