"""What both peer runners share: the command line, reading the streams, writing the JSON result.

Runs inside the peers' virtualenvs: standard library and numpy only.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any


def versions(distributions: list[str]) -> dict[str, str]:
    """Installed versions (``"-"`` when absent)."""
    out: dict[str, str] = {}
    for name in distributions:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    out["python"] = platform.python_version()
    return out


def main(run: Callable[[Path, dict[str, Any], argparse.Namespace], dict[str, Any]],
         argv: list[str] | None = None) -> int:
    """``--streams DIR --out FILE``: run ``run(directory, manifest, args)`` and write its result as JSON.

    Failures are written as ``{"error": ...}`` (exit 1) so the caller can report the peer as not measured.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report-checks", type=int, default=4, help="windows per scenario checked with Report")
    args = parser.parse_args(argv)
    try:
        manifest = json.loads((args.streams / "manifest.json").read_text())
        result = run(args.streams, manifest, args)
    except Exception as exc:  # reported to the caller, which marks the peer not measured
        args.out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}",
                                        "traceback": traceback.format_exc()[-3000:]}))
        return 1
    args.out.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(2)
