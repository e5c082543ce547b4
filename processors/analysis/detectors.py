"""Sequential change detectors: fast alarms on sudden shifts in one live numeric or indicator signal.

The window-based reference tests (:mod:`.divergence`, :mod:`.calibration`) compare a whole window with
a reference; they see slow or shape changes but need a full window before they can speak. The
detectors here watch every sample and raise an alarm as soon as the evidence for a sudden shift is
strong enough, with thresholds calibrated for an in-control *average run length* (ARL0, the mean
number of samples between false alarms):

* :class:`CusumBank` — two-sided standardised CUSUM (Page 1954) at several shift sizes for a numeric
  signal, robust to autocorrelation (long-run scale by batch means) and to the estimation error of a
  finite reference.
* :class:`BernoulliCusum` — log-likelihood-ratio CUSUM for an indicator stream (errors, refusals,
  truncations, new categories), Reynolds & Stoumbos (1999), threshold by a Markov chain.
* :class:`PageHinkley` — the classic Page–Hinkley test on raw values, uncalibrated, for comparison.

All follow one shape: a constructor with documented defaults, ``update_many(array)`` that processes a
whole array with numpy (no Python loop over samples — only over alarms) and returns the index of the
first alarm in that array or ``-1``, read-only properties, and a JSON-able ``to_state()`` /
``from_state()`` pair whose round trip is exact (floats are written with ``repr``). After an alarm a
detector records it and restarts from zero, then keeps scanning the rest of the array. NaN and ±inf
values are skipped: they are neither evidence nor samples.

**The vectorised update.** A one-sided CUSUM ``S_t = max(0, S_{t−1} + d_t)`` started at ``S_0 ≥ 0``
equals ``S_t = C_t − min(0, min_{j≤t} C_j)`` with ``C_t = S_0 + d_1 + … + d_t`` (Lindley's
recursion unrolled), so one ``np.cumsum`` and one ``np.minimum.accumulate`` give the whole path of a
chunk. The first index where any statistic reaches its threshold is the alarm; the statistics restart
at zero and the scan resumes just after it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt
from numpy.polynomial.hermite_e import hermegauss

__all__ = [
    "DEFAULT_SHIFTS",
    "SIEGMUND_OVERSHOOT",
    "BernoulliCusum",
    "CusumBank",
    "PageHinkley",
    "ar1_long_run_std",
    "batch_means_std",
    "bernoulli_cusum_arl",
    "bernoulli_cusum_threshold",
    "cusum_arl",
    "cusum_threshold",
]

FloatArray = npt.NDArray[np.float64]
Direction = Literal["up", "down"]

DEFAULT_SHIFTS: tuple[float, ...] = (0.25, 0.5, 1.0)
"""Default mean shifts, in long-run standard deviations, that :class:`CusumBank` is tuned to detect."""

SIEGMUND_OVERSHOOT = 1.166
"""Siegmund's boundary correction ``2 · 0.583`` for a Gaussian random walk: the expected overshoot
``−ζ(1/2)/sqrt(2π) ≈ 0.583`` of the upper threshold and of the reflecting barrier at zero."""

_STATE_VERSION = 1
_MIN_REFERENCE = 16  # fewer samples cannot give even a few batch means
# Chunk sizes for the scan: small right after an alarm (a sustained shift alarms again within tens of
# samples, and each rescan costs the whole chunk), doubling while quiet up to a cap that keeps the
# (statistics × chunk) work arrays a few megabytes.
_FIRST_CHUNK = 256
_MAX_CHUNK = 1 << 16
_COUNTS = np.arange(1, _MAX_CHUNK + 1, dtype=np.float64)
_SCALE_FLOOR = 1e-12

# Quadrature for the reference's sampling error (probabilists' Gauss–Hermite, weights summing to 1).
_U_NODES, _U_WEIGHTS = hermegauss(40)
_U_WEIGHTS = _U_WEIGHTS / _U_WEIGHTS.sum()
_G_NODES, _G_WEIGHTS = hermegauss(16)
_G_WEIGHTS = _G_WEIGHTS / _G_WEIGHTS.sum()
_P_NODES, _P_WEIGHTS = hermegauss(10)  # fewer: each node is one more Markov chain to solve
_P_WEIGHTS = _P_WEIGHTS / _P_WEIGHTS.sum()


# --------------------------------------------------------------------------------------------------
# shared helpers


def _as_finite(values: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.intp] | None]:
    """Finite values as float64, and their positions in the input when some were dropped."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    finite = np.isfinite(x)
    if finite.all():
        return x, None
    positions = np.flatnonzero(finite)
    return x[positions], positions


def _reflect_scan(paths: FloatArray, thresholds: FloatArray) -> tuple[int, FloatArray]:
    """Turn random-walk paths ``C`` (rows, already offset by the carried statistics) into CUSUM paths.

    Returns ``(t, S_t)`` for the first column where any row reaches its threshold, or ``(-1, S_end)``.
    ``paths`` is overwritten.
    """
    floor = np.minimum.accumulate(paths, axis=1)
    np.minimum(floor, 0.0, out=floor)
    paths -= floor
    if not (paths.max(axis=1) >= thresholds).any():
        return -1, paths[:, -1].copy()
    t = int((paths >= thresholds[:, None]).any(axis=0).argmax())
    return t, paths[:, t].copy()


class _Alarm:
    """The first and last alarm of one ``update_many`` call and how many there were."""

    __slots__ = ("count", "first", "last", "last_values")

    def __init__(self) -> None:
        self.count = 0
        self.first = -1
        self.last = -1
        self.last_values: FloatArray = np.zeros(0)


def _scan_walks(
    n: int,
    sums: FloatArray,
    thresholds: FloatArray,
    walks: Callable[[int, int], FloatArray],
    stop_at_alarm: bool,
) -> tuple[FloatArray, _Alarm, int]:
    """Run reflected walks over ``n`` samples in chunks, restarting every statistic after an alarm.

    ``walks(start, stop)`` gives the partial sums of the increments of samples ``start:stop`` (one row
    per statistic, not yet offset by the carried statistics). The loop runs once per chunk and once per
    alarm, never per sample. Returns the final statistics, the alarms, and how many samples were
    consumed (``n``, or up to and including the first alarm with ``stop_at_alarm``).
    """
    found = _Alarm()
    pos = 0
    chunk = _FIRST_CHUNK
    while pos < n:
        stop = min(n, pos + chunk)
        paths = walks(pos, stop)
        paths += sums[:, None]
        t, at = _reflect_scan(paths, thresholds)
        if t < 0:
            sums = at
            pos = stop
            chunk = min(2 * chunk, _MAX_CHUNK)
            continue
        found.count += 1
        if found.first < 0:
            found.first = pos + t
        found.last = pos + t
        found.last_values = at
        sums = np.zeros_like(sums)
        pos += t + 1
        chunk = _FIRST_CHUNK
        if stop_at_alarm:
            break
    return sums, found, pos


def _float_list(values: object, name: str) -> list[float]:
    if not isinstance(values, list):
        raise ValueError(f"detector state: {name!r} must be a list")
    return [float(v) for v in values]


def _check_state(state: Mapping[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"detector state: expected kind {kind!r}, got {state.get('kind')!r}")
    if state.get("version") != _STATE_VERSION:
        raise ValueError(f"{kind} state: unsupported version {state.get('version')!r}")


def _check_arl(target_arl: float) -> float:
    target = float(target_arl)
    if not (math.isfinite(target) and target > 1.0):
        raise ValueError(f"target_arl must be a finite number > 1, got {target_arl!r}")
    return target


def _check_slack(estimation_slack: float) -> float:
    slack = float(estimation_slack)
    if not (math.isfinite(slack) and slack >= 1.0):
        raise ValueError(f"estimation_slack must be a finite number >= 1, got {estimation_slack!r}")
    return slack


# --------------------------------------------------------------------------------------------------
# Gaussian CUSUM calibration


def cusum_arl(k: float, h: float, drift: float = 0.0, overshoot: float = SIEGMUND_OVERSHOOT) -> float:
    """Siegmund's (1985) approximation of the ARL of a one-sided standardised CUSUM.

    For ``S_t = max(0, S_{t−1} + z_t − k)`` with alarm at ``S_t ≥ h`` and ``z_t ~ N(drift, 1)``::

        Δ = drift − k,  b = h + overshoot
        ARL ≈ (exp(−2Δb) + 2Δb − 1) / (2Δ²)        (→ b² as Δ → 0)

    In control (``drift = 0``) this is ``(exp(2kb) − 2kb − 1) / (2k²)``. D. Siegmund, *Sequential
    Analysis: Tests and Confidence Intervals*, Springer 1985, §X.2; ``overshoot`` defaults to
    :data:`SIEGMUND_OVERSHOOT`.
    """
    delta = drift - k
    b = h + overshoot
    x = -2.0 * delta * b
    if abs(x) < 1e-8:
        return b * b
    return (math.expm1(min(x, 700.0)) - x) / (2.0 * delta * delta)


def cusum_threshold(k: float, arl: float, overshoot: float = SIEGMUND_OVERSHOOT) -> float:
    """The decision interval ``h`` whose in-control ARL is ``arl`` by Siegmund's approximation.

    Solves ``(exp(a) − a − 1) / (2k²) = arl`` for ``a = 2k(h + overshoot)`` (bisection; the left side
    is increasing in ``a``) and returns ``h = a / 2k − overshoot``, floored at a tiny positive value.
    See :func:`cusum_arl` for the formula and reference.
    """
    if not (k > 0 and math.isfinite(k)):
        raise ValueError(f"reference value k must be positive, got {k!r}")
    target = 2.0 * k * k * _check_arl(arl)
    lo, hi = 0.0, max(1.0, math.log(target) + 2.0 * math.log1p(math.log1p(target)) + 2.0)
    while math.expm1(hi) - hi < target:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if math.expm1(mid) - mid < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * hi:
            break
    return max(hi / (2.0 * k) - overshoot, 1e-9)


def _siegmund_rates(delta: FloatArray, b: FloatArray) -> FloatArray:
    """``1 / ARL`` of :func:`cusum_arl` for arrays of increment means ``Δ = drift − k`` and ``b``."""
    # Only the in-control side can overflow; for a drift towards the threshold (x → −∞) the rate
    # must keep falling like Δ/b, so no clipping there.
    x = np.minimum(-2.0 * delta * b, 700.0)
    denom = np.expm1(x) - x
    near_zero = np.abs(x) < 1e-6
    safe = np.where(near_zero, 1.0, denom)
    return np.where(near_zero, 1.0 / (b * b), 2.0 * delta * delta / safe)


class _ScaleError(NamedTuple):
    """What :meth:`CusumBank.from_reference` knows about the sampling error of its estimates."""

    n: int  # reference size: μ̂ has standard error σ_lr/sqrt(n)
    dof: int  # degrees of freedom of the batch-means variance (batches − 1)
    rho: float  # σ_sample / scale, a floor of σ̂_eff/σ_lr; also scales the overshoot
    rho_ar: float  # σ_AR(1) / scale, a second floor ...
    se_ar: float  # ... with this standard error on the log scale


_AR_NODES, _AR_WEIGHTS = hermegauss(5)
_AR_WEIGHTS = _AR_WEIGHTS / _AR_WEIGHTS.sum()


def _expected_cusum_rates(k: float, h: FloatArray, err: _ScaleError) -> FloatArray:
    """Alarm rate of one one-sided CUSUM averaged over the sampling error of its reference.

    In long-run units the standardised stream has mean ``u = (μ − μ̂)/σ_lr ~ N(0, 1/n)`` and is divided
    by ``r = σ̂_eff/σ_lr``, so the chart behaves like one on a unit-variance stream with reference
    ``k·r − u`` and threshold ``h·r`` (Siegmund rates, :func:`cusum_arl`). ``σ̂_eff`` is the largest of
    three estimates, so ``r = max(ρ, ρ_AR·e^{s·g}, sqrt(χ²_ν/ν))``: the sample standard deviation and
    the AR(1) estimate enter through their plug-in ratios to ``σ̂_eff`` (the latter with its small
    log-normal error), the batch-means estimate through its chi-square law (Wilson–Hilferty cube-root
    normal approximation). All integrals by Gauss–Hermite quadrature.
    """
    u = (_U_NODES / math.sqrt(err.n))[:, None, None]
    nu = max(err.dof, 1)
    cube = 1.0 - 2.0 / (9.0 * nu) + math.sqrt(2.0 / (9.0 * nu)) * _G_NODES
    chi = np.clip(cube, 1e-6, None) ** 1.5
    ar = err.rho_ar * np.exp(err.se_ar * _AR_NODES)
    r = np.maximum(np.maximum(err.rho, ar[None, :]), chi[:, None]).reshape(-1)
    r_weights = (_G_WEIGHTS[:, None] * _AR_WEIGHTS[None, :]).reshape(-1)
    hh = np.asarray(h, dtype=np.float64)[None, None, :]
    rr = r[None, :, None]
    rates = _siegmund_rates(u - k * rr, hh * rr + SIEGMUND_OVERSHOOT * err.rho)
    weights = _U_WEIGHTS[:, None, None] * r_weights[None, :, None]
    return np.asarray((rates * weights).sum(axis=(0, 1)), dtype=np.float64)


def _corrected_threshold(k: float, h_known: float, budget: float, err: _ScaleError) -> float:
    """Smallest ``h ≥ h_known`` whose reference-averaged alarm rate is at most ``budget``."""

    def rate(h: float) -> float:
        return float(_expected_cusum_rates(k, np.array([h]), err)[0])

    if rate(h_known) <= budget:
        return h_known
    # The averaged rate falls monotonically in h (each term does), but slowly once the reference is
    # too small for this k: grow geometrically to a bracket, then bisect.
    lo, hi = h_known, 2.0 * h_known
    while rate(hi) > budget:
        lo, hi = hi, 2.0 * hi
        if hi > 1e7:
            return hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if rate(mid) > budget:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-6 * hi:
            break
    return hi


def ar1_long_run_std(values: npt.ArrayLike) -> tuple[float, float]:
    """Long-run standard deviation implied by an AR(1) fit: ``σ · sqrt((1 + φ̂)/(1 − φ̂))``.

    ``φ̂`` is the lag-1 autocorrelation (clipped to ``[−0.98, 0.98]``) and ``σ`` the sample standard
    deviation; for an AR(1) process ``Σ_j Cov(x_t, x_{t+j}) = σ²(1 + φ)/(1 − φ)``. Far less noisy than
    batch means when the dependence is short-range, blind to slower dependence — hence only a floor.
    Returns ``(σ_AR, φ̂)``.
    """
    x, _ = _as_finite(values)
    if x.size < 3:
        raise ValueError("an AR(1) fit needs at least three values")
    d = x - x.mean()
    denom = float(d @ d)
    phi = 0.0 if denom == 0.0 else min(max(float(d[:-1] @ d[1:]) / denom, -0.98), 0.98)
    return float(x.std(ddof=1)) * math.sqrt((1.0 + phi) / (1.0 - phi)), phi


def batch_means_std(values: npt.ArrayLike, batch_size: int | None = None) -> tuple[float, int]:
    """Long-run standard deviation by non-overlapping batch means (Schmeiser 1982).

    With ``m = ⌊n/b⌋`` batches of ``b`` consecutive values (default ``b = ⌊sqrt(n)⌋``) and batch means
    ``x̄_1 … x̄_m``::

        σ_lr = sqrt(b · Var(x̄_1, …, x̄_m))          (sample variance, ddof = 1)

    For independent values this estimates the ordinary standard deviation; for positively
    autocorrelated values it estimates ``sqrt(Σ_j Cov(x_t, x_{t+j}))``, the scale that governs sums
    — and hence a CUSUM. B. Schmeiser, "Batch size effects in the analysis of simulation output",
    *Operations Research* 30(3), 1982. Returns ``(σ_lr, b)``; NaN/inf values are dropped first.
    """
    x, _ = _as_finite(values)
    n = x.size
    b = math.isqrt(n) if batch_size is None else int(batch_size)
    if b < 1 or n // b < 2:
        raise ValueError(f"batch means need at least two batches: {n} values, batch size {b}")
    m = n // b
    means = x[: m * b].reshape(m, b).mean(axis=1)
    return math.sqrt(b * float(np.var(means, ddof=1))), b


# --------------------------------------------------------------------------------------------------
# CusumBank


class _Detector:
    """What every detector here shares: the counters and the one-value form of ``update_many``."""

    _samples: int
    _alarms: int
    _last_alarm: dict[str, Any] | None

    def update_many(self, values: npt.ArrayLike, *, stop_at_alarm: bool = False) -> int:
        raise NotImplementedError

    @property
    def samples(self) -> int:
        """Finite values processed so far."""
        return self._samples

    @property
    def alarms(self) -> int:
        """Alarms raised so far."""
        return self._alarms

    @property
    def last_alarm(self) -> dict[str, Any] | None:
        """The latest alarm (``sample``: 0-based position among finite values; ``direction``,
        ``statistic`` and, for the CUSUMs, ``threshold`` and ``shift``), or ``None`` before the first."""
        return None if self._last_alarm is None else dict(self._last_alarm)

    def update(self, value: float) -> bool:
        """Process one value; ``True`` when it raised an alarm."""
        return self.update_many(np.array([value], dtype=np.float64)) >= 0


class CusumBank(_Detector):
    """Two-sided standardised CUSUM (Page 1954) at several shift sizes, calibrated for an in-control ARL.

    Each value is standardised, ``z = (x − mean) / scale``, and for every shift ``δ`` (in units of
    ``scale``) two one-sided statistics run with reference value ``k = δ/2``::

        S⁺_t = max(0, S⁺_{t−1} + z_t − k)        S⁻_t = max(0, S⁻_{t−1} − z_t − k)

    An alarm is raised when any statistic reaches its decision interval ``h``; then all statistics
    restart at zero. ``k = δ/2`` makes each pair the likelihood-ratio optimal detector for a shift of
    exactly ``±δ`` (Moustakides 1986); several ``δ`` cover small and large shifts at once.

    **Calibration.** The false-alarm budget ``1/target_arl`` is split equally over the ``2·len(shifts)``
    one-sided statistics (Bonferroni on the alarm rate: the bank's rate is at most the sum of theirs),
    and each ``h`` solves Siegmund's approximation (1985, see :func:`cusum_arl`)::

        ARL0(k, h) ≈ (exp(2kh′) − 2kh′ − 1) / (2k²) = 2 · len(shifts) · target_arl,   h′ = h + 1.166

    At the defaults (``target_arl = 1e6``, shifts 0.25/0.5/1 σ) ``h ≈ 47.40 / 25.89 / 13.75``.
    Siegmund's formula is accurate to a few per cent (checked by simulation in the tests) and the
    Bonferroni split is conservative — statistics on the same side tend to alarm together — so the
    bank's simulated ARL0 is about 1.4–1.5 × ``target_arl``. Pass ``thresholds`` to override.
    :meth:`from_reference` estimates ``mean`` and ``scale`` from data and raises ``h`` for the
    reference's estimation error.

    Args:
        mean: in-control mean ``μ``.
        scale: in-control (long-run) standard deviation ``σ_eff``, > 0.
        shifts: shift sizes ``δ`` to detect, in units of ``scale`` (default 0.25, 0.5, 1).
        target_arl: in-control average run length of the whole bank (default 1e6 samples).
        thresholds: decision intervals ``h``, one per shift (default: calibrated as above).
    """

    def __init__(
        self,
        mean: float = 0.0,
        scale: float = 1.0,
        *,
        shifts: Sequence[float] = DEFAULT_SHIFTS,
        target_arl: float = 1e6,
        thresholds: Sequence[float] | None = None,
    ) -> None:
        if not math.isfinite(mean):
            raise ValueError(f"mean must be finite, got {mean!r}")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be finite and > 0, got {scale!r}")
        deltas = [float(s) for s in shifts]
        if not deltas or not all(math.isfinite(d) and d > 0 for d in deltas):
            raise ValueError(f"shifts must be a non-empty sequence of positive numbers, got {shifts!r}")
        self._target_arl = _check_arl(target_arl)
        per_stat = 2 * len(deltas) * self._target_arl
        if thresholds is None:
            hs = [cusum_threshold(d / 2.0, per_stat) for d in deltas]
        else:
            hs = [float(h) for h in thresholds]
            if len(hs) != len(deltas) or not all(math.isfinite(h) and h > 0 for h in hs):
                raise ValueError("thresholds must hold one positive number per shift")
        self._mean = float(mean)
        self._scale = float(scale)
        self._shifts = tuple(deltas)
        self._h = np.array(hs + hs, dtype=np.float64)
        self._k = np.array(deltas + deltas, dtype=np.float64) / 2.0
        self._sign = np.repeat([1.0, -1.0], len(deltas))
        self._sums = np.zeros(2 * len(deltas))
        self._samples = 0
        self._alarms = 0
        self._last_alarm: dict[str, Any] | None = None
        self._calibration: dict[str, float] = {}

    @classmethod
    def from_reference(
        cls,
        values: npt.ArrayLike,
        *,
        target_arl: float = 1e6,
        shifts: Sequence[float] = DEFAULT_SHIFTS,
        batch_size: int | None = None,
        estimation_slack: float = 10.0,
    ) -> CusumBank:
        """A bank standardised and calibrated from an in-control reference sample.

        ``mean`` is the reference mean and ``scale = σ_eff = max(σ_sample, σ_lr, σ_AR)``:

        * ``σ_lr = sqrt(b · Var(batch means))``, the long-run standard deviation by non-overlapping
          batch means (:func:`batch_means_std`, batch size ``b = ⌊sqrt(n)⌋``). A CUSUM adds values up,
          and the sums of a positively autocorrelated stream wander ``σ_lr/σ_sample`` times further
          than independent values would (``sqrt(3)`` for AR(1) with ``φ = 0.5``); standardising by
          ``σ_sample`` there gives hundreds of false alarms per million samples.
        * ``σ_AR = σ_sample · sqrt((1 + φ̂)/(1 − φ̂))`` (:func:`ar1_long_run_std`). Batch means from
          2,000 values have only ~44 degrees of freedom (±11 % on ``σ_lr``), and on autocorrelated
          streams that noise, not the error of ``μ̂``, dominated false alarms (8.6 per 10^6 samples
          averaged over AR(1) references, against 1.5 with this second, far less noisy estimate of
          the same quantity). It is only a floor because an AR(1) fit misses slower dependence,
          which batch means still catch.

        Siegmund's overshoot term is scaled by ``ρ = σ_sample/scale``: a smooth autocorrelated path
        overshoots the threshold less than independent values do.

        **Estimation error.** With ``μ̂`` and ``σ̂`` estimated from ``n`` values, the chart's realised ARL0
        depends on the draw of the reference: an error of one standard error ``σ_lr/sqrt(n)`` in ``μ̂``
        moves the in-control drift of the 0.25 σ statistics by 18 %, which changes their ARL0 several
        fold, and averaged over references the false-alarm rate is dominated by the unlucky ones. So
        each ``h`` is the larger of the known-parameter value above and the smallest ``h`` whose alarm
        rate *averaged over the sampling distribution of the reference* (``μ̂ − μ ~ N(0, σ_lr²/n)``,
        ``σ̂_lr² ~ σ_lr² χ²_ν/ν`` with ``ν`` = batches − 1, see :func:`_expected_cusum_rates`) is within
        ``estimation_slack`` of the budget. With the defaults the reference-averaged bank ARL0 is
        therefore at least ``target_arl / estimation_slack = 1e5`` samples — the per-signal limit of
        one false alarm per 100,000 samples — for any reference size. A 2,000-value reference
        usually needs no correction (the known-parameter ``h`` already meets it); simulated over 200
        such references and 10^6 null samples each, false alarms averaged 1.6 per 10^6 (independent)
        and 1.5 per 10^6 (AR(1), ``φ = 0.5``), i.e. a realised ARL0 of about 6e5, not the 1e6 of
        known parameters. Reaching that too takes a larger reference (10,000 values: 0.7 per 10^6)
        — or a larger ``h``, which would break the 0.25 σ delay target. A reference too small for a shift gets
        a large ``h`` for it (slow but still calibrated). ``calibration`` reports both ARL0 figures.

        Args:
            values: in-control reference sample (NaN/inf dropped), at least 16 values.
            target_arl: in-control ARL of the bank with exactly known parameters (default 1e6).
            shifts: shift sizes in units of the long-run standard deviation.
            batch_size: batch size for the long-run scale (default ``⌊sqrt(n)⌋``).
            estimation_slack: factor by which the reference-averaged ARL0 may fall below
                ``target_arl`` (default 10).
        """
        x, _ = _as_finite(values)
        n = x.size
        if n < _MIN_REFERENCE:
            raise ValueError(f"a CUSUM reference needs at least {_MIN_REFERENCE} finite values, got {n}")
        target = _check_arl(target_arl)
        slack = _check_slack(estimation_slack)
        mean = float(x.mean())
        sigma_sample = float(x.std(ddof=1))
        sigma_lr, b = batch_means_std(x, batch_size)
        sigma_ar, phi = ar1_long_run_std(x)
        floor = _SCALE_FLOOR * max(1.0, abs(mean))
        scale = max(sigma_sample, sigma_lr, sigma_ar, floor)
        err = _ScaleError(
            n=n,
            dof=n // b - 1,
            rho=min(1.0, sigma_sample / scale),
            rho_ar=min(1.0, sigma_ar / scale),
            se_ar=1.0 / math.sqrt(n * (1.0 - phi * phi)),
        )
        deltas = [float(s) for s in shifts]
        per_stat = 2 * len(deltas) * target
        # A constant reference has no sampling error to model: any change at all is a shift.
        degenerate = scale == floor
        hs: list[float] = []
        for d in deltas:
            h_known = cusum_threshold(d / 2.0, per_stat, overshoot=SIEGMUND_OVERSHOOT * err.rho)
            hs.append(h_known if degenerate else _corrected_threshold(d / 2.0, h_known, slack / per_stat, err))
        bank = cls(mean, scale, shifts=deltas, target_arl=target, thresholds=hs)
        overshoot = SIEGMUND_OVERSHOOT * err.rho
        known_rate = sum(2.0 / cusum_arl(d / 2.0, h, overshoot=overshoot) for d, h in zip(deltas, hs, strict=True))
        averaged_rate = known_rate
        if not degenerate:
            averaged_rate = sum(
                2.0 * float(_expected_cusum_rates(d / 2.0, np.array([h]), err)[0])
                for d, h in zip(deltas, hs, strict=True)
            )
        bank._calibration = {
            "reference_size": float(n),
            "batch_size": float(b),
            "sigma_sample": sigma_sample,
            "sigma_batch_means": sigma_lr,
            "sigma_ar1": sigma_ar,
            "phi": phi,
            "estimation_slack": slack,
            "known_arl": 1.0 / known_rate,
            "expected_arl": 1.0 / averaged_rate,
        }
        return bank

    # -- properties --------------------------------------------------------------------------------

    @property
    def mean(self) -> float:
        """In-control mean used for standardisation."""
        return self._mean

    @property
    def scale(self) -> float:
        """In-control (long-run) standard deviation used for standardisation."""
        return self._scale

    @property
    def shifts(self) -> tuple[float, ...]:
        """Shift sizes ``δ`` (units of ``scale``); statistic ``i`` uses ``k = δ_i / 2``."""
        return self._shifts

    @property
    def thresholds(self) -> tuple[float, ...]:
        """Decision interval ``h`` per shift (the same for both directions)."""
        return tuple(float(h) for h in self._h[: len(self._shifts)])

    @property
    def target_arl(self) -> float:
        """In-control ARL the thresholds were calibrated for."""
        return self._target_arl

    @property
    def upper(self) -> tuple[float, ...]:
        """Current upward statistics ``S⁺``, one per shift."""
        return tuple(float(s) for s in self._sums[: len(self._shifts)])

    @property
    def lower(self) -> tuple[float, ...]:
        """Current downward statistics ``S⁻``, one per shift."""
        return tuple(float(s) for s in self._sums[len(self._shifts) :])

    @property
    def statistic(self) -> float:
        """Drift score ``max S/h`` over the bank: in ``[0, 1)`` in control, 0 right after an alarm."""
        return float((self._sums / self._h).max())

    @property
    def calibration(self) -> dict[str, float]:
        """How :meth:`from_reference` calibrated the bank (reference size, batch size, σ estimates,
        ``known_arl`` and reference-averaged ``expected_arl`` by Bonferroni sums); empty otherwise."""
        return dict(self._calibration)

    # -- updates -------------------------------------------------------------------------------------

    def update_many(self, values: npt.ArrayLike, *, stop_at_alarm: bool = False) -> int:
        """Process a batch of values; return the index (in ``values``) of the first alarm, or -1.

        Every alarm in the batch is counted and the statistics restart after each; ``last_alarm``
        describes the last one. NaN/inf values are skipped. With ``stop_at_alarm`` processing ends
        right after the first alarm and the values after it are *not* consumed — feed
        ``values[i + 1:]`` next to handle every alarm in turn.
        """
        x, positions = _as_finite(values)
        n = x.size
        if n == 0:
            return -1
        sign = self._sign[:, None]
        k = self._k[:, None]

        def walks(start: int, stop: int) -> FloatArray:
            cz = np.cumsum((x[start:stop] - self._mean) / self._scale)
            return np.asarray(sign * cz - k * _COUNTS[: stop - start], dtype=np.float64)

        self._sums, found, n = _scan_walks(n, self._sums, self._h, walks, stop_at_alarm)
        if found.count:
            self._alarms += found.count
            ratio = found.last_values / self._h
            j = int(ratio.argmax())
            half = len(self._shifts)
            self._last_alarm = {
                "sample": self._samples + found.last,
                "direction": "up" if j < half else "down",
                "shift": self._shifts[j % half],
                "statistic": float(found.last_values[j]),
                "threshold": float(self._h[j]),
            }
        self._samples += n
        if found.first < 0:
            return -1
        return found.first if positions is None else int(positions[found.first])

    def reset(self) -> None:
        """Restart all statistics at zero (counters are kept)."""
        self._sums = np.zeros_like(self._sums)

    # -- state ---------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_state` restores an identical bank."""
        return {
            "kind": "cusum_bank",
            "version": _STATE_VERSION,
            "mean": self._mean,
            "scale": self._scale,
            "shifts": list(self._shifts),
            "thresholds": list(self.thresholds),
            "target_arl": self._target_arl,
            "sums": [float(s) for s in self._sums],
            "samples": self._samples,
            "alarms": self._alarms,
            "last_alarm": self.last_alarm,
            "calibration": dict(self._calibration),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> CusumBank:
        """Rebuild a bank written by :meth:`to_state`."""
        _check_state(state, "cusum_bank")
        bank = cls(
            float(state["mean"]),
            float(state["scale"]),
            shifts=_float_list(state["shifts"], "shifts"),
            target_arl=float(state["target_arl"]),
            thresholds=_float_list(state["thresholds"], "thresholds"),
        )
        sums = _float_list(state["sums"], "sums")
        if len(sums) != bank._sums.size or not all(0.0 <= s < h for s, h in zip(sums, bank._h, strict=True)):
            raise ValueError("cusum_bank state: statistics must lie in [0, h), one per shift and direction")
        bank._sums = np.array(sums, dtype=np.float64)
        bank._samples = int(state["samples"])
        bank._alarms = int(state["alarms"])
        last = state.get("last_alarm")
        bank._last_alarm = None if last is None else dict(last)
        bank._calibration = {str(key): float(v) for key, v in dict(state.get("calibration") or {}).items()}
        return bank

    def __repr__(self) -> str:
        return (
            f"CusumBank(mean={self._mean:.6g}, scale={self._scale:.6g}, shifts={self._shifts}, "
            f"thresholds={tuple(round(h, 3) for h in self.thresholds)}, statistic={self.statistic:.3f}, "
            f"samples={self._samples}, alarms={self._alarms})"
        )


# --------------------------------------------------------------------------------------------------
# Bernoulli CUSUM calibration: Markov chain on a lattice of the statistic (Brook & Evans 1972)

_MIN_STATES = 300  # lattice points up to the largest threshold considered, at least
_MAX_STATES = 1_000  # ... and at most (one Python-level elimination step per point)
_LATTICE_WORK = 150_000  # points × band width: the elimination's arithmetic, kept to a few milliseconds


def _lattice_arls(steps: tuple[float, float], probs: FloatArray, n_states: int) -> FloatArray:
    """ARL from zero of a CUSUM on a lattice, for every absorbing boundary at once.

    The statistic lives on ``0, 1, …`` (lattice units). A zero moves it by ``steps[0]`` units and a
    one by ``steps[1]`` units (with probability ``p``, one row of ``probs`` per scenario); a fractional
    move is split between the two neighbouring lattice points with weights that keep its mean, and
    moves below zero stop at zero. For boundary ``N`` the ARL solves ``(I − Q_N) L = 1`` with ``Q_N``
    the transitions among states ``0 … N−1`` — the leading ``N×N`` block of one big matrix. Without
    pivoting (fine for this diagonally dominant M-matrix) the LU factors of a leading block are the
    leading blocks of the big factors, so with ``y = L⁻¹1`` and ``v`` the first row of ``U⁻¹`` (both
    non-negative) ``ARL_N = Σ_{i<N} v_i y_i``: one banded elimination gives all boundaries. Returns
    shape ``(len(probs), n_states)``, column ``N−1`` for boundary ``N``.
    """
    n = n_states
    batch = probs.size
    moves: list[tuple[int, float, FloatArray]] = []
    for step, prob in ((steps[0], 1.0 - probs), (steps[1], probs)):
        low = math.floor(step)
        frac = step - low
        moves.append((low, 1.0 - frac, prob))
        if frac > 0.0:
            moves.append((low + 1, frac, prob))
    lb = max(0, -min(m[0] for m in moves))
    ub = max(0, max(m[0] for m in moves))
    # Band storage, scenario last so every row operation is on contiguous memory:
    # band[i, lb + d, :] = A[i, i + d]; lb spare rows at the end keep the strided view below in bounds.
    width = lb + ub + 1
    band = np.zeros((n + lb, width, batch))
    band[:n, lb, :] = 1.0
    rows = np.arange(n)
    for offset, weight, prob in moves:
        target = np.maximum(rows + offset, 0)
        keep = target < n
        r = rows[keep]
        band[r, lb + target[keep] - r, :] -= weight * prob
    # below[k, r − 1, j] = band[k + r, lb − r + j] = A[k + r, k + j]: the rows a pivot eliminates, as a
    # plain strided view (a fixed step of width − 1 cells per row down), so no fancy indexing is needed.
    item = band.itemsize
    below = np.lib.stride_tricks.as_strided(
        band.reshape(-1)[(width - 1 + lb) * batch :],  # starts at band[1, lb − 1] = A[1, 0]
        shape=(n, lb, ub + 1, batch),
        strides=(width * batch * item, (width - 1) * batch * item, batch * item, item),
    )

    y = np.ones((n, batch))
    v = np.zeros((n, batch))
    pushed = np.zeros((n + ub + 1, batch))  # Σ_{i<c} v_i U[i, c], accumulated as rows of U become final
    for kk in range(n):
        # Row kk of U is final here: elimination only touches rows below the pivot.
        pivot = band[kk, lb]
        v[kk] = ((1.0 if kk == 0 else 0.0) - pushed[kk]) / pivot
        jmax = min(ub, n - 1 - kk)
        urow = band[kk, lb : lb + jmax + 1]
        pushed[kk + 1 : kk + jmax + 1] += v[kk] * urow[1:]
        rmax = min(lb, n - 1 - kk)
        if rmax:
            block = below[kk, :rmax, : jmax + 1]
            factors = block[:, 0] / pivot
            block -= factors[:, None, :] * urow[None, :, :]
            y[kk + 1 : kk + 1 + rmax] -= factors * y[kk]
    return np.asarray(np.cumsum(v * y, axis=0).T, dtype=np.float64)


def _llr_weights(p0: float, p1: float) -> tuple[float, float]:
    """Log-likelihood-ratio increments ``(w0, w1)`` for a 0 and a 1 when testing ``p0 → p1``."""
    return math.log((1.0 - p1) / (1.0 - p0)), math.log(p1 / p0)


def _lattice(w0: float, w1: float, h_max: float) -> tuple[float, int]:
    """Lattice unit and number of points up to ``h_max``.

    Best is a unit equal to the frequent small increment: that step is then exact (splitting it would
    add variance on every sample) and the elimination has a band of one below the diagonal. When
    the small step is coarse (fewer than ``_MIN_STATES`` points) it becomes a whole number of
    finer units; when it is so fine that points × band width would exceed ``_LATTICE_WORK`` (rare
    events: a long run of tiny steps against a large jump), the unit is the finest within that
    budget and ``_MAX_STATES``, and the small step is split too. The ARL error is then a few per cent, and on the
    conservative side (the split adds variance, which shortens runs).
    """
    small, large = sorted((abs(w0), abs(w1)))
    if h_max / small < _MIN_STATES:
        unit = small / math.ceil(_MIN_STATES * small / h_max)
    elif (h_max / small) * (large / small) <= _LATTICE_WORK:
        unit = small
    else:
        unit = max(math.sqrt(h_max * large / _LATTICE_WORK), h_max / _MAX_STATES)
    return unit, int(h_max / unit) + 1


def _alternative_rate(p0: float, ratio: float, min_increase: float, direction: Direction) -> float:
    """The rate to detect: see :class:`BernoulliCusum`."""
    if not (ratio > 1.0 and min_increase >= 0.0):
        raise ValueError(f"ratio must be > 1 and min_increase >= 0, got {ratio!r}, {min_increase!r}")
    if direction == "up":
        return min(max(p0 * ratio, p0 + min_increase), 0.5 * (1.0 + p0))
    return min(p0 / ratio, p0 - min_increase) if p0 - min_increase > 0.0 else p0 / ratio


def _check_rates(p0: float, p1: float) -> None:
    if not (0.0 < p0 < 1.0 and 0.0 < p1 < 1.0) or p0 == p1:
        raise ValueError(f"rates must satisfy 0 < p0, p1 < 1 and p0 != p1, got p0={p0!r}, p1={p1!r}")


def bernoulli_cusum_arl(p0: float, p1: float, h: float, p: float | None = None) -> float:
    """ARL of the Bernoulli log-likelihood-ratio CUSUM with threshold ``h`` when the true rate is ``p``.

    Markov-chain approximation (Brook & Evans 1972) on a lattice of at least 300 points up to ``h``
    (see :func:`_lattice` and :func:`_lattice_arls`); ``p`` defaults to ``p0``, giving the in-control
    ARL.
    """
    _check_rates(p0, p1)
    w0, w1 = _llr_weights(p0, p1)
    unit, _ = _lattice(w0, w1, h)
    n = max(1, round(h / unit + 0.5))
    prob = np.array([p0 if p is None else float(p)])
    return float(_lattice_arls((w0 / unit, w1 / unit), np.clip(prob, 1e-12, 1.0 - 1e-12), n)[0, n - 1])


_MAX_CORRECTION = 2.0
"""The estimation correction raises ``h`` at most to this multiple of the known-p0 threshold: with
very few reference events the posterior average is dominated by implausibly small rates and would
otherwise push ``h`` so high that the chart never alarms."""


def _cap(known: npt.NDArray[np.bool_]) -> int:
    """The lattice index of ``_MAX_CORRECTION`` times the first index where ``known`` holds."""
    return int(_MAX_CORRECTION * (int(known.argmax()) + 0.5))


def _bernoulli_calibrate(
    p0: float, p1: float, target: float, posterior: tuple[FloatArray, FloatArray] | None, slack: float
) -> tuple[float, float, float, float]:
    """``(h, h_known, ARL0 at h, posterior-averaged ARL0 at h)``.

    ``h_known`` is the smallest lattice threshold with ARL0 ≥ target at ``p0``; ``h`` also keeps the
    posterior-averaged alarm rate ≤ slack/target (equal to ``h_known`` without a posterior).
    """
    w0, w1 = _llr_weights(p0, p1)
    # Siegmund: ARL0 ≈ (e^h − h − 1)/I0 with I0 = KL(p0 ‖ p1) = −E0[w]; 1.5× that h leaves room for
    # the estimation correction, and the range doubles if it was not enough.
    kl = -((1.0 - p0) * w0 + p0 * w1)
    h_max = 1.5 * math.log(max(target * kl, math.e)) + 3.0
    probs = np.array([p0]) if posterior is None else np.concatenate([[p0], posterior[0]])
    probs = np.clip(probs, 1e-12, 1.0 - 1e-12)
    fallback: tuple[float, float, float, float] | None = None
    for _ in range(8):
        unit, n = _lattice(w0, w1, h_max)
        arls = _lattice_arls((w0 / unit, w1 / unit), probs, n)
        known = arls[0] >= target
        averaged = arls[0] if posterior is None else 1.0 / (posterior[1][:, None] / arls[1:]).sum(axis=0)
        ok = known & (averaged >= target / slack)
        if ok.any():
            # ARL grows with N; the first passing N is the threshold, midway between lattice points.
            i = min(int(ok.argmax()), _cap(known))
            return (i + 0.5) * unit, (int(known.argmax()) + 0.5) * unit, float(arls[0, i]), float(averaged[i])
        if known.any() and fallback is None:
            # The known-p0 threshold exists but the posterior average never reaches the target on this
            # lattice (once the lattice is capped, coarse steps make the averaged ARL jump about): keep
            # the largest threshold examined, the conservative choice, in case no doubling passes.
            top = min(len(known) - 1, _cap(known))
            fallback = ((top + 0.5) * unit, (int(known.argmax()) + 0.5) * unit, float(arls[0, top]),
                        float(averaged[top]))
        h_max *= 2.0
    if fallback is not None:
        return fallback
    raise ValueError(f"cannot calibrate a Bernoulli CUSUM for p0={p0}, p1={p1}, target_arl={target}")


def bernoulli_cusum_threshold(p0: float, p1: float, arl: float) -> float:
    """Threshold ``h`` giving in-control ARL ``arl`` for the Bernoulli LLR CUSUM ``p0 → p1``.

    The smallest ``h`` on a fine lattice (Markov chain, :func:`bernoulli_cusum_arl`) whose ARL0 is at
    least ``arl``; all candidate thresholds come from one banded elimination (a few milliseconds).
    """
    _check_rates(p0, p1)
    return _bernoulli_calibrate(p0, p1, _check_arl(arl), None, 1.0)[1]


def _rate_posterior(events: int, n: int) -> tuple[FloatArray, FloatArray]:
    """Quadrature nodes and weights for the event rate given ``events`` in ``n`` reference values.

    Jeffreys posterior ``Beta(x + ½, n − x + ½)``. The rarer outcome's rate (events, or non-events
    when they are the majority) is approximated by ``Gamma(m + ½)/n`` with ``m`` its count — exact in
    the rare-outcome limit, slightly wider otherwise (the safe side) — through the Wilson–Hilferty
    cube-root normal approximation of the gamma, on Gauss–Hermite nodes.
    """
    rare = min(events, n - events)
    a = rare + 0.5
    cube = 1.0 - 1.0 / (9.0 * a) + math.sqrt(1.0 / (9.0 * a)) * _P_NODES
    rates = a * np.clip(cube, 0.0, None) ** 3 / n
    if rare != events:
        rates = 1.0 - rates
    return np.clip(rates, 1e-12, 1.0 - 1e-12), _P_WEIGHTS.copy()


class BernoulliCusum(_Detector):
    """Bernoulli log-likelihood-ratio CUSUM for a rate change ``p0 → p1`` (Reynolds & Stoumbos 1999).

    For an indicator stream ``x_t ∈ {0, 1}`` (error, refusal, truncation, unseen category)::

        w1 = ln(p1/p0),  w0 = ln((1 − p1)/(1 − p0))
        S_t = max(0, S_{t−1} + (w1 if x_t else w0)),   alarm when S_t ≥ h

    the optimal detector (Moustakides 1986) of a change from rate ``p0`` to ``p1``. Direction ``"up"``
    (default) watches ``p1 = max(p0·ratio, p0 + min_increase)`` (capped at ``(1 + p0)/2``); ``"down"``
    watches ``p1 = min(p0/ratio, p0 − min_increase)`` (or ``p0/ratio`` when that would be ≤ 0).
    M. R. Reynolds Jr. & Z. G. Stoumbos, "A CUSUM chart for monitoring a proportion when inspecting
    continuously", *Journal of Quality Technology* 31(1), 1999.

    **Calibration.** ``h`` is the smallest value whose in-control ARL, computed exactly up to a fine
    lattice by the Markov-chain method of Brook & Evans (1972) — the method Reynolds & Stoumbos use
    — reaches ``target_arl`` (a few milliseconds; see :func:`bernoulli_cusum_threshold`); at
    ``p0 = 0.02 → p1 = 0.04`` and ``target_arl = 1e6`` that is ``h ≈ 8.53``, where the classical bound
    ``ARL0 ≥ e^h`` would ask for 13.8 and detect much later. Non-zero values count as events.

    Args:
        p0: in-control event rate, in (0, 1).
        p1: out-of-control rate to detect (default from ``ratio`` and ``min_increase``).
        ratio: relative change to detect (default 2).
        min_increase: smallest absolute change to detect (default 0.01).
        direction: ``"up"`` (default) or ``"down"``.
        target_arl: in-control average run length (default 1e6).
        threshold: decision interval ``h`` (default: calibrated).
    """

    def __init__(
        self,
        p0: float,
        p1: float | None = None,
        *,
        ratio: float = 2.0,
        min_increase: float = 0.01,
        direction: Direction = "up",
        target_arl: float = 1e6,
        threshold: float | None = None,
    ) -> None:
        if direction not in ("up", "down"):
            raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
        if not 0.0 < p0 < 1.0:
            raise ValueError(f"p0 must lie in (0, 1), got {p0!r}")
        if p1 is None:
            p1 = _alternative_rate(p0, ratio, min_increase, direction)
        _check_rates(p0, p1)
        if (p1 > p0) != (direction == "up"):
            raise ValueError(f"p1={p1} does not match direction {direction!r} from p0={p0}")
        self._p0 = float(p0)
        self._p1 = float(p1)
        self._direction: Direction = direction
        self._target_arl = _check_arl(target_arl)
        if threshold is None:
            threshold = bernoulli_cusum_threshold(self._p0, self._p1, self._target_arl)
        if not (math.isfinite(threshold) and threshold > 0):
            raise ValueError(f"threshold must be positive, got {threshold!r}")
        self._h = np.array([float(threshold)])
        self._w0, self._w1 = _llr_weights(self._p0, self._p1)
        self._sums = np.zeros(1)
        self._samples = 0
        self._events = 0
        self._alarms = 0
        self._last_alarm: dict[str, Any] | None = None
        self._calibration: dict[str, float] = {}

    @classmethod
    def from_reference(
        cls,
        values: npt.ArrayLike,
        *,
        ratio: float = 2.0,
        min_increase: float = 0.01,
        direction: Direction = "up",
        target_arl: float = 1e6,
        estimation_slack: float = 3.0,
    ) -> BernoulliCusum:
        """A chart with ``p0`` estimated from an in-control indicator reference.

        ``p0 = max(x/n, 0.5/n)`` for ``x`` events in ``n`` values (capped at ``1 − 0.5/n``) — the floor,
        the Jeffreys posterior mean of a reference with no events, keeps a clean reference usable.

        **Estimation error.** ``p0`` is known only to about ``1/sqrt(x)`` relative error (16 % for 40
        events), and the chart is sensitive to it: an underestimated rate makes it drift upwards on a
        normal stream. As in :meth:`CusumBank.from_reference`, ``h`` is the smallest value that meets
        ``target_arl`` at ``p0`` *and* keeps the alarm rate averaged over the Jeffreys posterior of the
        rate (:func:`_rate_posterior`; one Markov chain per quadrature node, all solved together) at
        most ``estimation_slack / target_arl``. The default slack is 3, not the bank's 10, because
        this average is exact here (one statistic, exact chain) — the realised reference-averaged
        ARL0 equals it — whereas the bank's Bonferroni sum is itself conservative. Measured for
        ``p0 = 0.02`` and 2,000-value references: about 3 false alarms per 10^6 samples averaged over
        references; the price is a larger ``h`` (≈ 12.8 instead of 8.5) and slower detection.
        ``calibration`` reports ``known_threshold``, ``known_arl`` and ``expected_arl``.

        Args:
            values: in-control indicators (non-zero = event; NaN/inf dropped), at least one.
            ratio, min_increase, direction, target_arl: as for the constructor.
            estimation_slack: factor by which the posterior-averaged ARL0 may fall below
                ``target_arl`` (default 3).
        """
        x, _ = _as_finite(values)
        n = x.size
        if n == 0:
            raise ValueError("a Bernoulli reference needs at least one finite value")
        target = _check_arl(target_arl)
        slack = _check_slack(estimation_slack)
        events = int(np.count_nonzero(x))
        p0 = min(max(events / n, 0.5 / n), 1.0 - 0.5 / n)
        p1 = _alternative_rate(p0, ratio, min_increase, direction)
        h, h_known, known_arl, expected_arl = _bernoulli_calibrate(p0, p1, target, _rate_posterior(events, n), slack)
        chart = cls(p0, p1, direction=direction, target_arl=target, threshold=h)
        chart._calibration = {
            "reference_size": float(n),
            "reference_events": float(events),
            "estimation_slack": slack,
            "known_threshold": h_known,
            "known_arl": known_arl,
            "expected_arl": expected_arl,
        }
        return chart

    @property
    def p0(self) -> float:
        """In-control event rate."""
        return self._p0

    @property
    def p1(self) -> float:
        """Event rate the chart is tuned to detect."""
        return self._p1

    @property
    def direction(self) -> Direction:
        """``"up"`` or ``"down"``."""
        return self._direction

    @property
    def weights(self) -> tuple[float, float]:
        """Increments ``(w0, w1)`` for a 0 and a 1."""
        return self._w0, self._w1

    @property
    def threshold(self) -> float:
        """Decision interval ``h``."""
        return float(self._h[0])

    @property
    def target_arl(self) -> float:
        """In-control ARL the threshold was calibrated for."""
        return self._target_arl

    @property
    def statistic(self) -> float:
        """Drift score ``S/h``: in ``[0, 1)`` in control, 0 right after an alarm."""
        return float(self._sums[0] / self._h[0])

    @property
    def events(self) -> int:
        """Non-zero values processed so far."""
        return self._events

    @property
    def calibration(self) -> dict[str, float]:
        """How :meth:`from_reference` calibrated the chart (reference size and events, the
        known-``p0`` threshold, ARL0 at ``p0`` and averaged over the rate's posterior); empty otherwise."""
        return dict(self._calibration)

    def update_many(self, values: npt.ArrayLike, *, stop_at_alarm: bool = False) -> int:
        """Process a batch of indicators; return the index (in ``values``) of the first alarm, or -1.

        Non-zero values are events; NaN/inf are skipped. All alarms in the batch are counted;
        ``stop_at_alarm`` as for :meth:`CusumBank.update_many`.
        """
        x, positions = _as_finite(values)
        n = x.size
        if n == 0:
            return -1
        w0, jump = self._w0, self._w1 - self._w0

        def walks(start: int, stop: int) -> FloatArray:
            path = w0 * _COUNTS[: stop - start] + jump * np.cumsum(x[start:stop] != 0.0)
            return path[None, :]

        self._sums, found, n = _scan_walks(n, self._sums, self._h, walks, stop_at_alarm)
        if found.count:
            self._alarms += found.count
            self._last_alarm = {
                "sample": self._samples + found.last,
                "direction": self._direction,
                "statistic": float(found.last_values[0]),
                "threshold": self.threshold,
            }
        self._samples += n
        self._events += int(np.count_nonzero(x[:n]))
        if found.first < 0:
            return -1
        return found.first if positions is None else int(positions[found.first])

    def reset(self) -> None:
        """Restart the statistic at zero (counters are kept)."""
        self._sums = np.zeros(1)

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_state` restores an identical chart."""
        return {
            "kind": "bernoulli_cusum",
            "version": _STATE_VERSION,
            "p0": self._p0,
            "p1": self._p1,
            "direction": self._direction,
            "target_arl": self._target_arl,
            "threshold": self.threshold,
            "sum": float(self._sums[0]),
            "samples": self._samples,
            "events": self._events,
            "alarms": self._alarms,
            "last_alarm": self.last_alarm,
            "calibration": dict(self._calibration),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BernoulliCusum:
        """Rebuild a chart written by :meth:`to_state`."""
        _check_state(state, "bernoulli_cusum")
        direction = state["direction"]
        if direction not in ("up", "down"):
            raise ValueError(f"bernoulli_cusum state: bad direction {direction!r}")
        chart = cls(
            float(state["p0"]),
            float(state["p1"]),
            direction=direction,
            target_arl=float(state["target_arl"]),
            threshold=float(state["threshold"]),
        )
        total = float(state["sum"])
        if not 0.0 <= total < chart.threshold:
            raise ValueError("bernoulli_cusum state: statistic must lie in [0, h)")
        chart._sums = np.array([total])
        chart._samples = int(state["samples"])
        chart._events = int(state["events"])
        chart._alarms = int(state["alarms"])
        last = state.get("last_alarm")
        chart._last_alarm = None if last is None else dict(last)
        chart._calibration = {str(key): float(v) for key, v in dict(state.get("calibration") or {}).items()}
        return chart

    def __repr__(self) -> str:
        return (
            f"BernoulliCusum(p0={self._p0:.6g}, p1={self._p1:.6g}, direction={self._direction!r}, "
            f"threshold={self.threshold:.4g}, statistic={self.statistic:.3f}, samples={self._samples}, "
            f"alarms={self._alarms})"
        )


# --------------------------------------------------------------------------------------------------
# Page–Hinkley


class PageHinkley(_Detector):
    """The Page–Hinkley test (Page 1954; Hinkley 1971) on raw values, as in streaming-ML libraries.

    With ``x̄_t`` the running mean of the values since the last alarm (including ``x_t``)::

        m⁺_t = Σ_{i≤t} (x_i − x̄_i − δ),   PH⁺_t = m⁺_t − min_{j≤t} m⁺_j       (increase)
        m⁻_t = Σ_{i≤t} (x_i − x̄_i + δ),   PH⁻_t = max_{j≤t} m⁻_j − m⁻_t       (decrease)

    and an alarm when ``PH ≥ threshold`` after at least ``min_instances`` values. ``PH⁺`` is a CUSUM of
    ``x − x̄ − δ``, so the same vectorised scan applies. Unlike :class:`CusumBank` it needs no
    reference but also has no calibrated false-alarm rate: ``delta`` and ``threshold`` are in the
    signal's own units (River's defaults, without its forgetting factor: on unit-variance noise
    they alarm every few hundred values, so scale them to the signal). E. S. Page, "Continuous inspection
    schemes", *Biometrika* 41, 1954; D. V. Hinkley, "Inference about the change-point from
    cumulative sum tests", *Biometrika* 58, 1971.

    Args:
        delta: magnitude of changes to ignore (default 0.005).
        threshold: alarm threshold ``λ`` (default 50).
        min_instances: values needed after a (re)start before an alarm (default 30).
        direction: ``"both"`` (default), ``"up"`` or ``"down"``.
    """

    def __init__(
        self,
        delta: float = 0.005,
        threshold: float = 50.0,
        min_instances: int = 30,
        direction: Literal["both", "up", "down"] = "both",
    ) -> None:
        if not (delta >= 0 and math.isfinite(delta)):
            raise ValueError(f"delta must be finite and >= 0, got {delta!r}")
        if not (threshold > 0 and math.isfinite(threshold)):
            raise ValueError(f"threshold must be finite and > 0, got {threshold!r}")
        if min_instances < 1:
            raise ValueError(f"min_instances must be >= 1, got {min_instances!r}")
        if direction not in ("both", "up", "down"):
            raise ValueError(f"direction must be 'both', 'up' or 'down', got {direction!r}")
        self._delta = float(delta)
        self._threshold = float(threshold)
        self._min_instances = int(min_instances)
        self._direction: Literal["both", "up", "down"] = direction
        self._count = 0
        self._total = 0.0
        self._sums = np.zeros(2)  # PH⁺, PH⁻
        self._samples = 0
        self._alarms = 0
        self._last_alarm: dict[str, Any] | None = None

    @property
    def delta(self) -> float:
        """Tolerated change ``δ``."""
        return self._delta

    @property
    def threshold(self) -> float:
        """Alarm threshold ``λ``."""
        return self._threshold

    @property
    def min_instances(self) -> int:
        """Values needed after a (re)start before an alarm."""
        return self._min_instances

    @property
    def direction(self) -> Literal["both", "up", "down"]:
        """Which changes alarm."""
        return self._direction

    @property
    def mean(self) -> float:
        """Running mean since the last alarm (NaN before any value)."""
        return self._total / self._count if self._count else math.nan

    @property
    def statistic(self) -> float:
        """``max(PH⁺, PH⁻) / threshold`` over the watched directions: below 1 while quiet."""
        return float(self._sums[self._rows()].max() / self._threshold)

    def _rows(self) -> list[int]:
        return {"both": [0, 1], "up": [0], "down": [1]}[self._direction]

    def update_many(self, values: npt.ArrayLike, *, stop_at_alarm: bool = False) -> int:
        """Process a batch; return the index (in ``values``) of the first alarm, or -1.

        NaN/inf are skipped; ``stop_at_alarm`` as for :meth:`CusumBank.update_many`.
        """
        x, positions = _as_finite(values)
        n = x.size
        first = -1
        pos = 0
        chunk = _FIRST_CHUNK
        rows = self._rows()
        limit = np.full(2, math.inf)
        limit[rows] = self._threshold
        while pos < n:
            stop = min(n, pos + chunk)
            seg = x[pos:stop]
            counts = self._count + _COUNTS[: stop - pos]
            dev = seg - (self._total + np.cumsum(seg)) / counts
            paths = np.empty((2, seg.size))
            paths[0] = np.cumsum(dev - self._delta)
            paths[1] = np.cumsum(-dev - self._delta)
            paths += self._sums[:, None]
            floor = np.minimum.accumulate(paths, axis=1)
            np.minimum(floor, 0.0, out=floor)
            paths -= floor
            # an alarm needs min_instances values since the (re)start
            over = (paths >= limit[:, None]).any(axis=0) & (counts >= self._min_instances)
            t = int(over.argmax())
            if not over[t]:
                self._sums = paths[:, -1].copy()
                self._count += seg.size
                self._total += float(seg.sum())
                pos = stop
                chunk = min(2 * chunk, _MAX_CHUNK)
                continue
            at = paths[:, t]
            j = int(np.argmax(np.where(np.isfinite(limit), at, -math.inf)))
            self._alarms += 1
            self._last_alarm = {
                "sample": self._samples + pos + t,
                "direction": "up" if j == 0 else "down",
                "statistic": float(at[j]),
            }
            if first < 0:
                first = pos + t
            self._sums = np.zeros(2)
            self._count = 0
            self._total = 0.0
            pos += t + 1
            chunk = _FIRST_CHUNK
            if stop_at_alarm:
                n = pos
        self._samples += n
        if first < 0:
            return -1
        return first if positions is None else int(positions[first])

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_state` restores an identical detector."""
        return {
            "kind": "page_hinkley",
            "version": _STATE_VERSION,
            "delta": self._delta,
            "threshold": self._threshold,
            "min_instances": self._min_instances,
            "direction": self._direction,
            "count": self._count,
            "total": self._total,
            "sums": [float(s) for s in self._sums],
            "samples": self._samples,
            "alarms": self._alarms,
            "last_alarm": self.last_alarm,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> PageHinkley:
        """Rebuild a detector written by :meth:`to_state`."""
        _check_state(state, "page_hinkley")
        direction = state["direction"]
        if direction not in ("both", "up", "down"):
            raise ValueError(f"page_hinkley state: bad direction {direction!r}")
        detector = cls(float(state["delta"]), float(state["threshold"]), int(state["min_instances"]), direction)
        sums = _float_list(state["sums"], "sums")
        if len(sums) != 2 or min(sums) < 0.0:
            raise ValueError("page_hinkley state: 'sums' must hold two non-negative numbers")
        detector._sums = np.array(sums, dtype=np.float64)
        detector._count = int(state["count"])
        detector._total = float(state["total"])
        detector._samples = int(state["samples"])
        detector._alarms = int(state["alarms"])
        last = state.get("last_alarm")
        detector._last_alarm = None if last is None else dict(last)
        return detector

    def __repr__(self) -> str:
        return (
            f"PageHinkley(delta={self._delta:.6g}, threshold={self._threshold:.6g}, direction={self._direction!r}, "
            f"statistic={self.statistic:.3f}, samples={self._samples}, alarms={self._alarms})"
        )
