"""Runs the ML worker (:mod:`.worker`) in its own process and collects its JSON as an :class:`MLRun`."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
WORKER_TIMEOUT_S = 1800
_STRIPPED = ("OTEL_", "DRIFTLINE_", "TRACELOOP_", "OPENINFERENCE_")
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""One native thread per call: on a 2-core VM, OpenMP/BLAS threads in the models' own code would
compete with each other and with the timing loop and swamp the overhead being measured."""


@dataclass
class Settings:
    """How much the worker measures."""

    rounds: int = 200
    calls: int = 10
    warmup: int = 50
    smoke: bool = False


@dataclass
class MLRun:
    """One worker's results (``data``) or why there are none (``error``), plus the machine's state."""

    settings: Settings
    data: dict[str, Any] | None
    error: str | None
    load_before: float | None
    load_after: float | None
    elapsed_s: float
    env: dict[str, str]
    """What the worker's environment sets on purpose (content off, thread counts)."""
    machine: dict[str, str]


def loadavg() -> float | None:
    """The 1-minute load average, if readable."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info() -> dict[str, str]:
    """CPU count and model, kernel."""
    return {"cpus": str(os.cpu_count() or "?"), "cpu_model": _cpu_model(), "kernel": platform.release()}


def worker_env() -> tuple[dict[str, str], dict[str, str]]:
    """The worker's environment (inherited, minus telemetry settings, plus :data:`THREAD_ENV` and content off),
    and the part of it set on purpose."""
    from driftline.semconv import names

    chosen = {names.ENV_CAPTURE_MESSAGE_CONTENT: "NO_CONTENT", **THREAD_ENV}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_STRIPPED) and k not in ("PYTHONPATH", "VIRTUAL_ENV", *THREAD_ENV)}
    env.update(chosen)
    return env, chosen


def measure(settings: Settings, python: str | None = None) -> MLRun:
    """Run the worker once with ``settings``; failures become an :class:`MLRun` with ``error`` set."""
    cmd = [python or sys.executable, "-m", "tests.benchmarks.ml.worker", "--rounds", str(settings.rounds),
           "--calls", str(settings.calls), "--warmup", str(settings.warmup)]
    env, chosen = worker_env()
    started = time.monotonic()
    before = loadavg()
    data: dict[str, Any] | None = None
    error: str | None = None
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        error = f"the worker timed out after {WORKER_TIMEOUT_S} s"
    else:
        lines = proc.stdout.strip().splitlines()
        try:
            parsed: dict[str, Any] = json.loads(lines[-1]) if lines else {}
        except json.JSONDecodeError:
            parsed = {}
        if proc.returncode != 0 or "error" in parsed or not parsed:
            error = (parsed.get("error") or " | ".join(proc.stderr.strip().splitlines()[-3:])
                     or f"exit {proc.returncode}")
        else:
            data = parsed
    return MLRun(settings, data, error, before, loadavg(), time.monotonic() - started, chosen, machine_info())
