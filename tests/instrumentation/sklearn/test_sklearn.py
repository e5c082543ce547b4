"""SklearnInstrumentor with real scikit-learn estimators: one span per user-level call."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from driftline.instrumentation import ml
from driftline.instrumentation.sklearn import SklearnInstrumentor
from driftline.semconv import names
from tests.conftest import Telemetry

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sk(ml_telemetry: Callable[..., Telemetry]) -> Iterator[Telemetry]:
    tel = ml_telemetry()
    inst = SklearnInstrumentor()
    inst.instrument()
    yield tel
    inst.uninstrument()


@pytest.fixture(scope="module")
def iris() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def _ml_spans(tel: Telemetry) -> list[Any]:
    return [s for s in tel.spans() if s.instrumentation_scope and
            s.instrumentation_scope.name == "driftline.instrumentation.sklearn"]


def test_pipeline_predict_proba_is_one_span_under_the_callers_span(sk: Telemetry, iris: Any) -> None:
    X, y = iris
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    ml.set_model_info(pipe, name="iris", version="2", training_data="sklearn:iris")
    with trace.get_tracer("app").start_as_current_span("request") as parent:
        proba = pipe.predict_proba(X.iloc[:2])
    (span,) = _ml_spans(sk)
    assert span.name == "predict iris"
    assert span.kind is SpanKind.INTERNAL
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    attrs = dict(span.attributes or {})
    assert attrs[names.ML_MODEL_NAME] == "iris"
    assert attrs[names.ML_MODEL_VERSION] == "2"
    assert attrs[names.ML_MODEL_FRAMEWORK] == "sklearn"
    assert attrs[names.ML_MODEL_TASK] == "classification"
    assert attrs[names.ML_MODEL_METHOD] == "predict_proba"
    assert attrs[names.ML_MODEL_TRAINING_DATA] == "sklearn:iris"
    assert attrs["ml.feature.sepal length (cm)"] == (5.1, 4.9)
    assert attrs[names.ML_PREDICTION_SCORE_TYPE] == "probability"
    assert attrs[names.ML_PREDICTION_SCORE_LABELS] == ("0", "1", "2")
    assert attrs[names.ML_PREDICTION_SCORES] == tuple(proba.ravel().tolist())
    assert attrs[names.ML_PREDICTION_VALUES] == (0.0, 0.0)  # argmax of the scores
    assert attrs[names.ML_PREDICTION_ID] == ml.last_prediction_id()


def test_default_name_feature_names_and_inner_calls(sk: Telemetry, iris: Any) -> None:
    X, y = iris
    forest = RandomForestClassifier(n_estimators=4, n_jobs=2, random_state=0).fit(X.to_numpy(), y)
    forest.predict(X.to_numpy()[:3])  # predict → predict_proba → each tree in joblib threads
    (span,) = _ml_spans(sk)
    attrs = dict(span.attributes or {})
    assert span.name == "predict RandomForestClassifier"
    assert [k for k in attrs if k.startswith("ml.feature.")] == ["ml.feature.x0", "ml.feature.x1",
                                                                 "ml.feature.x2", "ml.feature.x3"]
    assert attrs[names.ML_PREDICTION_VALUES] == (0.0, 0.0, 0.0)


def test_binary_decision_function_and_regression(sk: Telemetry, iris: Any) -> None:
    X, y = iris
    labels = np.where(y == 0, "setosa", "other")
    svc = LinearSVC().fit(X, labels)
    decision = svc.decision_function(X.iloc[:2])
    reg = LinearRegression().fit(X, y)
    reg.predict(X.iloc[:1])
    svc_span, reg_span = _ml_spans(sk)
    attrs = dict(svc_span.attributes or {})
    assert attrs[names.ML_PREDICTION_SCORE_TYPE] == "decision"
    assert attrs[names.ML_PREDICTION_SCORE_LABELS] == ("setosa",)  # the positive class
    assert attrs[names.ML_PREDICTION_SCORES] == tuple(decision.tolist())
    assert attrs[names.ML_PREDICTION_VALUES] == ("setosa", "setosa")
    reg_attrs = dict(reg_span.attributes or {})
    assert reg_attrs[names.ML_MODEL_TASK] == "regression"
    assert reg_attrs[names.ML_PREDICTION_VALUES] == pytest.approx(tuple(reg.predict(X.iloc[:1]).tolist()))


def test_estimator_classes_defined_after_instrument_and_super_calls(sk: Telemetry) -> None:
    class Threshold(ClassifierMixin, BaseEstimator):
        def fit(self, X: Any, y: Any) -> Threshold:
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X: Any) -> Any:
            return (np.asarray(X)[:, 0] > 0).astype(int)

    class Shifted(Threshold):
        def predict(self, X: Any) -> Any:
            return super().predict(np.asarray(X) - 1)

    model = Shifted().fit(None, None)
    assert model.predict([[0.5], [3.0]]).tolist() == [0, 1]
    (span,) = _ml_spans(sk)
    attrs = dict(span.attributes or {})
    assert span.name == "predict Shifted"
    assert attrs[names.ML_PREDICTION_VALUES] == (0.0, 1.0)


def test_grid_search_fit_is_not_recorded_but_its_best_model_is(sk: Telemetry, iris: Any) -> None:
    X, y = iris
    search = GridSearchCV(LogisticRegression(max_iter=300), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
    assert _ml_spans(sk) == []  # cross-validation scoring is sklearn calling itself
    search.predict(X.iloc[:1])
    assert [s.name for s in _ml_spans(sk)] == ["predict GridSearchCV"]


def test_lightgbm_sklearn_api_models_get_one_span_per_call(sk: Telemetry) -> None:
    lightgbm = pytest.importorskip("lightgbm")  # in the dev extra; an optional dependency for users
    X = np.random.default_rng(0).normal(size=(200, 5))
    model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, (X[:, 0] > 0).astype(int))
    predicted = model.predict(X[:3])
    model.predict_proba(X[:3])
    spans = _ml_spans(sk)
    assert [s.name for s in spans] == ["predict LGBMClassifier", "predict LGBMClassifier"]
    first, second = (dict(s.attributes or {}) for s in spans)
    assert (first[names.ML_MODEL_FRAMEWORK], first[names.ML_MODEL_METHOD], first[names.ML_BATCH_SIZE]) == (
        "lightgbm", "predict", 3)
    assert first[names.ML_PREDICTION_VALUES] == tuple(float(v) for v in predicted)
    assert second[names.ML_MODEL_METHOD] == "predict_proba"
    assert second[names.ML_PREDICTION_SCORE_TYPE] == names.ML_SCORE_TYPE_PROBABILITY


def test_not_fitted_error_is_recorded_and_reraised(sk: Telemetry) -> None:
    with pytest.raises(NotFittedError):
        LogisticRegression().predict([[1.0, 2.0]])
    (span,) = _ml_spans(sk)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[names.ERROR_TYPE] == "sklearn.NotFittedError"


def test_uninstrument_restores_the_same_functions(ml_telemetry: Callable[..., Telemetry], iris: Any) -> None:
    tel = ml_telemetry()
    X, y = iris
    before_lr = LogisticRegression.predict_proba
    before_pipe = Pipeline.__dict__["predict_proba"].fn
    inst = SklearnInstrumentor()
    inst.instrument()
    inst.instrument()  # twice is a no-op
    assert LogisticRegression.predict_proba is not before_lr
    inst.uninstrument()
    assert LogisticRegression.predict_proba is before_lr
    assert Pipeline.__dict__["predict_proba"].fn is before_pipe
    assert "__init_subclass__" not in BaseEstimator.__dict__
    LogisticRegression(max_iter=300).fit(X, y).predict(X.iloc[:1])
    assert _ml_spans(tel) == []


AUTO_APP = textwrap.dedent("""
    import sklearn
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier
    model = make_pipeline(StandardScaler(), DecisionTreeClassifier()).fit([[0.0], [1.0]], [0, 1])
    model.predict([[0.2]])
    print("SPANS", [(s.name, dict(s.attributes)["ml.feature.x0"]) for s in exporter.get_finished_spans()])
""")


def test_auto_activation_instruments_sklearn_on_import(tmp_path: Path) -> None:
    from driftline.instrumentation.auto import SUPPORTED

    if "sklearn" not in SUPPORTED:
        pytest.skip("'sklearn' is not in driftline.instrumentation.auto.SUPPORTED yet (owned by the auto package)")
    app = tmp_path / "app.py"
    # The .pth that runs activate() ships only in the wheel; call it the way that line does.
    app.write_text("from driftline.instrumentation.auto import activate; activate()\n" + AUTO_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    env[names.ENV_AUTO_INSTRUMENT] = "true"
    result = subprocess.run([sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "SPANS [('predict Pipeline', (0.2,))]" in result.stdout
