"""Window-size-calibrated thresholds, multiple testing and the flag/alarm decision."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import numpy.typing as npt
import pytest

from driftline.processors.analysis.calibration import (
    DEFAULT_MIN_EFFECT,
    EffectGate,
    Hysteresis,
    ThresholdCache,
    benjamini_hochberg,
    default_draws,
    empirical_p_value,
    holm,
    null_draws,
    null_threshold,
    statistic_name,
)
from driftline.processors.analysis.divergence import hellinger, js_distance, ks_binned, psi

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

N_BINS = 10
K = N_BINS + 1  # ten quantile bins and the NaN bucket


def _binned(values: FloatArray, edges: FloatArray) -> IntArray:
    """Counts over the ordered bins plus an (empty) NaN bucket, row by row for a 2-D ``values``."""
    bins = np.searchsorted(edges, values, side="right")
    if values.ndim == 1:
        return np.bincount(bins, minlength=K).astype(np.int64)
    rows = values.shape[0]
    flat = (bins + K * np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=K * rows).reshape(rows, K).astype(np.int64)


@pytest.fixture(scope="module")
def normal_reference() -> tuple[IntArray, FloatArray]:
    rng = np.random.default_rng(20240601)
    values = rng.standard_normal(50_000)
    edges = np.quantile(values, np.linspace(0, 1, N_BINS + 1)[1:-1])
    return _binned(values, edges), edges


# --------------------------------------------------------------------------- null thresholds


def test_false_alarm_rate_on_fresh_windows_from_the_true_distribution(
        normal_reference: tuple[IntArray, FloatArray]) -> None:
    ref, edges = normal_reference
    threshold = null_threshold(ref, psi, window=500, alpha=0.01)
    rng = np.random.default_rng(99)
    windows = _binned(rng.standard_normal((5_000, 500)), edges)
    rate = float(np.mean(np.asarray(psi(ref, windows)) > threshold))
    assert 0.005 <= rate <= 0.02


def test_threshold_depends_on_the_window_size(normal_reference: tuple[IntArray, FloatArray]) -> None:
    ref, _ = normal_reference
    small = null_threshold(ref, psi, window=100, alpha=0.01)
    large = null_threshold(ref, psi, window=2000, alpha=0.01)
    assert small > large
    # Under no drift PSI ≈ χ²(K−1)/n, so the threshold scales like 1/window (about 20× here).
    assert 10 < small / large < 30


def test_small_reference_noise_is_simulated(normal_reference: tuple[IntArray, FloatArray]) -> None:
    _, edges = normal_reference
    rng = np.random.default_rng(5)
    rates: dict[bool | None, list[float]] = {None: [], False: []}
    for i in range(15):
        ref = _binned(rng.standard_normal(1_000), edges)  # only 2× the window: its own noise matters
        windows = psi(ref, _binned(rng.standard_normal((1_000, 500)), edges))
        for mode, found in rates.items():
            threshold = null_threshold(ref, psi, 500, 0.01, seed=i, resample_reference=mode)
            found.append(float(np.mean(np.asarray(windows) > threshold)))
    # Averaged over references the Dirichlet–multinomial null keeps the promised rate; treating the
    # reference as the truth alarms several times too often.
    assert 0.003 <= np.mean(rates[None]) <= 0.02
    assert np.mean(rates[False]) > 0.03


def test_reference_noise_is_modelled_automatically_below_twenty_windows() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(8, 5.0))
    small = rng.multinomial(19 * 300, probs)
    large = rng.multinomial(21 * 300, probs)
    auto_small = null_threshold(small, psi, 300, 0.05, draws=2000)
    assert auto_small == null_threshold(small, psi, 300, 0.05, draws=2000, resample_reference=True)
    assert auto_small != null_threshold(small, psi, 300, 0.05, draws=2000, resample_reference=False)
    auto_large = null_threshold(large, psi, 300, 0.05, draws=2000)
    assert auto_large == null_threshold(large, psi, 300, 0.05, draws=2000, resample_reference=False)


def test_threshold_is_the_conservative_order_statistic() -> None:
    rng = np.random.default_rng(2)
    ref = rng.multinomial(5_000, rng.dirichlet(np.ones(6)))
    alpha, n = 0.05, 999
    draws = null_draws(ref, js_distance, 200, n, seed=4)
    threshold = null_threshold(ref, js_distance, 200, alpha, draws=n, seed=4)
    assert threshold == np.sort(draws)[math.ceil((1 - alpha) * (n + 1)) - 1]
    # The threshold itself is not significant, anything above it is.
    assert empirical_p_value(threshold, draws) > alpha
    assert empirical_p_value(np.nextafter(threshold, np.inf), draws) <= alpha


def test_null_draws_are_reproducible_and_chunked() -> None:
    ref = np.array([500, 300, 150, 50, 0])
    a = null_draws(ref, psi, 80, 2**21 // 5 + 17, seed=3)  # more than one chunk of 2**21 cells
    b = null_draws(ref, psi, 80, a.shape[0], seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (2**21 // 5 + 17,)
    assert not np.array_equal(a[:1000], null_draws(ref, psi, 80, 1000, seed=4))
    # Under no drift the mean PSI is about (K−1)/n (plus smoothing bias); it is nowhere near 0 or 1.
    assert 0.5 * 4 / 80 < a.mean() < 2 * 4 / 80


def test_default_draws() -> None:
    assert default_draws(0.01) == 20_000
    assert default_draws(0.005) == 40_000
    assert default_draws(1e-4) == 200_000
    assert default_draws(0.3) == 667


def test_null_threshold_argument_checks() -> None:
    ref = np.array([10, 20, 30])
    with pytest.raises(ValueError, match="alpha"):
        null_threshold(ref, psi, 100, 0.0)
    with pytest.raises(ValueError, match="window"):
        null_threshold(ref, psi, 0, 0.05)
    with pytest.raises(ValueError, match="draws cannot resolve"):
        null_threshold(ref, psi, 100, 0.01, draws=50)
    with pytest.raises(ValueError, match="all zero"):
        null_threshold([0, 0, 0], psi, 100, 0.05)
    with pytest.raises(ValueError, match="integers"):
        null_threshold([1.5, 2.0, 3.0], psi, 100, 0.05)
    with pytest.raises(ValueError, match="must return"):
        null_threshold(ref, lambda r, c: np.zeros(3), 100, 0.05, draws=100)


def test_empirical_p_value() -> None:
    null = np.array([4.0, 1.0, 3.0, 2.0])
    assert empirical_p_value(3.0, null) == pytest.approx(3 / 5)  # 3 and 4 are >= 3
    assert empirical_p_value(9.0, null) == pytest.approx(1 / 5)  # never 0
    assert empirical_p_value(0.0, null) == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(empirical_p_value([2.5, 4.0], null)), [3 / 5, 2 / 5])


# --------------------------------------------------------------------------- cache


def test_threshold_cache_hits_and_keys() -> None:
    cache = ThresholdCache(maxsize=8, draws=500)
    ref = np.array([40, 30, 20, 10, 0])
    first = cache.get(ref, psi, 100, 0.05)
    assert first == null_threshold(ref, psi, 100, 0.05, draws=500)
    assert cache.get(ref.copy(), psi, 100, 0.05) == first
    assert (cache.hits, cache.misses) == (1, 1)
    cache.get(ref, psi, 200, 0.05)
    cache.get(ref, psi, 100, 0.02)
    cache.get(ref, hellinger, 100, 0.05)
    cache.get(ref + np.array([1, 0, 0, 0, 0]), psi, 100, 0.05)
    cache.get(ref, functools.partial(ks_binned, ordered=4), 100, 0.05)
    cache.get(ref, functools.partial(ks_binned, ordered=3), 100, 0.05)
    assert (cache.hits, cache.misses, len(cache)) == (1, 7, 7)


def test_threshold_cache_is_lru() -> None:
    cache = ThresholdCache(maxsize=2, draws=200)
    ref = np.array([5, 5, 5])
    cache.get(ref, psi, 10, 0.1)
    cache.get(ref, psi, 20, 0.1)
    cache.get(ref, psi, 10, 0.1)  # refreshes window 10
    cache.get(ref, psi, 30, 0.1)  # evicts window 20
    assert len(cache) == 2
    misses = cache.misses
    cache.get(ref, psi, 10, 0.1)
    assert cache.misses == misses
    cache.get(ref, psi, 20, 0.1)
    assert cache.misses == misses + 1


def test_statistic_names() -> None:
    assert statistic_name(psi).endswith("divergence.psi")
    with_edges = functools.partial(ks_binned, ordered=10)
    assert statistic_name(with_edges) != statistic_name(functools.partial(ks_binned, ordered=9))
    with pytest.raises(ValueError, match="name="):
        statistic_name(lambda r, c: psi(r, c, smoothing=1.0))
    cache = ThresholdCache(draws=200)
    assert cache.get([5, 5, 5], lambda r, c: psi(r, c, smoothing=1.0), 10, 0.1, name="psi-a1") > 0


# --------------------------------------------------------------------------- multiple testing

BH_1995 = np.array([0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262,
                    0.5719, 0.6528, 0.7590, 1.0000])
"""The fifteen p-values of Benjamini & Hochberg's (1995) worked example."""


def _holm_brute(p: FloatArray, alpha: float) -> npt.NDArray[np.bool_]:
    # Holm-adjusted p-values: running max of (m − j + 1)·p_(j); reject where the adjusted value <= alpha.
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for j, idx in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[idx]))
        adjusted[idx] = running
    return adjusted <= alpha


def _bh_brute(p: FloatArray, q: float) -> npt.NDArray[np.bool_]:
    m = len(p)
    ranked = sorted(p)
    largest = 0
    for k in range(1, m + 1):
        if ranked[k - 1] <= k * q / m:
            largest = k
    if largest == 0:
        return np.zeros(m, dtype=bool)
    return np.asarray(p <= ranked[largest - 1], dtype=bool)


def test_benjamini_hochberg_paper_example() -> None:
    # BH (1995): the FDR procedure rejects the four smallest; Bonferroni/Holm only three.
    rejected = benjamini_hochberg(BH_1995, 0.05)
    np.testing.assert_array_equal(rejected, np.arange(15) < 4)
    np.testing.assert_array_equal(holm(BH_1995, 0.05), np.arange(15) < 3)
    shuffled = np.random.default_rng(0).permutation(15)
    np.testing.assert_array_equal(benjamini_hochberg(BH_1995[shuffled], 0.05), shuffled < 4)


def test_holm_textbook_example() -> None:
    # Four tests at alpha 0.05: 0.005 <= 0.0125 and 0.01 <= 0.0167 pass, 0.03 > 0.025 stops.
    np.testing.assert_array_equal(holm([0.01, 0.04, 0.03, 0.005], 0.05), [True, False, False, True])
    # Step-down stops at the first failure even if a later one would pass its own bound.
    # (0.021 > 0.04/2 fails; 0.022 <= 0.04/1 is never reached.)
    np.testing.assert_array_equal(holm([0.022, 0.021], 0.04), [False, False])
    # BH is step-up: the last pass (0.022 <= 2·0.04/2) takes the earlier failure (0.021 > 0.04/2) with it.
    np.testing.assert_array_equal(benjamini_hochberg([0.022, 0.021], 0.04), [True, True])


def test_multiple_testing_against_brute_force() -> None:
    rng = np.random.default_rng(8)
    for trial in range(300):
        m = int(rng.integers(1, 40))
        p = np.concatenate((rng.uniform(0, 1, m // 2 + 1), rng.beta(0.1, 8, m // 2)))
        if trial % 3 == 0:
            p = np.round(p, 2)  # ties
        rng.shuffle(p)
        for level in (0.01, 0.05, 0.2):
            np.testing.assert_array_equal(holm(p, level), _holm_brute(p, level))
            np.testing.assert_array_equal(benjamini_hochberg(p, level), _bh_brute(p, level))


def test_multiple_testing_edge_cases() -> None:
    assert holm([], 0.05).shape == (0,)
    assert benjamini_hochberg([], 0.05).shape == (0,)
    with pytest.raises(ValueError, match="p-values"):
        holm([0.1, math.nan], 0.05)
    with pytest.raises(ValueError, match="p-values"):
        benjamini_hochberg([1.2], 0.05)


# --------------------------------------------------------------------------- decisions


def test_effect_gate_ignores_trivial_but_significant_shifts(normal_reference: tuple[IntArray, FloatArray]) -> None:
    ref, edges = normal_reference
    rng = np.random.default_rng(12)
    window = 200_000
    threshold = null_threshold(ref, psi, window, 0.01, draws=2000)
    shifted = _binned(rng.standard_normal(window) + 0.1, edges)  # PSI ≈ 0.01: real but trivial
    observed = float(psi(ref, shifted))
    gate = EffectGate.for_statistic("psi")
    assert observed > threshold
    assert not gate.flagged(observed, threshold)
    big = float(psi(ref, _binned(rng.standard_normal(window) + 0.5, edges)))
    decision = gate.decide(big, threshold)
    assert decision.flagged
    assert (decision.threshold, decision.min_effect) == (threshold, 0.1)


def test_effect_gate_cutoff() -> None:
    gate = EffectGate(0.1)
    assert gate.cutoff(0.03) == 0.1
    assert gate.cutoff(0.4) == 0.4
    assert not gate.flagged(0.3, 0.4)
    assert gate.flagged(0.41, 0.4)
    assert not gate.flagged(0.1, 0.05)  # strictly greater
    assert not gate.flagged(math.nan, 0.05)
    assert set(DEFAULT_MIN_EFFECT) == {"psi", "js_distance", "hellinger", "ks_binned", "wasserstein_binned"}
    with pytest.raises(ValueError, match="no default"):
        EffectGate.for_statistic("chi_square")
    with pytest.raises(ValueError, match="min_effect"):
        EffectGate(-1.0)


def _run(machine: Hysteresis, flags: str) -> str:
    return "".join("A" if machine.update(f == "x") else "." for f in flags)


def test_hysteresis_sequences() -> None:
    assert _run(Hysteresis(), "x.xxx..x...x") == "...AAAAAAA.."
    assert _run(Hysteresis(raise_after=1, clear_after=1), "x.x..x") == "A.A..A"
    assert _run(Hysteresis(raise_after=3, clear_after=2), "xx.xxx.x..xx") == ".....AAAA..."
    assert _run(Hysteresis(), "x.x.x.x.") == "........"  # alternating never raises


def test_hysteresis_state_round_trip() -> None:
    machine = Hysteresis(raise_after=2, clear_after=3)
    _run(machine, "xxx.")  # alarm on, one clean window towards clearing
    state = json.loads(json.dumps(machine.to_state()))
    assert state == {"raise_after": 2, "clear_after": 3, "alarm": True, "run": 1}
    restored = Hysteresis.from_state(state)
    assert _run(restored, "..x...") == _run(machine, "..x...") == "A....."
    with pytest.raises(ValueError, match="out of range"):
        Hysteresis.from_state({**state, "run": 3})
    with pytest.raises(ValueError, match="not a Hysteresis state"):
        Hysteresis.from_state({**state, "alarm": "yes"})
    with pytest.raises(ValueError, match=">= 1"):
        Hysteresis(raise_after=0)
