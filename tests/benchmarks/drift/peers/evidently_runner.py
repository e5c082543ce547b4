"""Evidently's data drift test on tumbling windows: each current window of 500 values against the
2,000-value reference, with the per-column method Evidently picks by default.

The decisions use what Evidently's ``ValueDrift`` metric (and ``DataDriftPreset``) calls for one column:
``get_stattest(reference, current, column_type, None)`` — the default method for the column type and the
reference size — then that test with its default threshold; a window is flagged when the result says
``drifted``, and every flagged window is an alarm (the test keeps no state). Calling the full
``Report([ValueDrift(column=...)], include_tests=True)`` for every window would cost ~50 ms each (2,000
windows per null stream), so the first ``--report-checks`` windows of every scenario also run through that
Report and its test verdict (``FAIL`` = drift) is compared with ours; the agreement and the Report's
per-window time are part of the result. Numeric streams are ``Numerical`` columns, categorical ones
``Categorical`` columns of labels, indicator streams ``Categorical`` ``"error"``/``"ok"``.
Run inside ``.bench/drift-evidently`` with ``DO_NOT_TRACK=1``.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .. import streams
from . import common


def run(directory: Path, manifest: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType
    from evidently.metrics import ValueDrift

    def series(entry: dict[str, Any], values: np.ndarray) -> Any:
        if entry["kind"] == "numeric":
            return pd.Series(np.asarray(values, dtype=np.float64), name="x")
        labels = np.asarray(entry["labels"], dtype=object)
        return pd.Series(labels[np.asarray(values, dtype=np.intp)], name="x")

    def column_type(entry: dict[str, Any]) -> Any:
        return ColumnType.Numerical if entry["kind"] == "numeric" else ColumnType.Categorical

    def definition(entry: dict[str, Any]) -> Any:
        if entry["kind"] == "numeric":
            return DataDefinition(numerical_columns=["x"])
        return DataDefinition(categorical_columns=["x"])

    results: dict[str, list[list[list[int]]]] = {}
    seconds: dict[str, float] = {}
    methods: dict[str, dict[str, int]] = {}
    window_s: list[float] = []
    report_s: list[float] = []
    checks = {"windows": 0, "agree": 0, "disagreements": []}  # type: dict[str, Any]
    state: dict[str, int] = {}
    for entry in manifest["streams"]:
        data = streams.load(directory, entry)
        ctype = column_type(entry)
        used: Counter[str] = Counter()
        reps: list[list[list[int]]] = []
        started_all = time.perf_counter()
        for rep in range(entry["reps"]):
            row = []
            for signal in range(entry["signals"]):
                values = np.asarray(data[rep, signal])
                reference = series(entry, values[: streams.CHANGE])
                positions = []
                verdicts: list[tuple[int, bool, float]] = []
                for end, window in streams.windows(values):
                    started = time.perf_counter()
                    current = series(entry, window)
                    test = get_stattest(reference, current, ctype, None)
                    result = test(reference, current, ctype, None)
                    window_s.append(time.perf_counter() - started)
                    used[f"{test.display_name} (threshold {result.actual_threshold:g})"] += 1
                    if bool(result.drifted):
                        positions.append(end)
                    if rep == 0 and signal == 0 and len(verdicts) < args.report_checks:
                        verdicts.append((end, bool(result.drifted), float(result.drift_score)))
                row.append(streams.summarise(positions))
                if rep == 0 and signal == 0:
                    ref_ds = Dataset.from_pandas(reference.to_frame(), data_definition=definition(entry))
                    for end, drifted, score in verdicts:
                        window = values[end - streams.WINDOW:end]
                        started = time.perf_counter()
                        cur_ds = Dataset.from_pandas(series(entry, window).to_frame(),
                                                     data_definition=definition(entry))
                        snapshot = Report([ValueDrift(column="x")], include_tests=True).run(cur_ds, ref_ds)
                        report_s.append(time.perf_counter() - started)
                        tests = snapshot.dict()["tests"]
                        report_drifted = any(t["status"] == "FAIL" for t in tests)
                        checks["windows"] += 1
                        if report_drifted == drifted and tests:
                            checks["agree"] += 1
                        else:
                            checks["disagreements"].append({"scenario": entry["key"], "end": end,
                                                            "stattest": drifted, "report": report_drifted,
                                                            "score": score})
                if entry["null"] and signal == 0 and entry["key"] not in state:
                    current = series(entry, values[streams.CHANGE:streams.CHANGE + streams.WINDOW])
                    state[entry["key"]] = len(pickle.dumps((reference, current), protocol=pickle.HIGHEST_PROTOCOL))
            reps.append(row)
        results[entry["key"]] = reps
        seconds[entry["key"]] = time.perf_counter() - started_all
        methods[entry["key"]] = dict(used)
        print(f"evidently: {entry['key']} ({seconds[entry['key']]:.1f} s)", file=sys.stderr, flush=True)
    window_median = statistics.median(window_s)
    report_median = statistics.median(report_s) if report_s else float("nan")
    return {
        "versions": common.versions(["evidently", "pandas", "scipy", "numpy"]),
        "results": {"evidently": results},
        "seconds": seconds,
        "methods": methods,
        "report_check": checks,
        "throughput": {"stattest_window_s": window_median, "stattest_per_s": streams.WINDOW / window_median,
                       "report_window_s": report_median, "report_per_s": streams.WINDOW / report_median,
                       "windows": len(window_s), "report_windows": len(report_s)},
        "state_bytes": state,
    }


if __name__ == "__main__":
    sys.exit(common.main(run))
