"""Creates the peers' ``.bench/drift-<peer>`` virtualenvs (:mod:`tests.benchmarks.venvs`) and runs their runners.

A peer that cannot be installed or whose runner fails is returned with ``error`` set, never raised.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...venvs import BENCH_DIR, REPO, SetupError, Venv

RUNNER_TIMEOUT_S = 1800
_STRIPPED = ("OTEL_", "DRIFTLINE_", "TRACELOOP_", "OPENINFERENCE_")
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class DriftPeer:
    """One peer drift detector."""

    key: str
    """``.bench/drift-<key>``; also the contender name in the results."""
    label: str
    requirements: tuple[str, ...]
    distributions: tuple[str, ...]
    """Distributions whose versions the report lists (the peer's own first)."""
    module: str
    env: dict[str, str] = field(default_factory=dict)
    pin_note: str = ""

    @property
    def venv(self) -> Venv:
        """Its scratch environment."""
        return Venv(BENCH_DIR / f"drift-{self.key}")


PEERS: tuple[DriftPeer, ...] = (
    DriftPeer("adwin", "River ADWIN", ("river",), ("river", "numpy"),
              "tests.benchmarks.drift.peers.river_runner"),
    DriftPeer("evidently", "Evidently", ("evidently", "pandas<3"), ("evidently", "pandas", "scipy", "numpy"),
              "tests.benchmarks.drift.peers.evidently_runner", env={"DO_NOT_TRACK": "1"},
              pin_note=("`pandas<3`: evidently 0.7.23 imports `pandas.core.dtypes.common.infer_dtype_from_object`, "
                        "which pandas 3 removed; `DO_NOT_TRACK=1` turns its usage telemetry off")),
)


@dataclass
class PeerRun:
    """A peer's runner output (``data``) or why there is none (``error``)."""

    peer: DriftPeer
    data: dict[str, Any] | None
    error: str | None
    versions: dict[str, str]
    elapsed_s: float


def ensure(peer: DriftPeer, log: list[str]) -> dict[str, str]:
    """Create and install the peer's environment unless a previous run did; return its versions."""
    venv = peer.venv
    if venv.ready():
        log.append(f"drift-{peer.key}: reusing {venv.path}")
        return venv.recorded()
    log.append(f"drift-{peer.key}: creating {venv.path}")
    venv.create()
    venv.pip("install", "--quiet", *peer.requirements)
    versions = venv.versions(list(peer.distributions))
    if versions.get(peer.distributions[0], "-") == "-":
        raise SetupError(f"{peer.requirements[0]} did not install")
    venv.mark_ready(versions)
    return versions


def _env(peer: DriftPeer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(_STRIPPED) and k not in ("PYTHONPATH", "VIRTUAL_ENV", *THREAD_ENV)}
    env.update(THREAD_ENV)
    env.update(peer.env)
    return env


def run(peer: DriftPeer, directory: Path, log: list[str], report_checks: int = 4) -> PeerRun:
    """Install (first time) and run ``peer`` on the streams in ``directory``."""
    started = time.monotonic()
    try:
        versions = ensure(peer, log)
    except SetupError as exc:
        return PeerRun(peer, None, f"could not be installed: {exc}", {}, time.monotonic() - started)
    out = directory / f"result-{peer.key}.json"
    cmd = [str(peer.venv.python), "-m", peer.module, "--streams", str(directory), "--out", str(out),
           "--report-checks", str(report_checks)]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=_env(peer), capture_output=True, text=True,
                              timeout=RUNNER_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return PeerRun(peer, None, f"timed out after {RUNNER_TIMEOUT_S} s", versions, time.monotonic() - started)
    log.extend(line for line in proc.stderr.splitlines() if line.startswith(("river:", "evidently:")))
    try:
        data: dict[str, Any] = json.loads(out.read_text())
    except (OSError, json.JSONDecodeError):
        data = {}
    if proc.returncode != 0 or "error" in data or not data:
        reason = data.get("error") or " | ".join(proc.stderr.strip().splitlines()[-3:]) or f"exit {proc.returncode}"
        return PeerRun(peer, None, f"the runner failed: {reason}", versions, time.monotonic() - started)
    versions = {**versions, **data.get("versions", {})}
    return PeerRun(peer, data, None, versions, time.monotonic() - started)
