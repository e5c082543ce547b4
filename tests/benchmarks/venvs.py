"""Scratch virtualenvs under ``.bench/`` for the peers and the zero-code start-up measurement.

Each environment is created with the same base interpreter as the running one (so every
contender runs on the same CPython build) and marked ready by a ``.ok`` file holding what was
installed; a marked environment is reused as is, which makes ``make bench`` idempotent and fast
after the first run. ``rm -r .bench`` (or ``make clean``) forces a fresh install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / ".bench"

_PIP_TIMEOUT_S = 900


class SetupError(Exception):
    """A scratch environment could not be created or installed; the message says why."""


@dataclass(frozen=True)
class Venv:
    """A scratch virtualenv at ``path``."""

    path: Path

    @property
    def python(self) -> Path:
        """The environment's interpreter."""
        return self.path / "bin" / "python"

    @property
    def marker(self) -> Path:
        """Present (with the installed versions as JSON) once the environment is ready."""
        return self.path / ".ok"

    def ready(self) -> bool:
        """Whether a previous run finished installing this environment."""
        return self.marker.is_file() and self.python.exists()

    def create(self) -> None:
        """(Re)create the bare environment from the running interpreter's base installation."""
        base = Path(sys.base_prefix) / "bin" / "python3"
        run_checked([str(base), "-m", "venv", "--clear", str(self.path)], "python -m venv")
        self.pip("install", "--quiet", "--upgrade", "pip")

    def pip(self, *args: str) -> None:
        """Run this environment's pip; raise :class:`SetupError` with pip's last words on failure."""
        run_checked([str(self.python), "-m", "pip", "--disable-pip-version-check", *args], "pip " + " ".join(args))

    def versions(self, distributions: list[str]) -> dict[str, str]:
        """Installed versions of ``distributions`` (``"-"`` when absent)."""
        code = ("import json, sys\nfrom importlib import metadata\nout = {}\n"
                "for name in sys.argv[1:]:\n"
                "    try:\n        out[name] = metadata.version(name)\n"
                "    except metadata.PackageNotFoundError:\n        out[name] = '-'\n"
                "print(json.dumps(out))")
        proc = subprocess.run([str(self.python), "-c", code, *distributions], capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode != 0:
            raise SetupError(f"cannot read versions: {_tail(proc.stderr)}")
        result: dict[str, str] = json.loads(proc.stdout)
        return result

    def mark_ready(self, info: dict[str, str]) -> None:
        """Write the ``.ok`` marker."""
        self.marker.write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")

    def recorded(self) -> dict[str, str]:
        """What :meth:`mark_ready` recorded."""
        data: dict[str, str] = json.loads(self.marker.read_text())
        return data


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())


def run_checked(cmd: list[str], what: str) -> None:
    """Run ``cmd``; raise :class:`SetupError` with its last lines of output when it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise SetupError(f"{what}: timed out after {_PIP_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        raise SetupError(f"{what}: exit {proc.returncode}: {_tail(proc.stderr or proc.stdout)}")
