"""The floors: the least hand-written OpenTelemetry code that records what driftline records.

:class:`FloorPredictor` is specialised to one model and one method, built once (what a person
hand-instrumenting one model would write). At construction it works out what does not depend on
the call: span name, model identity (name, framework, task, method), the ``ml.feature.<name>``
keys (from the model's ``feature_names_in_``, else ``x0``..), the class labels and the histogram's
attributes. Per call it does the work that depends on the input, in the cheapest way numpy offers:

1. a random ``ml.prediction.id`` (128 random bits as 32 hex digits, drawn with ``getrandbits`` like the
   SDK's trace ids — the cheapest source, cheaper than ``uuid4().hex``), batch size and feature count from ``shape``;
2. above 32 rows, a uniform sample of 32 row indices (``sorted(random.sample(range(n), 32))``,
   the same draw driftline makes) and the sampled rows (``to_numpy()`` for a DataFrame, then one
   fancy index);
3. one attribute per feature from ``rows.T.tolist()``;
4. starts an INTERNAL span with all of that, makes it current, calls the model, detaches;
5. outputs of the sampled rows only: ``predict`` → predictions as doubles; ``predict_proba`` →
   the scores (``ravel().tolist()``), the predicted class (``argmax`` over the sampled rows, mapped
   through the precomputed classes), the class labels and the score type;
6. sets those, ends the span and records ``ml.inference.duration`` with the span's context.

No patching, no caller inspection (one span per user-level call), no fault isolation, no
suppression or sampling checks, no content policy, no generic input readers, no in-process
prediction-id bookkeeping for feedback links. :class:`FloorTool` is the same for ``@tool``: the
span's four static attributes are built once; per call it starts the span, makes it current,
calls the function and ends the span.

The worker checks, before timing, that the floor's span has the same attribute keys and values as
driftline's for the same call (prediction id aside; row sample drawn from the same seed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from opentelemetry import context, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from driftline.semconv import names

_ids = random.Random()
"""The prediction-id source (as driftline's: a private generator)."""

SCOPE = "driftline.benchmarks.ml.floor"
MAX_ROWS = 32
"""Rows recorded per call (driftline's default ``DRIFTLINE_ML_MAX_ROWS``)."""

_FEATURE = names.ML_FEATURE_TEMPLATE.removesuffix("<name>")
_now = time.perf_counter


class FloorPredictor:
    """``getattr(model, method)(x)`` inside a hand-written prediction span, for one model and method."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider, model: Any, method: str,
                 *, name: str, task: str, frame: bool, width: int) -> None:
        if method not in ("predict", "predict_proba"):
            raise ValueError(f"the floor covers predict and predict_proba, not {method}")
        self._tracer = tracer_provider.get_tracer(SCOPE)
        self._duration = meter_provider.get_meter(SCOPE).create_histogram(
            names.ML_INFERENCE_DURATION, unit=names.ML_INFERENCE_DURATION_UNIT,
            explicit_bucket_boundaries_advisory=list(names.ML_INFERENCE_DURATION_BUCKETS))
        self._model = model
        self._method = method
        """Looked up per call, as the user's ``model.predict(x)`` does (descriptors such as a
        Pipeline's ``available_if`` check run on every lookup, for every contender)."""
        self._span_name = f"{names.ML_OPERATION_PREDICT} {name}"
        self._static: dict[str, AttributeValue] = {
            names.ML_OPERATION_NAME: names.ML_OPERATION_PREDICT,
            names.ML_MODEL_NAME: name,
            names.ML_MODEL_FRAMEWORK: names.ML_FRAMEWORK_SKLEARN,
            names.ML_MODEL_TASK: task,
            names.ML_MODEL_METHOD: method,
            names.ML_FEATURES_ENCODING: names.ML_FEATURES_ENCODING_ATTRIBUTES,
        }
        self._metric_attrs: dict[str, AttributeValue] = {
            names.ML_MODEL_NAME: name, names.ML_MODEL_METHOD: method,
            names.ML_MODEL_FRAMEWORK: names.ML_FRAMEWORK_SKLEARN,
        }
        feature_names = getattr(model, "feature_names_in_", None)
        self._keys = [_FEATURE + str(n) for n in feature_names] if feature_names is not None else [
            f"{_FEATURE}x{j}" for j in range(width)]
        self._frame = frame
        self._scores = method == "predict_proba"
        classes = np.asarray(getattr(model, "classes_", []))
        self._classes = classes.astype(np.float64) if self._scores else classes
        self._labels = tuple(str(c) for c in classes.tolist())
        self.rng = random.Random()
        """The row sampler (seeded by the worker's check to draw the rows driftline draws)."""

    def __call__(self, x: Any) -> Any:
        """Call the model on ``x`` and record the span and the duration histogram."""
        n, width = x.shape
        attrs = dict(self._static)
        attrs[names.ML_PREDICTION_ID] = f"{_ids.getrandbits(128):032x}"
        attrs[names.ML_BATCH_SIZE] = n
        attrs[names.ML_FEATURES_COUNT] = width
        values = x.to_numpy() if self._frame else x
        if n > MAX_ROWS:
            idx: list[int] | None = sorted(self.rng.sample(range(n), MAX_ROWS))
            attrs[names.ML_BATCH_RECORDED_ROWS] = MAX_ROWS
            attrs[names.ML_BATCH_ROW_INDICES] = idx  # type: ignore[assignment]  # the SDK takes lists
            values = values[idx]
        else:
            idx = None
            attrs[names.ML_BATCH_RECORDED_ROWS] = n
        attrs.update(zip(self._keys, values.T.tolist(), strict=True))
        span = self._tracer.start_span(self._span_name, kind=SpanKind.INTERNAL, attributes=attrs)
        ctx = trace.set_span_in_context(span)
        token = context.attach(ctx)
        start = _now()
        try:
            result = getattr(self._model, self._method)(x)
        except BaseException as exc:
            span.set_attribute(names.ERROR_TYPE, type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            span.end()
            self._duration.record(_now() - start, {**self._metric_attrs, names.ERROR_TYPE: type(exc).__qualname__},
                                  context=ctx)
            raise
        finally:
            context.detach(token)
        out = result if idx is None else result[idx]
        if self._scores:
            span.set_attributes({
                names.ML_PREDICTION_VALUES: self._classes[out.argmax(axis=1)].tolist(),
                names.ML_PREDICTION_SCORES: out.ravel().tolist(),
                names.ML_PREDICTION_SCORE_LABELS: self._labels,
                names.ML_PREDICTION_SCORE_TYPE: names.ML_SCORE_TYPE_PROBABILITY,
            })
        else:
            span.set_attribute(names.ML_PREDICTION_VALUES, out.astype(np.float64).tolist())
        span.end()
        self._duration.record(_now() - start, self._metric_attrs, context=ctx)
        return result


class FloorTool:
    """A function inside a hand-written ``execute_tool`` span (content capture off: no arguments/result)."""

    def __init__(self, tracer_provider: TracerProvider, func: Callable[..., Any], name: str,
                 description: str) -> None:
        self._tracer = tracer_provider.get_tracer(SCOPE)
        self._func = func
        self._span_name = f"{names.OPERATION_EXECUTE_TOOL} {name}"
        self._attrs: dict[str, AttributeValue] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
            names.GEN_AI_TOOL_NAME: name,
            names.GEN_AI_TOOL_TYPE: names.TOOL_TYPE_FUNCTION,
            names.GEN_AI_TOOL_DESCRIPTION: description,
        }

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the function inside the span."""
        span = self._tracer.start_span(self._span_name, kind=SpanKind.INTERNAL, attributes=self._attrs)
        token = context.attach(trace.set_span_in_context(span))
        try:
            result = self._func(*args, **kwargs)
        except BaseException as exc:
            span.set_attribute(names.ERROR_TYPE, type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            span.end()
            raise
        finally:
            context.detach(token)
        span.end()
        return result
