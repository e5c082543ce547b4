"""Driftline's contender: :class:`SignalMonitor` with its default :class:`DriftSettings`, in this process.

Per stream, one monitor is fed the whole stream with ``update_many``; its events give three alarm series:

* ``ours`` — rising edges of the debounced state ``detected`` (what a user is told: the first event with
  ``detected`` after a clean state), from either component;
* ``ours_cusum`` — every change-detector alarm (``method == "cusum"``; the detector restarts after each);
* ``ours_windows`` — rising edges of the window tests alone: the window events' ``flagged`` verdicts
  replayed through a fresh :class:`Hysteresis` with the same settings (what ``detected`` would be with
  ``change_detector=False``).

Indicator streams (error rate) are fed as numeric 0.0/1.0 — how the processor tracks ``tool.error`` — and,
as extra contenders, as a categorical ``"error"``/``"ok"`` signal (how it tracks ``error.type``:
``ours_categorical``) and to a standalone :class:`BernoulliCusum` fitted on the reference
(``bernoulli_cusum``; the monitor does not run one on a numeric 0/1 signal).
"""

from __future__ import annotations

import json
import pickle
import statistics
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from driftline.processors.analysis.calibration import Hysteresis, ThresholdCache
from driftline.processors.analysis.detectors import BernoulliCusum, CusumBank
from driftline.processors.analysis.monitor import DriftSettings, SignalMonitor
from driftline.semconv import names

from . import streams
from .streams import CHANGE, SEED, WINDOW, summarise

CONTENDERS = ("ours", "ours_cusum", "ours_windows", "ours_categorical", "bernoulli_cusum")

Alarms = dict[str, list[int]]


def monitor_alarms(kind: str, values: Sequence[Any] | np.ndarray, thresholds: ThresholdCache,
                   settings: DriftSettings | None = None, family_size: int = 1) -> tuple[Alarms, SignalMonitor]:
    """Feed ``values`` to a fresh monitor; its alarm positions as ``ours`` / ``ours_cusum`` / ``ours_windows``.

    ``family_size``: signals of the same model, as the engine passes it (the detectors' run-length
    target is multiplied by it: Bonferroni over the model's signals)."""
    settings = settings or DriftSettings()
    monitor = SignalMonitor(kind, settings, thresholds, family_size=family_size)  # type: ignore[arg-type]
    events = monitor.update_many(values)
    alarms: Alarms = {"ours": [], "ours_cusum": [], "ours_windows": []}
    hysteresis = Hysteresis(settings.raise_after, settings.clear_after)
    detected = False
    for event in events:
        if event.detected and not detected:
            alarms["ours"].append(event.position)
        detected = event.detected
        if event.method == names.DRIFT_METHOD_CUSUM:
            alarms["ours_cusum"].append(event.position)
        else:
            before = hysteresis.alarm
            if hysteresis.update(event.flagged) and not before:
                alarms["ours_windows"].append(event.position)
    return alarms, monitor


def detector_alarms(detector: CusumBank | BernoulliCusum, values: np.ndarray, base: int) -> list[int]:
    """Alarm positions of ``detector`` over ``values`` (``base`` values already seen before them)."""
    positions: list[int] = []
    offset = 0
    while offset < values.size:
        hit = detector.update_many(values[offset:], stop_at_alarm=True)
        if hit < 0:
            break
        positions.append(base + offset + hit + 1)
        offset += hit + 1
    return positions


def _labels(codes: np.ndarray, labels: Sequence[str]) -> list[str]:
    return list(np.asarray(labels, dtype=object)[np.asarray(codes, dtype=np.intp)])


def run_stream(entry: dict[str, Any], values: np.ndarray, thresholds: ThresholdCache) -> tuple[Alarms, SignalMonitor]:
    """Every contender of ours on one signal's stream."""
    kind = entry["kind"]
    if kind == "numeric":
        return monitor_alarms("numeric", np.asarray(values, dtype=np.float64), thresholds,
                              family_size=int(entry.get("signals", 1)))
    if kind == "categorical":
        return monitor_alarms("categorical", _labels(values, entry["labels"]), thresholds)
    indicator = np.asarray(values, dtype=np.float64)
    alarms, monitor = monitor_alarms("numeric", indicator, thresholds)
    categorical, _ = monitor_alarms("categorical", _labels(values, entry["labels"]), thresholds)
    alarms["ours_categorical"] = categorical["ours"]
    chart = BernoulliCusum.from_reference(indicator[:CHANGE])
    alarms["bernoulli_cusum"] = detector_alarms(chart, indicator[CHANGE:], CHANGE)
    return alarms, monitor


def state_bytes(monitor: SignalMonitor) -> dict[str, int]:
    """Per-signal state of a monitor past its warm-up.

    ``estimate``: payload bytes — the reference and current profiles' ``nbytes`` plus the detector's arrays
    and numbers (8 bytes each), the hysteresis and the latest scores — without Python object headers.
    ``json``: its :meth:`~SignalMonitor.to_state` as compact JSON (what the processor persists).
    ``pickle``: the pickled monitor without the :class:`ThresholdCache` shared by all signals (comparable
    with the peers' pickle sizes).
    """
    profiles = 0
    for profile in (monitor.reference, monitor._current):
        if profile is not None:
            profiles += int(profile.nbytes)
    detector_bytes = 0
    for _view, detector in monitor._detectors:
        for value in vars(detector).values():
            if isinstance(value, np.ndarray):
                detector_bytes += int(value.nbytes)
            elif isinstance(value, (int, float, bool, str)):
                detector_bytes += 8
            elif isinstance(value, (dict, tuple, list)):
                detector_bytes += 8 * len(value)
    extra = 3 * 8 + 8 * len(monitor.scores) + 4 * 8  # hysteresis; scores; position, threshold, window, flags
    state = dict(vars(monitor))
    state.pop("_thresholds", None)
    return {
        "profiles": profiles,
        "detector": detector_bytes,
        "estimate": profiles + detector_bytes + extra,
        "json": len(json.dumps(monitor.to_state(), separators=(",", ":"))),
        "pickle": len(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)),
    }


def _median_time(fn: Callable[[Any], Any], setup: Callable[[], Any], repeats: int) -> float:
    """Median seconds of ``fn(setup())`` over ``repeats`` runs, ``setup`` untimed."""
    times = []
    for _ in range(repeats):
        arg = setup()
        started = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def throughput(length: int, repeats: int) -> dict[str, dict[str, float]]:
    """Updates per second of the vectorised paths (median of ``repeats`` timings, warm-up excluded)."""
    rng = np.random.default_rng([SEED, 999])
    reference = rng.standard_normal(CHANGE)
    warm = rng.standard_normal(4 * WINDOW)
    x = rng.standard_normal(length)

    def warmed(kind: str = "numeric", ref: Sequence[Any] | np.ndarray = reference,
               more: Sequence[Any] | np.ndarray = warm) -> SignalMonitor:
        """Past its warm-up and a few windows (so its window threshold is simulated and cached): steady state."""
        monitor = SignalMonitor(kind)  # type: ignore[arg-type]
        monitor.update_many(ref)
        monitor.update_many(more)
        return monitor

    out: dict[str, dict[str, float]] = {}

    def record(name: str, seconds: float, n: int) -> None:
        out[name] = {"values": float(n), "seconds": seconds, "per_s": n / seconds}

    record("monitor", _median_time(lambda m: m.update_many(x), warmed, repeats), length)

    def chunked(m: SignalMonitor) -> None:
        for start in range(0, length, 1000):
            m.update_many(x[start:start + 1000])

    record("monitor_chunks_1000", _median_time(chunked, warmed, repeats), length)
    record("cusum_bank", _median_time(lambda b: b.update_many(x), lambda: CusumBank.from_reference(reference),
                                      repeats), length)
    drifting = x[: length // 5] + 1.0
    record("monitor_drifting", _median_time(lambda m: m.update_many(drifting), warmed, repeats), drifting.size)
    codes = rng.choice(len(streams.CATEGORIES), size=CHANGE + length // 5, p=streams.CATEGORY_PROBS)
    labels = _labels(codes, streams.CATEGORY_LABELS)
    ref_labels, cur_labels = labels[:CHANGE], labels[CHANGE:]
    record("monitor_categorical",
           _median_time(lambda m: m.update_many(cur_labels),
                        lambda: warmed("categorical", ref_labels, cur_labels[: 4 * WINDOW]), repeats),
           len(cur_labels))
    return out


def run(directory: Path, manifest: dict[str, Any], throughput_length: int, throughput_repeats: int,
        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every stream of ``manifest`` through our contenders; results keyed contender → scenario → reps."""
    thresholds = ThresholdCache()
    results: dict[str, dict[str, list[list[list[int]]]]] = {}
    seconds: dict[str, float] = {}
    states: dict[str, list[dict[str, int]]] = {}
    for entry in manifest["streams"]:
        data = streams.load(directory, entry)
        started = time.perf_counter()
        per_contender: dict[str, list[list[list[int]]]] = {}
        for rep in range(entry["reps"]):
            rows: dict[str, list[list[int]]] = {}
            for signal in range(entry["signals"]):
                alarms, monitor = run_stream(entry, np.asarray(data[rep, signal]), thresholds)
                for contender, positions in alarms.items():
                    rows.setdefault(contender, []).append(summarise(positions))
                if entry["null"] and signal == 0:
                    states.setdefault(entry["key"], []).append(state_bytes(monitor))
            for contender, row in rows.items():
                per_contender.setdefault(contender, []).append(row)
        seconds[entry["key"]] = time.perf_counter() - started
        for contender, reps in per_contender.items():
            results.setdefault(contender, {})[entry["key"]] = reps
        if progress is not None:
            progress(f"ours: {entry['key']} ({seconds[entry['key']]:.1f} s)")
    started = time.perf_counter()
    speed = throughput(throughput_length, throughput_repeats)
    if progress is not None:
        progress(f"ours: throughput ({time.perf_counter() - started:.1f} s)")
    return {
        "results": results,
        "seconds": seconds,
        "state_bytes": states,
        "throughput": speed,
        "versions": {"driftline": _version("driftline"), "numpy": np.__version__},
        "settings": {k: v for k, v in vars(DriftSettings()).items() if k != "min_effect"}
        | {"min_effect": dict(DriftSettings().min_effect)},
    }


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "-"
