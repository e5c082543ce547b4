"""The ML recorder: one INTERNAL span per model call (``predict {ml.model.name}``) and feedback spans.

Life cycle, like the GenAI recorder: :meth:`MLRecorder.start` (identity, batch size, features —
features only when the span is recording, so sampled-out calls convert nothing) → :meth:`stop`
(predictions, scores) or :meth:`fail` (``error.type``). :func:`record_call` runs a user's model
call between them with fault isolation: the user's call runs exactly once, its exception
propagates untouched, driftline's own faults are reported and swallowed.
"""

from __future__ import annotations

import os
import random
import threading
import timeit
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

try:
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN as _SUPPRESS_PLAIN
except ImportError:  # older opentelemetry-instrumentation: the plain key's value
    _SUPPRESS_PLAIN = "suppress_instrumentation"
from opentelemetry.metrics import Counter, Histogram, Meter, MeterProvider, get_meter
from opentelemetry.trace import (
    Link,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TracerProvider,
    TraceState,
)
from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core import first_use
from driftline.instrumentation._core.content import ContentScrubber
from driftline.instrumentation._core.instrumentor import VERSION
from driftline.instrumentation._core.recorder import error_type
from driftline.instrumentation._core.safety import add_fault_listener, report_fault
from driftline.instrumentation._core.scoped import current_scoped_attributes
from driftline.semconv import names

from ._encoding import feature_attributes, feature_keys, output_values
from ._model_info import ModelInfo
from ._settings import MLSettings, load_ml_settings
from ._tabular import (
    MAX_CELLS,
    MAX_FEATURES,
    Output,
    Table,
    dims,
    is_frame,
    matrix_names,
    matrix_of,
    numeric_matrix,
    numeric_rows,
    read_features,
    read_output,
    sample_indices,
)

_now = timeit.default_timer

_live: weakref.WeakSet[MLRecorder] = weakref.WeakSet()
"""Recorders alive now; one fault listener (registered once) counts faults on each."""


def _count_fault(step: str) -> None:
    for rec in list(_live):
        rec.count_fault(step)


add_fault_listener(_count_fault)

_IN_PREDICTION: ContextVar[bool] = ContextVar("driftline_ml_in_prediction", default=False)
_LAST_ID: ContextVar[str | None] = ContextVar("driftline_ml_last_prediction_id", default=None)
_GIVEN_ID: ContextVar[str | None] = ContextVar("driftline_ml_given_prediction_id", default=None)

_UNNAMED = "model"
"""ml.model.name when none is known."""

_RESERVED = 16
"""Attributes kept free for what stop() adds (predictions, scores, error.type, ...)."""

_LINKS_KEPT = 4096

_CACHED_MODELS = 1024
"""Model identities whose span and metric attributes are kept (the caches start over beyond that)."""
"""Recent prediction ids whose span contexts are remembered, so in-process feedback links to them."""


_id_rng = random.Random()
"""A private generator for prediction ids (uniqueness, not secrecy), reseeded from os.urandom on
creation and in every forked child, so pre-fork workers do not repeat each other's ids."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_id_rng.seed)
_id_bits = _id_rng.getrandbits


def new_prediction_id() -> str:
    """A fresh ``ml.prediction.id``: 128 random bits as 32 lowercase hex digits (the form of ``uuid4().hex``).

    Drawn like the SDK draws trace ids (``random.getrandbits``), at a fifth of ``uuid4``'s cost.
    """
    return f"{_id_bits(128):032x}"


_SUPPRESS_KEYS = (_SUPPRESS_INSTRUMENTATION_KEY, _SUPPRESS_PLAIN)
"""The context keys OpenTelemetry's ``suppress_instrumentation`` sets (the same ones
``is_instrumentation_enabled`` reads)."""


def suppressed(ctx: Context) -> bool:
    """Whether instrumentation is suppressed in ``ctx`` (read once, with the parent the span needs)."""
    return bool(ctx.get(_SUPPRESS_KEYS[0]) or ctx.get(_SUPPRESS_KEYS[1]))


def last_prediction_id() -> str | None:
    """The ``ml.prediction.id`` of the prediction call that started last in this context.

    Inside an observed model function it is the running call's id; right after
    ``model.predict(X)`` returns it is that call's id. Threads and asyncio tasks each see their own.
    A batch row is identified by this id and its 0-based position in the batch.
    """
    return _LAST_ID.get()


@contextmanager
def prediction_id(value: str) -> Iterator[str]:
    """Use ``value`` as ``ml.prediction.id`` for the prediction calls made inside the block.

    >>> with prediction_id(order.id):
    ...     model.predict(features)

    Give each call its own id (one call per block): feedback joins on (id, row).
    """
    token = _GIVEN_ID.set(value)
    try:
        yield value
    finally:
        _GIVEN_ID.reset(token)


def in_prediction() -> bool:
    """Whether a recorded prediction call is running in this context (inner calls are not recorded)."""
    return _IN_PREDICTION.get()


class _Plan:
    """What every recorded call of one model identity and method shares, worked out once.

    ``attrs``: the static attributes, model identity and method, in the order of precedence
    (custom static attributes first: they cannot overwrite what driftline records); never mutated.
    ``keys``: the ``ml.feature.<name>`` keys of the last feature-name list seen, by identity.
    """

    __slots__ = ("attrs", "keys", "metric_attrs", "model", "model_attrs", "names", "span_name")

    def __init__(self, model: ModelInfo, span_name: str, model_attrs: dict[str, AttributeValue],
                 attrs: dict[str, AttributeValue], metric_attrs: dict[str, AttributeValue]) -> None:
        self.model = model
        self.span_name = span_name
        self.model_attrs = model_attrs
        self.attrs = attrs
        self.metric_attrs = metric_attrs
        self.names: Sequence[str] | None = None
        self.keys: list[str] = []


@dataclass(slots=True, eq=False)
class Prediction:
    """One recorded model call in flight."""

    model: ModelInfo
    method: str
    prediction_id: str
    batch: int | None = None
    indices: list[int] | None = None
    span: Span | None = None
    context: Context | None = None
    start_perf: float = 0.0
    plan: _Plan | None = None
    recording: bool = False
    """Whether the span records (sampled in): outputs are read only then."""
    ended: bool = False
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    """Extra attributes set by stop() (the mapping's derived predictions, scores, ...)."""


class MLMetrics:
    """The ML instruments created from one meter."""

    __slots__ = ("duration", "errors")

    def __init__(self, meter: Meter) -> None:
        self.duration: Histogram = meter.create_histogram(
            names.ML_INFERENCE_DURATION, unit=names.ML_INFERENCE_DURATION_UNIT,
            description="Duration of a recorded model call.",
            explicit_bucket_boundaries_advisory=list(names.ML_INFERENCE_DURATION_BUCKETS))
        self.errors: Counter = meter.create_counter(
            names.DRIFTLINE_INSTRUMENTATION_ERRORS, unit=names.DRIFTLINE_INSTRUMENTATION_ERRORS_UNIT,
            description="Faults inside driftline's recording code (swallowed).")


class MLRecorder:
    """Records model calls and feedback for one tracer and meter."""

    def __init__(self, tracer: Tracer, metrics: MLMetrics, settings: MLSettings, fault_prefix: str) -> None:
        self._tracer = tracer
        self._metrics = metrics
        self.settings = settings
        self._fault_prefix = fault_prefix
        self._recent: OrderedDict[str, int | SpanContext] = OrderedDict()
        """Recent prediction ids → their span contexts, packed into one int (ints are not GC-tracked:
        4,096 tracked objects kept alive would trigger extra garbage collections on the hot path)."""
        self._model_attrs: dict[tuple[str, int], tuple[ModelInfo, dict[str, AttributeValue], str]] = {}
        """Per operation and model identity (by id, the info held): its span attributes and span name."""
        self._metric_attrs: dict[tuple[str, int], tuple[ModelInfo, dict[str, AttributeValue]]] = {}
        """Per method and model identity: the duration histogram's attributes (never mutated)."""
        self._plans: dict[tuple[int, str], _Plan] = {}
        """Per model identity (by id, the info held) and method: what every prediction call of it shares."""

    @classmethod
    def create(cls, scope: str, tracer_provider: TracerProvider | None = None,
               meter_provider: MeterProvider | None = None) -> MLRecorder:
        """A recorder for instrumentation scope ``scope``, settings read from the environment now."""
        tracer = trace.get_tracer(scope, VERSION, tracer_provider=tracer_provider)
        rec = cls(tracer, MLMetrics(get_meter(scope, VERSION, meter_provider=meter_provider)),
                  load_ml_settings(), scope.rsplit(".", 1)[-1] + ".")
        _live.add(rec)
        return rec

    def count_fault(self, step: str) -> None:
        """Count ``step`` in ``driftline.instrumentation.errors`` if it is one of this recorder's steps."""
        if step.startswith(self._fault_prefix):
            self._metrics.errors.add(1, {names.DRIFTLINE_INSTRUMENTATION_STEP: step})

    # -- predictions ----------------------------------------------------------------------------
    # Hot path: start/stop run on every model call.

    def _model_attributes(self, operation: str, model: ModelInfo) -> tuple[dict[str, AttributeValue], str]:
        """The span attributes identifying ``model`` for ``operation``, and the span name (cached)."""
        entry = self._model_attrs.get((operation, id(model)))
        if entry is not None and entry[0] is model:
            return entry[1], entry[2]
        name = model.name or _UNNAMED
        attrs: dict[str, AttributeValue] = {names.ML_OPERATION_NAME: operation, names.ML_MODEL_NAME: name}
        if model.version:
            attrs[names.ML_MODEL_VERSION] = model.version
        if model.framework:
            attrs[names.ML_MODEL_FRAMEWORK] = model.framework
        if model.task:
            attrs[names.ML_MODEL_TASK] = model.task
        if model.training_data:
            attrs[names.ML_MODEL_TRAINING_DATA] = model.training_data
        span_name = f"{operation} {name}"
        if len(self._model_attrs) >= _CACHED_MODELS:
            self._model_attrs.clear()
        self._model_attrs[(operation, id(model))] = (model, attrs, span_name)
        return attrs, span_name

    def _base_attributes(self, operation: str, model: ModelInfo) -> tuple[dict[str, AttributeValue], str]:
        static = self.settings.content.static_attributes
        scoped = current_scoped_attributes()
        # Custom attributes first: they cannot overwrite what driftline records about the call.
        attrs: dict[str, AttributeValue] = {**static, **scoped} if scoped else dict(static)
        model_attrs, span_name = self._model_attributes(operation, model)
        attrs.update(model_attrs)
        return attrs, span_name

    def _plan(self, model: ModelInfo, method: str) -> _Plan:
        plan = self._plans.get((id(model), method))
        if plan is not None and plan.model is model:
            return plan
        model_attrs, span_name = self._model_attributes(names.ML_OPERATION_PREDICT, model)
        model_attrs = {**model_attrs, names.ML_MODEL_METHOD: method}
        plan = _Plan(model, span_name, model_attrs, {**self.settings.content.static_attributes, **model_attrs},
                     self._duration_attributes(model, method))
        if len(self._plans) >= _CACHED_MODELS:
            self._plans.clear()
        self._plans[(id(model), method)] = plan
        return plan

    def start(self, model: ModelInfo, method: str, inputs: Any,
              feature_names: Callable[[Any], Sequence[str] | None] | None = None, target: Any = None,
              parent: Context | None = None) -> Prediction:
        """Open the prediction span for a call of ``method`` on ``inputs``.

        ``feature_names(target)`` gives the model's feature names for inputs that carry none; it is
        called only when the span records features. ``parent``: the current context, when the
        caller has read it already.
        """
        if first_use.hooks:
            first_use.run_hooks()
        pid = _GIVEN_ID.get() or new_prediction_id()
        plan = self._plan(model, method)
        pred = Prediction(model, method, pid, plan=plan)
        scoped = current_scoped_attributes()
        # Custom attributes first: they cannot overwrite what driftline records about the call.
        attrs: dict[str, AttributeValue] = (
            {**self.settings.content.static_attributes, **scoped, **plan.model_attrs} if scoped
            else plan.attrs.copy())
        attrs[names.ML_PREDICTION_ID] = pid
        # The common inputs (a numeric ndarray, a one-block numeric DataFrame) are recognised once
        # here; everything else goes through the generic readers.
        matrix = numeric_matrix(inputs)
        rows: int | None
        width: int | None
        if matrix is not None:
            shape = matrix[0].shape
            rows, width = int(shape[0]), int(shape[1])
        else:
            rows, width = dims(inputs)
        if rows is not None:
            pred.batch = rows
            attrs[names.ML_BATCH_SIZE] = rows
            max_rows = self.settings.max_rows
            if width:
                attrs[names.ML_FEATURES_COUNT] = width
                max_rows = max(1, min(max_rows, MAX_CELLS // width))
            if rows > max_rows:
                indices = pred.indices = sample_indices(rows, max_rows)
                attrs[names.ML_BATCH_RECORDED_ROWS] = max_rows
                attrs[names.ML_BATCH_ROW_INDICES] = indices  # the SDK stores a tuple
            else:
                attrs[names.ML_BATCH_RECORDED_ROWS] = rows
        span = self._tracer.start_span(plan.span_name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs)
        pred.span = span
        pred.context = trace.set_span_in_context(span, parent)
        pred.start_perf = _now()
        _LAST_ID.set(pid)
        if span.is_recording():
            pred.recording = True
            # Dict writes are atomic under the GIL; a race at the bound at worst drops one more.
            recent = self._recent
            recent[pid] = _pack(span.get_span_context())
            if len(recent) > _LINKS_KEPT:
                try:
                    recent.popitem(last=False)
                except KeyError:
                    pass
            try:
                # Set with the outputs at stop (or with error.type at fail): one SDK call, not two.
                if matrix is not None:
                    pred.attributes = self._matrix_features(matrix[0], matrix[1], pred, width or 0, len(attrs),
                                                            feature_names, target)
                else:
                    pred.attributes = self._features(inputs, pred, width, len(attrs), feature_names, target)
            except Exception:
                report_fault(f"{self._fault_prefix}features")
        return pred

    def _matrix_features(self, x: Any, columns: list[str] | None, pred: Prediction, width: int, used: int,
                         feature_names: Callable[[Any], Sequence[str] | None] | None,
                         target: Any) -> dict[str, AttributeValue]:
        """Features of an input :func:`numeric_matrix` recognised (``columns`` None: a numpy array)."""
        settings = self.settings
        if not settings.capture_features or width > MAX_FEATURES:
            return {names.ML_FEATURES_ENCODING: names.ML_FEATURES_ENCODING_NONE}
        matrix = matrix_of(x, columns is not None, pred.indices)
        if (width <= settings.feature_attributes_max and width <= settings.span_attribute_limit - used - _RESERVED
                and not settings.exclude_features):
            # The common case: one readable ml.feature.<name> array per feature, column by column.
            given = columns if columns is not None else feature_names(target) if feature_names is not None else None
            plan = pred.plan
            if plan is not None and plan.names is given and given is not None and len(plan.keys) == width:
                keys = plan.keys  # the same names object as last call: its keys
            else:
                keys = feature_keys(matrix_names(given, width))
                if plan is not None and given is not None:
                    plan.names, plan.keys = given, keys
            attrs: dict[str, AttributeValue] = {names.ML_FEATURES_ENCODING: names.ML_FEATURES_ENCODING_ATTRIBUTES}
            attrs.update(zip(keys, matrix.T.tolist(), strict=True))
            return attrs
        if columns is None:
            columns = matrix_names(feature_names(target) if feature_names is not None else None, width)
        table = Table(int(matrix.shape[0]), columns, columns, None, [], [], matrix)
        return feature_attributes(table, settings, None, settings.span_attribute_limit - used - _RESERVED)

    def _features(self, inputs: Any, pred: Prediction, width: int | None, used: int,
                  feature_names: Callable[[Any], Sequence[str] | None] | None,
                  target: Any) -> dict[str, AttributeValue]:
        if not self.settings.capture_features or rows_unknown(pred) or (width or 0) > MAX_FEATURES:
            return {names.ML_FEATURES_ENCODING: names.ML_FEATURES_ENCODING_NONE}
        # A DataFrame names its own columns: the model's feature names are needed for other inputs only.
        given = feature_names(target) if feature_names is not None and not is_frame(inputs) else None
        table = read_features(inputs, pred.indices, given)
        if table is None:
            return {names.ML_FEATURES_ENCODING: names.ML_FEATURES_ENCODING_NONE}
        room = self.settings.span_attribute_limit - used - _RESERVED
        if not table.categorical_names:
            # All numeric: no text to police, so no scrubber to build (nor flags to set).
            return feature_attributes(table, self.settings, None, room)
        scrubber = ContentScrubber(self.settings.content)
        attrs = feature_attributes(table, self.settings, scrubber, room)
        if scrubber.truncated:
            attrs[names.DRIFTLINE_CONTENT_TRUNCATED] = True
        if scrubber.redacted:
            attrs[names.DRIFTLINE_CONTENT_REDACTED] = scrubber.redacted
        return attrs

    def outputs(self, pred: Prediction, predictions: Any = None, scores: Any = None,
                score_labels: Sequence[Any] | None = None, score_type: str | None = None,
                sampled: bool = False) -> None:
        """Read predictions and scores of the recorded rows into the attributes :meth:`stop` sets.

        ``sampled``: the outputs given hold the recorded rows only (already picked by ``pred.indices``).
        """
        if not pred.recording:
            return
        scrubber: ContentScrubber | None = None  # built only for text outputs
        attrs = pred.attributes
        indices, batch = pred.indices, pred.batch
        if sampled and indices is not None:
            batch = len(indices)
            indices = None
        out: Output | None
        fast = numeric_rows(predictions, indices, batch)
        if fast is not None:  # hot path: a numeric ndarray, one row per input row
            attrs[names.ML_PREDICTION_VALUES] = fast[0]
            if fast[1] > 1:
                attrs[names.ML_PREDICTION_DIMENSION] = fast[1]
        elif predictions is not None:
            out = read_output(predictions, indices, batch)
            if out is not None:
                if not out.numeric:
                    scrubber = ContentScrubber(self.settings.content)
                attrs[names.ML_PREDICTION_VALUES] = output_values(out, scrubber)
                if out.width > 1:
                    attrs[names.ML_PREDICTION_DIMENSION] = out.width
        if scores is not None:
            fast = numeric_rows(scores, indices, batch)
            out = Output(0, fast[1], fast[0], True) if fast is not None else read_output(scores, indices, batch)
            if out is not None and out.numeric:
                attrs[names.ML_PREDICTION_SCORES] = out.values
                if score_labels is not None and len(score_labels) == out.width:
                    attrs[names.ML_PREDICTION_SCORE_LABELS] = _label_strings(score_labels)
                if score_type:
                    attrs[names.ML_PREDICTION_SCORE_TYPE] = score_type
        if scrubber is not None and scrubber.redacted:
            attrs[names.DRIFTLINE_CONTENT_REDACTED] = scrubber.redacted

    def stop(self, pred: Prediction) -> None:
        """Set the output attributes and end the span (once)."""
        if pred.ended or pred.span is None:
            return
        pred.ended = True
        try:
            if pred.attributes:
                pred.span.set_attributes(pred.attributes)
        finally:
            pred.span.end()
        self._record_duration(pred, None)

    def fail(self, pred: Prediction, exc: BaseException) -> None:
        """Mark the span failed with ``error.type`` and end it (once)."""
        if pred.ended or pred.span is None:
            return
        pred.ended = True
        etype = error_type(exc)
        try:
            attrs = pred.attributes
            attrs[names.ERROR_TYPE] = etype
            pred.span.set_attributes(attrs)
            pred.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"))
        finally:
            pred.span.end()
        self._record_duration(pred, etype)

    def _duration_attributes(self, model: ModelInfo, method: str) -> dict[str, AttributeValue]:
        """The duration histogram's attributes for ``model`` and ``method`` (cached; never mutated)."""
        entry = self._metric_attrs.get((method, id(model)))
        if entry is not None and entry[0] is model:
            return entry[1]
        attrs: dict[str, AttributeValue] = {names.ML_MODEL_NAME: model.name or _UNNAMED, names.ML_MODEL_METHOD: method}
        if model.version:
            attrs[names.ML_MODEL_VERSION] = model.version
        if model.framework:
            attrs[names.ML_MODEL_FRAMEWORK] = model.framework
        if len(self._metric_attrs) >= _CACHED_MODELS:
            self._metric_attrs.clear()
        self._metric_attrs[(method, id(model))] = (model, attrs)
        return attrs

    def _record_duration(self, pred: Prediction, etype: str | None) -> None:
        plan = pred.plan
        attrs = plan.metric_attrs if plan is not None else self._duration_attributes(pred.model, pred.method)
        if etype:
            attrs = {**attrs, names.ERROR_TYPE: etype}
        self._metrics.duration.record(_now() - pred.start_perf, attrs, context=pred.context)

    # -- feedback -------------------------------------------------------------------------------

    def feedback(self, prediction_id: str, labels: Output, rows: Sequence[int], model: ModelInfo) -> None:
        """Emit the ``feedback {ml.model.name}`` span for ``labels`` of batch ``rows`` of a prediction."""
        if first_use.hooks:
            first_use.run_hooks()
        attrs, span_name = self._base_attributes(names.ML_OPERATION_FEEDBACK, model)
        attrs[names.ML_PREDICTION_ID] = prediction_id
        attrs[names.ML_FEEDBACK_ROWS] = tuple(rows)
        attrs[names.ML_FEEDBACK_LABELS] = output_values(labels, ContentScrubber(self.settings.content))
        packed = self._recent.get(prediction_id)
        linked = _unpack(packed) if packed is not None else None
        links = [Link(linked)] if linked is not None else None
        span = self._tracer.start_span(span_name, kind=SpanKind.INTERNAL, attributes=attrs, links=links)
        span.end()


_LABELS: dict[int, tuple[Sequence[Any], list[str]]] = {}
"""Per score labels sequence (by id, held so its id cannot be reused): its labels as strings."""


def _label_strings(labels: Sequence[Any]) -> list[str]:
    """``[str(v) for v in labels]``, cached for tuples and the lists the sklearn wrappers share.

    The SDK copies array attribute values into tuples, so the shared list is never handed out mutable.
    """
    entry = _LABELS.get(id(labels))
    if entry is not None and entry[0] is labels and len(entry[1]) == len(labels):
        return entry[1]
    result = [str(v) for v in labels]
    if len(_LABELS) >= 64:  # small: labels built per call pass through without piling up
        _LABELS.clear()
    _LABELS[id(labels)] = (labels, result)
    return result


def _pack_by_property(ctx: SpanContext) -> int | SpanContext:
    """``ctx`` as one int (trace id, span id, flags), or itself when it carries more (trace state, remote)."""
    if ctx.trace_state or ctx.is_remote:
        return ctx
    return (ctx.trace_id << 72) | (ctx.span_id << 8) | int(ctx.trace_flags)


def _pack_by_index(ctx: SpanContext) -> int | SpanContext:
    """:func:`_pack_by_property` reading the tuple fields directly (five property calls fewer)."""
    if ctx[4] or ctx[2]:
        return ctx
    return (ctx[0] << 72) | (ctx[1] << 8) | ctx[3]


def _tuple_layout_holds() -> bool:
    """Whether SpanContext is the tuple (trace_id, span_id, is_remote, trace_flags, trace_state, ...)."""
    probe = SpanContext(0x1234, 0x56, False, TraceFlags(1), TraceState([("k", "v")]))
    try:
        return (isinstance(probe, tuple) and probe[0] == 0x1234 and probe[1] == 0x56 and probe[2] is False
                and probe[3] == 1 and probe[4] is probe.trace_state)
    except Exception:
        return False


_pack = _pack_by_index if _tuple_layout_holds() else _pack_by_property


def _unpack(packed: int | SpanContext) -> SpanContext:
    if isinstance(packed, SpanContext):
        return packed
    return SpanContext((packed >> 72) & ((1 << 128) - 1), (packed >> 8) & ((1 << 64) - 1), False,
                       TraceFlags(packed & 0xFF))


def rows_unknown(pred: Prediction) -> bool:
    """Whether the call's input had no readable row count (then no feature values are read)."""
    return pred.batch is None


def record_call(rec: MLRecorder | None, model: Callable[[], ModelInfo], method: str, inputs: Any,
                call: Callable[[], Any], interpret: Callable[[MLRecorder, Prediction, Any], None],
                feature_names: Callable[[Any], Sequence[str] | None] | None = None) -> Any:
    """Run ``call()`` (the user's model call) inside a prediction span; return its result untouched.

    ``interpret(rec, prediction, result)`` reads the outputs (via :meth:`MLRecorder.outputs`).
    Calls made while another recorded call runs in this context are not recorded (one span per
    user-level call), nor are calls under OpenTelemetry's ``suppress_instrumentation``.
    """
    if rec is None or _IN_PREDICTION.get() or not is_instrumentation_enabled():
        return call()
    step = rec._fault_prefix
    try:
        pred = rec.start(model(), method, inputs, feature_names)
    except Exception:
        report_fault(f"{step}start")
        return call()
    guard = _IN_PREDICTION.set(True)
    token = otel_context.attach(pred.context)  # type: ignore[arg-type]
    try:
        result = call()
    except BaseException as exc:
        _fail_isolated(rec, pred, exc, step)
        raise
    finally:
        otel_context.detach(token)
        _IN_PREDICTION.reset(guard)
    try:
        interpret(rec, pred, result)
    except Exception:
        report_fault(f"{step}outputs")
    _stop_isolated(rec, pred, step)
    return result


def record_bound_call(rec: MLRecorder, target: Any, model: Callable[[Any], ModelInfo], method: str, inputs: Any,
                      fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                      interpret: Callable[[MLRecorder, Prediction, Any, Any, Any], None],
                      feature_names: Callable[[Any], Sequence[str] | None] | None = None, extra: Any = None) -> Any:
    """:func:`record_call` for a method: ``fn(target, *args, **kwargs)`` is the user's call.

    The helpers take ``target`` instead of closing over it (no closures built per call):
    ``model(target)``, ``interpret(rec, prediction, result, target, extra)``, ``feature_names(target)``.
    Same recording, suppression and fault isolation as :func:`record_call`, except that the caller
    has already checked :func:`in_prediction` (the wrappers' first test, before anything else).
    """
    parent = otel_context.get_current()
    if suppressed(parent):
        return fn(target, *args, **kwargs)
    step = rec._fault_prefix
    try:
        pred = rec.start(model(target), method, inputs, feature_names, target, parent)
    except Exception:
        report_fault(f"{step}start")
        return fn(target, *args, **kwargs)
    guard = _IN_PREDICTION.set(True)
    token = otel_context.attach(pred.context)  # type: ignore[arg-type]
    try:
        result = fn(target, *args, **kwargs)
    except BaseException as exc:
        _fail_isolated(rec, pred, exc, step)
        raise
    finally:
        otel_context.detach(token)
        _IN_PREDICTION.reset(guard)
    try:
        interpret(rec, pred, result, target, extra)
    except Exception:
        report_fault(f"{step}outputs")
    try:
        rec.stop(pred)
    except Exception:
        report_fault(f"{step}stop")
    return result


def _fail_isolated(rec: MLRecorder, pred: Prediction, exc: BaseException, step: str) -> None:
    """End ``pred`` as failed; a fault in driftline's own code is reported, never raised."""
    try:
        rec.fail(pred, exc)
    except Exception:
        report_fault(f"{step}fail")


def _stop_isolated(rec: MLRecorder, pred: Prediction, step: str) -> None:
    """End ``pred``; a fault in driftline's own code is reported, never raised."""
    try:
        rec.stop(pred)
    except Exception:
        report_fault(f"{step}stop")


_default_lock = threading.Lock()
_default: MLRecorder | None = None

SCOPE = "driftline.instrumentation.ml"
FAULT_PREFIX = SCOPE.rsplit(".", 1)[-1] + "."
"""Fault steps of the default recorder start with this (``ml.features``, ``ml.feedback``, ...)."""


def default_recorder() -> MLRecorder:
    """The recorder :func:`observe_model` and :func:`record_feedback` use (global providers by default)."""
    global _default
    rec = _default
    if rec is None:
        with _default_lock:
            if _default is None:
                _default = MLRecorder.create(SCOPE)
            rec = _default
    return rec


def configure(tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None) -> None:
    """(Re)build the recorder used by :func:`observe_model` and :func:`record_feedback`.

    Reads the ``DRIFTLINE_ML_*`` settings again; pass providers to use other than the global ones.
    """
    global _default
    with _default_lock:
        _default = MLRecorder.create(SCOPE, tracer_provider, meter_provider)


async def record_async_call(rec: MLRecorder | None, model: Callable[[], ModelInfo], method: str, inputs: Any,
                            call: Callable[[], Any], interpret: Callable[[MLRecorder, Prediction, Any], None],
                            feature_names: Callable[[Any], Sequence[str] | None] | None = None) -> Any:
    """:func:`record_call` for a coroutine: ``await call()`` runs inside the prediction span."""
    if rec is None or _IN_PREDICTION.get() or not is_instrumentation_enabled():
        return await call()
    step = rec._fault_prefix
    try:
        pred = rec.start(model(), method, inputs, feature_names)
    except Exception:
        report_fault(f"{step}start")
        return await call()
    guard = _IN_PREDICTION.set(True)
    token = otel_context.attach(pred.context)  # type: ignore[arg-type]
    try:
        result = await call()
    except BaseException as exc:
        _fail_isolated(rec, pred, exc, step)
        raise
    finally:
        otel_context.detach(token)
        _IN_PREDICTION.reset(guard)
    try:
        interpret(rec, pred, result)
    except Exception:
        report_fault(f"{step}outputs")
    _stop_isolated(rec, pred, step)
    return result
