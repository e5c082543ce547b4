"""Embedding drift: a centroid distance with a bootstrap-calibrated threshold, and an MMD test on a sample.

Vectors (``driftline.embedding`` or configured array attributes) are first reduced to ``dims``
(default 64) by a fixed, seeded Gaussian random projection — distances are preserved within a
factor ``1 ± ε`` with high probability for ``dims = O(log n / ε²)`` (Johnson & Lindenstrauss 1984;
Achlioptas 2003) — so memory is bounded whatever the model's embedding width (1536 floats become 64).

* **Reference**: the first ``reference_size`` vectors (a warm-up), kept as a bounded matrix.
* **Centroid distance** of a window of ``window`` vectors: ``‖μ_cur − μ_ref‖₂ / sqrt(tr Σ_ref)``
  (scale-free). Its null distribution at that window size is estimated by bootstrap: windows drawn
  with replacement from the reference (Efron & Tibshirani 1993); the threshold is the
  ``1 − alpha/2`` quantile.
* **MMD**: the unbiased squared maximum mean discrepancy with a Gaussian kernel, bandwidth by the
  median heuristic, between up to ``mmd_sample`` current and reference vectors, with a permutation
  p-value (Gretton, Borgwardt, Rasch, Schölkopf & Smola 2012, "A Kernel Two-Sample Test", JMLR 13).
  It sees changes a centroid misses (spread, new clusters at the same mean). Flagged at ``alpha/2``.

The window is flagged when either test is (Bonferroni over the two keeps the window's false-alarm
probability at ``alpha``); hysteresis debounces windows as for scalar signals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.semconv import names

from .calibration import Hysteresis
from .monitor import DriftEvent

__all__ = ["EmbeddingMonitor", "EmbeddingSettings", "mmd2_unbiased"]

FloatMatrix = npt.NDArray[np.float64]
_STATE_VERSION = 1


@dataclass(frozen=True)
class EmbeddingSettings:
    """Sizes and error rates of embedding drift (defaults suit a few hundred calls per minute)."""

    dims: int = 64
    reference_size: int = 1000
    window: int = 200
    alpha: float = 0.01
    bootstrap: int = 2000
    mmd_sample: int = 200
    permutations: int = 200
    raise_after: int = 2
    clear_after: int = 3
    seed: int = 0


def _projection(width: int, dims: int, seed: int) -> FloatMatrix:
    rng = np.random.default_rng([seed, width])  # the same matrix for every vector of this width
    matrix: FloatMatrix = rng.normal(size=(width, dims)) / np.sqrt(dims)
    return matrix


def _median_bandwidth(x: FloatMatrix) -> float:
    """Median heuristic: the median pairwise squared distance of the pooled sample (Gretton et al. 2012)."""
    sq = np.sum(x * x, axis=1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    upper = d2[np.triu_indices(len(x), k=1)]
    median = float(np.median(upper)) if upper.size else 1.0
    return median if median > 0 else 1.0


def mmd2_unbiased(kernel: FloatMatrix, m: int) -> float:
    """Unbiased MMD² from the pooled kernel matrix (first ``m`` rows: sample X, the rest: sample Y).

    MMD²_u = 1/(m(m−1)) Σ_{i≠j} k(x_i,x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i,y_j) − 2/(mn) Σ k(x_i,y_j)
    (Gretton et al. 2012, Lemma 6).
    """
    n = kernel.shape[0] - m
    kxx = kernel[:m, :m]
    kyy = kernel[m:, m:]
    kxy = kernel[:m, m:]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2.0 * kxy.mean())


class EmbeddingMonitor:
    """Reference, windows, the two tests and hysteresis for one embedding signal."""

    kind = "embedding"

    def __init__(self, settings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or EmbeddingSettings()
        self._rng = np.random.default_rng(self.settings.seed)
        self._projection: FloatMatrix | None = None
        self._width: int | None = None
        self._reference: list[FloatMatrix] = []
        self.reference: FloatMatrix | None = None
        self._centroid = np.zeros(0)
        self._scale = 1.0
        self.threshold = float("nan")
        self._window: list[FloatMatrix] = []
        self._window_rows = 0
        self._hysteresis = Hysteresis(self.settings.raise_after, self.settings.clear_after)
        self.position = 0
        self.scores: dict[str, float] = {}
        self.mismatched = 0
        """Vectors dropped because their width differed from the first vector's."""
        self.reference_source = names.DRIFT_REFERENCE_WARMUP

    @property
    def ready(self) -> bool:
        """Whether the reference is frozen."""
        return self.reference is not None

    @property
    def detected(self) -> bool:
        """Drift flagged now (after hysteresis)."""
        return self._hysteresis.alarm

    def _project(self, vectors: Sequence[Sequence[float]]) -> FloatMatrix | None:
        if not vectors:
            return None
        width = self._width if self._width is not None else len(vectors[0])
        rows = [v for v in vectors if len(v) == width]
        self.mismatched += len(vectors) - len(rows)
        if not rows:
            return None
        matrix = np.asarray(rows, dtype=np.float64)
        if self._width is None:
            self._width = int(matrix.shape[1])
            if self._width > self.settings.dims:
                self._projection = _projection(self._width, self.settings.dims, self.settings.seed)
        matrix = matrix[np.all(np.isfinite(matrix), axis=1)]
        return matrix @ self._projection if self._projection is not None else matrix

    def update_many(self, vectors: Sequence[Sequence[float]], trace_ids: Sequence[bytes] | None = None,
                    ) -> list[DriftEvent]:
        """Feed vectors in arrival order; return the verdicts of the windows they closed."""
        events: list[DriftEvent] = []
        projected = self._project(vectors)
        self.position += len(vectors)
        if projected is None or projected.size == 0:
            return events
        start = 0
        if self.reference is None:
            need = self.settings.reference_size - sum(len(r) for r in self._reference)
            self._reference.append(projected[:need])
            start = min(need, len(projected))
            if need <= len(projected):
                self._freeze(np.concatenate(self._reference))
        while start < len(projected) and self.reference is not None:
            room = self.settings.window - self._window_rows
            chunk = projected[start:start + room]
            self._window.append(chunk)
            self._window_rows += len(chunk)
            start += len(chunk)
            if self._window_rows >= self.settings.window:
                last = trace_ids[min(start, len(trace_ids)) - 1] if trace_ids else None
                events.extend(self._close(np.concatenate(self._window), last))
                self._window, self._window_rows = [], 0
        return events

    def _freeze(self, reference: FloatMatrix) -> None:
        self._reference = []
        self.reference = reference
        self._centroid = reference.mean(axis=0)
        self._scale = float(np.sqrt(np.trace(np.atleast_2d(np.cov(reference, rowvar=False))))) or 1.0
        draws = self._rng.integers(0, len(reference), size=(self.settings.bootstrap, self.settings.window))
        # Bootstrap windows in chunks: B × window × dims floats at once would be large.
        distances = np.empty(self.settings.bootstrap)
        for lo in range(0, self.settings.bootstrap, 200):
            means = reference[draws[lo:lo + 200]].mean(axis=1)
            distances[lo:lo + 200] = np.linalg.norm(means - self._centroid, axis=1) / self._scale
        self.threshold = float(np.quantile(distances, 1.0 - self.settings.alpha / 2))

    def _close(self, window: FloatMatrix, trace_id: bytes | None) -> list[DriftEvent]:
        assert self.reference is not None
        settings = self.settings
        centroid = float(np.linalg.norm(window.mean(axis=0) - self._centroid) / self._scale)
        p_value = self._mmd_p_value(window)
        flagged = centroid > self.threshold or p_value < settings.alpha / 2
        self._hysteresis.update(flagged)
        self.scores = {names.DRIFT_METHOD_CENTROID: centroid, names.DRIFT_METHOD_MMD: 1.0 - p_value}
        return [DriftEvent(names.DRIFT_METHOD_CENTROID, centroid, self.threshold, flagged, self.detected,
                           self.position, trace_id, dict(self.scores))]

    def _mmd_p_value(self, window: FloatMatrix) -> float:
        settings = self.settings
        assert self.reference is not None
        x = window[self._rng.choice(len(window), min(len(window), settings.mmd_sample), replace=False)]
        y = self.reference[self._rng.choice(len(self.reference), min(len(self.reference), settings.mmd_sample),
                                            replace=False)]
        if len(x) < 2 or len(y) < 2:
            return 1.0
        pooled = np.concatenate([x, y])
        sq = np.sum(pooled * pooled, axis=1)
        d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * pooled @ pooled.T, 0.0)
        kernel = np.exp(-d2 / _median_bandwidth(pooled))
        observed = mmd2_unbiased(kernel, len(x))
        exceed = 0
        for _ in range(settings.permutations):
            order = self._rng.permutation(len(pooled))
            if mmd2_unbiased(kernel[np.ix_(order, order)], len(x)) >= observed:
                exceed += 1
        return (1 + exceed) / (1 + settings.permutations)

    # -- state --------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-able state (the reference matrix is at most ``reference_size × dims`` floats)."""
        return {
            "version": _STATE_VERSION, "kind": self.kind, "width": self._width, "position": self.position,
            "reference": self.reference.tolist() if self.reference is not None else None,
            "warmup": np.concatenate(self._reference).tolist() if self._reference else [],
            "window": np.concatenate(self._window).tolist() if self._window else [],
            "hysteresis": self._hysteresis.to_state(), "scores": dict(self.scores),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], settings: EmbeddingSettings | None = None) -> EmbeddingMonitor:
        """A monitor continuing where :meth:`to_state` left off (the bootstrap threshold is recomputed)."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported embedding monitor state version {state.get('version')!r}")
        monitor = cls(settings)
        monitor._width = state["width"]
        if monitor._width is not None and monitor._width > monitor.settings.dims:
            monitor._projection = _projection(monitor._width, monitor.settings.dims, monitor.settings.seed)
        monitor.position = int(state["position"])
        if state["warmup"]:
            monitor._reference = [np.asarray(state["warmup"], dtype=np.float64)]
        if state["reference"] is not None:
            monitor._freeze(np.asarray(state["reference"], dtype=np.float64))
        if state["window"]:
            window = np.asarray(state["window"], dtype=np.float64)
            monitor._window, monitor._window_rows = [window], len(window)
        monitor._hysteresis = Hysteresis.from_state(state["hysteresis"])
        monitor.scores = {str(k): float(v) for k, v in state["scores"].items()}
        return monitor
