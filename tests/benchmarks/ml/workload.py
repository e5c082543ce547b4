"""What the ML benchmark calls: fitted models, their inputs, the telemetry pipeline, the cases.

Imported only by the worker process (it needs scikit-learn, numpy and pandas). Models are small
and fitted once per process on synthetic data with :data:`FEATURES` numeric features; each case
calls one method of one model on a single row or on a :data:`BATCH`-row batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from ..harness import DropSpanExporter

FEATURES = 20
"""Numeric features per row."""
BATCH = 1000
"""Rows of the batch cases."""
TRAIN_ROWS = 2000
SEED = 20_251_123

PIPELINE_DESCRIPTION = ("SDK `TracerProvider` (installed globally, as `@tool` uses the global provider) → "
                        "`SimpleSpanProcessor` → an exporter that counts and drops spans; SDK `MeterProvider` with "
                        "an `InMemoryMetricReader` that is never read while timing")


@dataclass
class Telemetry:
    """The SDK pipeline driftline and the floor both record into."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: DropSpanExporter
    reader: InMemoryMetricReader


def make_telemetry() -> Telemetry:
    """Build the pipeline and install it as the global tracer and meter providers."""
    from opentelemetry import metrics, trace

    exporter = DropSpanExporter()
    tracer_provider = TracerProvider()
    # Synchronous: the export cost lands on the calling thread, the same for both, and no
    # background thread competes for the VM's two cores while timing.
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Telemetry(tracer_provider, meter_provider, exporter, reader)


@dataclass
class Models:
    """The fitted models and the inputs they are called on."""

    logistic: Any
    """``LogisticRegression`` on a numpy array."""
    boosting: Any
    """``HistGradientBoostingClassifier`` on a numpy array."""
    pipeline: Any
    """``Pipeline(StandardScaler, LogisticRegression)`` fitted on a DataFrame (named columns)."""
    x_row: np.ndarray
    x_batch: np.ndarray
    frame_row: pd.DataFrame
    frame_batch: pd.DataFrame


MODEL_DESCRIPTIONS = {
    "LogisticRegression": "`LogisticRegression()`",
    "HistGradientBoostingClassifier": "`HistGradientBoostingClassifier(max_iter=50, max_depth=6)`",
    "Pipeline": "`make_pipeline(StandardScaler(), LogisticRegression())` fitted on a pandas DataFrame "
                "with named columns `f00`..`f19`",
}


def fit_models() -> Models:
    """Fit the three models on the same synthetic binary-classification data."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.25 * x[:, 2] + rng.normal(scale=0.5, size=TRAIN_ROWS) > 0).astype(np.int64)
    columns = [f"f{j:02d}" for j in range(FEATURES)]
    frame = pd.DataFrame(x, columns=columns)
    logistic = LogisticRegression().fit(x, y)
    boosting = HistGradientBoostingClassifier(max_iter=50, max_depth=6, random_state=0).fit(x, y)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(frame, y)
    fresh = rng.normal(size=(BATCH, FEATURES))
    fresh_frame = pd.DataFrame(fresh, columns=columns)
    return Models(logistic, boosting, pipeline, fresh[:1].copy(), fresh, fresh_frame.iloc[:1].copy(), fresh_frame)


@dataclass(frozen=True)
class PredictCase:
    """One timed prediction call: ``getattr(model, method)(inputs)``."""

    key: str
    model_attr: str
    method: str
    input_attr: str

    def model(self, models: Models) -> Any:
        """The fitted model this case calls."""
        return getattr(models, self.model_attr)

    def inputs(self, models: Models) -> Any:
        """The input this case passes."""
        return getattr(models, self.input_attr)

    def rows(self, models: Models) -> int:
        """Rows in the input."""
        return int(self.inputs(models).shape[0])

    def call(self, models: Models) -> Callable[[], Any]:
        """The user-level call (a bound method looked up per call, as application code does)."""
        model, method, x = self.model(models), self.method, self.inputs(models)

        def call() -> Any:
            return getattr(model, method)(x)

        return call


PREDICT_CASES: tuple[PredictCase, ...] = (
    PredictCase("logreg-proba-1", "logistic", "predict_proba", "x_row"),
    PredictCase("logreg-proba-1k", "logistic", "predict_proba", "x_batch"),
    PredictCase("hgb-predict-1", "boosting", "predict", "x_row"),
    PredictCase("hgb-predict-1k", "boosting", "predict", "x_batch"),
    PredictCase("pipeline-predict-1", "pipeline", "predict", "frame_row"),
    PredictCase("pipeline-predict-1k", "pipeline", "predict", "frame_batch"),
)
"""Single row and 1k-row batch for each model; ``predict_proba`` (scores) and ``predict`` both covered."""

TOOL_CASE = "tool-sync"
"""Key of the ``@tool`` case."""


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b
