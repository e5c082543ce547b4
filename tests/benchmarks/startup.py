"""Start-up cost of zero-code activation (``DRIFTLINE_AUTO_INSTRUMENT=true``).

The activation ``.pth`` ships only in the wheel (an editable install has none), so this builds the
wheel from the working tree, installs it with its ``auto`` and ``openai`` extras into
``.bench/auto`` (dependencies once; driftline itself on every run, so the measured code is the
working tree's), checks that activation really patches openai there, then times four interpreter
start-ups, interleaved: with and without the variable, for ``pass`` and for ``import openai``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .stats import quantile
from .venvs import BENCH_DIR, REPO, SetupError, Venv, run_checked

AUTO_ENV = "DRIFTLINE_AUTO_INSTRUMENT"
_PTH = "driftline-auto.pth"

_CHECK = ("import openai\nfrom openai.resources.chat.completions import completions as c\n"
          "print(type(c.Completions.__dict__['create']).__name__)")


@dataclass(frozen=True)
class StartupVariant:
    """One command line to time."""

    label: str
    auto: bool
    code: str


VARIANTS: tuple[StartupVariant, ...] = (
    StartupVariant("`python -c pass`", False, "pass"),
    StartupVariant(f"`{AUTO_ENV}=true python -c pass`", True, "pass"),
    StartupVariant('`python -c "import openai"`', False, "import openai"),
    StartupVariant(f'`{AUTO_ENV}=true python -c "import openai"`', True, "import openai"),
)


@dataclass(frozen=True)
class StartupResult:
    """Wall times (ms) of each variant's runs, what was installed, and where activation's time goes."""

    runs: int
    times_ms: dict[str, list[float]]
    versions: dict[str, str]
    activation_check: str
    imports_ms: list[tuple[str, float]]
    """Top-level imports that only activation makes, median cumulative ms (``-X importtime``)."""

    def median(self, label: str) -> float:
        """Median wall time of a variant, ms."""
        return statistics.median(self.times_ms[label])

    def p90(self, label: str) -> float:
        """90th percentile wall time of a variant, ms."""
        return quantile(self.times_ms[label], 0.9)


def _clean_env() -> dict[str, str]:
    drop = ("OTEL_", "DRIFTLINE_", "PYTHON", "VIRTUAL_ENV", "TRACELOOP_", "OPENINFERENCE_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of the repository; the wheel's path."""
    had_build = (REPO / "build").exists()
    try:
        run_checked([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
              "-w", str(out_dir), str(REPO)], "pip wheel")
    finally:
        if not had_build:  # setuptools' scratch folder (git-ignored): leave the tree as we found it
            shutil.rmtree(REPO / "build", ignore_errors=True)
    wheels = sorted(out_dir.glob("driftline-*.whl"))
    if not wheels:
        raise SetupError("pip wheel produced no driftline wheel")
    with zipfile.ZipFile(wheels[-1]) as zf:
        if _PTH not in zf.namelist():
            raise SetupError(f"the wheel has no {_PTH} at its root")
    return wheels[-1]


def prepare(log: list[str]) -> tuple[Venv, dict[str, str], str]:
    """Build, install and check ``.bench/auto``; (venv, versions, activation check output)."""
    venv = Venv(BENCH_DIR / "auto")
    with tempfile.TemporaryDirectory(prefix="driftline-wheel-") as tmp:
        wheel = build_wheel(Path(tmp))
        if not venv.ready():
            log.append(f"auto: creating {venv.path}")
            venv.create()
            venv.pip("install", "--quiet", f"{wheel}[auto,openai]")
            venv.mark_ready({"created_with": wheel.name})
        else:
            log.append(f"auto: reusing {venv.path}")
        venv.pip("install", "--quiet", "--force-reinstall", "--no-deps", str(wheel))
    versions = venv.versions(["driftline", "openai", "opentelemetry-sdk", "opentelemetry-api",
                              "opentelemetry-instrumentation", "opentelemetry-exporter-otlp-proto-http", "wrapt"])
    env = {**_clean_env(), AUTO_ENV: "true"}
    proc = subprocess.run([str(venv.python), "-c", _CHECK], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    check = proc.stdout.strip() or proc.stderr.strip()[-300:]
    if proc.returncode != 0 or check != "FunctionWrapper":
        raise SetupError(f"auto-activation did not patch openai in {venv.path}: {check}")
    return venv, versions, check


def _top_level_imports(python: Path, env: dict[str, str]) -> dict[str, float]:
    """Cumulative ms of each import made directly at interpreter start (depth 1 under ``site``)."""
    proc = subprocess.run([str(python), "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    out: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        raw = parts[2]
        if (len(raw) - len(raw.lstrip()) - 1) // 2 == 1:
            out[raw.strip()] = int(parts[1]) / 1000.0
    return out


def import_breakdown(python: Path, repeats: int = 5) -> list[tuple[str, float]]:
    """Imports that ``DRIFTLINE_AUTO_INSTRUMENT=true`` adds at start-up, median cumulative ms, largest first."""
    base_env = _clean_env()
    plain = set(_top_level_imports(python, base_env))
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, ms in _top_level_imports(python, {**base_env, AUTO_ENV: "true"}).items():
            if name not in plain:
                samples.setdefault(name, []).append(ms)
    ranked = sorted(((name, statistics.median(v)) for name, v in samples.items()), key=lambda x: -x[1])
    return [item for item in ranked if item[1] >= 1.0]


def measure(runs: int, log: list[str]) -> StartupResult:
    """Time every variant ``runs`` times (after two untimed runs each), interleaved, rotating order."""
    venv, versions, check = prepare(log)
    base_env = _clean_env()
    envs = {v.label: ({**base_env, AUTO_ENV: "true"} if v.auto else base_env) for v in VARIANTS}

    def once(variant: StartupVariant) -> float:
        t0 = time.perf_counter()
        subprocess.run([str(venv.python), "-c", variant.code], env=envs[variant.label], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        return (time.perf_counter() - t0) * 1000.0

    for variant in VARIANTS:
        once(variant)
        once(variant)
    times: dict[str, list[float]] = {v.label: [] for v in VARIANTS}
    order = list(VARIANTS)
    for r in range(runs):
        k = r % len(order)
        for variant in order[k:] + order[:k]:
            times[variant.label].append(once(variant))
    return StartupResult(runs, times, versions, check, import_breakdown(venv.python))
