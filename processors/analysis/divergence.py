"""Distances and tests between a reference's bucket counts and a current window's.

Drift is measured on binned distributions: a reference profile fixes the buckets (numeric: quantile
bins with open outer bins and a trailing NaN bucket; categorical: top-k + other + unseen + missing)
and a window is counted into the same buckets. Every function here takes

* ``reference`` -- counts of shape ``(K,)``;
* ``current`` -- counts of shape ``(K,)`` for one window, or ``(M, K)`` for ``M`` windows (or
  Monte-Carlo draws) at once,

and returns a ``float`` for one window or an ``(M,)`` array for many. Counts are normally ``int64``;
non-negative real counts (weighted counts) are accepted as well.

Probabilities are smoothed additively, ``p_i = (c_i + a) / (n + a·K)`` with ``a = 0.5`` (Jeffreys'
prior) by default, so empty buckets give finite, not epsilon-dominated, log ratios. With
``smoothing=0`` an empty window (``n = 0``) has no distribution and its statistic is NaN.

:func:`chi2_sf` is the chi-square survival function, implemented here because the runtime may depend
on numpy alone.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_SMOOTHING",
    "chi2_sf",
    "chi_square",
    "g_test",
    "hellinger",
    "js_distance",
    "ks_binned",
    "psi",
    "wasserstein_binned",
]

FloatArray = npt.NDArray[np.float64]

DEFAULT_SMOOTHING = 0.5
"""Additive (Jeffreys) pseudo-count per bucket: ``p_i = (c_i + 0.5) / (n + 0.5·K)``."""

# Relative tolerance of the incomplete-gamma iterations: a few ulps, because |delta - 1| can sit at
# exactly one ulp for ever and a tolerance of one eps would then never be met.
_GAMMA_EPS = 4.0 * float(np.finfo(np.float64).eps)
# Lentz's guard against a zero denominator (Numerical Recipes §5.2).
_LENTZ_TINY = 1e-300

# Lanczos approximation, g = 7, n = 9 (the coefficient set published by Godfrey); relative error of
# Γ below 1e-15 for Re z >= 0.5, which is the only range the chi-square needs (a = dof/2 >= 0.5).
_LANCZOS_G = 7.0
_LANCZOS_COEF = np.array([
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
    -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
    1.5056327351493116e-7,
])
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


# --------------------------------------------------------------------------- input handling


def _reference(reference: npt.ArrayLike) -> FloatArray:
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 1 or ref.shape[0] == 0:
        raise ValueError(f"reference counts must have shape (K,) with K >= 1, got {ref.shape}")
    if not np.all(np.isfinite(ref)) or np.any(ref < 0):
        raise ValueError("reference counts must be finite and non-negative")
    return ref


def _pair(reference: npt.ArrayLike, current: npt.ArrayLike) -> tuple[FloatArray, FloatArray, bool]:
    """Validated ``(reference (K,), current (M, K), current_was_1d)``."""
    ref = _reference(reference)
    cur = np.asarray(current, dtype=np.float64)
    single = cur.ndim == 1
    if single:
        cur = cur[np.newaxis, :]
    if cur.ndim != 2 or cur.shape[1] != ref.shape[0]:
        raise ValueError(f"current counts must have shape ({ref.shape[0]},) or (M, {ref.shape[0]}), got "
                         f"{np.shape(current)}")
    if not np.all(np.isfinite(cur)) or np.any(cur < 0):
        raise ValueError("current counts must be finite and non-negative")
    return ref, cur, single


def _out(values: FloatArray, single: bool) -> float | FloatArray:
    return float(values[0]) if single else values


def _check_smoothing(smoothing: float) -> None:
    if not (math.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be finite and >= 0, got {smoothing}")


def _smoothed(counts: FloatArray, smoothing: float) -> FloatArray:
    """Rows of ``counts`` as probabilities, ``(c + a) / (n + a·K)``; NaN rows when ``n + a·K == 0``."""
    k = counts.shape[-1]
    total = counts.sum(axis=-1, keepdims=True) + smoothing * k
    with np.errstate(invalid="ignore", divide="ignore"):
        probs: FloatArray = (counts + smoothing) / total
    return probs


def _proportions(counts: FloatArray) -> FloatArray:
    """Unsmoothed rows of ``counts`` as proportions (empirical distribution); NaN rows when empty."""
    return _smoothed(counts, 0.0)


# --------------------------------------------------------------------------- distances


def psi(reference: npt.ArrayLike, current: npt.ArrayLike, smoothing: float = DEFAULT_SMOOTHING) -> float | FloatArray:
    """Population Stability Index between the reference and the current window(s).

    ``PSI = Σ_i (q_i − p_i) · ln(q_i / p_i)`` with ``p`` the reference's and ``q`` the window's smoothed
    probabilities. It is the symmetrised Kullback–Leibler (Jeffreys) divergence ``KL(q‖p) + KL(p‖q)``,
    so every term is non-negative and identical distributions give exactly 0. For small shifts
    ``PSI ≈ Σ (q_i − p_i)² / p_i``, whose null mean is about ``(K − 1)(1/n + 1/N)`` -- hence thresholds
    calibrated to the window size (:mod:`.calibration`) rather than fixed cut-offs.

    References: N. Siddiqi, *Credit Risk Scorecards* (Wiley, 2006); B. Yurdakul, "Statistical
    properties of the population stability index", PhD thesis, Western Michigan University (2018).
    """
    _check_smoothing(smoothing)
    ref, cur, single = _pair(reference, current)
    p = _smoothed(ref, smoothing)
    q = _smoothed(cur, smoothing)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Equal probabilities (including both zero when smoothing is 0) contribute exactly nothing;
        # without the mask 0 · ln(0/0) would poison the sum with NaN.
        terms = np.where(p == q, 0.0, (q - p) * np.log(q / p))
    return _out(terms.sum(axis=1), single)


def _kl_bits_terms(x: FloatArray, m: FloatArray) -> FloatArray:
    """Terms ``x_i · log2(x_i / m_i)`` with the convention ``0 · log 0 = 0``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, x * np.log2(x / m), 0.0)


def js_distance(reference: npt.ArrayLike, current: npt.ArrayLike,
                smoothing: float = DEFAULT_SMOOTHING) -> float | FloatArray:
    """Jensen–Shannon distance, the square root of the JS divergence in bits; it lies in ``[0, 1]``.

    ``JSD(p, q) = ½ KL(p‖m) + ½ KL(q‖m)`` with ``m = (p + q)/2`` and ``KL(x‖m) = Σ x_i log2(x_i/m_i)``;
    the distance is ``sqrt(JSD)``, a metric. It is finite even without smoothing (``m_i > 0`` wherever
    ``p_i`` or ``q_i`` is), and bounded by 1 with base-2 logarithms.

    References: J. Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory
    37(1), 1991; D. M. Endres & J. E. Schindelin, "A new metric for probability distributions",
    IEEE Trans. Inf. Theory 49(7), 2003.
    """
    _check_smoothing(smoothing)
    ref, cur, single = _pair(reference, current)
    p = _smoothed(ref, smoothing)[np.newaxis, :]
    q = _smoothed(cur, smoothing)
    m = 0.5 * (p + q)
    jsd = 0.5 * (_kl_bits_terms(np.broadcast_to(p, q.shape), m).sum(axis=1) + _kl_bits_terms(q, m).sum(axis=1))
    # Rounding can push a near-zero divergence slightly below 0 or a disjoint pair above 1.
    return _out(np.sqrt(np.clip(jsd, 0.0, 1.0)), single)


def hellinger(reference: npt.ArrayLike, current: npt.ArrayLike, smoothing: float = 0.0) -> float | FloatArray:
    """Hellinger distance, in ``[0, 1]``.

    ``H(p, q) = sqrt(1 − Σ_i sqrt(p_i q_i)) = sqrt(½ Σ_i (sqrt(p_i) − sqrt(q_i))²)``; the second form is
    evaluated because it is exactly 0 for identical distributions (``1 − Σ`` would leave a rounding
    residue whose square root is ~1e-8). Empty buckets need no smoothing -- every term is finite --
    so the default is the plain empirical distribution (``smoothing=0``); a positive ``smoothing``
    uses the same additive scheme as the other statistics.

    References: E. Hellinger, J. reine angew. Math. 136 (1909); L. Le Cam & G. L. Yang, *Asymptotics
    in Statistics*, 2nd ed. (Springer, 2000), ch. 3.
    """
    _check_smoothing(smoothing)
    ref, cur, single = _pair(reference, current)
    p = _smoothed(ref, smoothing)
    q = _smoothed(cur, smoothing)
    h2 = 0.5 * np.square(np.sqrt(p) - np.sqrt(q)).sum(axis=1)
    return _out(np.sqrt(np.clip(h2, 0.0, 1.0)), single)


def _ordered_part(reference: npt.ArrayLike, current: npt.ArrayLike,
                  ordered: int | None) -> tuple[FloatArray, FloatArray, bool]:
    ref, cur, single = _pair(reference, current)
    k = ref.shape[0]
    n_ordered = k if ordered is None else ordered
    if not 1 <= n_ordered <= k:
        raise ValueError(f"ordered must be in [1, {k}], got {ordered}")
    # Proportions within the ordered buckets only: the distribution of the values that are present;
    # a change in the missing rate is the other statistics' business.
    return _proportions(ref[:n_ordered]), _proportions(cur[:, :n_ordered]), single


def ks_binned(reference: npt.ArrayLike, current: npt.ArrayLike, ordered: int | None = None) -> float | FloatArray:
    """Kolmogorov–Smirnov distance between the binned empirical CDFs.

    ``D = max_j |F_p(j) − F_q(j)|`` with ``F(j) = Σ_{i<=j} c_i / Σ_{i<ordered} c_i`` over the first
    ``ordered`` buckets (default: all ``K``); pass ``ordered=K-1`` for a numeric profile so the NaN
    bucket is excluded. No smoothing: the KS statistic is defined on the empirical distributions.

    On binned data this is a *lower bound* of the exact two-sample ``D``: the binned CDFs are the
    exact ones evaluated at the bin edges, and the supremum over the edges cannot exceed the
    supremum over all x. Inside a bin both CDFs are monotone, so the exact D exceeds the binned one
    by at most the largest reference bin mass, ``max_j p_j``. With quantile bins that is ~1/K, and
    the thresholds that judge this statistic are calibrated on the same binned statistic, so the
    false-alarm rate is exact; binning costs only a little power against shifts confined within
    one bin.

    References: A. N. Kolmogorov (1933); N. V. Smirnov (1948); for the discrete/grouped case,
    W. J. Conover, *Practical Nonparametric Statistics*, 3rd ed. (Wiley, 1999), §6.1–6.3.
    """
    p, q, single = _ordered_part(reference, current, ordered)
    diff = np.abs(np.cumsum(q, axis=1) - np.cumsum(p)[np.newaxis, :])
    return _out(diff.max(axis=1), single)


def _abs_linear_integral(a: FloatArray, b: FloatArray, width: FloatArray) -> FloatArray:
    """``∫ |f|`` over an interval of ``width`` where ``f`` is linear from ``a`` to ``b``."""
    abs_a = np.abs(a)
    abs_b = np.abs(b)
    same_sign = a * b >= 0
    denom = np.where(same_sign, 1.0, abs_a + abs_b)
    # Where f crosses zero the two triangles have areas proportional to a² and b².
    crossing = (a * a + b * b) / (2.0 * denom)
    return width * np.where(same_sign, 0.5 * (abs_a + abs_b), crossing)


def wasserstein_binned(reference: npt.ArrayLike, current: npt.ArrayLike, edges: npt.ArrayLike,
                       scale: float) -> float | FloatArray:
    """1-Wasserstein distance between the binned distributions, divided by ``scale``.

    ``W1 = ∫ |F_p(x) − F_q(x)| dx / scale``, with ``scale`` the reference standard deviation or IQR,
    so the result reads "shift in reference spreads" (the *normalised* Wasserstein distance, as the
    Evidently library reports it). With ``E`` strictly increasing ``edges`` there are ``E + 1``
    ordered bins ``(-inf, e_0), [e_0, e_1), …, [e_{E-1}, inf)`` plus the trailing NaN bucket, i.e.
    ``E + 2`` counts; the NaN bucket is excluded and proportions are taken over the present values.

    Mass is assumed uniform within each bin, so the CDFs are piecewise linear between the edges and
    the integral is exact for that model (a zero crossing inside a bin is integrated as two
    triangles). The open outer bins are given the width of their adjacent interior bin (``e_1 − e_0``
    on the left, ``e_{E-1} − e_{E-2}`` on the right): with quantile edges each outer bin holds as
    much mass as an interior one, and this choice keeps a shift into the tails finite and
    comparable. Hence at least two edges are needed.

    Reference: C. Villani, *Optimal Transport: Old and New* (Springer, 2009), ch. 6 (on the real line
    ``W1 = ∫|F − G| dx``); S. S. Vallender, Theory Probab. Appl. 18(4), 1974.
    """
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.shape[0] < 2:
        raise ValueError("wasserstein_binned needs at least two edges (one interior bin)")
    if not np.all(np.isfinite(e)) or np.any(np.diff(e) <= 0):
        raise ValueError("edges must be finite and strictly increasing")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be finite and > 0, got {scale}")
    ref, cur, single = _pair(reference, current)
    n_ordered = e.shape[0] + 1
    if ref.shape[0] != n_ordered + 1:
        raise ValueError(f"{e.shape[0]} edges need {n_ordered + 1} counts (ordered bins + NaN), got {ref.shape[0]}")
    p = _proportions(ref[:n_ordered])
    q = _proportions(cur[:, :n_ordered])
    widths = np.concatenate(([e[1] - e[0]], np.diff(e), [e[-1] - e[-2]]))
    # CDF difference at every bin boundary, starting from 0 at the far left.
    cdf_diff = np.cumsum(q - p[np.newaxis, :], axis=1)
    left = np.concatenate((np.zeros((cdf_diff.shape[0], 1)), cdf_diff[:, :-1]), axis=1)
    w1 = _abs_linear_integral(left, cdf_diff, widths[np.newaxis, :]).sum(axis=1)
    return _out(w1 / scale, single)


# --------------------------------------------------------------------------- tests of homogeneity


def _lgamma(a: FloatArray) -> FloatArray:
    """``ln Γ(a)`` for ``a >= 0.5`` by the Lanczos approximation (C. Lanczos, SIAM J. Numer. Anal. B1, 1964)."""
    z = a - 1.0
    ks = np.arange(1, _LANCZOS_COEF.shape[0], dtype=np.float64)
    series = _LANCZOS_COEF[0] + (_LANCZOS_COEF[1:] / (z[..., np.newaxis] + ks)).sum(axis=-1)
    t = z + _LANCZOS_G + 0.5
    out: FloatArray = _HALF_LOG_2PI + (z + 0.5) * np.log(t) - t + np.log(series)
    return out


def _log_gamma_prefactor(a: FloatArray, x: FloatArray) -> FloatArray:
    """``ln(e^{-x} x^a / Γ(a))``, the common factor of the incomplete-gamma series and fraction."""
    out: FloatArray = a * np.log(x) - x - _lgamma(a)
    return out


def _lower_gamma_series(a: FloatArray, x: FloatArray) -> FloatArray:
    """Regularised lower incomplete gamma ``P(a, x)`` by its power series (use for ``x < a + 1``).

    ``P(a, x) = e^{-x} x^a / Γ(a) · Σ_{n>=0} x^n / (a (a+1) … (a+n))`` (Numerical Recipes §6.2).
    """
    if a.size == 0:
        return np.zeros_like(a)
    term = 1.0 / a
    total = term.copy()
    denom = a.copy()
    # The terms shrink like exp(-n²/2a) near x ≈ a, so ~9·sqrt(a) terms reach double precision.
    for _ in range(100 + int(20 * math.sqrt(float(a.max())))):
        denom += 1.0
        term *= x / denom
        total += term
        if np.all(np.abs(term) < np.abs(total) * _GAMMA_EPS):
            break
    lower: FloatArray = np.minimum(np.exp(_log_gamma_prefactor(a, x)) * total, 1.0)
    return lower


def _upper_gamma_fraction(a: FloatArray, x: FloatArray) -> FloatArray:
    """Regularised upper incomplete gamma ``Q(a, x)`` by its continued fraction (use for ``x >= a + 1``).

    ``Q(a, x) = e^{-x} x^a / Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …)))``, evaluated with
    the modified Lentz algorithm (Numerical Recipes §5.2, §6.2).
    """
    if a.size == 0:
        return np.zeros_like(a)
    b = x + 1.0 - a
    c = np.full_like(a, 1.0 / _LENTZ_TINY)
    d = 1.0 / b
    h = d.copy()
    done = np.zeros(a.shape, dtype=bool)
    for i in range(1, 100 + int(20 * math.sqrt(float(a.max())))):
        an = -i * (i - a)
        b = b + 2.0
        d = an * d + b
        d = np.where(np.abs(d) < _LENTZ_TINY, _LENTZ_TINY, d)
        c = b + an / c
        c = np.where(np.abs(c) < _LENTZ_TINY, _LENTZ_TINY, c)
        d = 1.0 / d
        delta = d * c
        # Converged entries are frozen so extra iterations for their neighbours cannot drift them.
        h = np.where(done, h, h * delta)
        done |= np.abs(delta - 1.0) < _GAMMA_EPS
        if done.all():
            break
    upper: FloatArray = np.exp(_log_gamma_prefactor(a, x)) * h
    return upper


def chi2_sf(x: npt.ArrayLike, dof: npt.ArrayLike) -> float | FloatArray:
    """Survival function of the chi-square distribution, ``P(X > x)`` for ``X ~ χ²(dof)``.

    ``chi2_sf(x, k) = Q(k/2, x/2)``, the regularised upper incomplete gamma function
    ``Q(a, z) = Γ(a, z)/Γ(a)``. For ``z < a + 1`` it is ``1 − P(a, z)`` with ``P`` from the power series
    (there ``Q`` is not small, so the subtraction loses nothing); otherwise the continued fraction
    gives ``Q`` directly, which keeps far-tail p-values (down to ~1e-300) at full relative accuracy.
    ``ln Γ`` comes from the Lanczos approximation. Vectorised over ``x`` and ``dof`` (broadcast);
    ``dof`` may be non-integer but must be > 0. ``x <= 0`` gives 1, ``x = inf`` gives 0, NaN gives NaN.
    Relative error is ~1e-13 for dof up to a few hundred; for very large dof (≫ 1e4) the
    ``a·ln z − z − ln Γ(a)`` cancellation costs digits.

    Reference: W. H. Press et al., *Numerical Recipes*, 3rd ed. (Cambridge, 2007), §6.2;
    M. Abramowitz & I. Stegun, *Handbook of Mathematical Functions* (1964), 6.5 and 26.4.
    """
    x_arr = np.asarray(x, dtype=np.float64)
    dof_arr = np.asarray(dof, dtype=np.float64)
    if not np.all(np.isfinite(dof_arr) & (dof_arr > 0)):
        raise ValueError("dof must be finite and > 0")
    scalar = x_arr.ndim == 0 and dof_arr.ndim == 0
    a, z = np.broadcast_arrays(0.5 * dof_arr, 0.5 * x_arr)
    a = np.ascontiguousarray(a).ravel()
    z = np.ascontiguousarray(z).ravel()
    out = np.full(z.shape, np.nan)
    out[z <= 0] = 1.0
    out[z == np.inf] = 0.0
    interior = (z > 0) & np.isfinite(z)
    series = interior & (z < a + 1.0)
    fraction = interior & ~series
    out[series] = 1.0 - _lower_gamma_series(a[series], z[series])
    out[fraction] = _upper_gamma_fraction(a[fraction], z[fraction])
    if scalar:
        return float(out[0])
    shaped: FloatArray = out.reshape(np.broadcast_shapes(x_arr.shape, dof_arr.shape))
    return shaped


def _contingency(reference: npt.ArrayLike,
                 current: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    """Observed and expected cells of the 2×K tables, and ``dof`` per table; empty columns drop out."""
    ref, cur, single = _pair(reference, current)
    observed_ref = np.broadcast_to(ref, cur.shape)
    column = observed_ref + cur
    n_ref = ref.sum()
    n_cur = cur.sum(axis=1, keepdims=True)
    grand = n_ref + n_cur
    with np.errstate(invalid="ignore", divide="ignore"):
        # Cells of an all-zero column (or of a table with no counts at all) get expectation 0; they
        # are skipped below, exactly as if the column had been removed from the table.
        expected_ref = np.where(grand > 0, n_ref * column / grand, 0.0)
        expected_cur = np.where(grand > 0, n_cur * column / grand, 0.0)
    dof = np.maximum((column > 0).sum(axis=1) - 1, 0).astype(np.float64)
    return observed_ref, cur, expected_ref, expected_cur, dof, single


def _p_values(statistic: FloatArray, dof: FloatArray) -> FloatArray:
    # A single non-empty column (dof 0) carries no evidence against homogeneity; the statistic is 0.
    p = np.ones_like(statistic)
    testable = dof > 0
    p[testable] = np.asarray(chi2_sf(statistic[testable], dof[testable]), dtype=np.float64)
    return p


def chi_square(reference: npt.ArrayLike,
               current: npt.ArrayLike) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Pearson's chi-square test of homogeneity of the 2×K table (reference row, current row).

    ``X² = Σ_{r,j} (O_rj − E_rj)² / E_rj`` with ``E_rj = R_r C_j / N`` (row total × column total /
    grand total); columns where both counts are 0 are dropped and ``dof = (#columns − 1)``. The
    p-value is ``chi2_sf(X², dof)``; a table with one column left has ``dof = 0`` and p = 1. No
    continuity correction. Returns ``(statistic, p_value)``, as floats or as ``(M,)`` arrays.

    Reference: K. Pearson, Phil. Mag. 50 (1900); A. Agresti, *Categorical Data Analysis*, 3rd ed.
    (Wiley, 2013), §3.2.
    """
    obs_ref, obs_cur, exp_ref, exp_cur, dof, single = _contingency(reference, current)
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = (np.where(exp_ref > 0, np.square(obs_ref - exp_ref) / exp_ref, 0.0)
                 + np.where(exp_cur > 0, np.square(obs_cur - exp_cur) / exp_cur, 0.0))
    stat = cells.sum(axis=1)
    p = _p_values(stat, dof)
    if single:
        return float(stat[0]), float(p[0])
    return stat, p


def g_test(reference: npt.ArrayLike, current: npt.ArrayLike) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Likelihood-ratio (G) test of homogeneity of the same 2×K table as :func:`chi_square`.

    ``G = 2 Σ_{r,j} O_rj ln(O_rj / E_rj)`` over cells with ``O_rj > 0`` (``0·ln 0 = 0``), with the same
    expected counts, dropped columns and ``dof``; p-value ``chi2_sf(G, dof)``. Returns
    ``(statistic, p_value)``, as floats or as ``(M,)`` arrays.

    Reference: R. R. Sokal & F. J. Rohlf, *Biometry*, 4th ed. (Freeman, 2012), §17.2 (G-test);
    S. S. Wilks, Ann. Math. Statist. 9 (1938).
    """
    obs_ref, obs_cur, exp_ref, exp_cur, dof, single = _contingency(reference, current)
    with np.errstate(invalid="ignore", divide="ignore"):
        cells = (np.where(obs_ref > 0, obs_ref * np.log(obs_ref / exp_ref), 0.0)
                 + np.where(obs_cur > 0, obs_cur * np.log(obs_cur / exp_cur), 0.0))
    # Σ O ln(O/E) is non-negative in exact arithmetic; clip the rounding residue of a perfect fit.
    stat = np.maximum(2.0 * cells.sum(axis=1), 0.0)
    p = _p_values(stat, dof)
    if single:
        return float(stat[0]), float(p[0])
    return stat, p
