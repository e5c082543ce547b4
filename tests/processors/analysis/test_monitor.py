"""SignalMonitor on seeded streams: quiet on null streams (iid and autocorrelated), fast on shifts,
new categories caught, state that survives a JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.processors.analysis.calibration import ThresholdCache
from driftline.processors.analysis.monitor import DriftSettings, SignalMonitor
from driftline.semconv import names

# Smaller Monte-Carlo draws than production keep the test quick; the thresholds stay calibrated.
_CACHE = ThresholdCache(draws=20_000)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    noise = rng.normal(size=n) * np.sqrt(1 - phi * phi)
    out = np.empty(n)
    level = 0.0
    for i in range(n):
        level = phi * level + noise[i]
        out[i] = level
    return out


def test_null_stream_raises_nothing_and_scores_stay_under_threshold() -> None:
    rng = np.random.default_rng(11)
    monitor = SignalMonitor("numeric", thresholds=_CACHE)
    events = []
    for chunk in np.array_split(rng.normal(size=102_000), 200):
        events += monitor.update_many(chunk)
    windows = [e for e in events if e.method == names.DRIFT_METHOD_PSI]
    assert len(windows) == 200  # (102,000 - 2,000 warm-up) / 500
    assert not any(e.detected for e in events)
    assert sum(e.flagged for e in windows) <= 5  # alpha = 0.01 per window
    assert monitor.reference_source == names.DRIFT_REFERENCE_WARMUP
    assert set(windows[-1].scores) == {names.DRIFT_METHOD_PSI, names.DRIFT_METHOD_JS, names.DRIFT_METHOD_HELLINGER,
                                       names.DRIFT_METHOD_KS, names.DRIFT_METHOD_WASSERSTEIN}


def test_autocorrelated_null_stream_does_not_alarm() -> None:
    rng = np.random.default_rng(5)
    stream = _ar1(rng, 102_000, 0.5)
    monitor = SignalMonitor("numeric", thresholds=_CACHE)
    events = monitor.update_many(stream)
    assert not any(e.detected for e in events)
    # the window tests calibrate at the effective window: AR(1) phi=0.5 has ~1/3 of the information
    assert monitor._effective_window < 300


@pytest.mark.parametrize(("shift", "max_delay"), [(1.0, 50), (0.5, 150)])
def test_sudden_mean_shift_is_caught_by_the_change_detector_then_the_windows(shift: float, max_delay: int) -> None:
    rng = np.random.default_rng(3)
    monitor = SignalMonitor("numeric", thresholds=_CACHE)
    monitor.update_many(rng.normal(size=3_000))
    assert not monitor.detected
    ids = [i.to_bytes(16, "big") for i in range(2_000)]
    events = monitor.update_many(rng.normal(loc=shift, size=2_000), ids)
    change = [e for e in events if e.method == names.DRIFT_METHOD_CUSUM]
    assert change, "the change detector missed the shift"
    delay = change[0].position - 3_000
    assert 0 < delay <= max_delay
    assert change[0].trace_id == ids[delay - 1]  # the span whose value raised the alarm
    windows = [e for e in events if e.method == names.DRIFT_METHOD_PSI]
    assert all(e.flagged for e in windows)
    assert windows[-1].detected
    assert monitor.detected


def test_new_category_at_five_percent_is_caught_within_500_values() -> None:
    rng = np.random.default_rng(8)
    monitor = SignalMonitor("categorical", thresholds=_CACHE)
    monitor.update_many(list(rng.choice(["stop", "length", "tool_calls"], p=[0.8, 0.1, 0.1], size=2_000)))
    drifted = list(rng.choice(["stop", "length", "tool_calls", "content_filter"], p=[0.75, 0.1, 0.1, 0.05],
                              size=2_000))
    events = monitor.update_many(drifted)
    change = [e for e in events if e.method == names.DRIFT_METHOD_CUSUM]
    assert change
    assert change[0].position - 2_000 <= 500


def test_state_round_trip_continues_identically() -> None:
    rng = np.random.default_rng(21)
    first, later = rng.normal(size=2_700), rng.normal(loc=0.6, size=1_500)
    monitor = SignalMonitor("numeric", DriftSettings(window=200), thresholds=_CACHE)
    monitor.update_many(first)
    restored = SignalMonitor.from_state(json.loads(json.dumps(monitor.to_state())), DriftSettings(window=200),
                                        thresholds=_CACHE)
    assert restored.position == monitor.position
    assert [(e.method, e.score, e.position, e.detected) for e in restored.update_many(later)] == [
        (e.method, e.score, e.position, e.detected) for e in monitor.update_many(later)]


def test_warmup_state_round_trip_keeps_the_buffer() -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(size=1_000)
    values[::97] = np.nan
    monitor = SignalMonitor("numeric", thresholds=_CACHE)
    monitor.update_many(values)
    assert not monitor.ready
    restored = SignalMonitor.from_state(json.loads(json.dumps(monitor.to_state())), thresholds=_CACHE)
    rest = rng.normal(size=1_500)
    restored.update_many(rest)
    monitor.update_many(rest)
    assert restored.ready
    assert monitor.reference is not None
    assert restored.reference is not None
    assert np.array_equal(restored.reference.counts, monitor.reference.counts)


def test_positions_and_trace_ids_are_exact_when_windows_close_inside_one_call() -> None:
    rng = np.random.default_rng(9)
    monitor = SignalMonitor("numeric", DriftSettings(window=100), thresholds=_CACHE)
    monitor.update_many(rng.normal(size=2_000))
    # one call spanning three windows, the shift starting mid-way through the second
    values = np.concatenate([rng.normal(size=150), rng.normal(loc=1.5, size=150)])
    ids = [i.to_bytes(16, "big") for i in range(300)]
    events = monitor.update_many(values, ids)
    windows = [e for e in events if e.method == names.DRIFT_METHOD_PSI]
    assert [e.position for e in windows] == [2_100, 2_200, 2_300]
    assert [e.trace_id for e in windows] == [ids[99], ids[199], ids[299]]
    change = next(e for e in events if e.method == names.DRIFT_METHOD_CUSUM)
    assert 2_150 < change.position <= 2_300
    assert change.trace_id == ids[change.position - 2_000 - 1]


def test_engine_merge_adds_current_windows_exactly_across_shards() -> None:
    from driftline.processors.analysis.engine import DriftEngine
    from driftline.processors.analysis.profile import NumericProfile
    from driftline.processors.analysis.signals import FAMILY_ML, ModelKey, SignalKey

    rng = np.random.default_rng(13)
    reference = NumericProfile.from_reference(rng.normal(size=5_000))
    key = SignalKey(ModelKey("svc", "m", "1", FAMILY_ML), "feature.x")
    shards = []
    parts = [rng.normal(size=120), rng.normal(size=90)]
    for part in parts:
        engine = DriftEngine(DriftSettings(window=500), thresholds=_CACHE)
        engine._monitors[key] = SignalMonitor("numeric", engine.settings, _CACHE, reference=reference)
        engine._monitors[key].update_many(part)
        shards.append(engine)
    other_key = SignalKey(key.model, "feature.y")
    shards[1]._monitors[other_key] = SignalMonitor("numeric", thresholds=_CACHE)
    assert shards[0].merge(shards[1]) == 2
    merged = shards[0].monitors[key]
    assert isinstance(merged, SignalMonitor)
    assert merged._current is not None
    assert merged._current.total == 210
    both = reference.empty_like()
    both.update_many(np.concatenate(parts))
    assert np.array_equal(merged._current.counts, both.counts)
    assert merged._current.moments.mean == pytest.approx(float(np.mean(np.concatenate(parts))), rel=1e-12)
    assert other_key in shards[0].monitors


def test_a_zero_one_signal_is_watched_as_a_rate() -> None:
    rng = np.random.default_rng(30)
    quiet = SignalMonitor("numeric", thresholds=_CACHE)
    quiet_events = quiet.update_many((rng.random(202_000) < 0.02).astype(float))
    assert [e for e in quiet_events if e.method == names.DRIFT_METHOD_CUSUM] == []   # a normal-theory CUSUM alarms here
    monitor = SignalMonitor("numeric", thresholds=_CACHE)
    monitor.update_many((rng.random(2_000) < 0.02).astype(float))
    events = monitor.update_many((rng.random(3_000) < 0.08).astype(float))
    change = [e for e in events if e.method == names.DRIFT_METHOD_CUSUM]
    assert change
    assert change[0].position - 2_000 <= 1_000


def test_a_rising_share_of_a_known_rare_category_is_caught() -> None:
    rng = np.random.default_rng(31)

    def errors(n: int, rate: float) -> list[str | None]:
        return [("RateLimitError" if r < rate / 2 else "Timeout") if r < rate else None for r in rng.random(n)]

    quiet = SignalMonitor("categorical", thresholds=_CACHE)
    assert not [e for e in quiet.update_many(errors(102_000, 0.02)) if e.method == names.DRIFT_METHOD_CUSUM]
    monitor = SignalMonitor("categorical", thresholds=_CACHE)
    monitor.update_many(errors(2_000, 0.02))
    events = monitor.update_many(errors(3_000, 0.08))
    change = [e for e in events if e.method == names.DRIFT_METHOD_CUSUM]
    assert change                      # both categories were in the reference: not "unseen", yet caught
    assert change[0].position - 2_000 <= 1_000


def test_engine_monitors_share_one_threshold_cache() -> None:
    from driftline.processors.analysis.engine import DriftEngine
    from driftline.processors.analysis.signals import FAMILY_ML, ModelKey, SignalKey

    cache = ThresholdCache(draws=20_000)
    engine = DriftEngine(thresholds=cache)
    model = ModelKey("svc", "m", "", FAMILY_ML)
    for name in ("feature.a", "feature.b"):
        monitor = engine._monitor(SignalKey(model, name), "numeric")
        assert monitor is not None
        assert monitor._thresholds is cache


def test_a_failing_signal_costs_only_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftline.processors.analysis.engine import DriftEngine
    from driftline.processors.analysis.signals import FAMILY_ML, ModelKey, Observations, SignalKey

    model = ModelKey("svc", "m", "", FAMILY_ML)
    good, bad = SignalKey(model, "feature.good"), SignalKey(model, "feature.bad")
    engine = DriftEngine(DriftSettings(warmup=100, window=100), thresholds=_CACHE)
    rng = np.random.default_rng(40)
    values = rng.normal(size=300).tolist()
    engine._monitor(bad, "numeric")

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("a detector fault")

    monkeypatch.setattr(engine.monitors[bad], "update_many", broken)
    events = engine.feed(Observations(numeric={bad: values, good: values}, spans=300))
    assert {key for key, _ in events} == {good}
    assert len(events) == 2                     # the good signal's two windows after its warm-up
    assert engine.faults == 1
    assert bad not in engine.monitors           # dropped: it starts over with the next values
