"""Sequential change detectors: the vectorised scans against per-sample loops, the ARL calibration
against simulation, false alarms on long null streams (independent and AR(1)), detection delays,
and exact state round trips."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from scipy.signal import lfilter

from driftline.processors.analysis.detectors import (
    DEFAULT_SHIFTS,
    BernoulliCusum,
    CusumBank,
    PageHinkley,
    _lattice_arls,
    _llr_weights,
    ar1_long_run_std,
    batch_means_std,
    bernoulli_cusum_arl,
    bernoulli_cusum_threshold,
    cusum_arl,
    cusum_threshold,
)

FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------------------------------
# per-sample reference implementations (the obvious loops the vectorised code must reproduce)


class LoopCusum:
    """One reflected random walk per row, one sample at a time; restart of every row after an alarm."""

    def __init__(self, thresholds: Sequence[float]) -> None:
        self.h = list(thresholds)
        self.s = [0.0] * len(self.h)
        self.samples = 0
        self.alarms: list[int] = []

    def step(self, increments: Sequence[float]) -> bool:
        self.s = [max(0.0, s + d) for s, d in zip(self.s, increments, strict=True)]
        fired = any(s >= h for s, h in zip(self.s, self.h, strict=True))
        if fired:
            self.alarms.append(self.samples)
            self.last_values = list(self.s)
            self.s = [0.0] * len(self.h)
        self.samples += 1
        return fired


def loop_bank_update(loop: LoopCusum, bank: CusumBank, chunk: FloatArray) -> int:
    ks = [d / 2 for d in bank.shifts]
    first = -1
    for i, x in enumerate(chunk):
        if not math.isfinite(x):
            continue
        z = (x - bank.mean) / bank.scale
        if loop.step([z - k for k in ks] + [-z - k for k in ks]) and first < 0:
            first = i
    return first


def loop_bernoulli_update(loop: LoopCusum, chart: BernoulliCusum, chunk: FloatArray) -> int:
    w0, w1 = chart.weights
    first = -1
    for i, x in enumerate(chunk):
        if not math.isfinite(x):
            continue
        if loop.step([w1 if x != 0 else w0]) and first < 0:
            first = i
    return first


class LoopPageHinkley:
    """Textbook Page–Hinkley, one sample at a time."""

    def __init__(self, delta: float, threshold: float, min_instances: int) -> None:
        self.delta, self.threshold, self.min_instances = delta, threshold, min_instances
        self.samples = 0
        self.alarms: list[int] = []
        self._restart()

    def _restart(self) -> None:
        self.n, self.mean = 0, 0.0
        self.m_up = self.min_up = 0.0
        self.m_down = self.max_down = 0.0

    def update(self, chunk: FloatArray) -> int:
        first = -1
        for i, x in enumerate(chunk):
            if not math.isfinite(x):
                continue
            self.n += 1
            self.mean += (x - self.mean) / self.n
            self.m_up += x - self.mean - self.delta
            self.min_up = min(self.min_up, self.m_up)
            self.m_down += x - self.mean + self.delta
            self.max_down = max(self.max_down, self.m_down)
            up, down = self.m_up - self.min_up, self.max_down - self.m_down
            if self.n >= self.min_instances and max(up, down) >= self.threshold:
                self.alarms.append(self.samples)
                first = i if first < 0 else first
                self._restart()
            self.samples += 1
        return first

    @property
    def sums(self) -> list[float]:
        return [self.m_up - self.min_up, self.max_down - self.m_down]


def eventful_stream(rng: np.random.Generator, n: int) -> FloatArray:
    """Noise with frequent level changes and some NaN/inf, so alarms land anywhere in a chunk."""
    levels = np.repeat(rng.normal(0.0, 1.5, n // 200 + 1), 200)[:n]
    x = levels + rng.standard_normal(n)
    x[rng.random(n) < 0.01] = np.nan
    x[rng.random(n) < 0.001] = np.inf
    return x


def chunks(rng: np.random.Generator, x: FloatArray, pattern: str) -> Iterator[FloatArray]:
    if pattern == "ones":
        yield from (x[i : i + 1] for i in range(x.size))
        return
    if pattern == "whole":
        yield x
        return
    pos = 0
    while pos < x.size:
        size = int(rng.choice([1, 1, 2, 3, 17, 255, 256, 257, 1000, 4096, 70_000]))
        yield x[pos : pos + size]
        pos += size


# --------------------------------------------------------------------------------------------------
# vectorised scans reproduce the per-sample loops


@pytest.mark.parametrize(("pattern", "n"), [("ones", 6_000), ("mixed", 120_000), ("whole", 120_000)])
def test_cusum_bank_matches_per_sample_loop(pattern: str, n: int) -> None:
    rng = np.random.default_rng(11)
    x = eventful_stream(rng, n)
    bank = CusumBank(0.1, 1.3, target_arl=300.0)  # low target: alarms every few hundred samples
    loop = LoopCusum(list(bank.thresholds) * 2)
    mid_chunk_alarms = 0
    for chunk in chunks(rng, x, pattern):
        expected = loop_bank_update(loop, bank, chunk)
        got = bank.update_many(chunk)
        assert got == expected
        mid_chunk_alarms += 0 < got < chunk.size - 1
        assert bank.alarms == len(loop.alarms)
        assert bank.samples == loop.samples
        np.testing.assert_allclose(bank.upper + bank.lower, loop.s, rtol=1e-9, atol=1e-9)
        if loop.alarms:
            last = bank.last_alarm
            assert last is not None
            assert last["sample"] == loop.alarms[-1]
            j = int(np.argmax(np.array(loop.last_values) / np.array(list(bank.thresholds) * 2)))
            assert last["direction"] == ("up" if j < 3 else "down")
            assert last["shift"] == bank.shifts[j % 3]
            assert last["statistic"] == pytest.approx(loop.last_values[j], rel=1e-9)
        assert 0.0 <= bank.statistic < 1.0
    assert len(loop.alarms) > 20
    if pattern != "ones":
        assert mid_chunk_alarms > 0


@pytest.mark.parametrize("pattern", ["ones", "mixed", "whole"])
def test_bernoulli_matches_per_sample_loop(pattern: str) -> None:
    rng = np.random.default_rng(12)
    n = 5_000 if pattern == "ones" else 150_000
    rate = np.repeat(rng.choice([0.01, 0.03, 0.1], n // 500 + 1), 500)[:n]
    x = (rng.random(n) < rate).astype(np.float64)
    x[rng.random(n) < 0.01] = np.nan
    chart = BernoulliCusum(0.01, target_arl=400.0)
    loop = LoopCusum([chart.threshold])
    for chunk in chunks(rng, x, pattern):
        assert chart.update_many(chunk) == loop_bernoulli_update(loop, chart, chunk)
        assert chart.alarms == len(loop.alarms)
        assert chart.statistic * chart.threshold == pytest.approx(loop.s[0], rel=1e-9, abs=1e-9)
        if loop.alarms:
            last = chart.last_alarm
            assert last is not None
            assert last["sample"] == loop.alarms[-1]
    assert len(loop.alarms) > 10
    assert chart.samples == loop.samples
    assert chart.events == int(np.nansum(x))


@pytest.mark.parametrize("pattern", ["ones", "mixed", "whole"])
def test_page_hinkley_matches_per_sample_loop(pattern: str) -> None:
    rng = np.random.default_rng(13)
    n = 5_000 if pattern == "ones" else 60_000
    x = eventful_stream(rng, n)
    detector = PageHinkley(delta=0.05, threshold=25.0, min_instances=30)
    loop = LoopPageHinkley(0.05, 25.0, 30)
    for chunk in chunks(rng, x, pattern):
        assert detector.update_many(chunk) == loop.update(chunk)
        assert detector.alarms == len(loop.alarms)
        if loop.alarms:
            last = detector.last_alarm
            assert last is not None
            assert last["sample"] == loop.alarms[-1]
        assert detector.statistic * detector.threshold == pytest.approx(max(loop.sums), rel=1e-7, abs=1e-7)
    assert len(loop.alarms) > 10


def test_update_skips_nan_and_maps_the_alarm_index() -> None:
    bank = CusumBank(target_arl=1e4)  # h = 9.14 for the 1 σ statistic: three values of 5 σ cross it
    x = np.full(12, np.nan)
    x[1::2] = [5.0, 5.0, 5.0, 0.0, 0.0, 0.0]
    assert bank.update_many(x) == 5
    assert bank.alarms == 1
    assert bank.last_alarm == {
        "sample": 2,
        "direction": "up",
        "shift": 1.0,
        "statistic": 13.5,
        "threshold": bank.thresholds[2],
    }
    assert bank.samples == 6
    assert bank.update_many(np.array([np.nan, np.inf, -np.inf])) == -1
    assert bank.samples == 6
    assert bank.update_many(np.array([], dtype=np.float64)) == -1


@pytest.mark.parametrize("kind", ["bank", "bernoulli", "page_hinkley"])
def test_stop_at_alarm_visits_every_alarm(kind: str) -> None:
    """Re-feeding the rest after each alarm (``stop_at_alarm``) matches one pass over the array."""
    rng = np.random.default_rng(14)
    x = eventful_stream(rng, 30_000)
    detectors: list[Any]
    if kind == "bank":
        detectors = [CusumBank(target_arl=300.0) for _ in range(2)]
    elif kind == "bernoulli":
        x = np.where(np.isfinite(x), (x > 1.5).astype(np.float64), x)
        detectors = [BernoulliCusum(0.05, target_arl=300.0) for _ in range(2)]
    else:
        detectors = [PageHinkley(delta=0.05, threshold=25.0) for _ in range(2)]
    one_pass, stepwise = detectors
    first = one_pass.update_many(x)
    hits = []
    offset = 0
    while (i := stepwise.update_many(x[offset:], stop_at_alarm=True)) >= 0:
        hits.append(offset + i)
        assert stepwise.samples == int(np.isfinite(x[: offset + i + 1]).sum())
        offset += i + 1
    assert hits[0] == first
    assert len(hits) == one_pass.alarms > 10
    assert stepwise.to_state() == one_pass.to_state()


def test_update_single_values_and_reset() -> None:
    bank = CusumBank(target_arl=1e4)
    fired = [bank.update(-4.0) for _ in range(10)]
    assert any(fired)
    assert bank.last_alarm is not None
    assert bank.last_alarm["direction"] == "down"
    bank.update(-4.0)
    assert bank.statistic > 0
    bank.reset()
    assert bank.statistic == 0.0


# --------------------------------------------------------------------------------------------------
# calibration


def test_cusum_threshold_inverts_siegmund() -> None:
    for k in (0.125, 0.25, 0.5, 1.0):
        for arl in (1e3, 6e6):
            assert cusum_arl(k, cusum_threshold(k, arl)) == pytest.approx(arl, rel=1e-9)
    # in control the formula is increasing in h, and a shift shortens the run
    assert cusum_arl(0.25, 10.0) < cusum_arl(0.25, 11.0)
    assert cusum_arl(0.25, 25.0, drift=0.5) < 150 < cusum_arl(0.25, 25.0)
    assert cusum_arl(0.25, 5.0, drift=0.25) == pytest.approx((5.0 + 1.166) ** 2)


def test_default_thresholds() -> None:
    bank = CusumBank()
    assert bank.shifts == DEFAULT_SHIFTS
    assert bank.thresholds == pytest.approx((47.40, 25.89, 13.75), abs=0.01)
    # each one-sided statistic gets 1/6 of the false-alarm budget
    for d, h in zip(bank.shifts, bank.thresholds, strict=True):
        assert cusum_arl(d / 2, h) == pytest.approx(6e6, rel=1e-6)


@pytest.mark.parametrize("shift", [0.25, 1.0])
def test_siegmund_arl_matches_simulation(shift: float) -> None:
    """A two-sided pair whose one-sided ARL0 is 20,000 by Siegmund alarms every ~10,000 samples."""
    h = cusum_threshold(shift / 2, 2e4)
    bank = CusumBank(shifts=(shift,), thresholds=(h,))
    rng = np.random.default_rng(21)
    for _ in range(4):
        bank.update_many(rng.standard_normal(1_000_000))
    assert bank.samples / bank.alarms == pytest.approx(1e4, rel=0.15)


def test_bank_arl_meets_target_with_known_parameters() -> None:
    """Bonferroni over six statistics is conservative: the bank's ARL0 is above its target."""
    bank = CusumBank(target_arl=5_000.0)
    rng = np.random.default_rng(22)
    for _ in range(5):
        bank.update_many(rng.standard_normal(1_000_000))
    arl = bank.samples / bank.alarms
    assert 5_000 <= arl <= 5 * 5_000


def test_batch_means_and_ar1_estimate_the_long_run_scale() -> None:
    rng = np.random.default_rng(23)
    iid = rng.standard_normal(200_000)
    assert batch_means_std(iid)[0] == pytest.approx(1.0, rel=0.05)
    assert batch_means_std(iid)[1] == 447
    ar = ar1(rng, 200_000, 0.5)  # innovations N(0, 1): long-run sd 1 / (1 − φ) = 2
    assert batch_means_std(ar)[0] == pytest.approx(2.0, rel=0.07)
    sigma, phi = ar1_long_run_std(ar)
    assert phi == pytest.approx(0.5, abs=0.01)
    assert sigma == pytest.approx(2.0, rel=0.02)
    with pytest.raises(ValueError, match="two batches"):
        batch_means_std(np.arange(3.0), batch_size=2)


def test_small_reference_gets_larger_thresholds() -> None:
    rng = np.random.default_rng(24)
    small = CusumBank.from_reference(rng.standard_normal(200))
    large = CusumBank.from_reference(rng.standard_normal(50_000))
    known = CusumBank().thresholds
    assert all(s > 1.2 * k for s, k in zip(small.thresholds[:1], known[:1], strict=True))
    assert small.thresholds[0] > large.thresholds[0]
    for bank in (small, large):
        cal = bank.calibration
        # the reference-averaged ARL0 never falls below target / slack, the known-parameter one never below target
        assert cal["expected_arl"] >= 1e6 / cal["estimation_slack"] * 0.999
        assert cal["known_arl"] >= 1e6 * 0.999
    assert large.thresholds == pytest.approx(known, rel=0.03)


def test_tiny_and_constant_references() -> None:
    rng = np.random.default_rng(25)
    tiny = CusumBank.from_reference(rng.standard_normal(16))
    assert all(math.isfinite(h) and h > 100 for h in tiny.thresholds)
    assert tiny.calibration["expected_arl"] >= 1e5 * 0.999
    constant = CusumBank.from_reference(np.full(100, 3.0))
    assert constant.calibration["known_arl"] >= 1e6 * 0.999  # no estimation correction: nothing to correct
    assert constant.update_many(np.full(10_000, 3.0)) == -1
    assert constant.update_many(np.array([3.0, 3.0, 3.0 + 1e-6])) == 2  # any change is a shift


# --------------------------------------------------------------------------------------------------
# false alarms on long null streams


def ar1(rng: np.random.Generator, n: int, phi: float) -> FloatArray:
    burn = 200
    return np.asarray(lfilter([1.0], [1.0, -phi], rng.standard_normal(n + burn))[burn:], dtype=np.float64)


def run_null(bank: CusumBank, x: FloatArray) -> float:
    """Feed in chunks like a live stream; return the largest drift score seen between alarms."""
    top = 0.0
    for chunk in np.array_split(x, 50):
        bank.update_many(chunk)
        top = max(top, bank.statistic)
    return top


def test_iid_null_stream_false_alarms() -> None:
    rng = np.random.default_rng(31)
    bank = CusumBank.from_reference(rng.standard_normal(2_000))
    top = run_null(bank, rng.standard_normal(1_000_000))
    assert bank.alarms <= 10  # at most 1 per 100,000 samples
    assert bank.samples == 1_000_000
    assert top < 1.0


def test_ar1_null_stream_false_alarms() -> None:
    rng = np.random.default_rng(32)
    x = ar1(rng, 1_002_000, 0.5)
    bank = CusumBank.from_reference(x[:2_000])
    assert bank.scale == pytest.approx(2.0, rel=0.15)  # the long-run, not the marginal (1.15), scale
    run_null(bank, x[2_000:])
    assert bank.alarms <= 10
    # standardised by the marginal sd the same chart would be useless on this stream
    naive = CusumBank(bank.mean, float(np.std(x[:2_000], ddof=1)), thresholds=bank.thresholds)
    naive.update_many(x[2_000:])
    assert naive.alarms > 100


@pytest.mark.parametrize("process", ["iid", "ar1"])
def test_null_false_alarms_averaged_over_references(process: str) -> None:
    """The rate that matters for a fleet of signals: averaged over reference draws, ≤ 1 per 100,000."""
    rng = np.random.default_rng(33 if process == "iid" else 34)
    total = 0
    for _ in range(10):
        x = rng.standard_normal(1_002_000) if process == "iid" else ar1(rng, 1_002_000, 0.5)
        bank = CusumBank.from_reference(x[:2_000])
        bank.update_many(x[2_000:])
        total += bank.alarms
    assert total <= 100  # 10 streams of 10^6


# --------------------------------------------------------------------------------------------------
# detection delay


@pytest.mark.parametrize(("shift", "limit"), [(1.0, 50), (0.5, 150), (0.25, 400)])
def test_detection_delay(shift: float, limit: int) -> None:
    delays = []
    for rep in range(100):
        rng = np.random.default_rng([41, rep])
        bank = CusumBank.from_reference(rng.standard_normal(2_000))
        assert bank.update_many(rng.standard_normal(1_000)) == -1  # in control first
        sign = 1.0 if rep % 2 else -1.0
        i = bank.update_many(rng.standard_normal(2_000) + sign * shift)
        assert i >= 0, f"shift {sign * shift} missed within 2,000 samples"
        assert bank.last_alarm is not None
        assert bank.last_alarm["direction"] == ("up" if sign > 0 else "down")
        delays.append(i + 1)
    assert float(np.median(delays)) <= limit


# --------------------------------------------------------------------------------------------------
# Bernoulli CUSUM


def test_bernoulli_weights_and_default_alternative() -> None:
    chart = BernoulliCusum(0.02)
    assert chart.p1 == pytest.approx(0.04)
    assert chart.weights == pytest.approx((math.log(0.96 / 0.98), math.log(2.0)))
    assert BernoulliCusum(0.001).p1 == pytest.approx(0.011)  # min_increase wins for rare events
    assert BernoulliCusum(0.8).p1 == pytest.approx(0.9)  # capped halfway to 1
    down = BernoulliCusum(0.2, direction="down")
    assert down.p1 == pytest.approx(0.1)
    with pytest.raises(ValueError, match="direction"):
        BernoulliCusum(0.2, 0.3, direction="down")


def test_bernoulli_chain_matches_dense_solve() -> None:
    """The all-boundaries banded elimination agrees with solving each (I − Q) L = 1 directly."""
    steps = (-1.0, 7.4)  # one lattice unit down per zero, 7.4 units up per one (split 7 / 8)
    probs = np.array([0.05, 0.2])
    n = 60
    arls = _lattice_arls(steps, probs, n)
    for b, p in enumerate(probs):
        q = np.zeros((n, n))
        for i in range(n):
            q[i, max(i - 1, 0)] += 1 - p
            for j, w in ((i + 7, 0.6), (i + 8, 0.4)):
                if j < n:
                    q[i, j] += p * w
        for boundary in (1, 5, 30, 60):
            dense = np.linalg.solve(np.eye(boundary) - q[:boundary, :boundary], np.ones(boundary))
            assert arls[b, boundary - 1] == pytest.approx(dense[0], rel=1e-8)


@pytest.mark.parametrize(
    ("p0", "p1", "direction"), [(0.02, 0.04, "up"), (0.001, 0.011, "up"), (0.3, 0.6, "up"), (0.1, 0.05, "down")]
)
def test_bernoulli_arl_matches_simulation(p0: float, p1: float, direction: Any) -> None:
    target = 3_000.0
    h = bernoulli_cusum_threshold(p0, p1, target)
    # the smallest threshold reaching the target: ARL is a step function of h (for p0 = 0.001 one
    # event alone crosses h = 2.39 but not h = 2.41, and the ARL jumps from ~1,200 to ~5,700)
    arl = bernoulli_cusum_arl(p0, p1, h)
    assert arl >= 0.99 * target
    assert bernoulli_cusum_arl(p0, p1, 0.97 * h) < target
    chart = BernoulliCusum(p0, p1, direction=direction, threshold=h)
    rng = np.random.default_rng(51)
    for _ in range(3):
        chart.update_many(rng.random(1_000_000) < p0)
    assert chart.samples / chart.alarms == pytest.approx(arl, rel=0.12)


def test_bernoulli_calibration_is_fast() -> None:
    rng = np.random.default_rng(52)
    for ref in (rng.random(2_000) < 0.02, np.zeros(2_000), rng.random(2_000) < 0.3):
        start = time.perf_counter()
        BernoulliCusum.from_reference(ref)
        assert time.perf_counter() - start < 0.2  # typically 5–15 ms


def test_bernoulli_null_stream_false_alarms() -> None:
    rng = np.random.default_rng(53)
    chart = BernoulliCusum(0.02)
    assert chart.threshold == pytest.approx(8.53, abs=0.01)
    chart.update_many(rng.random(1_000_000) < 0.02)
    assert chart.alarms <= 10


def test_bernoulli_null_false_alarms_averaged_over_references() -> None:
    rng = np.random.default_rng(54)
    total = 0
    for _ in range(50):  # the rate is dominated by the few references that underestimate p0: use many
        chart = BernoulliCusum.from_reference(rng.random(2_000) < 0.02)
        cal = chart.calibration
        assert cal["expected_arl"] >= 1e6 / 3 * 0.999
        assert chart.threshold >= cal["known_threshold"]
        chart.update_many(rng.random(200_000) < 0.02)
        total += chart.alarms
    assert total <= 100  # ≤ 1 per 100,000 over 10^7 samples


@pytest.mark.parametrize(("from_reference", "limit"), [(False, 400), (True, 600)])
def test_bernoulli_detects_rate_tripling(from_reference: bool, limit: int) -> None:
    delays = []
    for rep in range(100):
        rng = np.random.default_rng([55, rep])
        chart = BernoulliCusum.from_reference(rng.random(2_000) < 0.02) if from_reference else BernoulliCusum(0.02)
        assert chart.update_many(rng.random(1_000) < 0.02) == -1
        i = chart.update_many(rng.random(3_000) < 0.06)
        assert i >= 0
        delays.append(i + 1)
    assert float(np.median(delays)) <= limit


def test_bernoulli_zero_event_reference() -> None:
    chart = BernoulliCusum.from_reference(np.zeros(2_000))
    assert chart.p0 == pytest.approx(0.5 / 2_000)
    assert chart.p1 == pytest.approx(0.5 / 2_000 + 0.01)
    assert chart.calibration["reference_events"] == 0
    rng = np.random.default_rng(56)
    chart.update_many(rng.random(1_000_000) < 0.5 / 2_000)
    assert chart.alarms == 0
    i = chart.update_many(rng.random(2_000) < 0.02)  # errors appear
    assert 0 <= i < 500


def test_bernoulli_downward_chart_detects_a_drop() -> None:
    rng = np.random.default_rng(57)
    chart = BernoulliCusum.from_reference(rng.random(5_000) < 0.2, direction="down")
    assert chart.p1 < chart.p0
    assert chart.update_many(rng.random(100_000) < 0.2) == -1
    i = chart.update_many(rng.random(5_000) < 0.08)
    assert 0 <= i < 1_000
    assert chart.last_alarm is not None
    assert chart.last_alarm["direction"] == "down"


# --------------------------------------------------------------------------------------------------
# state


def round_trip(detector: Any) -> Any:
    state = json.loads(json.dumps(detector.to_state()))
    return type(detector).from_state(state)


def test_cusum_bank_state_round_trip() -> None:
    rng = np.random.default_rng(61)
    bank = CusumBank.from_reference(rng.standard_normal(2_000), target_arl=1e3)
    bank.update_many(rng.standard_normal(5_000) + 0.3)
    assert bank.alarms > 0
    copy = round_trip(bank)
    assert copy.to_state() == bank.to_state()
    x = eventful_stream(rng, 50_000)
    for chunk in chunks(rng, x, "mixed"):
        assert copy.update_many(chunk) == bank.update_many(chunk)
        assert copy.upper == bank.upper
        assert copy.lower == bank.lower
    assert copy.to_state() == bank.to_state()


def test_bernoulli_state_round_trip() -> None:
    rng = np.random.default_rng(62)
    chart = BernoulliCusum.from_reference(rng.random(2_000) < 0.05, target_arl=500.0)
    chart.update_many(rng.random(20_000) < 0.08)
    copy = round_trip(chart)
    assert copy.to_state() == chart.to_state()
    x = (rng.random(50_000) < 0.07).astype(np.float64)
    for chunk in chunks(rng, x, "mixed"):
        assert copy.update_many(chunk) == chart.update_many(chunk)
    assert copy.to_state() == chart.to_state()
    assert chart.alarms > 5


def test_page_hinkley_state_round_trip() -> None:
    rng = np.random.default_rng(63)
    detector = PageHinkley(delta=0.05, threshold=20.0, direction="up")
    detector.update_many(eventful_stream(rng, 10_000))
    copy = round_trip(detector)
    assert copy.to_state() == detector.to_state()
    x = eventful_stream(rng, 30_000)
    for chunk in chunks(rng, x, "mixed"):
        assert copy.update_many(chunk) == detector.update_many(chunk)
    assert copy.to_state() == detector.to_state()
    assert detector.alarms > 5


def test_bad_states_and_arguments_are_rejected() -> None:
    state = CusumBank().to_state()
    with pytest.raises(ValueError, match="kind"):
        BernoulliCusum.from_state(state)
    with pytest.raises(ValueError, match="version"):
        CusumBank.from_state({**state, "version": 99})
    with pytest.raises(ValueError, match=r"\[0, h\)"):
        CusumBank.from_state({**state, "sums": [1e6] * 6})
    with pytest.raises(ValueError, match="scale"):
        CusumBank(scale=0.0)
    with pytest.raises(ValueError, match="shifts"):
        CusumBank(shifts=())
    with pytest.raises(ValueError, match="target_arl"):
        CusumBank(target_arl=0.5)
    with pytest.raises(ValueError, match="at least 16"):
        CusumBank.from_reference(np.arange(10.0))
    with pytest.raises(ValueError, match="p0"):
        BernoulliCusum(0.0)
    with pytest.raises(ValueError, match="threshold"):
        PageHinkley(threshold=-1.0)
    assert _llr_weights(0.1, 0.2)[1] == pytest.approx(math.log(2.0))


def test_update_many_throughput() -> None:
    rng = np.random.default_rng(71)
    bank = CusumBank.from_reference(rng.standard_normal(2_000))
    x = rng.standard_normal(1_000_000)
    start = time.perf_counter()
    bank.update_many(x)
    assert time.perf_counter() - start < 1.0  # ~45 ms here: vectorised, no per-sample Python
