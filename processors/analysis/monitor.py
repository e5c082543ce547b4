"""Drift monitors: a frozen reference per signal, tumbling windows tested against it, and a change detector.

Per signal, two complementary views (so both "far from training" and "changed a minute ago" are caught):

* **reference tests** — the first ``warmup`` values (or a baseline profile) freeze the reference:
  fixed quantile bins (:class:`~.profile.NumericProfile`) or top-k categories
  (:class:`~.profile.CategoricalProfile`). Every ``window`` values form a current window whose
  distance to the reference (PSI by default; JS, Hellinger, KS, Wasserstein reported alongside) is
  compared with a threshold **calibrated at that window size** by Monte-Carlo under the null
  (:mod:`.calibration`), floored by a minimum effect size, and debounced by hysteresis;
* **a sequential change detector** — numeric signals feed a standardised multi-scale CUSUM
  (:class:`~.detectors.CusumBank`), categorical ones a Bernoulli CUSUM on "a category never seen in
  the reference" (:class:`~.detectors.BernoulliCusum`): sudden shifts alarm within tens of values,
  long before a window closes.

Autocorrelated signals: the window tests calibrate at the *effective* window size
``n_eff = n · σ² / σ_lr²`` (σ_lr the batch-means long-run deviation of the reference), because the
multinomial null assumes independent values and correlated ones make the statistic vary more
(the variance-inflation argument of Bartlett 1946 / the effective sample size of Kish 1965).

False alarms: with per-window false-alarm probability ``alpha`` and ``raise_after`` consecutive
windows to raise, a signal raises spuriously with probability about ``alpha**raise_after`` per
window; a model's family of ``m`` signals about ``m`` times that (Bonferroni). The defaults
(alpha 0.01, raise after 2, windows of 500) give ~2e-4 spurious alarms per 100k values per signal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftline.semconv import names

from . import divergence
from .calibration import DEFAULT_MIN_EFFECT, EffectGate, Hysteresis, ThresholdCache
from .detectors import BernoulliCusum, CusumBank, batch_means_std
from .profile import UNSEEN, CategoricalProfile, NumericProfile, profile_from_state

__all__ = ["DriftEvent", "DriftSettings", "SignalMonitor"]

Kind = Literal["numeric", "categorical"]

_STATISTICS: Mapping[str, tuple[str, Callable[..., Any]]] = {
    "psi": (names.DRIFT_METHOD_PSI, divergence.psi),
    "js_distance": (names.DRIFT_METHOD_JS, divergence.js_distance),
    "hellinger": (names.DRIFT_METHOD_HELLINGER, divergence.hellinger),
}
"""Statistics usable on any binned signal: divergence function name → (method label, function)."""

_STATE_VERSION = 2

_VALUES, _INDICATOR, _UNSEEN, _NOT_MODE = "values", "indicator", "unseen", "not_mode"
"""The views of a signal the change detectors watch."""


@dataclass(frozen=True)
class DriftSettings:
    """How a signal's drift is judged; the defaults are what the embedded processor runs.

    ``warmup``: values frozen as the reference when no baseline is given. ``window``: values per
    current window. ``alpha``: per-window false-alarm probability of the reference test (before
    hysteresis). ``statistic``: the divergence that decides (``psi``, ``js_distance`` or
    ``hellinger``); the others are reported as scores. ``target_arl``: in-control average run
    length of the change detector (values between false alarms).
    """

    warmup: int = 2000
    window: int = 500
    alpha: float = 0.01
    statistic: str = "psi"
    bins: int = 10
    top_k: int = 20
    raise_after: int = 2
    clear_after: int = 3
    target_arl: float = 1e6
    change_detector: bool = True
    min_effect: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_EFFECT))

    def __post_init__(self) -> None:
        if self.statistic not in _STATISTICS:
            raise ValueError(f"statistic {self.statistic!r} is not one of {sorted(_STATISTICS)}")
        if self.warmup < 16 or self.window < 16:
            raise ValueError("warmup and window must be at least 16 values")
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")


@dataclass(frozen=True)
class DriftEvent:
    """One verdict: a closed window (``method`` a statistic) or a change-detector alarm (``cusum``).

    ``score``/``threshold``: the statistic and the cut-off in force (for ``cusum``, the statistic
    over its decision interval, threshold 1). ``flagged``: this verdict alone; ``detected``: the
    signal's drift state after it. ``position``: values of the signal seen when it was decided.
    ``trace_id``: a span that contributed (the last value of the window, or the alarming value).
    """

    method: str
    score: float
    threshold: float
    flagged: bool
    detected: bool
    position: int
    trace_id: bytes | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    """Every statistic computed for a window (method label → value)."""


class SignalMonitor:
    """Reference, current window, hysteresis and change detector of one signal."""

    def __init__(self, kind: Kind, settings: DriftSettings | None = None, thresholds: ThresholdCache | None = None,
                 reference: NumericProfile | CategoricalProfile | None = None,
                 reference_sample: Sequence[Any] | npt.NDArray[Any] | None = None, family_size: int = 1) -> None:
        """``reference`` (with ``reference_sample``, a uniform sample of its values, for the change
        detector and the autocorrelation estimate) comes from a baseline; without it the first
        ``settings.warmup`` values become the reference. ``family_size``: how many signals the model
        has; the change detectors' run-length target is multiplied by it (Bonferroni), so the model as
        a whole keeps ``settings.target_arl``."""
        self._target_arl = (settings or DriftSettings()).target_arl * max(1, family_size)
        self.kind: Kind = kind
        self.settings = settings or DriftSettings()
        self._thresholds = thresholds if thresholds is not None else ThresholdCache()  # an empty cache is falsy
        self._buffer: list[Any] = []
        self._buffered = 0
        self.reference: NumericProfile | CategoricalProfile | None = None
        self.reference_source = names.DRIFT_REFERENCE_WARMUP
        self._current: NumericProfile | CategoricalProfile | None = None
        self._effective_window = self.settings.window
        self._hysteresis = Hysteresis(self.settings.raise_after, self.settings.clear_after)
        self._detectors: list[tuple[str, CusumBank | BernoulliCusum]] = []
        """Change detectors, each on one view of the values (see :meth:`_views`)."""
        self._mode = -1
        """Categorical: the reference's most common bucket (its share is what ``not_mode`` watches)."""
        self._change_active = False
        self.position = 0
        self.scores: dict[str, float] = {}
        """Latest value per method label (window statistics and ``cusum``)."""
        self.threshold = float("nan")
        """The cut-off of the deciding statistic at the last closed window."""
        self.last_window: NumericProfile | CategoricalProfile | None = None
        """The last closed window's profile (reports draw it next to the reference)."""
        if reference is not None:
            if reference_sample is not None and len(reference_sample):
                self._calibrate_from(reference_sample, reference)
            self._freeze_profile(reference, names.DRIFT_REFERENCE_BASELINE)

    # -- reading ------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Whether the reference is frozen (before that, values only fill the warm-up)."""
        return self.reference is not None

    @property
    def detected(self) -> bool:
        """Drift flagged now: the window tests' hysteresis is up, or the change detector alarmed and no
        clean window has closed since."""
        return self._hysteresis.alarm or self._change_active

    # -- feeding ------------------------------------------------------------------------------------

    def update_many(self, values: Sequence[Any] | npt.NDArray[Any],
                    trace_ids: Sequence[bytes] | None = None) -> list[DriftEvent]:
        """Feed values in arrival order (numbers, NaN for missing; or strings, None for missing)."""
        events: list[DriftEvent] = []
        start = 0
        n = len(values)
        if self.reference is None:
            take = min(n, self.settings.warmup - self._buffered)
            self._buffer.extend(values[:take])
            self._buffered += take
            start = take
            if self._buffered >= self.settings.warmup:
                self._freeze_buffer()
        while start < n and self._current is not None:
            room = self.settings.window - int(self._current.total)
            chunk = values[start:start + room]
            ids = trace_ids[start:start + room] if trace_ids is not None else None
            self._feed(chunk, ids, events, self.position + start)
            start += len(chunk)
            if self._current.total >= self.settings.window:
                events.append(self._close_window(ids[-1] if ids else None, self.position + start))
        self.position += n
        return events

    def _feed(self, chunk: Sequence[Any] | npt.NDArray[Any], ids: Sequence[bytes] | None,
              events: list[DriftEvent], base: int) -> None:
        """Count ``chunk`` into the window and run the change detector; ``base``: values of the signal
        seen before the chunk's first value."""
        assert self._current is not None
        if self.kind == "numeric":
            array = np.asarray(chunk, dtype=np.float64)
            self._current.update_many(array)
            signal = array
        else:
            self._current.update_many(chunk)
            reference = self.reference
            assert isinstance(reference, CategoricalProfile)
            unseen = reference.labels.index(UNSEEN)
            signal = np.fromiter((reference.bucket(v) == unseen for v in chunk), dtype=np.float64,
                                 count=len(chunk))
        if not self._detectors:
            return
        views = self._views(chunk, {view for view, _ in self._detectors})
        statistic = 0.0
        for view, detector in self._detectors:
            signal = views[view]
            offset = 0
            while offset < signal.size:
                hit = detector.update_many(signal[offset:], stop_at_alarm=True)
                if hit < 0:
                    break
                self._change_active = True
                at = offset + hit
                events.append(DriftEvent(names.DRIFT_METHOD_CUSUM, 1.0, 1.0, True, True, base + at + 1,
                                         ids[at] if ids is not None and at < len(ids) else None))
                offset = at + 1
            statistic = max(statistic, float(detector.statistic))
        self.scores[names.DRIFT_METHOD_CUSUM] = statistic

    def _views(self, chunk: Sequence[Any] | npt.NDArray[Any],
               needed: set[str] | None = None) -> dict[str, npt.NDArray[np.float64]]:
        """What the detectors watch: the values; for a 0/1 signal whether a value is non-zero; for a
        categorical one whether a value is a category never seen in the reference (``unseen``) or other
        than the reference's most common one (``not_mode``: error and truncation rates rise this way)."""
        if self.kind == "numeric":
            values = np.asarray(chunk, dtype=np.float64)
            if needed is not None and _INDICATOR not in needed:
                return {_VALUES: values}  # hot path: the common numeric signal
            indicator = np.where(np.isfinite(values), (values != 0).astype(np.float64), np.nan)
            return {_VALUES: values, _INDICATOR: indicator}
        reference = self.reference
        assert isinstance(reference, CategoricalProfile)
        buckets = np.fromiter((reference.bucket(v) for v in chunk), dtype=np.int64, count=len(chunk))
        unseen = reference.labels.index(UNSEEN)
        return {_UNSEEN: (buckets == unseen).astype(np.float64), _NOT_MODE: (buckets != self._mode).astype(np.float64)}

    # -- reference ----------------------------------------------------------------------------------

    def _freeze_buffer(self) -> None:
        buffer, self._buffer = self._buffer, []
        settings = self.settings
        profile: NumericProfile | CategoricalProfile
        if self.kind == "numeric":
            profile = NumericProfile.from_reference(np.asarray(buffer, dtype=np.float64), bins=settings.bins)
        else:
            profile = CategoricalProfile.from_reference(buffer, top_k=settings.top_k)
        self._calibrate_from(buffer, profile)
        self._freeze_profile(profile, names.DRIFT_REFERENCE_WARMUP)

    def _calibrate_from(self, sample: Sequence[Any] | npt.NDArray[Any],
                        profile: NumericProfile | CategoricalProfile) -> None:
        """Effective window size and change detectors from reference values (warm-up or a baseline's sample).

        A numeric signal whose reference holds only 0 and 1 (``tool.error``) is an indicator: a
        standardised CUSUM assumes near-normal values and would alarm on its rare ones, so a
        Bernoulli CUSUM watches its rate instead.
        """
        settings = self.settings
        if self.kind == "numeric":
            values = np.asarray(sample, dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size < 16:
                return
            if np.all((finite == 0) | (finite == 1)):
                if settings.change_detector:
                    self._detectors = [(_INDICATOR, BernoulliCusum.from_reference(finite,
                                                                                target_arl=self._target_arl))]
                return
            std = float(np.std(finite, ddof=1))
            long_run, _ = batch_means_std(finite)
            if long_run > std > 0:
                self._effective_window = max(16, int(settings.window * (std / long_run) ** 2))
            if settings.change_detector and std > 0:
                self._detectors = [(_VALUES, CusumBank.from_reference(finite, target_arl=self._target_arl))]
            return
        assert isinstance(profile, CategoricalProfile)
        if not settings.change_detector or not len(sample):
            return
        counts = profile.counts
        self._mode = int(np.argmax(counts))
        self.reference = profile  # the views read its buckets
        views = self._views(list(sample))
        # The detectors split the run-length budget (Bonferroni on the alarm rate).
        arl = self._target_arl * 2
        self._detectors = [(_NOT_MODE, BernoulliCusum.from_reference(views[_NOT_MODE], target_arl=arl))]
        if not profile.overflowed:
            # Every reference value was seen in the reference: the unseen indicator's reference is all zeros.
            self._detectors.append((_UNSEEN, BernoulliCusum.from_reference(views[_UNSEEN], target_arl=arl)))

    def _freeze_profile(self, profile: NumericProfile | CategoricalProfile, source: str) -> None:
        self.reference = profile
        self.reference_source = source
        self._current = profile.empty_like()

    # -- windows ------------------------------------------------------------------------------------

    def _close_window(self, trace_id: bytes | None, position: int) -> DriftEvent:
        assert self.reference is not None
        assert self._current is not None
        settings = self.settings
        reference_counts = self.reference.counts
        current_counts = self._current.counts
        scores: dict[str, float] = {}
        for label, function in _STATISTICS.values():
            scores[label] = float(function(reference_counts, current_counts))
        if self.kind == "numeric":
            ordered = len(reference_counts) - 1  # the NaN slot is not ordered
            scores[names.DRIFT_METHOD_KS] = float(divergence.ks_binned(reference_counts, current_counts, ordered))
            assert isinstance(self.reference, NumericProfile)
            scale = self.reference.moments.std
            if len(self.reference.edges) >= 2 and scale > 0:
                scores[names.DRIFT_METHOD_WASSERSTEIN] = float(divergence.wasserstein_binned(
                    reference_counts, current_counts, self.reference.edges, scale))
        label, function = _STATISTICS[settings.statistic]
        threshold = self._thresholds.get(reference_counts, function, self._effective_window, settings.alpha,
                                         name=settings.statistic)
        gate = EffectGate(settings.min_effect.get(settings.statistic, 0.0))
        score = scores[label]
        flagged = gate.flagged(score, threshold)
        self._hysteresis.update(flagged)
        if not flagged:
            self._change_active = False
        self.threshold = gate.cutoff(threshold)
        self.scores.update(scores)
        self.last_window = self._current
        self._current = self.reference.empty_like()
        return DriftEvent(label, score, self.threshold, flagged, self.detected, position, trace_id, scores)

    # -- state --------------------------------------------------------------------------------------

    def merge_windows(self, other: SignalMonitor) -> None:
        """Add ``other``'s current window to this one (same reference: a shard of the same signal).

        Counts and moments merge exactly; hysteresis and detectors are sequential and stay this one's.
        """
        if self._current is None or other._current is None:
            raise ValueError("both monitors need a frozen reference to merge windows")
        self._current = self._current.merge(other._current)  # type: ignore[arg-type]

    def to_state(self) -> dict[str, Any]:
        """JSON-able state: reference, current window, warm-up buffer, hysteresis, detector."""
        return {
            "version": _STATE_VERSION,
            "kind": self.kind,
            "position": self.position,
            "buffer": [None if isinstance(v, float) and v != v else v for v in self._buffer],
            "reference": self.reference.to_state() if self.reference is not None else None,
            "reference_source": self.reference_source,
            "current": self._current.to_state() if self._current is not None else None,
            "last_window": self.last_window.to_state() if self.last_window is not None else None,
            "effective_window": self._effective_window,
            "hysteresis": self._hysteresis.to_state(),
            "detectors": [{"view": view, "kind": type(d).__name__, "state": d.to_state()}
                          for view, d in self._detectors],
            "mode": self._mode,
            "target_arl": self._target_arl,
            "change_active": self._change_active,
            "scores": dict(self.scores),
            "threshold": None if self.threshold != self.threshold else self.threshold,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], settings: DriftSettings | None = None,
                   thresholds: ThresholdCache | None = None) -> SignalMonitor:
        """A monitor continuing exactly where :meth:`to_state` left off."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported monitor state version {state.get('version')!r}")
        monitor = cls(state["kind"], settings, thresholds)
        monitor.position = int(state["position"])
        monitor._buffer = [float("nan") if v is None and monitor.kind == "numeric" else v for v in state["buffer"]]
        monitor._buffered = len(monitor._buffer)
        if state["reference"] is not None:
            monitor.reference = profile_from_state(dict(state["reference"]))
            monitor.reference_source = str(state["reference_source"])
        if state["current"] is not None:
            monitor._current = profile_from_state(dict(state["current"]))
        if state.get("last_window") is not None:
            monitor.last_window = profile_from_state(dict(state["last_window"]))
        monitor._effective_window = int(state["effective_window"])
        monitor._hysteresis = Hysteresis.from_state(state["hysteresis"])
        monitor._detectors = [
            (str(d["view"]), (CusumBank if d["kind"] == CusumBank.__name__ else BernoulliCusum).from_state(d["state"]))
            for d in state.get("detectors", [])]
        monitor._mode = int(state.get("mode", -1))
        monitor._target_arl = float(state.get("target_arl", monitor._target_arl))
        monitor._change_active = bool(state["change_active"])
        monitor.scores = {str(k): float(v) for k, v in state["scores"].items()}
        monitor.threshold = float("nan") if state["threshold"] is None else float(state["threshold"])
        return monitor

