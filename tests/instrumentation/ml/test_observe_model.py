"""observe_model, prediction ids, feedback and the feature encoding, on real numpy/pandas inputs."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation import ml
from driftline.instrumentation._core import safety
from driftline.semconv import names
from tests.conftest import Telemetry


def _nan_equal(a: Any, b: Any) -> bool:
    return len(a) == len(b) and all((isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
                                    or x == y for x, y in zip(a, b, strict=True))


def test_small_model_gets_readable_per_feature_attributes(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()

    @ml.observe_model(name="churn", version="3", task="classification", training_data="s3://ml/churn.parquet")
    def predict(frame: pd.DataFrame) -> np.ndarray:
        return np.array(["stay", "churn"])

    frame = pd.DataFrame({"age": [42, None], "country": ["FR", None], "vip": [True, False]})
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as parent:
        result = predict(frame)
    assert result.tolist() == ["stay", "churn"]
    span = next(s for s in tel.spans() if s.name == "predict churn")
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    attrs = dict(span.attributes or {})
    assert attrs[names.ML_OPERATION_NAME] == "predict"
    assert attrs[names.ML_MODEL_NAME] == "churn"
    assert attrs[names.ML_MODEL_VERSION] == "3"
    assert attrs[names.ML_MODEL_TASK] == "classification"
    assert attrs[names.ML_MODEL_TRAINING_DATA] == "s3://ml/churn.parquet"
    assert attrs[names.ML_MODEL_METHOD] == "predict"
    assert attrs[names.ML_BATCH_SIZE] == 2
    assert attrs[names.ML_BATCH_RECORDED_ROWS] == 2
    assert names.ML_BATCH_ROW_INDICES not in attrs
    assert attrs[names.ML_FEATURES_ENCODING] == names.ML_FEATURES_ENCODING_ATTRIBUTES
    assert attrs[names.ML_FEATURES_COUNT] == 3
    assert _nan_equal(attrs["ml.feature.age"], (42.0, math.nan))  # missing numeric: NaN, not dropped
    assert attrs["ml.feature.country"] == ("FR", None)  # missing categorical: null, not dropped
    assert attrs["ml.feature.vip"] == (1.0, 0.0)
    assert attrs[names.ML_PREDICTION_VALUES] == ("stay", "churn")
    assert attrs[names.ML_PREDICTION_ID] == ml.last_prediction_id()
    decoded = ml.decode_span_attributes(attrs)
    assert decoded.features == {"age": [42.0, None], "country": ["FR", None], "vip": [1.0, 0.0]}
    assert decoded.numeric_features == {"age", "vip"}
    assert decoded.rows == [0, 1]
    assert decoded.predictions == ["stay", "churn"]
    points = tel.metric_points(names.ML_INFERENCE_DURATION)
    assert [dict(p.attributes)[names.ML_MODEL_NAME] for p in points] == ["churn"]
    assert points[0].count == 1


def test_500_features_are_packed_without_loss_under_the_default_limit(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(5, 500))
    matrix[2, 7] = np.nan
    model = ml.observe_model(lambda x: x.sum(axis=1), name="wide")
    model(matrix)
    span = tel.only_span()
    attrs = dict(span.attributes or {})
    assert len(attrs) < 128
    assert span.dropped_attributes == 0
    assert attrs[names.ML_FEATURES_ENCODING] == names.ML_FEATURES_ENCODING_PACKED
    assert attrs[names.ML_FEATURES_NUMERIC_NAMES] == tuple(f"x{j}" for j in range(500))
    assert _nan_equal(attrs[names.ML_FEATURES_NUMERIC_VALUES], tuple(matrix.ravel().tolist()))
    decoded = ml.decode_span_attributes(attrs)
    assert decoded.features["x7"][2] is None
    assert decoded.features["x499"] == pytest.approx(matrix[:, 499].tolist())
    sums = matrix.sum(axis=1).tolist()
    assert decoded.predictions[2] is None  # the row with a missing feature sums to NaN
    assert decoded.predictions[:2] == pytest.approx(sums[:2])


def test_mixed_packed_round_trip(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry(DRIFTLINE_ML_FEATURE_ATTRIBUTES_MAX="1")
    frame = pd.DataFrame({"a": [1.5, 2.5, None], "city": ["Paris", None, "Oslo"], "b": [1, 2, 3]})
    ml.observe_model(lambda f: [0.1, 0.2, 0.3], name="mixed")(frame)
    attrs = dict(tel.only_span().attributes or {})
    assert attrs[names.ML_FEATURES_ENCODING] == names.ML_FEATURES_ENCODING_PACKED
    assert attrs[names.ML_FEATURES_CATEGORICAL_NAMES] == ("city",)
    assert attrs[names.ML_FEATURES_CATEGORICAL_VALUES] == ("Paris", None, "Oslo")
    assert attrs[names.ML_FEATURES_NUMERIC_NAMES] == ("a", "b")
    decoded = ml.decode_span_attributes(attrs)
    assert decoded.features == {"a": [1.5, 2.5, None], "b": [1.0, 2.0, 3.0], "city": ["Paris", None, "Oslo"]}
    assert decoded.predictions == [0.1, 0.2, 0.3]


def test_large_batch_records_a_bounded_uniform_sample(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry(DRIFTLINE_ML_MAX_ROWS="10")
    matrix = np.arange(10_000 * 3, dtype=float).reshape(10_000, 3)  # row i starts with 3*i
    ml.observe_model(lambda x: x[:, 0] * 2, name="big", feature_names=["a", "b", "c"])(matrix)
    attrs = dict(tel.only_span().attributes or {})
    assert attrs[names.ML_BATCH_SIZE] == 10_000
    assert attrs[names.ML_BATCH_RECORDED_ROWS] == 10
    rows = list(attrs[names.ML_BATCH_ROW_INDICES])
    assert rows == sorted(set(rows))
    assert len(rows) == 10
    assert all(0 <= r < 10_000 for r in rows)
    decoded = ml.decode_span_attributes(attrs)
    assert decoded.rows == rows
    assert decoded.features["a"] == [3.0 * r for r in rows]  # each recorded value belongs to its row
    assert decoded.predictions == [6.0 * r for r in rows]


def test_capture_off_and_exclusion_and_redaction(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry(DRIFTLINE_ML_EXCLUDE_FEATURES="ssn")
    rows = [{"email": "write to jane.doe@example.com", "ssn": "123-45-6789", "score": 3}]
    ml.observe_model(lambda r: [1], name="pii")(rows)
    attrs = dict(tel.only_span().attributes or {})
    assert attrs["ml.feature.email"] == ("write to [REDACTED:email]",)
    assert "ml.feature.ssn" not in attrs
    assert attrs[names.ML_FEATURES_COUNT] == 3
    assert attrs[names.DRIFTLINE_CONTENT_REDACTED] == 1
    tel.span_exporter.clear()
    tel = ml_telemetry(DRIFTLINE_ML_CAPTURE_FEATURES="false")
    ml.observe_model(lambda r: [1], name="pii")(rows)
    attrs = dict(tel.only_span().attributes or {})
    assert attrs[names.ML_FEATURES_ENCODING] == names.ML_FEATURES_ENCODING_NONE
    assert not [k for k in attrs if k.startswith("ml.feature.")]
    assert attrs[names.ML_PREDICTION_VALUES] == (1.0,)


def test_errors_are_recorded_and_reraised_untouched(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()
    boom = ValueError("bad input")

    @ml.observe_model(name="fragile")
    def predict(x: Any) -> Any:
        raise boom

    with pytest.raises(ValueError, match="bad input") as caught:
        predict([[1.0, 2.0]])
    assert caught.value is boom
    span = tel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[names.ERROR_TYPE] == "ValueError"


def test_recording_faults_never_reach_the_caller(ml_telemetry: Callable[..., Telemetry],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    tel = ml_telemetry()
    from driftline.instrumentation.ml import _recorder

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("driftline bug")

    monkeypatch.setattr(_recorder, "read_features", broken)
    monkeypatch.setattr(_recorder, "read_output", broken)
    assert ml.observe_model(lambda x: 7, name="m")([[1.0]]) == 7
    span = tel.only_span()
    assert dict(span.attributes or {})[names.ML_MODEL_NAME] == "m"
    assert span.end_time is not None
    assert safety.fault_counts() == {"ml.features": 1, "ml.outputs": 1}


def test_nested_observed_calls_make_one_span_and_async_works(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()
    inner = ml.observe_model(lambda x: [1], name="inner")

    @ml.observe_model(name="outer", scores=lambda out: [[0.2, 0.8]], score_labels=["no", "yes"],
                      score_type="probability")
    async def outer(x: Any) -> Any:
        return inner(x)

    assert asyncio.run(outer({"f": 1.0})) == [1]
    attrs = dict(tel.only_span().attributes or {})
    assert attrs[names.ML_MODEL_NAME] == "outer"
    assert attrs[names.ML_PREDICTION_SCORES] == (0.2, 0.8)
    assert attrs[names.ML_PREDICTION_SCORE_LABELS] == ("no", "yes")
    assert ml.decode_span_attributes(attrs).features == {"f": [1.0]}


def test_given_prediction_id_and_feedback_join(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()
    model = ml.observe_model(lambda x: [0, 1, 1], name="churn", version="3")
    with ml.prediction_id("order-42"):
        model([[1.0], [2.0], [3.0]])
    assert ml.last_prediction_id() == "order-42"
    ml.record_feedback("order-42", "churned", model="churn", version="3", row=2)
    ml.record_feedback("order-42", [0, 1], model="churn", row=[0, 1])
    prediction, single, batch = tel.spans()
    assert single.name == "feedback churn"
    assert single.kind is SpanKind.INTERNAL
    fb = ml.decode_span_attributes(dict(single.attributes or {}))
    assert (fb.operation, fb.prediction_id, fb.rows, fb.labels, fb.model_version) == (
        "feedback", "order-42", [2], ["churned"], "3")
    assert ml.decode_span_attributes(dict(batch.attributes or {})).labels == [0.0, 1.0]
    # In-process feedback links to the prediction span; across processes the id joins them.
    assert [link.context.span_id for link in single.links] == [prediction.context.span_id]


def test_set_model_info_overrides_defaults(ml_telemetry: Callable[..., Telemetry]) -> None:
    tel = ml_telemetry()

    class Net:
        def __call__(self, x: Any) -> Any:
            return [0.5]

    net = Net()
    ml.set_model_info(net, name="resnet", version="7", framework="pytorch")
    observed = ml.observe_model(net)
    assert observed([[1.0, 2.0]]) == [0.5]
    attrs = dict(tel.only_span().attributes or {})
    assert (attrs[names.ML_MODEL_NAME], attrs[names.ML_MODEL_VERSION], attrs[names.ML_MODEL_FRAMEWORK],
            attrs[names.ML_MODEL_METHOD]) == ("resnet", "7", "pytorch", "__call__")


def _child_ids(conn: Any) -> None:
    from driftline.instrumentation.ml import _recorder

    conn.send([_recorder.new_prediction_id() for _ in range(3)])
    conn.close()


def test_generated_prediction_ids_are_uuid_sized_unique_and_differ_in_forked_workers() -> None:
    import multiprocessing
    import re

    from driftline.instrumentation.ml import _recorder

    ids = [_recorder.new_prediction_id() for _ in range(2000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", pid) for pid in ids)
    assert len(set(ids)) == len(ids)
    # Pre-fork servers (gunicorn, multiprocessing) must not repeat the parent's sequence: without the
    # reseed at fork, the child's next ids would equal the parent's next ids exactly.
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_ids, args=(child_end,))
    child.start()
    child_end.close()
    assert parent_end.poll(30)
    from_child = parent_end.recv()
    child.join(30)
    assert child.exitcode == 0
    in_parent = [_recorder.new_prediction_id() for _ in range(3)]
    assert len(from_child) == 3
    assert not set(from_child) & set(in_parent)
