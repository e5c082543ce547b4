"""Distances and homogeneity tests on binned counts: hand-computed values, properties, scipy agreement."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftline.processors.analysis.divergence import (
    chi2_sf,
    chi_square,
    g_test,
    hellinger,
    js_distance,
    ks_binned,
    psi,
    wasserstein_binned,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

EDGES = np.array([-1.0, 0.0, 0.5, 2.0])
"""Four edges: five ordered bins plus the NaN bucket, six counts."""

DISTANCES: dict[str, Callable[[IntArray, IntArray], float | FloatArray]] = {
    "psi": psi,
    "js_distance": js_distance,
    "hellinger": hellinger,
    "ks_binned": functools.partial(ks_binned, ordered=5),
    "wasserstein_binned": functools.partial(wasserstein_binned, edges=EDGES, scale=1.3),
}


def _counts(rng: np.random.Generator, k: int, n: int) -> IntArray:
    return rng.multinomial(n, rng.dirichlet(np.ones(k)))


# --------------------------------------------------------------------------- hand-computed values


def test_psi_by_hand_unsmoothed() -> None:
    # p = (.1,.2,.3,.4), q = (.4,.3,.2,.1): terms .3 ln4 + .1 ln1.5 + .1 ln1.5 + .3 ln4
    value = psi([10, 20, 30, 40], [40, 30, 20, 10], smoothing=0.0)
    assert value == pytest.approx(0.6 * math.log(4) + 0.2 * math.log(1.5), rel=1e-12)
    assert value == pytest.approx(0.9128696, abs=1e-7)


def test_psi_smoothing_is_jeffreys_by_default() -> None:
    ref = np.array([8, 0, 2])
    cur = np.array([1, 3, 0])
    p = (ref + 0.5) / (10 + 1.5)
    q = (cur + 0.5) / (4 + 1.5)
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert psi(ref, cur) == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(psi(ref, cur))
    # Without smoothing an empty bucket on one side makes the PSI infinite.
    assert psi(ref, cur, smoothing=0.0) == math.inf


def test_js_distance_by_hand() -> None:
    # p = (1, 0), q = (.5, .5): m = (.75, .25); KL(p‖m) = log2(4/3), KL(q‖m) = ½log2(2/3) + ½log2(2)
    jsd = 0.5 * (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5)
    assert js_distance([4, 0], [2, 2], smoothing=0.0) == pytest.approx(math.sqrt(jsd), rel=1e-12)
    assert js_distance([4, 0], [2, 2], smoothing=0.0) == pytest.approx(0.5579230, abs=1e-7)
    assert js_distance([5, 0], [0, 7], smoothing=0.0) == pytest.approx(1.0, abs=1e-15)


def test_js_distance_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        ref, cur = _counts(rng, 7, 300), _counts(rng, 7, 80)
        p, q = (ref + 0.5) / (300 + 3.5), (cur + 0.5) / (80 + 3.5)
        assert js_distance(ref, cur) == pytest.approx(float(jensenshannon(p, q, base=2)), rel=1e-10)


def test_hellinger_by_hand() -> None:
    # p = (.5, .5), q = (1, 0): Bhattacharyya coefficient sqrt(.5)
    assert hellinger([1, 1], [2, 0]) == pytest.approx(math.sqrt(1 - math.sqrt(0.5)), rel=1e-12)
    assert hellinger([1, 1], [2, 0]) == pytest.approx(0.5411961, abs=1e-7)
    assert hellinger([3, 0], [0, 9]) == pytest.approx(1.0, abs=1e-15)
    p, q = np.array([6, 1, 3]) / 10, np.array([2, 2, 1]) / 5
    assert hellinger([6, 1, 3], [2, 2, 1]) == pytest.approx(math.sqrt(1 - float(np.sum(np.sqrt(p * q)))), rel=1e-12)


def test_ks_binned_by_hand_excludes_nan_bucket() -> None:
    # Ordered proportions: ref (.25,.25,.25,.25), cur (.5,.25,.25,0); CDFs differ by .25 at most.
    assert ks_binned([25, 25, 25, 25, 0], [50, 25, 25, 0, 100], ordered=4) == pytest.approx(0.25)
    # Counting the NaN bucket changes the answer: cur's CDF is (.25,.375,.5,.5,1) then.
    assert ks_binned([25, 25, 25, 25, 0], [50, 25, 25, 0, 100]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="ordered"):
        ks_binned([1, 2], [2, 1], ordered=3)


def test_ks_binned_is_a_lower_bound_of_the_exact_d() -> None:
    rng = np.random.default_rng(11)
    reference = rng.standard_normal(4000)
    edges = np.quantile(reference, np.linspace(0.1, 0.9, 9))
    ref_counts = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=11)
    max_bin_mass = ref_counts.max() / ref_counts.sum()
    for shift in (0.0, 0.05, 0.2, 0.5):
        window = rng.standard_normal(700) + shift
        cur_counts = np.bincount(np.searchsorted(edges, window, side="right"), minlength=11)
        binned = ks_binned(ref_counts, cur_counts, ordered=10)
        exact = stats.ks_2samp(reference, window).statistic
        assert binned <= exact + 1e-12
        assert exact <= binned + max_bin_mass + 1e-12


def test_wasserstein_is_exact_for_uniform_mass_within_bins() -> None:
    # edges 0,1,2 (outer bins get width 1): uniform on [0,1] against uniform on [1,2] is a unit shift.
    edges = [0.0, 1.0, 2.0]
    assert wasserstein_binned([0, 1, 0, 0, 0], [0, 0, 1, 0, 0], edges, 1.0) == pytest.approx(1.0)
    assert wasserstein_binned([0, 1, 0, 0, 0], [0, 0, 1, 0, 0], edges, 4.0) == pytest.approx(0.25)
    # Outer bins are as wide as their neighbours: all mass in (-inf, 0) vs all in [2, inf) is 3 widths.
    assert wasserstein_binned([5, 0, 0, 0, 0], [0, 0, 0, 5, 0], edges, 1.0) == pytest.approx(3.0)
    # ref (0, ½, 0, ½), cur (½, 0, ½, 0): F_q − F_p at -1, 0, 1, 2, 3 is 0, ½, 0, ½, 0 -> four triangles of ¼.
    assert wasserstein_binned([0, 1, 0, 1, 0], [1, 0, 1, 0, 0], edges, 1.0) == pytest.approx(1.0)
    # NaN bucket ignored.
    assert wasserstein_binned([0, 1, 0, 0, 9], [0, 0, 1, 0, 0], edges, 1.0) == pytest.approx(1.0)


def test_wasserstein_zero_crossing_inside_a_bin() -> None:
    # Edges 0,1,2,3: bins (-inf,0) [0,1) [1,2) [2,3) [3,inf). ref all in [1,2); cur ½ in [0,1), ½ in [2,3).
    # F_q − F_p at edges 0,1,2,3 = 0, ½, −½, 0: ½·½·1 (left) + two ⅛ triangles (middle) + ½·½·1 (right).
    value = wasserstein_binned([0, 0, 2, 0, 0, 0], [0, 1, 0, 1, 0, 0], [0.0, 1.0, 2.0, 3.0], 1.0)
    assert value == pytest.approx(0.25 + 0.25 + 0.25)


def test_wasserstein_matches_scipy_on_a_fine_grid() -> None:
    rng = np.random.default_rng(5)
    edges = np.array([-1.5, -0.2, 0.3, 1.1, 2.0])
    widths = np.concatenate(([edges[1] - edges[0]], np.diff(edges), [edges[-1] - edges[-2]]))
    lefts = np.concatenate(([edges[0] - widths[0]], edges))
    sub = 4000
    # Each bin's mass spread evenly over `sub` points approximates the uniform-within-bin model.
    grid = (lefts[:, None] + widths[:, None] * (np.arange(sub) + 0.5) / sub).ravel()
    for _ in range(5):
        ref, cur = _counts(rng, 7, 500), _counts(rng, 7, 200)
        u = np.repeat(ref[:6] / ref[:6].sum() / sub, sub)
        v = np.repeat(cur[:6] / cur[:6].sum() / sub, sub)
        expected = stats.wasserstein_distance(grid, grid, u, v)
        assert wasserstein_binned(ref, cur, edges, 0.7) == pytest.approx(expected / 0.7, rel=1e-3, abs=1e-6)


def test_wasserstein_argument_checks() -> None:
    with pytest.raises(ValueError, match="two edges"):
        wasserstein_binned([1, 1, 1], [1, 1, 1], [0.0], 1.0)
    with pytest.raises(ValueError, match="increasing"):
        wasserstein_binned([1, 1, 1, 1], [1, 1, 1, 1], [1.0, 0.0], 1.0)
    with pytest.raises(ValueError, match="counts"):
        wasserstein_binned([1, 1, 1], [1, 1, 1], [0.0, 1.0], 1.0)
    with pytest.raises(ValueError, match="scale"):
        wasserstein_binned([1, 1, 1, 1], [1, 1, 1, 1], [0.0, 1.0], 0.0)


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_identical_distributions_give_zero(name: str) -> None:
    stat = DISTANCES[name]
    counts = np.array([40, 7, 0, 13, 25, 3])
    assert stat(counts, counts) == 0.0
    rng = np.random.default_rng(1)
    windows = rng.multinomial(200, np.full(6, 1 / 6), size=5)
    np.testing.assert_array_equal(np.asarray(stat(windows[0], windows[:1])), [0.0])


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_vectorised_rows_equal_row_by_row(name: str) -> None:
    stat = DISTANCES[name]
    rng = np.random.default_rng(7)
    ref = _counts(rng, 6, 1000)
    windows = rng.multinomial(150, rng.dirichlet(np.ones(6)), size=40)
    windows[3] = 0  # an empty window is allowed (smoothing or NaN, but the same either way)
    many = np.asarray(stat(ref, windows))
    assert many.shape == (40,)
    one_by_one = np.array([stat(ref, row) for row in windows])
    np.testing.assert_allclose(many, one_by_one, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ["psi", "js_distance", "hellinger", "ks_binned"])
def test_symmetric(name: str) -> None:
    stat = DISTANCES[name]
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = _counts(rng, 6, 300), _counts(rng, 6, 300)
        assert stat(a, b) == pytest.approx(stat(b, a), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", ["js_distance", "hellinger"])
def test_bounded_by_zero_and_one(name: str) -> None:
    stat = DISTANCES[name]
    rng = np.random.default_rng(4)
    ref = _counts(rng, 6, 50)
    windows = rng.multinomial(30, rng.dirichlet(np.full(6, 0.2)), size=500)
    values = np.asarray(stat(ref, windows))
    assert np.all((values >= 0) & (values <= 1))
    unsmoothed = functools.partial(js_distance if name == "js_distance" else hellinger, smoothing=0.0)
    assert unsmoothed([9, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 4]) == pytest.approx(1.0, abs=1e-12)
    assert np.asarray(unsmoothed([9, 0, 0, 0, 0, 0], [[0, 0, 0, 0, 0, 4], [3, 0, 0, 0, 0, 1]]))[0] <= 1.0


def test_distances_grow_with_the_shift() -> None:
    # A location shift of a binned normal: every distance must increase monotonically with it.
    edges = np.linspace(-2, 2, 9)
    probs = np.diff(np.concatenate(([0.0], stats.norm.cdf(edges), [1.0])))
    ref = np.append(np.round(probs * 100_000).astype(np.int64), 0)
    rows = []
    for shift in (0.0, 0.1, 0.3, 0.6, 1.0):
        q = np.diff(np.concatenate(([0.0], stats.norm.cdf(edges - shift), [1.0])))
        rows.append(np.append(np.round(q * 100_000).astype(np.int64), 0))
    windows = np.array(rows)
    on_these_bins: dict[str, Callable[[IntArray, IntArray], float | FloatArray]] = {
        **DISTANCES,
        "ks_binned": functools.partial(ks_binned, ordered=10),
        "wasserstein_binned": functools.partial(wasserstein_binned, edges=edges, scale=1.0),
    }
    for name, stat in on_these_bins.items():
        values = np.asarray(stat(ref, windows))
        assert np.all(np.diff(values) > 0), name
    # The normalised Wasserstein recovers the shift in standard deviations; it runs a few per cent
    # short because the outer bins (2.3 % of the mass each) are assumed only one bin (0.5) wide.
    w = np.asarray(wasserstein_binned(ref, windows, edges, 1.0))
    np.testing.assert_allclose(w, [0.0, 0.1, 0.3, 0.6, 1.0], rtol=0.06, atol=1e-12)
    assert np.all(w <= [0.0, 0.1, 0.3, 0.6, 1.0])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        psi([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        psi([1, 2, 3], [1, -2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        hellinger([1, math.nan, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="smoothing"):
        js_distance([1, 2], [2, 1], smoothing=-1.0)
    with pytest.raises(ValueError, match="shape"):
        psi([[1, 2]], [1, 2])


def test_empty_window_without_smoothing_is_nan() -> None:
    assert math.isnan(hellinger([1, 2], [0, 0]))
    assert math.isnan(ks_binned([1, 2], [0, 0]))
    assert math.isfinite(psi([1, 2], [0, 0]))


# --------------------------------------------------------------------------- chi-square survival function


def test_chi2_sf_matches_scipy() -> None:
    x = np.concatenate((np.linspace(0.0, 1000.0, 4001), np.logspace(-6, 3, 400)))
    for dof in range(1, 201):
        ours = np.asarray(chi2_sf(x, dof))
        np.testing.assert_allclose(ours, stats.chi2.sf(x, dof), rtol=1e-10, atol=0, err_msg=f"dof={dof}")


def test_chi2_sf_non_integer_dof_and_broadcasting() -> None:
    x = np.array([[0.3], [7.5], [40.0]])
    dof = np.array([0.5, 2.5, 17.3, 60.0])
    np.testing.assert_allclose(np.asarray(chi2_sf(x, dof)), stats.chi2.sf(x, dof), rtol=1e-10)
    assert np.asarray(chi2_sf(x, dof)).shape == (3, 4)


def test_chi2_sf_edges() -> None:
    assert chi2_sf(0.0, 3) == 1.0
    assert chi2_sf(-2.0, 3) == 1.0
    assert chi2_sf(math.inf, 3) == 0.0
    assert math.isnan(chi2_sf(math.nan, 3))
    assert chi2_sf(3.841458820694124, 1) == pytest.approx(0.05, rel=1e-12)
    assert isinstance(chi2_sf(1.0, 1), float)
    with pytest.raises(ValueError, match="dof"):
        chi2_sf(1.0, 0)


# --------------------------------------------------------------------------- chi-square and G tests


def _random_tables(rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    ref = rng.multinomial(400, rng.dirichlet(np.ones(9)))
    ref[[2, 6]] = 0
    windows = rng.multinomial(120, rng.dirichlet(np.ones(9)), size=60)
    windows[:, 2] = 0  # column 2 is empty in every table and must be dropped
    windows[:30, 6] = rng.integers(0, 3, size=30)  # column 6 is sometimes empty
    return ref, windows


@pytest.mark.parametrize(("test", "lambda_"), [(chi_square, None), (g_test, "log-likelihood")])
def test_homogeneity_tests_match_scipy(test: Callable[..., tuple[FloatArray, FloatArray]], lambda_: str | None) -> None:
    rng = np.random.default_rng(13)
    for _ in range(3):
        ref, windows = _random_tables(rng)
        statistic, p_value = test(ref, windows)
        assert statistic.shape == p_value.shape == (60,)
        for i, row in enumerate(windows):
            table = np.vstack((ref, row))
            table = table[:, table.sum(axis=0) > 0]
            expected = stats.chi2_contingency(table, correction=False, lambda_=lambda_)
            assert statistic[i] == pytest.approx(expected.statistic, rel=1e-10)
            assert p_value[i] == pytest.approx(expected.pvalue, rel=1e-9)
            single_stat, single_p = test(ref, row)
            assert single_stat == pytest.approx(statistic[i], rel=1e-12)
            assert single_p == pytest.approx(p_value[i], rel=1e-12)


def test_homogeneity_tests_2x2_without_correction() -> None:
    # 2×2 table (10, 20 / 30, 15): χ² = Σ(O−E)²/E with E = (16, 14 / 24, 21)... computed by hand below.
    table = np.array([[10.0, 20.0], [30.0, 15.0]])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    x2 = float(((table - expected) ** 2 / expected).sum())
    g = float(2 * (table * np.log(table / expected)).sum())
    stat, p = chi_square([10, 20], [30, 15])
    assert stat == pytest.approx(x2, rel=1e-12)
    assert p == pytest.approx(math.erfc(math.sqrt(x2 / 2)), rel=1e-10)  # χ²(1) tail
    g_stat, g_p = g_test([10, 20], [30, 15])
    assert g_stat == pytest.approx(g, rel=1e-12)
    assert g_p == pytest.approx(math.erfc(math.sqrt(g / 2)), rel=1e-10)


def test_homogeneity_degenerate_tables() -> None:
    # Proportional rows: no evidence at all.
    for test in (chi_square, g_test):
        stat, p = test([10, 20, 30], [1, 2, 3])
        assert stat == pytest.approx(0.0, abs=1e-12)
        assert p == pytest.approx(1.0)
    # An empty window and a single non-empty column are not evidence either.
    assert chi_square([10, 20, 30], [0, 0, 0]) == (0.0, 1.0)
    assert g_test([0, 5, 0], [0, 7, 0]) == (0.0, 1.0)
