"""Model performance and fairness from ground truth joined to predictions (point 8 of the drift/quality work).

**Join.** A prediction span's recorded rows wait in a *pending prediction store* keyed by
``(model key, ml.prediction.id)`` → row → (prediction, top score), with the call's segment and trace
id; a feedback span's labels look them up by ``(ml.prediction.id, row)``. The feedback's
``ml.model.name`` must equal the prediction's (as docs/ml.md asks) or be empty (then the newest
pending prediction with that id is used); its service and version are not compared, since labels
often come from another service. Labels that arrive first wait in a *pending feedback store* keyed
by ``(model name, prediction id)`` until their prediction comes. Each row joins once. Both stores
are bounded by rows (:attr:`PerformanceConfig.max_pending_predictions`, ``max_pending_feedback``,
default 100 000 each; whole calls are evicted oldest first) and by age (``max_age`` seconds, read
from the injected clock); what leaves unjoined is counted in :attr:`PerformanceTracker.unmatched_predictions`
/ :attr:`~PerformanceTracker.unmatched_feedback`. A label for a row its prediction did not record
(a batch larger than ``DRIFTLINE_ML_MAX_ROWS``) or already labelled is counted unmatched at once.

**Rolling metrics.** Joined rows go to a window of the last ``window`` labelled rows (default 1000)
per model and segment (segment ``""`` = all traffic; a prediction carries one segment, the first
configured segment attribute it has). Windows are capped at ``max_windows`` keys; rows for keys
beyond the cap are counted in :attr:`PerformanceTracker.overflow`. Rows whose prediction or label is
missing (or a multi-output prediction) are joined but not scored (:attr:`~PerformanceTracker.unscorable`).

*Task.* Per model, from its all-traffic window: **regression** when every prediction and label is
numeric and together they take more than ``max_classes`` (default 20) distinct values, else
**classification** (a classifier's 0.0/1.0 labels are numeric too, but few). ``tasks`` overrides
it per model name. Classes are compared as text, integral numbers without a decimal point, so the
prediction ``1.0``, the label ``1``, ``"1"`` and ``True`` are one class.

*Classification* (``n`` rows, ``tp, fp, fn, tn`` counted against the positive class):

* accuracy ``= (number of rows with prediction = label) / n``;
* binary (at most two classes in the model's window): precision ``= tp / (tp + fp)``, recall
  ``= tp / (tp + fn)``, F1 ``= 2·tp / (2·tp + fp + fn)`` (harmonic mean of the two; van Rijsbergen
  1979) for the positive label (``positive_label``, default ``1`` = ``"1"``/``1.0``/``True``; when the
  two classes do not include it, the greater one in text order). A ratio with a zero denominator is
  undefined and not reported;
* multiclass: the **macro average** (unweighted mean over the classes present among the window's
  labels and predictions) of the per-class precision, recall and F1, a 0/0 per-class value counting
  as 0 — scikit-learn's ``average="macro"`` with ``zero_division=0`` (Sokolova & Lapalme 2009);
* ROC-AUC (binary only; Hanley & McNeil 1982): the probability that a random positive row scores
  above a random negative one, ties counting ½, from **binned** scores: see :func:`binned_roc_auc`
  for the method and its error bound. Spans carry each row's *top* score, so the positive-class
  score ``q`` is rebuilt: ``q = s`` when the positive class was predicted, else ``1 − s`` when
  ``s ≥ ½`` (the top of two class probabilities, ``max(p, 1 − p)``) or ``s`` when ``s < ½`` (a single
  P(positive) column). This assumes the recorded prediction is the argmax of probability scores
  (what the scikit-learn instrumentation records); a window with any score outside [0, 1]
  (``decision_function``, log-probabilities) gets no AUC.

*Regression* (``e_i = prediction_i − label_i``): MAE ``= Σ|e_i| / n``; RMSE ``= √(Σ e_i² / n)``
(Willmott & Matsuura 2005 on when each is preferable).

``label_count`` is the number of labelled rows in the window; each reading's ``rows`` says how many
rows the value is computed from.

**Fairness** (binary classification): for each segment attribute, over its segments with at least
``min_segment_rows`` labelled rows (default 30): *demographic parity difference* ``= max_s P(ŷ = +
| s) − min_s P(ŷ = + | s)`` (statistical parity; Feldman et al. 2015, "Certifying and removing
disparate impact"), and *equal opportunity difference* ``= max_s TPR_s − min_s TPR_s`` with ``TPR_s =
P(ŷ = + | y = +, s)`` (Hardt, Price & Srebro 2016, "Equality of opportunity in supervised
learning"), the latter over segments with at least one positive label. Reported when two or more
segments qualify.

**Memory** is bounded whatever the traffic: at most ``max_pending_predictions`` +
``max_pending_feedback`` pending rows and ``max_windows × window`` window rows (the row of a
segmented prediction is one object shared by its two windows).

**State.** :meth:`PerformanceTracker.to_state` is JSON-able and includes the pending stores (times as
ages, so a restored tracker may run on another clock). :meth:`PerformanceTracker.merge` adds another
tracker (a shard): windows keep the ``window`` most recent rows of both by age, pending predictions
and feedback of either side join each other, counters add.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.processors.analysis.signals import ModelKey, Observations
from driftline.semconv import names

__all__ = [
    "FairnessReading",
    "PerformanceConfig",
    "PerformanceReading",
    "PerformanceTracker",
    "binned_roc_auc",
]

Scalar = float | str | None
"""A prediction or label as kept: a finite number, a string, or None (missing)."""

_STATE_VERSION = 1
_TASKS = frozenset({names.ML_TASK_CLASSIFICATION, names.ML_TASK_REGRESSION})
_EXACT_INTEGER = 2.0 ** 53


@dataclass(frozen=True)
class PerformanceConfig:
    """Bounds, window and task settings of a :class:`PerformanceTracker` (see the module docstring)."""

    window: int = 1000
    """Labelled rows per rolling window (per model and segment)."""
    max_pending_predictions: int = 100_000
    """Recorded prediction rows waiting for a label, at most."""
    max_pending_feedback: int = 100_000
    """Label rows waiting for their prediction, at most."""
    max_age: float = 86_400.0
    """Seconds (on the tracker's clock) a pending prediction or label waits before it expires."""
    positive_label: Any = 1
    """The positive class of binary classifiers (compared as text: ``1``, ``1.0``, ``"1"``, ``True`` are one)."""
    positive_labels: Mapping[str, Any] = field(default_factory=dict)
    """Per model name, a positive class overriding ``positive_label``."""
    tasks: Mapping[str, str] = field(default_factory=dict)
    """Per model name, ``classification`` or ``regression`` overriding the inferred task."""
    max_classes: int = 20
    """Numeric predictions and labels with more distinct values than this are a regression."""
    min_segment_rows: int = 30
    """Labelled rows a segment needs in its window to enter the fairness gaps."""
    bins: int = 100
    """Score histogram bins over [0, 1] for the binned ROC-AUC."""
    max_windows: int = 1_000
    """Rolling windows (model × segment keys) kept, at most."""

    def __post_init__(self) -> None:
        for name in ("window", "max_classes", "min_segment_rows", "bins", "max_windows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_pending_predictions", "max_pending_feedback"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (self.max_age > 0):
            raise ValueError(f"max_age must be > 0, got {self.max_age}")
        if _scalar(self.positive_label) is None:
            raise ValueError("positive_label must be a number or a string")
        for model, task in self.tasks.items():
            if task not in _TASKS:
                raise ValueError(f"task of {model!r} must be one of {sorted(_TASKS)}, got {task!r}")


@dataclass(frozen=True, slots=True)
class PerformanceReading:
    """One rolling metric of one model (and segment): ``metric`` is a ``driftline.performance.metric`` value."""

    model: ModelKey
    segment: str
    metric: str
    value: float
    rows: int
    """Labelled rows the value is computed from."""


@dataclass(frozen=True, slots=True)
class FairnessReading:
    """One fairness gap of one model across the segments of one segment attribute.

    ``metric`` is a ``driftline.fairness.metric`` value; ``highest`` / ``lowest`` are the segments
    (``attribute=value``) with the largest and smallest rate (the first in name order on a tie);
    ``segments`` how many were compared.
    """

    model: ModelKey
    attribute: str
    metric: str
    value: float
    segments: int
    highest: str
    lowest: str


@dataclass(slots=True)
class _PendingPrediction:
    model: ModelKey
    prediction_id: str
    time: float
    segment: str
    trace_id: bytes
    rows: dict[int, tuple[Scalar, float | None]]
    """Batch row → (prediction, top score)."""


@dataclass(slots=True)
class _PendingFeedback:
    model_name: str
    prediction_id: str
    time: float
    rows: dict[int, Scalar]
    """Batch row → label."""


_Row = tuple[float | str, float | str, float | None, float]
"""A labelled row in a window: (prediction, label, top score, time it was joined)."""


@dataclass(frozen=True, slots=True)
class _TaskInfo:
    task: str
    binary: bool
    positive: str


def binned_roc_auc(positives: npt.ArrayLike, negatives: npt.ArrayLike) -> tuple[float, float]:
    """ROC-AUC from score histograms (same bins, ascending scores) and its error bound vs the exact AUC.

    With ``P = Σ pos_b``, ``N = Σ neg_b`` and ``above_b`` the positives in bins above ``b``::

        AUC_binned = Σ_b neg_b · (above_b + pos_b / 2) / (P · N)

    which is the trapezoid rule over the ROC curve whose thresholds are the bin edges. The exact
    AUC (Mann-Whitney: ``P(s+ > s−) + ½ P(s+ = s−)``, what ``sklearn.metrics.roc_auc_score``
    computes) orders every positive-negative pair in different bins the same way; a pair sharing a
    bin counts ½ here and 0, ½ or 1 there. Hence::

        |AUC_binned − AUC_exact| ≤ ½ · Σ_b pos_b · neg_b / (P · N) ≤ ½ · max_b neg_b / N

    (the returned bound, computable from the histograms themselves). With 100 bins and scores
    spread over [0, 1] it is typically below 0.01; it only grows when many scores of both classes
    crowd one bin. Returns ``(nan, nan)`` when a class is empty.
    """
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if pos.shape != neg.shape:
        raise ValueError("histograms must have the same bins")
    total_pos = float(pos.sum())
    total_neg = float(neg.sum())
    if total_pos <= 0 or total_neg <= 0:
        return math.nan, math.nan
    # positives strictly above each bin: reverse cumulative sum, shifted by one bin
    above = np.concatenate([np.cumsum(pos[::-1])[::-1][1:], [0.0]])
    pairs = total_pos * total_neg
    auc = float(np.sum(neg * (above + pos / 2.0)) / pairs)
    bound = float(0.5 * np.sum(pos * neg) / pairs)
    return auc, bound


class PerformanceTracker:
    """Joins predictions with feedback and keeps rolling performance per model and segment.

    ``observe(observations)`` feeds it; ``readings()`` / ``fairness()`` read it. Counters (since
    creation, added up by :meth:`merge`): ``matched`` rows joined, ``unmatched_predictions`` /
    ``unmatched_feedback`` rows that left a pending store unjoined (age, row bound, a label for an
    unrecorded or already labelled row, a replaced row), ``unscorable`` joined rows without a usable
    prediction or label, ``overflow`` row insertions refused by the window-key cap.
    """

    def __init__(self, config: PerformanceConfig | None = None, now: Callable[[], float] = time.monotonic) -> None:
        self.config = config or PerformanceConfig()
        self._now = now
        self._predictions: OrderedDict[tuple[ModelKey, str], _PendingPrediction] = OrderedDict()
        self._by_id: dict[str, list[ModelKey]] = {}
        """Prediction id → models with a pending prediction of that id (the feedback side's lookup)."""
        self._feedback: OrderedDict[tuple[str, str], _PendingFeedback] = OrderedDict()
        self._prediction_rows = 0
        self._feedback_rows = 0
        self._windows: dict[tuple[ModelKey, str], deque[_Row]] = {}
        self.matched = 0
        self.unmatched_predictions = 0
        self.unmatched_feedback = 0
        self.unscorable = 0
        self.overflow = 0

    # -- counters -----------------------------------------------------------------------------------

    @property
    def unmatched(self) -> int:
        """Rows that expired or were evicted unjoined, predictions and labels together."""
        return self.unmatched_predictions + self.unmatched_feedback

    @property
    def pending_prediction_rows(self) -> int:
        """Prediction rows waiting for a label (never above ``max_pending_predictions``)."""
        return self._prediction_rows

    @property
    def pending_feedback_rows(self) -> int:
        """Label rows waiting for their prediction (never above ``max_pending_feedback``)."""
        return self._feedback_rows

    # -- input --------------------------------------------------------------------------------------

    def observe(self, observations: Observations) -> None:
        """Expire old pending rows, then join the batch's predictions and feedback (predictions first,
        so both halves arriving in one batch join)."""
        now = self._now()
        self.expire(now)
        for p in observations.predictions:
            rows: dict[int, tuple[Scalar, float | None]] = {}
            for i, row in enumerate(p.rows):
                prediction = _scalar(p.predictions[i]) if i < len(p.predictions) else None
                score = _score(p.scores[i]) if i < len(p.scores) else None
                rows[int(row)] = (prediction, score)
            self._add_prediction(p.model, p.prediction_id, p.segment, bytes(p.trace_id), rows, now, now)
        for f in observations.feedback:
            labels = {int(row): _scalar(label) for row, label in zip(f.rows, f.labels, strict=False)}
            self._add_feedback(f.model.model, f.prediction_id, labels, now, now)

    def expire(self, now: float | None = None) -> None:
        """Drop pending predictions and labels older than ``max_age`` (counted unmatched)."""
        cutoff = (self._now() if now is None else now) - self.config.max_age
        # Stores are kept in time order, so expiry stops at the first young entry.
        while self._predictions:
            entry = next(iter(self._predictions.values()))
            if entry.time >= cutoff:
                break
            self._drop_prediction((entry.model, entry.prediction_id))
        while self._feedback:
            fb = next(iter(self._feedback.values()))
            if fb.time >= cutoff:
                break
            self._drop_feedback((fb.model_name, fb.prediction_id))

    def _add_prediction(self, model: ModelKey, prediction_id: str, segment: str, trace_id: bytes,
                        rows: dict[int, tuple[Scalar, float | None]], at: float, now: float) -> None:
        # Labels that came first: addressed to this model by name, or to no model in particular.
        for name in dict.fromkeys((model.model, "")):
            fb = self._feedback.get((name, prediction_id))
            if fb is None:
                continue
            for row in [r for r in rows if r in fb.rows]:
                label = fb.rows.pop(row)
                self._feedback_rows -= 1
                prediction, score = rows.pop(row)
                self._join(model, segment, prediction, score, label, now)
            if not fb.rows:
                del self._feedback[(name, prediction_id)]
        if not rows:
            return
        key = (model, prediction_id)
        entry = self._predictions.get(key)
        if entry is None:
            self._predictions[key] = _PendingPrediction(model, prediction_id, at, segment, trace_id, rows)
            self._by_id.setdefault(prediction_id, []).append(model)
            self._prediction_rows += len(rows)
        else:
            # A reused prediction id: the newer call's rows replace the older's (those count unmatched).
            replaced = sum(1 for r in rows if r in entry.rows)
            self.unmatched_predictions += replaced
            self._prediction_rows += len(rows) - replaced
            entry.rows.update(rows)
            entry.time, entry.segment, entry.trace_id = at, segment, trace_id
            self._predictions.move_to_end(key)
        self._bound_predictions()

    def _add_feedback(self, model_name: str, prediction_id: str, labels: dict[int, Scalar], at: float,
                      now: float) -> None:
        candidates = [m for m in self._by_id.get(prediction_id, ()) if not model_name or m.model == model_name]
        candidates.reverse()  # newest first
        waiting: dict[int, Scalar] = {}
        for row, label in labels.items():
            for model in candidates:
                entry = self._predictions.get((model, prediction_id))
                if entry is None or row not in entry.rows:
                    continue
                prediction, score = entry.rows.pop(row)
                self._prediction_rows -= 1
                self._join(model, entry.segment, prediction, score, label, now)
                if not entry.rows:
                    self._remove_prediction((model, prediction_id))
                break
            else:
                if candidates:
                    # Its prediction is here but did not record this row (sampled batch) or it was
                    # labelled already: it can never join, so it does not wait.
                    self.unmatched_feedback += 1
                else:
                    waiting[row] = label
        if not waiting:
            return
        key = (model_name, prediction_id)
        fb = self._feedback.get(key)
        if fb is None:
            self._feedback[key] = _PendingFeedback(model_name, prediction_id, at, waiting)
            self._feedback_rows += len(waiting)
        else:
            replaced = sum(1 for r in waiting if r in fb.rows)  # a newer label for the same row wins
            self.unmatched_feedback += replaced
            self._feedback_rows += len(waiting) - replaced
            fb.rows.update(waiting)
            fb.time = at
            self._feedback.move_to_end(key)
        self._bound_feedback()

    def _join(self, model: ModelKey, segment: str, prediction: Scalar, score: float | None, label: Scalar,
              now: float) -> None:
        self.matched += 1
        if prediction is None or label is None:
            self.unscorable += 1
            return
        row: _Row = (prediction, label, score, now)
        self._push((model, ""), row)
        if segment:
            self._push((model, segment), row)

    def _push(self, key: tuple[ModelKey, str], row: _Row) -> None:
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self.config.max_windows:
                self.overflow += 1
                return
            window = self._windows[key] = deque(maxlen=self.config.window)
        window.append(row)

    # -- bounds -------------------------------------------------------------------------------------

    def _bound_predictions(self) -> None:
        while self._prediction_rows > self.config.max_pending_predictions and self._predictions:
            entry = next(iter(self._predictions.values()))
            self._drop_prediction((entry.model, entry.prediction_id))

    def _bound_feedback(self) -> None:
        while self._feedback_rows > self.config.max_pending_feedback and self._feedback:
            fb = next(iter(self._feedback.values()))
            self._drop_feedback((fb.model_name, fb.prediction_id))

    def _drop_prediction(self, key: tuple[ModelKey, str]) -> None:
        entry = self._remove_prediction(key)
        self._prediction_rows -= len(entry.rows)
        self.unmatched_predictions += len(entry.rows)

    def _remove_prediction(self, key: tuple[ModelKey, str]) -> _PendingPrediction:
        entry = self._predictions.pop(key)
        models = self._by_id[key[1]]
        models.remove(key[0])
        if not models:
            del self._by_id[key[1]]
        return entry

    def _drop_feedback(self, key: tuple[str, str]) -> None:
        fb = self._feedback.pop(key)
        self._feedback_rows -= len(fb.rows)
        self.unmatched_feedback += len(fb.rows)

    # -- output -------------------------------------------------------------------------------------

    def readings(self) -> list[PerformanceReading]:
        """Every metric of every window (all traffic and per segment), models and segments sorted."""
        out: list[PerformanceReading] = []
        for (model, segment), window in sorted(self._windows.items(), key=lambda kv: _sort_key(kv[0])):
            if not window:
                continue
            info = self._task_info(model, window)
            if info.task == names.ML_TASK_REGRESSION:
                values = _regression(window)
            elif info.binary:
                values = _binary(window, info.positive, self.config.bins)
            else:
                values = _multiclass(window)
            out.append(PerformanceReading(model, segment, names.PERFORMANCE_METRIC_LABEL_COUNT,
                                          float(len(window)), len(window)))
            out.extend(PerformanceReading(model, segment, metric, value, rows) for metric, value, rows in values)
        return out

    def fairness(self) -> list[FairnessReading]:
        """Demographic parity and equal opportunity differences of binary classifiers, per segment attribute."""
        groups: dict[tuple[ModelKey, str], list[tuple[str, deque[_Row]]]] = {}
        for (model, segment), window in self._windows.items():
            if segment and len(window) >= self.config.min_segment_rows:
                attribute = segment.split("=", 1)[0]
                groups.setdefault((model, attribute), []).append((segment, window))
        out: list[FairnessReading] = []
        for (model, attribute), segments in sorted(groups.items(), key=lambda kv: _sort_key(kv[0])):
            info = self._task_info(model, [row for _, window in segments for row in window])
            if info.task != names.ML_TASK_CLASSIFICATION or not info.binary:
                continue
            selection: list[tuple[float, str]] = []
            tpr: list[tuple[float, str]] = []
            for segment, window in sorted(segments, key=lambda s: s[0]):
                predicted = [_class(p) == info.positive for p, _, _, _ in window]
                actual = [_class(y) == info.positive for _, y, _, _ in window]
                selection.append((sum(predicted) / len(window), segment))
                positives = sum(actual)
                if positives:
                    tpr.append((sum(p and a for p, a in zip(predicted, actual, strict=True)) / positives, segment))
            for metric, rates in ((names.FAIRNESS_METRIC_DEMOGRAPHIC_PARITY_DIFFERENCE, selection),
                                  (names.FAIRNESS_METRIC_EQUAL_OPPORTUNITY_DIFFERENCE, tpr)):
                if len(rates) < 2:
                    continue
                high = max(rates, key=lambda r: r[0])
                low = min(rates, key=lambda r: r[0])
                out.append(FairnessReading(model, attribute, metric, high[0] - low[0], len(rates), high[1], low[1]))
        return out

    def _task_info(self, model: ModelKey, fallback: Iterable[_Row]) -> _TaskInfo:
        """Task, binary-ness and positive class of ``model``, judged on its all-traffic window (the
        same for every segment), or on ``fallback`` when that window was refused by the key cap."""
        overall = self._windows.get((model, ""))
        rows = list(fallback if overall is None else overall)
        task = self.config.tasks.get(model.model)
        if task is None:
            task = names.ML_TASK_CLASSIFICATION
            if all(isinstance(p, float) and isinstance(y, float) for p, y, _, _ in rows):
                distinct: set[float | str] = set()
                for p, y, _, _ in rows:
                    distinct.add(p)
                    distinct.add(y)
                    if len(distinct) > self.config.max_classes:
                        task = names.ML_TASK_REGRESSION
                        break
        classes = sorted({_class(p) for p, _, _, _ in rows} | {_class(y) for _, y, _, _ in rows})
        configured = _scalar(self.config.positive_labels.get(model.model, self.config.positive_label))
        positive = "" if configured is None else _class(configured)
        binary = len(classes) <= 2
        if binary and len(classes) == 2 and positive not in classes:
            positive = classes[1]
        return _TaskInfo(task, binary, positive)

    # -- state --------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """JSON-able state: windows, pending stores (bounded) and counters; times are stored as ages."""
        now = self._now()
        return {
            "version": _STATE_VERSION,
            "windows": [
                {"model": _model_state(model), "segment": segment,
                 "rows": [[p, y, s, now - t] for p, y, s, t in window]}
                for (model, segment), window in self._windows.items()],
            "predictions": [
                {"model": _model_state(e.model), "id": e.prediction_id, "age": now - e.time, "segment": e.segment,
                 "trace_id": e.trace_id.hex(), "rows": [[row, p, s] for row, (p, s) in e.rows.items()]}
                for e in self._predictions.values()],
            "feedback": [
                {"model": fb.model_name, "id": fb.prediction_id, "age": now - fb.time,
                 "rows": [[row, y] for row, y in fb.rows.items()]}
                for fb in self._feedback.values()],
            "counts": {"matched": self.matched, "unmatched_predictions": self.unmatched_predictions,
                       "unmatched_feedback": self.unmatched_feedback, "unscorable": self.unscorable,
                       "overflow": self.overflow},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], config: PerformanceConfig | None = None,
                   now: Callable[[], float] = time.monotonic) -> PerformanceTracker:
        """A tracker continuing where :meth:`to_state` left off (this config's bounds apply)."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported performance state version {state.get('version')!r}")
        tracker = cls(config, now)
        at = now()
        for item in state["windows"]:
            key = (_model_from_state(item["model"]), str(item["segment"]))
            for p, y, s, age in item["rows"]:
                prediction, label = _scalar(p), _scalar(y)
                if prediction is not None and label is not None:
                    tracker._push(key, (prediction, label, _score(s), at - float(age)))
        # Labels first: a waiting label whose prediction is pending too did not join before (its row
        # was not recorded), and replaying it after the prediction would count it unmatched.
        for item in state["feedback"]:
            labels = {int(row): _scalar(y) for row, y in item["rows"]}
            tracker._add_feedback(str(item["model"]), str(item["id"]), labels, at - float(item["age"]), at)
        for item in state["predictions"]:
            rows = {int(row): (_scalar(p), _score(s)) for row, p, s in item["rows"]}
            tracker._add_prediction(_model_from_state(item["model"]), str(item["id"]), str(item["segment"]),
                                    bytes.fromhex(item["trace_id"]), rows, at - float(item["age"]), at)
        counts = state["counts"]
        # added, not set: restoring under smaller bounds may already have evicted (and counted) rows
        tracker.matched += int(counts["matched"])
        tracker.unmatched_predictions += int(counts["unmatched_predictions"])
        tracker.unmatched_feedback += int(counts["unmatched_feedback"])
        tracker.unscorable += int(counts["unscorable"])
        tracker.overflow += int(counts["overflow"])
        tracker._sort_stores()
        tracker.expire(at)
        return tracker

    def merge(self, other: PerformanceTracker) -> None:
        """Add ``other`` (another shard's tracker; it is not changed).

        Windows: per key, the ``window`` most recent rows of both (by age on each tracker's own
        clock, so shards on different clocks merge correctly as long as the ages are comparable).
        Pending stores: ``other``'s predictions and labels are added as if observed here, so a
        prediction seen by one shard joins a label seen by the other. Counters add.
        """
        now = self._now()
        shift = now - other._now()  # other's time t is this tracker's time t + shift
        for key, rows in other._windows.items():
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= self.config.max_windows:
                    self.overflow += len(rows)
                    continue
                window = self._windows[key] = deque(maxlen=self.config.window)
            combined = sorted([*window, *((p, y, s, t + shift) for p, y, s, t in rows)], key=lambda r: r[3])
            window.clear()
            window.extend(combined[-self.config.window:])
        self.matched += other.matched
        self.unmatched_predictions += other.unmatched_predictions
        self.unmatched_feedback += other.unmatched_feedback
        self.unscorable += other.unscorable
        self.overflow += other.overflow
        for fb in list(other._feedback.values()):
            self._add_feedback(fb.model_name, fb.prediction_id, dict(fb.rows), fb.time + shift, now)
        for e in list(other._predictions.values()):
            self._add_prediction(e.model, e.prediction_id, e.segment, e.trace_id, dict(e.rows), e.time + shift, now)
        self._sort_stores()
        self.expire(now)

    def _sort_stores(self) -> None:
        # Entries added with past times (restore, merge) go back into time order, which expiry relies on.
        self._predictions = OrderedDict(sorted(self._predictions.items(), key=lambda kv: kv[1].time))
        self._feedback = OrderedDict(sorted(self._feedback.items(), key=lambda kv: kv[1].time))
        self._bound_predictions()
        self._bound_feedback()


# -- metrics ----------------------------------------------------------------------------------------

_Values = list[tuple[str, float, int]]


def _regression(window: Iterable[_Row]) -> _Values:
    pairs = [(p, y) for p, y, _, _ in window if isinstance(p, float) and isinstance(y, float)]
    if not pairs:
        return []
    errors = np.array([p for p, _ in pairs]) - np.array([y for _, y in pairs])
    n = len(pairs)
    return [(names.PERFORMANCE_METRIC_MAE, float(np.mean(np.abs(errors))), n),
            (names.PERFORMANCE_METRIC_RMSE, float(np.sqrt(np.mean(errors ** 2))), n)]


def _binary(window: Sequence[_Row], positive: str, bins: int) -> _Values:
    n = len(window)
    tp = fp = fn = correct = 0
    positive_scores: list[float] = []
    negative_scores: list[float] = []
    auc_ok = True
    for p, y, s, _ in window:
        predicted = _class(p)
        actual = _class(y)
        correct += predicted == actual
        hit = predicted == positive
        if hit and actual == positive:
            tp += 1
        elif hit:
            fp += 1
        elif actual == positive:
            fn += 1
        if s is None or not auc_ok:
            continue
        if not 0.0 <= s <= 1.0:
            auc_ok = False  # not a probability: a decision function or log-probability
            continue
        q = s if hit or s < 0.5 else 1.0 - s
        (positive_scores if actual == positive else negative_scores).append(q)
    out: _Values = [(names.PERFORMANCE_METRIC_ACCURACY, correct / n, n)]
    if tp + fp:
        out.append((names.PERFORMANCE_METRIC_PRECISION, tp / (tp + fp), n))
    if tp + fn:
        out.append((names.PERFORMANCE_METRIC_RECALL, tp / (tp + fn), n))
    if 2 * tp + fp + fn:
        out.append((names.PERFORMANCE_METRIC_F1, 2 * tp / (2 * tp + fp + fn), n))
    if auc_ok and positive_scores and negative_scores:
        auc, _ = binned_roc_auc(_histogram(positive_scores, bins), _histogram(negative_scores, bins))
        out.append((names.PERFORMANCE_METRIC_ROC_AUC, auc, len(positive_scores) + len(negative_scores)))
    return out


def _multiclass(window: Sequence[_Row]) -> _Values:
    n = len(window)
    predicted = [_class(p) for p, _, _, _ in window]
    actual = [_class(y) for _, y, _, _ in window]
    classes = sorted(set(predicted) | set(actual))
    tp = dict.fromkeys(classes, 0)
    predicted_count = dict.fromkeys(classes, 0)
    actual_count = dict.fromkeys(classes, 0)
    for p, y in zip(predicted, actual, strict=True):
        predicted_count[p] += 1
        actual_count[y] += 1
        if p == y:
            tp[p] += 1
    # per class, 0/0 → 0 (scikit-learn's zero_division=0), then the unweighted mean over classes
    precision = [tp[c] / predicted_count[c] if predicted_count[c] else 0.0 for c in classes]
    recall = [tp[c] / actual_count[c] if actual_count[c] else 0.0 for c in classes]
    f1 = [2 * tp[c] / (actual_count[c] + predicted_count[c]) for c in classes]  # every class occurs: > 0
    return [(names.PERFORMANCE_METRIC_ACCURACY, sum(tp.values()) / n, n),
            (names.PERFORMANCE_METRIC_PRECISION, float(np.mean(precision)), n),
            (names.PERFORMANCE_METRIC_RECALL, float(np.mean(recall)), n),
            (names.PERFORMANCE_METRIC_F1, float(np.mean(f1)), n)]


def _histogram(scores: Sequence[float], bins: int) -> npt.NDArray[np.int64]:
    """Counts over ``bins`` equal bins of [0, 1] (a score of exactly 1 in the last bin)."""
    index = np.minimum((np.asarray(scores, dtype=np.float64) * bins).astype(np.int64), bins - 1)
    return np.bincount(index, minlength=bins).astype(np.int64)


# -- values -----------------------------------------------------------------------------------------

def _scalar(value: Any) -> Scalar:
    """A prediction or label as kept: numbers (bools, numpy scalars) → finite float, text → str,
    missing, non-finite and multi-output values → None."""
    if value is None or isinstance(value, (tuple, list)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float, np.integer, np.floating, np.bool_)):
        number = float(value)
        return number if math.isfinite(number) else None
    return str(value)


def _score(value: Any) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def _class(value: float | str) -> str:
    """The class a value stands for, as text: ``1.0`` → ``"1"`` (so it equals the label ``1`` and ``"1"``)."""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_INTEGER:
            return str(int(value))
        return repr(value)
    return value


def _model_state(model: ModelKey) -> list[str]:
    return [model.service, model.model, model.version, model.family]


def _model_from_state(data: Sequence[Any]) -> ModelKey:
    service, model, version, family = (str(v) for v in data)
    return ModelKey(service, model, version, family)


def _sort_key(key: tuple[ModelKey, str]) -> tuple[str, str, str, str, str]:
    model, segment = key
    return model.service, model.model, model.version, model.family, segment
