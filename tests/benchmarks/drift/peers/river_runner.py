"""River's ADWIN (``river.drift.ADWIN()``, defaults: delta 0.002, clock 32) fed sample by sample.

Numeric streams are fed as they are; categorical streams as the indicator "value not seen in the
reference" (ADWIN watches one number), indicator streams as 0/1. Every ``drift_detected`` is an alarm
(ADWIN drops the old part of its window and goes on). Run inside ``.bench/drift-river``.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import streams
from . import common


def feed(entry: dict[str, Any], values: np.ndarray) -> list[float]:
    """What ADWIN sees for one signal."""
    if entry["kind"] == "numeric":
        return np.asarray(values, dtype=np.float64).tolist()
    if entry["kind"] == "categorical":
        return streams.unseen_indicator(np.asarray(values)).tolist()
    return np.asarray(values, dtype=np.float64).tolist()


def run(directory: Path, manifest: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from river.drift import ADWIN

    results: dict[str, list[list[list[int]]]] = {}
    seconds: dict[str, float] = {}
    rates: dict[str, list[float]] = {}
    state: dict[str, list[int]] = {}
    for entry in manifest["streams"]:
        data = streams.load(directory, entry)
        reps: list[list[list[int]]] = []
        loop_s = 0.0
        for rep in range(entry["reps"]):
            row = []
            for signal in range(entry["signals"]):
                values = feed(entry, data[rep, signal])
                detector = ADWIN()
                positions = []
                started = time.perf_counter()
                for i, value in enumerate(values):
                    detector.update(value)
                    if detector.drift_detected:
                        positions.append(i + 1)
                elapsed = time.perf_counter() - started
                loop_s += elapsed
                row.append(streams.summarise(positions))
                if entry["null"] and signal == 0:
                    rates.setdefault(entry["key"], []).append(len(values) / elapsed)
                    state.setdefault(entry["key"], []).append(len(pickle.dumps(detector)))
            reps.append(row)
        results[entry["key"]] = reps
        seconds[entry["key"]] = loop_s
        print(f"river: {entry['key']} ({loop_s:.1f} s)", file=sys.stderr, flush=True)
    return {
        "versions": common.versions(["river", "numpy"]),
        "parameters": {k: getattr(ADWIN(), k) for k in ("delta", "clock", "max_buckets", "min_window_length",
                                                         "grace_period")},
        "results": {"adwin": results},
        "seconds": seconds,
        "throughput": {key: {"per_s": statistics.median(v), "runs": len(v)} for key, v in rates.items()},
        "state_bytes": {key: {"median": statistics.median(v), "max": max(v)} for key, v in state.items()},
    }


if __name__ == "__main__":
    sys.exit(common.main(run))
