"""Performance tracking: the prediction/feedback join, rolling metrics checked against scikit-learn,
binned ROC-AUC within its bound, fairness gaps, bounds, state and merge."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn import metrics

from driftline.instrumentation.ml import _recorder as ml_recorder
from driftline.instrumentation.ml import observe_model, prediction_id, record_feedback
from driftline.processors.analysis.performance import (
    FairnessReading,
    PerformanceConfig,
    PerformanceReading,
    PerformanceTracker,
    binned_roc_auc,
)
from driftline.processors.analysis.signals import (
    FAMILY_ML,
    FeedbackRows,
    ModelKey,
    Observations,
    PredictionRows,
    SignalExtractor,
)
from driftline.semconv import names

KEY = ModelKey("svc", "churn", "1", FAMILY_ML)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _pred(pid: str, predictions: Sequence[Any], scores: Sequence[float | None] | None = None, *,
          rows: Sequence[int] | None = None, segment: str = "", model: ModelKey = KEY) -> PredictionRows:
    return PredictionRows(model, pid, list(rows if rows is not None else range(len(predictions))), list(predictions),
                          list(scores) if scores is not None else [], segment, b"\x01" * 16)


def _fb(pid: str, labels: Sequence[Any], *, rows: Sequence[int] | None = None, model: ModelKey = KEY) -> FeedbackRows:
    return FeedbackRows(model, pid, list(rows if rows is not None else range(len(labels))), list(labels))


def _obs(predictions: Sequence[PredictionRows] = (), feedback: Sequence[FeedbackRows] = ()) -> Observations:
    return Observations(predictions=list(predictions), feedback=list(feedback))


def _values(tracker: PerformanceTracker, segment: str = "", model: ModelKey = KEY) -> dict[str, float]:
    return {r.metric: r.value for r in tracker.readings() if r.model == model and r.segment == segment}


def _binary_stream(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and P(positive) of a decent but imperfect classifier."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    p = 1.0 / (1.0 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(scale=1.5, size=n))))
    return y, p


# -- metrics against scikit-learn ------------------------------------------------------------------


def test_binary_metrics_equal_sklearn_on_the_rolling_window_and_auc_is_within_its_bound() -> None:
    y, p = _binary_stream(1500, seed=1)
    predicted = (p >= 0.5).astype(float)
    top = np.maximum(p, 1.0 - p)  # what spans carry: the top class probability
    tracker = PerformanceTracker(PerformanceConfig(window=1000))
    batches = [range(i, i + 10) for i in range(0, 1500, 10)]
    tracker.observe(_obs([_pred(f"id{j}", predicted[list(b)].tolist(), top[list(b)].tolist())
                          for j, b in enumerate(batches)]))
    # labels arrive in a shuffled order, some batches split over two feedback spans
    order = np.random.default_rng(2).permutation(len(batches))
    joined: list[int] = []
    for j in order:
        b = list(batches[j])
        first, second = b[:4], b[4:]
        tracker.observe(_obs(feedback=[_fb(f"id{j}", y[first].tolist(), rows=range(4))]))
        tracker.observe(_obs(feedback=[_fb(f"id{j}", y[second].tolist(), rows=range(4, 10))]))
        joined += first + second
    window = np.array(joined[-1000:])
    yt, yp, pw = y[window], predicted[window], p[window]
    got = _values(tracker)
    assert got[names.PERFORMANCE_METRIC_LABEL_COUNT] == 1000
    assert got[names.PERFORMANCE_METRIC_ACCURACY] == metrics.accuracy_score(yt, yp)
    assert got[names.PERFORMANCE_METRIC_PRECISION] == metrics.precision_score(yt, yp)
    assert got[names.PERFORMANCE_METRIC_RECALL] == metrics.recall_score(yt, yp)
    assert got[names.PERFORMANCE_METRIC_F1] == metrics.f1_score(yt, yp)
    exact = metrics.roc_auc_score(yt, pw)
    bins = np.minimum((pw * 100).astype(int), 99)
    _, bound = binned_roc_auc(np.bincount(bins[yt == 1], minlength=100), np.bincount(bins[yt == 0], minlength=100))
    assert 0 < bound < 0.01
    assert abs(got[names.PERFORMANCE_METRIC_ROC_AUC] - exact) <= bound + 1e-12
    assert tracker.matched == 1500
    assert tracker.pending_prediction_rows == tracker.pending_feedback_rows == tracker.unmatched == 0


@pytest.mark.parametrize("bins", [2, 5, 20, 100])
@pytest.mark.parametrize("seed", range(5))
def test_binned_auc_is_the_trapezoid_auc_and_within_the_bound_of_the_exact_one(bins: int, seed: int) -> None:
    y, p = _binary_stream(400, seed)
    p = np.round(p, 2)  # ties within and across classes, as real scores have
    index = np.minimum((p * bins).astype(int), bins - 1)
    pos, neg = np.bincount(index[y == 1], minlength=bins), np.bincount(index[y == 0], minlength=bins)
    auc, bound = binned_roc_auc(pos, neg)
    exact = metrics.roc_auc_score(y, p)
    assert abs(auc - exact) <= bound + 1e-12
    # the same area as sklearn's exact AUC on the binned scores (ties count one half)
    assert auc == pytest.approx(metrics.roc_auc_score(y, index), abs=1e-12)
    assert bound <= 0.5 * (neg / neg.sum()).max() + 1e-12


def test_binned_auc_edge_cases() -> None:
    assert binned_roc_auc([0, 3], [2, 0]) == (1.0, 0.0)
    assert binned_roc_auc([3, 0], [0, 2]) == (0.0, 0.0)
    assert binned_roc_auc([0, 4, 0], [0, 4, 0]) == (0.5, 0.5)  # all in one bin: no information
    auc, bound = binned_roc_auc([0, 0], [1, 1])
    assert np.isnan(auc)
    assert np.isnan(bound)


def test_multiclass_metrics_are_sklearn_macro_averages() -> None:
    rng = np.random.default_rng(3)
    y = rng.choice(["cat", "dog", "eel"], size=600)
    predicted = np.where(rng.random(600) < 0.7, y, rng.choice(["cat", "dog", "eel", "fox"], size=600))
    tracker = PerformanceTracker(PerformanceConfig(window=500))
    tracker.observe(_obs([_pred(f"m{i}", [predicted[i]]) for i in range(600)],
                         [_fb(f"m{i}", [y[i]]) for i in range(600)]))
    yt, yp = y[-500:], predicted[-500:]
    got = _values(tracker)
    assert got[names.PERFORMANCE_METRIC_ACCURACY] == metrics.accuracy_score(yt, yp)
    # "fox" is predicted but never a label: its recall is 0/0, counted as 0 like zero_division=0
    for metric, fn in ((names.PERFORMANCE_METRIC_PRECISION, metrics.precision_score),
                       (names.PERFORMANCE_METRIC_RECALL, metrics.recall_score),
                       (names.PERFORMANCE_METRIC_F1, metrics.f1_score)):
        assert got[metric] == pytest.approx(fn(yt, yp, average="macro", zero_division=0), rel=1e-12)
    assert names.PERFORMANCE_METRIC_ROC_AUC not in got  # binary only


def test_regression_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.normal(100, 20, size=1300)
    predicted = y + rng.normal(0, 5, size=1300)
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("r", predicted.tolist())], [_fb("r", y.tolist())]))
    got = _values(tracker)
    assert got[names.PERFORMANCE_METRIC_MAE] == metrics.mean_absolute_error(y[-1000:], predicted[-1000:])
    assert got[names.PERFORMANCE_METRIC_RMSE] == metrics.root_mean_squared_error(y[-1000:], predicted[-1000:])
    assert names.PERFORMANCE_METRIC_ACCURACY not in got


def test_task_is_inferred_and_can_be_overridden() -> None:
    # few distinct numeric values: classification; the override makes it a regression
    preds = [float(i % 5) for i in range(50)]
    labels = [float((i + 1) % 5) for i in range(50)]
    for config, expected in ((PerformanceConfig(), names.PERFORMANCE_METRIC_ACCURACY),
                             (PerformanceConfig(tasks={"churn": names.ML_TASK_REGRESSION}),
                              names.PERFORMANCE_METRIC_MAE)):
        tracker = PerformanceTracker(config)
        tracker.observe(_obs([_pred("x", preds)], [_fb("x", labels)]))
        assert expected in _values(tracker)
    with pytest.raises(ValueError, match="task"):
        PerformanceConfig(tasks={"churn": "ranking"})


def test_positive_label_classes_compare_as_text_and_can_be_configured() -> None:
    # predictions recorded as doubles, labels as ints, strings or bools: one class per value
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("a", [1.0, 1.0, 0.0, 0.0, 1.0])], [_fb("a", [1, "1", True, 0, False])]))
    got = _values(tracker)
    yt, yp = [1, 1, 1, 0, 0], [1, 1, 0, 0, 1]
    assert got[names.PERFORMANCE_METRIC_PRECISION] == metrics.precision_score(yt, yp)
    assert got[names.PERFORMANCE_METRIC_RECALL] == metrics.recall_score(yt, yp)

    labels = ["fraud", "ok", "ok", "fraud", "ok", "ok"]
    preds = ["fraud", "fraud", "ok", "ok", "ok", "ok"]
    for positive in ("fraud", "ok"):
        tracker = PerformanceTracker(PerformanceConfig(positive_labels={"churn": positive}))
        tracker.observe(_obs([_pred("s", preds)], [_fb("s", labels)]))
        got = _values(tracker)
        assert got[names.PERFORMANCE_METRIC_RECALL] == metrics.recall_score(labels, preds, pos_label=positive)
        assert got[names.PERFORMANCE_METRIC_PRECISION] == metrics.precision_score(labels, preds, pos_label=positive)
    # the default positive (1) is not a class here: the greater of the two in text order is positive
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("s", preds)], [_fb("s", labels)]))
    assert _values(tracker)[names.PERFORMANCE_METRIC_RECALL] == metrics.recall_score(labels, preds, pos_label="ok")


def test_auc_needs_probability_scores_and_reads_a_single_positive_column() -> None:
    # decision-function scores (outside [0, 1]): no AUC
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("d", [1.0, 0.0, 1.0, 0.0], [2.5, -1.0, 0.3, -0.2])], [_fb("d", [1, 0, 0, 1])]))
    assert names.PERFORMANCE_METRIC_ROC_AUC not in _values(tracker)
    # one P(positive) column (below 1/2 for predicted negatives): read as is
    p = [0.9, 0.2, 0.6, 0.4, 0.05, 0.75]
    y = [1, 0, 0, 1, 0, 1]
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("s", [float(v >= 0.5) for v in p], p)], [_fb("s", y)]))
    assert _values(tracker)[names.PERFORMANCE_METRIC_ROC_AUC] == pytest.approx(metrics.roc_auc_score(y, p), abs=1e-12)


# -- the join ---------------------------------------------------------------------------------------


def test_feedback_before_its_prediction_joins() -> None:
    tracker = PerformanceTracker()
    tracker.observe(_obs(feedback=[_fb("late", [1, 0], rows=[2, 0])]))
    assert tracker.pending_feedback_rows == 2
    assert tracker.matched == 0
    tracker.observe(_obs([_pred("late", [0.0, 1.0, 1.0], [0.8, 0.7, 0.9])]))
    assert tracker.matched == 2
    assert tracker.pending_feedback_rows == 0
    assert tracker.pending_prediction_rows == 1  # row 1 still waits for its label
    assert _values(tracker)[names.PERFORMANCE_METRIC_ACCURACY] == 1.0  # row 2: 1 vs 1, row 0: 0 vs 0
    tracker.observe(_obs(feedback=[_fb("late", [0], rows=[1])]))
    assert tracker.pending_prediction_rows == 0
    assert _values(tracker)[names.PERFORMANCE_METRIC_ACCURACY] == pytest.approx(2 / 3)
    assert tracker.unmatched == 0
    # every row joined on arrival: nothing is left behind, not even an empty entry
    tracker.observe(_obs(feedback=[_fb("all", [1, 1])]))
    tracker.observe(_obs([_pred("all", [1.0, 0.0])]))
    assert tracker.matched == 5
    assert (len(tracker._predictions), len(tracker._by_id), len(tracker._feedback)) == (0, 0, 0)


def test_feedback_joins_by_model_name_across_services_and_without_a_name() -> None:
    other_service = ModelKey("labeller", "churn", "", FAMILY_ML)
    fraud = ModelKey("svc", "fraud", "1", FAMILY_ML)
    tracker = PerformanceTracker()
    # the same (user-chosen) id for two models
    tracker.observe(_obs([_pred("order-1", [1.0]), _pred("order-1", [0.0], model=fraud)]))
    tracker.observe(_obs(feedback=[_fb("order-1", [1], model=other_service)]))
    assert _values(tracker)[names.PERFORMANCE_METRIC_ACCURACY] == 1.0  # joined churn's row, kept under KEY
    assert tracker.pending_prediction_rows == 1
    tracker.observe(_obs(feedback=[_fb("order-1", [1], model=ModelKey("svc", "", "", FAMILY_ML))]))
    assert _values(tracker, model=fraud)[names.PERFORMANCE_METRIC_ACCURACY] == 0.0
    # a label for a row the prediction did not record never waits
    tracker.observe(_obs([_pred("batch", [1.0, 1.0], rows=[3, 17])]))
    tracker.observe(_obs(feedback=[_fb("batch", [1, 1], rows=[3, 4])]))
    assert tracker.unmatched_feedback == 1
    assert tracker.pending_feedback_rows == 0
    # a second label for a joined row: counted, not double-scored
    tracker.observe(_obs(feedback=[_fb("batch", [0], rows=[3])]))
    assert tracker.unmatched_feedback == 2
    assert tracker.matched == 3


def test_missing_and_multi_output_values_join_but_are_not_scored() -> None:
    tracker = PerformanceTracker()
    tracker.observe(_obs([_pred("m", [None, (1.0, 2.0), 1.0])], [_fb("m", [1, 1, None])]))
    assert tracker.matched == 3
    assert tracker.unscorable == 3
    assert tracker.readings() == []


def test_expired_predictions_and_labels_are_counted_unmatched() -> None:
    clock = Clock()
    tracker = PerformanceTracker(PerformanceConfig(max_age=60.0), now=clock)
    tracker.observe(_obs([_pred("old", [1.0, 0.0, 1.0])], [_fb("orphan", [1, 0])]))
    clock.t += 30
    tracker.observe(_obs([_pred("young", [1.0])]))
    clock.t += 31  # "old" and "orphan" are 61 s old, "young" 31 s
    tracker.observe(_obs())
    assert tracker.unmatched_predictions == 3
    assert tracker.unmatched_feedback == 2
    assert tracker.unmatched == 5
    assert tracker.pending_prediction_rows == 1
    assert tracker.pending_feedback_rows == 0
    # a label after expiry does not join: it waits (and later expires) itself
    tracker.observe(_obs(feedback=[_fb("old", [1])]))
    assert tracker.matched == 0
    assert tracker.pending_feedback_rows == 1
    tracker.observe(_obs(feedback=[_fb("young", [1])]))
    assert tracker.matched == 1
    clock.t += 61
    tracker.expire()
    assert tracker.unmatched_feedback == 3
    assert tracker.pending_feedback_rows == 0


def test_pending_stores_stay_bounded_under_a_million_unlabelled_predictions() -> None:
    tracker = PerformanceTracker()  # default bound: 100 000 rows
    bound = tracker.config.max_pending_predictions
    predictions = [0.0, 1.0] * 5
    pushed = 0
    for batch in range(100):
        tracker.observe(_obs([_pred(f"{batch}-{i}", predictions) for i in range(1000)]))
        pushed += 10_000
        assert tracker.pending_prediction_rows <= bound
        assert len(tracker._predictions) <= bound
        assert len(tracker._by_id) <= bound
    assert pushed == 1_000_000
    assert tracker.pending_prediction_rows == bound
    assert tracker.unmatched_predictions == pushed - bound
    # the newest still join, the oldest were evicted
    tracker.observe(_obs(feedback=[_fb("99-999", [0.0]), _fb("0-0", [0.0])]))
    assert tracker.matched == 1
    assert tracker.pending_feedback_rows == 1

    small = PerformanceTracker(PerformanceConfig(max_pending_feedback=500))
    for batch in range(100):
        small.observe(_obs(feedback=[_fb(f"{batch}-{i}", [1, 0, 1]) for i in range(100)]))
        assert small.pending_feedback_rows <= 500
    assert small.unmatched_feedback == 30_000 - small.pending_feedback_rows


def test_windows_are_capped() -> None:
    tracker = PerformanceTracker(PerformanceConfig(max_windows=2, window=5))
    tracker.observe(_obs([_pred("a", [1.0] * 8, segment="region=eu"), _pred("b", [1.0], segment="region=us")],
                         [_fb("a", [1] * 8), _fb("b", [1])]))
    assert {(r.segment, r.rows) for r in tracker.readings() if r.metric == names.PERFORMANCE_METRIC_LABEL_COUNT} == \
        {("", 5), ("region=eu", 5)}
    assert tracker.overflow == 1


# -- segments and fairness --------------------------------------------------------------------------


def _segment_rows(tracker: PerformanceTracker, pid: str, segment: str, cells: dict[tuple[int, int], int]) -> None:
    """Feed ``cells[(prediction, label)]`` rows of each combination in one segment."""
    preds: list[float] = []
    labels: list[int] = []
    for (p, y), count in cells.items():
        preds += [float(p)] * count
        labels += [y] * count
    tracker.observe(_obs([_pred(pid, preds, segment=segment)], [_fb(pid, labels)]))


def test_per_segment_metrics_and_fairness_gaps_equal_hand_computed_values() -> None:
    tracker = PerformanceTracker()
    # eu: 40 rows, tp 15, fp 5, fn 5, tn 15 → selection 20/40, TPR 15/20, accuracy 30/40
    _segment_rows(tracker, "eu", "region=eu", {(1, 1): 15, (1, 0): 5, (0, 1): 5, (0, 0): 15})
    # us: 50 rows, tp 6, fp 4, fn 14, tn 26 → selection 10/50, TPR 6/20, accuracy 32/50
    _segment_rows(tracker, "us", "region=us", {(1, 1): 6, (1, 0): 4, (0, 1): 14, (0, 0): 26})
    # apac: 32 rows, tp 8, fp 8, fn 0, tn 16 → selection 16/32, TPR 8/8
    _segment_rows(tracker, "ap", "region=apac", {(1, 1): 8, (1, 0): 8, (0, 0): 16})
    # xx: 10 rows (below 30: left out of the gaps) with an extreme selection rate
    _segment_rows(tracker, "xx", "region=xx", {(1, 0): 10})
    # tier: another segment attribute, compared on its own
    _segment_rows(tracker, "t1", "tier=free", {(1, 1): 30})
    _segment_rows(tracker, "t2", "tier=pro", {(0, 1): 10, (0, 0): 20})

    eu = _values(tracker, "region=eu")
    assert eu[names.PERFORMANCE_METRIC_ACCURACY] == 30 / 40
    assert eu[names.PERFORMANCE_METRIC_PRECISION] == 15 / 20
    assert eu[names.PERFORMANCE_METRIC_RECALL] == 15 / 20
    assert eu[names.PERFORMANCE_METRIC_F1] == 30 / 40
    us = _values(tracker, "region=us")
    assert us[names.PERFORMANCE_METRIC_ACCURACY] == 32 / 50
    assert us[names.PERFORMANCE_METRIC_PRECISION] == 6 / 10
    assert us[names.PERFORMANCE_METRIC_RECALL] == 6 / 20
    assert us[names.PERFORMANCE_METRIC_F1] == 12 / 30
    assert _values(tracker, "region=xx")[names.PERFORMANCE_METRIC_ACCURACY] == 0.0
    overall = _values(tracker)
    assert overall[names.PERFORMANCE_METRIC_LABEL_COUNT] == 40 + 50 + 32 + 10 + 30 + 30
    assert overall[names.PERFORMANCE_METRIC_ACCURACY] == (30 + 32 + 24 + 0 + 30 + 20) / 192

    gaps = {(f.attribute, f.metric): f for f in tracker.fairness()}
    assert gaps[("region", names.FAIRNESS_METRIC_DEMOGRAPHIC_PARITY_DIFFERENCE)] == FairnessReading(
        KEY, "region", names.FAIRNESS_METRIC_DEMOGRAPHIC_PARITY_DIFFERENCE, 20 / 40 - 10 / 50, 3,
        "region=apac", "region=us")  # 0.5 in apac and eu: the first in name order is reported
    assert gaps[("region", names.FAIRNESS_METRIC_EQUAL_OPPORTUNITY_DIFFERENCE)] == FairnessReading(
        KEY, "region", names.FAIRNESS_METRIC_EQUAL_OPPORTUNITY_DIFFERENCE, 8 / 8 - 6 / 20, 3,
        "region=apac", "region=us")
    assert gaps[("tier", names.FAIRNESS_METRIC_DEMOGRAPHIC_PARITY_DIFFERENCE)].value == 1.0
    assert gaps[("tier", names.FAIRNESS_METRIC_EQUAL_OPPORTUNITY_DIFFERENCE)].value == 1.0
    assert len(gaps) == 4

    stricter = PerformanceTracker.from_state(tracker.to_state(), PerformanceConfig(min_segment_rows=41))
    assert [(f.attribute, f.segments) for f in stricter.fairness()] == []  # only us (50) qualifies


def test_no_fairness_for_regression_or_multiclass() -> None:
    tracker = PerformanceTracker(PerformanceConfig(min_segment_rows=1))
    for segment in ("g=a", "g=b"):
        tracker.observe(_obs([_pred(segment, ["x", "y", "z"], segment=segment)], [_fb(segment, ["x", "x", "z"])]))
    assert tracker.fairness() == []


# -- state and merge --------------------------------------------------------------------------------


def _busy_tracker(clock: Clock) -> PerformanceTracker:
    tracker = PerformanceTracker(PerformanceConfig(window=50, min_segment_rows=5, max_age=100.0), now=clock)
    y, p = _binary_stream(120, seed=9)
    for i in range(120):
        segment = "region=eu" if i % 3 else "region=us"
        tracker.observe(_obs([_pred(f"p{i}", [float(p[i] >= 0.5)], [max(p[i], 1 - p[i])], segment=segment)]))
        clock.t += 0.1
        if i % 4:
            tracker.observe(_obs(feedback=[_fb(f"p{i}", [int(y[i])])]))
    tracker.observe(_obs(feedback=[_fb("early", ["1", "0"])]))
    return tracker


def test_state_round_trip_keeps_windows_pending_stores_and_counters() -> None:
    clock = Clock()
    tracker = _busy_tracker(clock)
    assert tracker.pending_prediction_rows == 30
    assert tracker.pending_feedback_rows == 2
    state = json.loads(json.dumps(tracker.to_state(), allow_nan=False))
    restored = PerformanceTracker.from_state(state, tracker.config, now=clock)
    assert restored.readings() == tracker.readings()
    assert restored.fairness() == tracker.fairness()
    assert restored.to_state() == tracker.to_state()
    for counter in ("matched", "unmatched_predictions", "unmatched_feedback", "unscorable", "overflow"):
        assert getattr(restored, counter) == getattr(tracker, counter)
    # both restored stores still join, in both directions
    for t in (tracker, restored):
        t.observe(_obs([_pred("early", [1.0, 1.0])], [_fb("p0", [1])]))
    assert restored.readings() == tracker.readings()
    assert restored.matched == tracker.matched == 90 + 3
    # a restored tracker on another clock keeps the ages: p4 (waiting 11.6 s) expires after 88.4 s more
    other_clock = Clock()
    other_clock.t = 5.0
    moved = PerformanceTracker.from_state(tracker.to_state(), tracker.config, now=other_clock)
    other_clock.t += 88.3
    moved.expire()
    assert moved.pending_prediction_rows == tracker.pending_prediction_rows
    other_clock.t += 0.2
    moved.expire()
    assert moved.pending_prediction_rows == tracker.pending_prediction_rows - 1
    with pytest.raises(ValueError, match="version"):
        PerformanceTracker.from_state({**state, "version": 99})


def test_merge_joins_across_shards_and_combines_windows() -> None:
    clock = Clock()
    config = PerformanceConfig(window=1000, min_segment_rows=1)
    single = PerformanceTracker(config, now=clock)
    shard_a = PerformanceTracker(config, now=clock)
    shard_b = PerformanceTracker(config, now=clock)
    y, p = _binary_stream(200, seed=11)
    for i in range(200):
        prediction = _pred(f"p{i}", [float(p[i] >= 0.5)], [max(p[i], 1 - p[i])], segment=f"g={i % 2}")
        label = _fb(f"p{i}", [int(y[i])])
        single.observe(_obs([prediction], [label]))
        # shard a sees predictions of even rows and labels of odd ones, shard b the rest
        (shard_a if i % 2 == 0 else shard_b).observe(_obs([prediction]))
        (shard_b if i % 2 == 0 else shard_a).observe(_obs(feedback=[label]))
    assert shard_a.matched == shard_b.matched == 0
    shard_a.merge(shard_b)
    assert shard_a.matched == 200
    assert shard_a.pending_prediction_rows == shard_a.pending_feedback_rows == 0
    assert shard_a.readings() == single.readings()
    assert shard_a.fairness() == single.fairness()


def test_merge_keeps_the_most_recent_rows_of_both_windows() -> None:
    clock = Clock()
    config = PerformanceConfig(window=4)
    a, b = PerformanceTracker(config, now=clock), PerformanceTracker(config, now=clock)
    for i, (tracker, correct) in enumerate([(a, True), (b, True), (a, False), (b, False), (a, False), (b, True)]):
        clock.t += 1
        tracker.observe(_obs([_pred(f"r{i}", [1.0])], [_fb(f"r{i}", [1 if correct else 0])]))
    a.merge(b)
    # the four newest: F, F, F, T
    assert _values(a)[names.PERFORMANCE_METRIC_ACCURACY] == 0.25
    assert a.matched == 6


def test_merged_pending_entries_expire_by_their_own_age() -> None:
    clock_a, clock_b = Clock(), Clock()
    clock_b.t = 50.0  # another process: another monotonic clock
    config = PerformanceConfig(max_age=100.0)
    a, b = PerformanceTracker(config, now=clock_a), PerformanceTracker(config, now=clock_b)
    b.observe(_obs([_pred("b-old", [1.0])], [_fb("b-label", [1])]))
    clock_a.t += 60
    clock_b.t += 60
    a.observe(_obs([_pred("a-new", [1.0])], [_fb("a-label", [1])]))
    a.merge(b)  # b's entries are 60 s old, a's new: they go first in time order
    assert a.pending_prediction_rows == 2
    assert a.pending_feedback_rows == 2
    clock_a.t += 50
    a.expire()
    assert a.pending_prediction_rows == 1
    assert a.pending_feedback_rows == 1
    assert a.unmatched == 2
    a.observe(_obs(feedback=[_fb("a-new", [1])]))
    assert a.matched == 1


# -- end to end: real spans -------------------------------------------------------------------------


def test_end_to_end_from_sdk_spans_accuracy_is_the_true_accuracy() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "risk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ml_recorder.configure(tracer_provider=provider)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 2))
    y = ((x[:, 0] + 0.8 * rng.normal(size=300)) > 0).astype(int)
    predicted = np.empty(300)
    try:
        @observe_model(name="scorer", version="7", feature_names=["amount", "age"])
        def score(batch: np.ndarray) -> np.ndarray:
            return (batch[:, 0] > 0).astype(float)

        # the first batch's labels are recorded before its prediction (a chosen prediction id)
        record_feedback("order-0", y[:20].tolist(), model="scorer")
        with prediction_id("order-0"):
            predicted[:20] = score(x[:20])
        for start in range(20, 300, 20):
            predicted[start:start + 20] = score(x[start:start + 20])
            pid = ml_recorder.last_prediction_id()
            assert pid is not None
            record_feedback(pid, y[start:start + 20].tolist(), model="scorer")
    finally:
        ml_recorder.configure()
        provider.shutdown()
    spans = exporter.get_finished_spans()
    assert len(spans) == 30
    tracker = PerformanceTracker()
    extractor = SignalExtractor()
    # several export requests, as a processor receives them; the first holds only the early labels
    for start, end in ((0, 1), (1, 8), (8, 15), (15, 22), (22, 30)):
        request = ExportTraceServiceRequest()
        request.ParseFromString(encode_spans(spans[start:end]).SerializeToString())
        tracker.observe(extractor.extract(request.resource_spans))
    key = ModelKey("risk", "scorer", "7", FAMILY_ML)
    got = {r.metric: r for r in tracker.readings() if r.model == key and r.segment == ""}
    assert got[names.PERFORMANCE_METRIC_ACCURACY] == PerformanceReading(
        key, "", names.PERFORMANCE_METRIC_ACCURACY, float(np.mean(predicted == y)), 300)
    assert got[names.PERFORMANCE_METRIC_RECALL].value == metrics.recall_score(y, predicted)
    assert tracker.matched == 300
    assert tracker.unmatched == 0
