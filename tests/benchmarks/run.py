"""``python -m tests.benchmarks.run`` (``make bench``): measure, then write ``docs/performance.md``.

Full run: driftline's worker (driftline, the two floors, uninstrumented) in this interpreter's
environment, then each peer's worker in its own ``.bench/<peer>`` virtualenv (created on first use),
then the zero-code start-up measurement in ``.bench/auto``; one at a time, so no two measurements
share the VM's two cores. A peer that cannot be installed or does not record is reported as not
measured, with the reason, instead of failing the run.

``--quick``: driftline vs the floors only, a few rounds, no virtualenvs (a CI smoke test, < 20 s).
``--profile``: print where driftline's per-call time goes (see :mod:`.breakdown`), write nothing.
``--processor``: only the processor throughput benchmark (:mod:`.processor`, also part of the full run);
its section replaces the one in the existing report, the rest of which is kept.
``--ml``: only the scikit-learn prediction / ``@tool`` overhead benchmark (:mod:`.ml`, also part of the
full run); its section replaces the one in the existing report in the same way.
``--drift``: only the drift-detection benchmark (:mod:`.drift`: driftline's monitor against River's ADWIN and
Evidently, each peer in its own ``.bench/drift-<peer>`` virtualenv; also part of the full run); its section
replaces the one in the existing report in the same way. With ``--quick``: a few repetitions (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import startup
from .peers import PEERS, Peer, ensure
from .report import (
    BenchRun,
    WorkerResult,
    ml_section,
    processor_section,
    render,
    splice_ml_section,
    splice_processor_section,
    splice_section,
)
from .venvs import REPO, SetupError

if TYPE_CHECKING:
    from .drift.run_drift import DriftRun
    from .ml.run_ml import MLRun
    from .processor.run_processor import ProcessorRun

DEFAULT_OUT = REPO / "docs" / "performance.md"
_WORKER_TIMEOUT_S = 1800
_CONTENT_ENV = ("OTEL_", "DRIFTLINE_", "TRACELOOP_", "OPENINFERENCE_")


@dataclass
class Settings:
    """How much to measure."""

    rounds: int
    calls: int
    warmup: int
    startup_runs: int
    quick: bool
    processor_rounds: int = 5
    ml_rounds: int = 300


def _worker_env(content_off: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_CONTENT_ENV) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(content_off)
    return env


def _loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def run_worker(python: Path | str, who: list[str], content_off: dict[str, str], settings: Settings,
               label: str) -> WorkerResult:
    """Run one worker process and parse its JSON; failures become a result with ``error`` set."""
    cmd = [str(python), "-m", "tests.benchmarks.worker", *who, "--rounds", str(settings.rounds),
           "--calls", str(settings.calls), "--warmup", str(settings.warmup)]
    load_before = _loadavg()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_worker_env(content_off), capture_output=True, text=True,
                              timeout=_WORKER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return WorkerResult(label, None, f"worker timed out after {_WORKER_TIMEOUT_S} s", content_off)
    lines = proc.stdout.strip().splitlines()
    try:
        data: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        data = {}
    if proc.returncode != 0 or "error" in data or not data:
        reason = data.get("error") or " | ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit {proc.returncode}"
        return WorkerResult(label, None, reason, content_off)
    data["load_before"] = load_before
    data["load_after"] = _loadavg()
    return WorkerResult(label, data, None, content_off)


def _driftline_content_off() -> dict[str, str]:
    from driftline.semconv import names

    return {names.ENV_CAPTURE_MESSAGE_CONTENT: "NO_CONTENT"}


def _run_peer(peer: Peer, settings: Settings, log: list[str]) -> WorkerResult:
    try:
        versions = ensure(peer, log)
    except SetupError as exc:
        return WorkerResult(peer.key, None, f"could not be installed: {exc}", peer.content_off)
    result = run_worker(peer.venv.python, ["--peer", peer.target, "--name", peer.key], peer.content_off, settings,
                        peer.key)
    result.installed = versions
    return result


def measure(settings: Settings, log: list[str]) -> BenchRun:
    """Everything the report needs, measured one process at a time."""
    started = time.monotonic()
    driftline = run_worker(sys.executable, ["--driftline"], _driftline_content_off(), settings, "driftline")
    print(f"driftline worker: {'ok' if driftline.data else driftline.error}", file=sys.stderr, flush=True)
    peers: list[tuple[Peer, WorkerResult]] = []
    startup_result: startup.StartupResult | None = None
    startup_error: str | None = "not measured in --quick mode" if settings.quick else None
    if not settings.quick:
        for peer in PEERS:
            result = _run_peer(peer, settings, log)
            print(f"{peer.key} worker: {'ok' if result.data else result.error}", file=sys.stderr, flush=True)
            peers.append((peer, result))
        try:
            startup_result = startup.measure(settings.startup_runs, log)
        except (SetupError, subprocess.SubprocessError) as exc:
            startup_error = str(exc)
        print(f"start-up: {'ok' if startup_result else startup_error}", file=sys.stderr, flush=True)
    processor, processor_error = (None, None) if settings.quick else measure_processor(settings.processor_rounds, log)
    ml = None if settings.quick else measure_ml(settings.ml_rounds)
    return BenchRun(quick=settings.quick, rounds=settings.rounds, calls=settings.calls,
                    startup_runs=settings.startup_runs, driftline=driftline, peers=peers, startup=startup_result,
                    startup_error=startup_error, elapsed_s=time.monotonic() - started, log=log,
                    processor=processor, processor_error=processor_error, ml=ml)


def measure_ml(rounds: int, smoke: bool = False) -> MLRun:
    """The scikit-learn prediction / ``@tool`` overhead benchmark (one worker process)."""
    from .ml import run_ml

    settings = run_ml.Settings(rounds=rounds, smoke=smoke)
    if smoke:
        settings.calls, settings.warmup = 3, 3
    result = run_ml.measure(settings)
    print(f"ml worker: {'ok' if result.data else result.error} ({result.elapsed_s:.0f} s)", file=sys.stderr, flush=True)
    return result


def _ml_only(rounds: int, out: Path) -> int:
    """``--ml``: measure the ML/tool overhead and splice its section into ``out`` (created if missing)."""
    ml = measure_ml(rounds, smoke=rounds < 20)
    text = out.read_text() if out.exists() else "# Performance\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(splice_ml_section(text, ml_section(ml)))
    print(f"wrote the ML/tool section of {out}", file=sys.stderr)
    return 0 if ml.data is not None else 1


def measure_drift(quick: bool, log: list[str]) -> DriftRun:
    """The drift-detection benchmark (driftline in this process, each peer in its virtualenv)."""
    from .drift import run_drift

    result = run_drift.measure(run_drift.Settings.make(quick), log)
    print(f"drift: {'ok' if result.ours is not None else result.ours_error} ({result.elapsed_s:.0f} s)",
          file=sys.stderr, flush=True)
    return result


def drift_lines(result: DriftRun) -> tuple[str, list[str]]:
    """The drift section's heading and Markdown lines."""
    from .drift.section import HEADING, render_section

    return HEADING, render_section(result)


def _drift_only(quick: bool, out: Path) -> int:
    """``--drift``: measure drift detection and splice its section into ``out`` (created if missing)."""
    log: list[str] = []
    result = measure_drift(quick, log)
    for line in log:
        print(line, file=sys.stderr)
    heading, section = drift_lines(result)
    text = out.read_text() if out.exists() else "# Performance\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(splice_section(text, heading, section))
    print(f"wrote the drift section of {out}", file=sys.stderr)
    return 0 if result.ours is not None else 1


def measure_processor(rounds: int, log: list[str]) -> tuple[ProcessorRun | None, str | None]:
    """The processor throughput benchmark, or why it could not run."""
    from .processor import run_processor

    try:
        result = run_processor.measure(run_processor.Settings(rounds=rounds), log)
    except run_processor.ServiceUnavailable as exc:
        error = f"the processor does not run: {exc}"
        print(f"processor: {error}", file=sys.stderr, flush=True)
        return None, error
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"processor: failed: {exc}", file=sys.stderr, flush=True)
        return None, f"the benchmark failed: {exc}"
    print("processor: ok", file=sys.stderr, flush=True)
    return result, None


def _processor_only(rounds: int, out: Path) -> int:
    """``--processor``: measure the processor and splice its section into ``out`` (created if missing)."""
    log: list[str] = []
    processor, error = measure_processor(rounds, log)
    section = processor_section(processor, error)
    text = out.read_text() if out.exists() else "# Performance\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(splice_processor_section(text, section))
    print(f"wrote the processor section of {out}", file=sys.stderr)
    return 0 if processor is not None else 1


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, measure, write the report (exit 1 if driftline itself could not be measured)."""
    parser = argparse.ArgumentParser(description="Driftline benchmarks → docs/performance.md")
    parser.add_argument("--quick", action="store_true", help="driftline vs floor only, few rounds, no venvs")
    parser.add_argument("--out", type=Path, default=None, help=f"report path (default {DEFAULT_OUT})")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per worker")
    parser.add_argument("--calls", type=int, default=None, help="calls per contender, variant and round")
    parser.add_argument("--startup-runs", type=int, default=40, help="runs per start-up variant (>= 30)")
    parser.add_argument("--profile", action="store_true", help="print driftline's per-call breakdown and exit")
    parser.add_argument("--processor", action="store_true",
                        help="only the processor throughput benchmark; replaces its section of the report")
    parser.add_argument("--processor-rounds", type=int, default=5, help="rounds of the processor benchmark")
    parser.add_argument("--ml", action="store_true",
                        help="only the scikit-learn prediction / @tool overhead benchmark; replaces its section")
    parser.add_argument("--ml-rounds", type=int, default=300,
                        help="interleaved rounds of the ML/tool benchmark (< 20: a smoke run, so marked)")
    parser.add_argument("--drift", action="store_true",
                        help="only the drift-detection benchmark (with --quick: a smoke run); replaces its section")
    args = parser.parse_args(argv)
    if args.startup_runs < 30:
        parser.error("--startup-runs must be at least 30")
    if args.profile:
        from . import breakdown

        return breakdown.main([])
    if args.processor:
        return _processor_only(args.processor_rounds, args.out or DEFAULT_OUT)
    if args.ml:
        return _ml_only(args.ml_rounds, args.out or DEFAULT_OUT)
    if args.drift:
        return _drift_only(args.quick, args.out or DEFAULT_OUT)
    settings = Settings(
        rounds=args.rounds or (20 if args.quick else 300),
        calls=args.calls or (5 if args.quick else 10),
        warmup=10 if args.quick else 100,
        startup_runs=args.startup_runs,
        quick=args.quick,
        processor_rounds=args.processor_rounds,
        ml_rounds=args.ml_rounds,
    )
    out: Path = args.out or DEFAULT_OUT
    log: list[str] = []
    run = measure(settings, log)
    drift = None if settings.quick else measure_drift(False, log)
    for line in log:
        print(line, file=sys.stderr)
    text = render(run)
    if drift is not None:
        text = splice_section(text, *drift_lines(drift))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"wrote {out} in {run.elapsed_s:.0f} s", file=sys.stderr)
    return 0 if run.driftline.data else 1


if __name__ == "__main__":
    sys.exit(main())
