"""Thresholds calibrated to the window size, multiple-testing control, and the flag/alarm decision.

A fixed threshold ("PSI > 0.1") has a false-alarm rate that depends on the window size: under no
drift the PSI of a window of ``n`` values is roughly ``χ²(K−1)/n``, so small windows cross it often
and large ones never do. :func:`null_threshold` instead simulates the statistic under "no drift" for
the *actual* window size and returns its ``(1 − alpha)`` quantile, so every window has the same
false-alarm probability ``alpha``. :class:`EffectGate` then keeps huge windows from flagging
differences too small to matter, and :class:`Hysteresis` turns per-window flags into an alarm that
neither flickers nor lingers.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from driftline.processors.analysis.divergence import DEFAULT_SMOOTHING

__all__ = [
    "DEFAULT_MIN_EFFECT",
    "MAX_DRAWS",
    "MIN_EFFECT_HELLINGER",
    "MIN_EFFECT_JS_DISTANCE",
    "MIN_EFFECT_KS",
    "MIN_EFFECT_PSI",
    "MIN_EFFECT_WASSERSTEIN",
    "REFERENCE_NOISE_RATIO",
    "TAIL_DRAWS",
    "Decision",
    "EffectGate",
    "Hysteresis",
    "Statistic",
    "ThresholdCache",
    "benjamini_hochberg",
    "default_draws",
    "empirical_p_value",
    "holm",
    "null_draws",
    "null_threshold",
    "statistic_name",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

Statistic = Callable[[npt.NDArray[np.int64], npt.NDArray[np.int64]], "float | FloatArray"]
"""``stat(reference (K,), current (M, K)) -> (M,)``: any distance of :mod:`.divergence` (bind extra
arguments such as ``ordered`` or ``edges`` with :func:`functools.partial`)."""

TAIL_DRAWS = 200
"""Draws wanted beyond the ``(1 − alpha)`` quantile; the default draw count is ``ceil(200/alpha)``."""

MAX_DRAWS = 200_000
"""Cap on the default number of null draws (reached for ``alpha < 0.001``)."""

REFERENCE_NOISE_RATIO = 20
"""Below ``REFERENCE_NOISE_RATIO × window`` reference values, the reference's own sampling noise is
simulated as well (see :func:`null_draws`)."""

_CHUNK_CELLS = 1 << 21
"""Cells (draws × buckets) simulated per chunk: bounds the memory of one call to tens of MiB."""

# --------------------------------------------------------------------------- null distributions


def default_draws(alpha: float) -> int:
    """``min(ceil(TAIL_DRAWS / alpha), MAX_DRAWS)``: enough draws that ~200 lie beyond the quantile."""
    _check_alpha(alpha)
    return min(math.ceil(TAIL_DRAWS / alpha), MAX_DRAWS)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _reference_counts(reference_counts: npt.ArrayLike) -> npt.NDArray[np.int64]:
    ref = np.asarray(reference_counts)
    if ref.ndim != 1 or ref.shape[0] < 2:
        raise ValueError(f"reference counts must have shape (K,) with K >= 2, got {ref.shape}")
    if not np.all(np.isfinite(ref)) or np.any(ref < 0) or np.any(ref != np.round(ref)):
        raise ValueError("reference counts must be non-negative integers")
    counts = ref.astype(np.int64)
    if counts.sum() <= 0:
        raise ValueError("reference counts are all zero")
    return counts


def null_draws(reference_counts: npt.ArrayLike, statistic: Statistic, window: int, draws: int, seed: int = 0,
               *, resample_reference: bool | None = None) -> FloatArray:
    """The statistic on ``draws`` simulated windows of ``window`` values drawn with no drift.

    *Parametric bootstrap* (Davison & Hinkley 1997, §2.2): the no-drift distribution is estimated by
    the reference's smoothed probabilities ``p̂_i = (r_i + ½)/(N + ½K)`` and each window is
    ``Multinomial(window, p̂)``. That treats ``p̂`` as the truth; when the reference is small its own
    sampling noise matters too -- under no drift the statistic then fluctuates like
    ``(K−1)(1/window + 1/N)`` rather than ``(K−1)/window`` -- and thresholds from ``p̂`` alone run
    too low. So when ``resample_reference`` is true (default: when ``N < 20 × window``) the two-sample
    variant is simulated, in its compound (*Dirichlet–multinomial*) form: each draw first takes a
    plausible true distribution ``π ~ Dirichlet(r + ½)`` (the Jeffreys-prior posterior given the
    reference counts ``r``) and then the window ``~ Multinomial(window, π)``. The window's spread
    around the fixed observed reference then has the two-sample variance
    ``p(1−p)(1/window + 1/N)``, while the statistic keeps its ``stat(reference, windows)`` signature
    -- one vectorised call per chunk rather than one per resampled reference.

    Draws are made in chunks of ~2 M cells to bound memory; the result is reproducible for a
    ``seed``. References: A. C. Davison & D. V. Hinkley, *Bootstrap Methods and their Application*
    (Cambridge, 1997); B. Efron & R. Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 16;
    A. Gelman et al., *Bayesian Data Analysis*, 3rd ed. (2013), §3.4 (Dirichlet–multinomial).
    """
    ref = _reference_counts(reference_counts)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    total = int(ref.sum())
    if resample_reference is None:
        resample_reference = total < REFERENCE_NOISE_RATIO * int(window)
    k = ref.shape[0]
    concentration = ref.astype(np.float64) + DEFAULT_SMOOTHING
    p_hat = concentration / concentration.sum()
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_CELLS // k)
    out = np.empty(draws, dtype=np.float64)
    for start in range(0, draws, chunk):
        size = min(chunk, draws - start)
        pvals = rng.dirichlet(concentration, size=size) if resample_reference else p_hat
        windows = rng.multinomial(int(window), pvals, size=None if resample_reference else size)
        values = np.asarray(statistic(ref, windows.astype(np.int64)), dtype=np.float64)
        if values.shape != (size,):
            raise ValueError(f"statistic returned shape {values.shape} for {size} windows; it must return (M,)")
        out[start:start + size] = values
    return out


def _upper_order_statistic(values: FloatArray, alpha: float) -> float:
    n = values.shape[0]
    # The ceil((1 − alpha)(N + 1))-th smallest draw is the smallest cut-off t for which every
    # observation above t has empirical p-value (1 + #{null >= obs})/(1 + N) <= alpha.
    rank = math.ceil((1.0 - alpha) * (n + 1))
    if rank > n:
        raise ValueError(f"{n} draws cannot resolve alpha={alpha}; need at least {math.ceil(1 / alpha) - 1}")
    # NaN (a statistic undefined on some draw) sorts last, i.e. counts as extreme: conservative.
    return float(np.partition(values, rank - 1)[rank - 1])


def null_threshold(reference_counts: npt.ArrayLike, statistic: Statistic, window: int, alpha: float,
                   draws: int | None = None, seed: int = 0, *, resample_reference: bool | None = None) -> float:
    """The statistic's ``(1 − alpha)`` null quantile for windows of exactly ``window`` values.

    Flagging a window when ``statistic > threshold`` has false-alarm probability ``<= alpha`` under
    no drift, whatever the window size. The threshold is the ``⌈(1 − alpha)(N + 1)⌉``-th smallest of
    ``N = draws`` simulated null statistics (:func:`null_draws`: parametric bootstrap from the
    smoothed reference, plus the reference's own noise when it holds fewer than 20 × ``window``
    values), which is consistent with :func:`empirical_p_value`. ``draws`` defaults to
    :func:`default_draws` (``ceil(200/alpha)``, at most 200 000), so ~200 draws lie beyond the
    quantile and its Monte-Carlo error is ~7 % in tail probability.

    Reference: A. C. Davison & D. V. Hinkley, *Bootstrap Methods and their Application* (1997),
    §4.2 (Monte-Carlo tests).
    """
    _check_alpha(alpha)
    n_draws = default_draws(alpha) if draws is None else draws
    values = null_draws(reference_counts, statistic, window, n_draws, seed, resample_reference=resample_reference)
    return _upper_order_statistic(values, alpha)


def empirical_p_value(observed: npt.ArrayLike, null_draws: npt.ArrayLike) -> float | FloatArray:
    """Monte-Carlo p-value ``(1 + #{null >= observed}) / (1 + N)`` of one or many observed statistics.

    Counting the observation itself keeps the p-value valid (never below ``1/(N+1)``, exact size
    under exchangeability) rather than 0 for an observation beyond every draw.

    References: A. C. Davison & D. V. Hinkley, *Bootstrap Methods and their Application* (1997),
    §4.2.1; B. V. North, D. Curtis & P. C. Sham, "A note on the calculation of empirical P values
    from Monte Carlo procedures", Am. J. Hum. Genet. 71 (2002).
    """
    null = np.sort(np.asarray(null_draws, dtype=np.float64).ravel())
    obs = np.asarray(observed, dtype=np.float64)
    at_least = null.shape[0] - np.searchsorted(null, obs, side="left")
    p = (1.0 + at_least) / (1.0 + null.shape[0])
    if obs.ndim == 0:
        return float(p)
    result: FloatArray = np.asarray(p, dtype=np.float64)
    return result


# --------------------------------------------------------------------------- cache


def _array_token(array: npt.NDArray[np.generic]) -> str:
    contiguous = np.ascontiguousarray(array)
    digest = hashlib.blake2b(contiguous.tobytes(), digest_size=16).hexdigest()
    return f"{contiguous.dtype.str}{contiguous.shape}:{digest}"


def _argument_token(value: object) -> str:
    if isinstance(value, np.ndarray):
        return _array_token(value)
    return repr(value)


def statistic_name(statistic: Statistic) -> str:
    """A stable cache name for a statistic: ``module.qualname``, plus bound arguments of a partial.

    Lambdas and closures have no name that tells two apart, so they are refused (``ValueError``);
    give :meth:`ThresholdCache.get` an explicit ``name`` for them.
    """
    if isinstance(statistic, functools.partial):
        args = ",".join(_argument_token(a) for a in statistic.args)
        kwargs = ",".join(f"{k}={_argument_token(v)}" for k, v in sorted(statistic.keywords.items()))
        return f"{statistic_name(statistic.func)}({args};{kwargs})"
    qualname = getattr(statistic, "__qualname__", None)
    if not isinstance(qualname, str) or "<lambda>" in qualname or "<locals>" in qualname:
        raise ValueError(f"cannot derive a cache name for {statistic!r}; pass name=")
    return f"{getattr(statistic, '__module__', '')}.{qualname}"


class ThresholdCache:
    """LRU cache of :func:`null_threshold` results.

    Keyed by (hash of the reference counts' bytes, statistic name, window, alpha); the simulation
    settings (``draws``, ``seed``, ``resample_reference``) are fixed per cache. Windows of a steady
    stream come in a handful of sizes, so a few hundred entries spare almost all simulations.
    Thread-safe; a miss simulates outside the lock (two threads may both compute the same entry).
    """

    def __init__(self, maxsize: int = 256, *, draws: int | None = None, seed: int = 0,
                 resample_reference: bool | None = None) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._draws = draws
        self._seed = seed
        self._resample_reference = resample_reference
        self._entries: OrderedDict[tuple[str, str, int, float], float] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every threshold (for example after the reference profile is rebuilt)."""
        with self._lock:
            self._entries.clear()

    def get(self, reference_counts: npt.ArrayLike, statistic: Statistic, window: int, alpha: float, *,
            name: str | None = None) -> float:
        """The cached threshold, simulated on a miss; ``name`` overrides :func:`statistic_name`."""
        ref = _reference_counts(reference_counts)
        key = (_array_token(ref), statistic_name(statistic) if name is None else name, int(window), float(alpha))
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return cached
            self.misses += 1
        threshold = null_threshold(ref, statistic, window, alpha, self._draws, self._seed,
                                   resample_reference=self._resample_reference)
        with self._lock:
            self._entries[key] = threshold
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)
        return threshold


# --------------------------------------------------------------------------- multiple testing


def _p_array(p_values: npt.ArrayLike) -> FloatArray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {p.shape}")
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError("p-values must lie in [0, 1] (NaN is not a p-value)")
    return p


def holm(p_values: npt.ArrayLike, alpha: float) -> BoolArray:
    """Holm's step-down procedure: which hypotheses to reject with family-wise error rate ``<= alpha``.

    Sort ``p_(1) <= … <= p_(m)``; reject ``H_(1), …, H_(k)`` where ``k`` is the largest index with
    ``p_(j) <= alpha / (m − j + 1)`` for every ``j <= k`` (stop at the first failure). Valid under
    any dependence between the tests, and uniformly more powerful than Bonferroni.

    Reference: S. Holm, "A simple sequentially rejective multiple test procedure", Scand. J.
    Statist. 6(2), 1979.
    """
    _check_alpha(alpha)
    p = _p_array(p_values)
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    passes = p[order] <= alpha / (m - np.arange(m))
    # Step-down: only the unbroken run of passes from the smallest p-value counts.
    n_reject = int(np.cumprod(passes).sum())
    reject = np.zeros(m, dtype=bool)
    reject[order[:n_reject]] = True
    return reject


def benjamini_hochberg(p_values: npt.ArrayLike, q: float) -> BoolArray:
    """Benjamini–Hochberg step-up procedure: rejections with false discovery rate ``<= q``.

    Sort ``p_(1) <= … <= p_(m)``; let ``k = max{j : p_(j) <= j·q/m}`` and reject ``H_(1), …, H_(k)``
    (none if no ``j`` qualifies). FDR control holds for independent or positively dependent
    (PRDS) tests.

    References: Y. Benjamini & Y. Hochberg, "Controlling the false discovery rate", J. R. Statist.
    Soc. B 57(1), 1995; Y. Benjamini & D. Yekutieli, Ann. Statist. 29(4), 2001 (PRDS).
    """
    _check_alpha(q)
    p = _p_array(p_values)
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    passes = p[order] <= q * np.arange(1, m + 1) / m
    # Step-up: everything up to the *last* pass is rejected, even past earlier failures.
    n_reject = int(m - np.argmax(passes[::-1])) if passes.any() else 0
    reject = np.zeros(m, dtype=bool)
    reject[order[:n_reject]] = True
    return reject


# --------------------------------------------------------------------------- decisions

MIN_EFFECT_PSI = 0.1
"""PSI 0.1 is the conventional line between "no significant shift" and "moderate shift" (< 0.1 /
0.1–0.25 / > 0.25; Siddiqi 2006)."""

MIN_EFFECT_JS_DISTANCE = 0.1
"""JS distance 0.1 (Evidently's default); for small shifts ``JSD ≈ PSI / (8 ln 2)`` bits, so it
corresponds to PSI ≈ 0.055 -- a little stricter than the PSI line."""

MIN_EFFECT_HELLINGER = 0.1
"""Hellinger 0.1; for small shifts ``H² ≈ PSI / 8``, so it corresponds to PSI ≈ 0.08, near the
PSI moderate-shift line."""

MIN_EFFECT_KS = 0.1
"""KS D 0.1: ten percentage points of probability mass moved across some cut point; for a normal
it is a location shift of ~0.25 standard deviations (``D = 2Φ(δ/2) − 1``)."""

MIN_EFFECT_WASSERSTEIN = 0.1
"""Normalised Wasserstein 0.1: a location shift of 0.1 reference standard deviations moves
``W1/σ`` by exactly 0.1 (Evidently's default for its normalised Wasserstein distance)."""

DEFAULT_MIN_EFFECT: Mapping[str, float] = {
    "psi": MIN_EFFECT_PSI,
    "js_distance": MIN_EFFECT_JS_DISTANCE,
    "hellinger": MIN_EFFECT_HELLINGER,
    "ks_binned": MIN_EFFECT_KS,
    "wasserstein_binned": MIN_EFFECT_WASSERSTEIN,
}
"""Default minimum effect per :mod:`.divergence` function name."""


@dataclass(frozen=True)
class Decision:
    """One window's verdict: ``flagged`` iff ``statistic > max(threshold, min_effect)``."""

    statistic: float
    threshold: float
    min_effect: float
    flagged: bool


@dataclass(frozen=True)
class EffectGate:
    """Flags a window only when its statistic is both significant and large enough to matter.

    ``flagged = statistic > max(null_threshold, min_effect)``. The null threshold shrinks like
    ``1/window``, so on large windows any real but trivial difference becomes "significant";
    ``min_effect`` is the practical-significance floor (defaults: :data:`DEFAULT_MIN_EFFECT`).
    """

    min_effect: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_effect) and self.min_effect >= 0):
            raise ValueError(f"min_effect must be finite and >= 0, got {self.min_effect}")

    @classmethod
    def for_statistic(cls, name: str) -> EffectGate:
        """The gate with the default minimum effect of a :mod:`.divergence` statistic (by function name)."""
        try:
            return cls(DEFAULT_MIN_EFFECT[name])
        except KeyError:
            raise ValueError(f"no default minimum effect for {name!r}; known: {sorted(DEFAULT_MIN_EFFECT)}") from None

    def cutoff(self, threshold: float) -> float:
        """The effective cut-off ``max(threshold, min_effect)``."""
        return max(float(threshold), self.min_effect)

    def flagged(self, statistic: float, threshold: float) -> bool:
        """True when ``statistic > max(threshold, min_effect)``; a NaN statistic never flags."""
        return bool(statistic > self.cutoff(threshold))

    def decide(self, statistic: float, threshold: float) -> Decision:
        """The full :class:`Decision` for one window."""
        return Decision(float(statistic), float(threshold), self.min_effect, self.flagged(statistic, threshold))


class Hysteresis:
    """Debounces per-window verdicts into an alarm state.

    The alarm turns on after ``raise_after`` consecutive flagged windows and off after
    ``clear_after`` consecutive clean windows; a window of the other kind resets the run. With
    per-window false-alarm probability ``alpha`` and independent windows, a spurious alarm needs
    ``raise_after`` false alarms in a row, probability ``alpha^raise_after`` per window (e.g. 1e-4
    for alpha 0.01, raise_after 2). (Schmitt-trigger debouncing; cf. the "k consecutive points"
    run rules of Western Electric, *Statistical Quality Control Handbook*, 1956.)
    """

    def __init__(self, raise_after: int = 2, clear_after: int = 3) -> None:
        if raise_after < 1 or clear_after < 1:
            raise ValueError("raise_after and clear_after must be >= 1")
        self.raise_after = raise_after
        self.clear_after = clear_after
        self._alarm = False
        self._run = 0

    @property
    def alarm(self) -> bool:
        """The current alarm state."""
        return self._alarm

    def update(self, flagged: bool) -> bool:
        """Record one window's verdict and return the alarm state after it."""
        # The run counts consecutive windows that argue for leaving the current state.
        if bool(flagged) != self._alarm:
            self._run += 1
            if self._run >= (self.clear_after if self._alarm else self.raise_after):
                self._alarm = not self._alarm
                self._run = 0
        else:
            self._run = 0
        return self._alarm

    def to_state(self) -> dict[str, int | bool]:
        """JSON-able state; :meth:`from_state` restores it."""
        return {"raise_after": self.raise_after, "clear_after": self.clear_after, "alarm": self._alarm,
                "run": self._run}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> Hysteresis:
        """Rebuild from :meth:`to_state` output."""
        raise_after, clear_after, alarm, run = (state["raise_after"], state["clear_after"], state["alarm"],
                                                state["run"])
        if not (isinstance(raise_after, int) and isinstance(clear_after, int) and isinstance(alarm, bool)
                and isinstance(run, int) and not isinstance(run, bool)):
            raise ValueError(f"not a Hysteresis state: {dict(state)!r}")
        limit = clear_after if alarm else raise_after
        if not 0 <= run < limit:
            raise ValueError(f"run {run} out of range for a Hysteresis state")
        machine = cls(raise_after, clear_after)
        machine._alarm = alarm
        machine._run = run
        return machine
