"""Signal extraction: from OTLP spans to values keyed by (service, model, version, signal, segment).

What a span contributes depends on what it is (read from its ``gen_ai.*`` / ``ml.*`` attributes):

* **model spans** (``ml.operation.name = predict``): every recorded feature (``feature.<name>``),
  the predictions (``prediction``: numeric or categorical) and, for score-producing calls, the top
  score of each row (``prediction.score``, the model's confidence); also the rows themselves, so
  feedback can be joined to them by ``ml.prediction.id``;
* **feedback spans** (``ml.operation.name = feedback``): the labels, for the join;
* **LLM spans** (``gen_ai.operation.name`` chat / text_completion / embeddings): input and output
  tokens, duration, time to first chunk, output length, tool-call count (numeric), finish reason
  and ``error.type`` (categorical, a missing ``error.type`` counted as ``None``: the error-rate mix);
* **agent spans**: ``execute_tool`` → the tool name and ``tool.error`` (0/1); ``invoke_agent`` →
  ``agent.steps``, the tool and LLM spans under it in the same batch (spans of one trace usually
  travel together; a step exported in a later batch is not counted — documented limitation).

Keys are capped (:attr:`SignalConfig.max_keys`): values for a key beyond the cap are dropped and
counted in :attr:`Observations.overflow`, so memory never grows with label cardinality.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from driftline.instrumentation.ml import decode_span_attributes
from driftline.processors.otlp.values import attributes_dict
from driftline.semconv import names

__all__ = ["FeedbackRows", "ModelKey", "Observations", "PredictionRows", "SignalConfig", "SignalExtractor",
           "SignalKey", "model_key"]

FAMILY_ML = names.MODEL_FAMILY_ML
FAMILY_LLM = names.MODEL_FAMILY_LLM
FAMILY_AGENT = names.MODEL_FAMILY_AGENT

_LLM_OPERATIONS = frozenset({names.OPERATION_CHAT, names.OPERATION_TEXT_COMPLETION, names.OPERATION_EMBEDDINGS})

_LLM_NUMERIC = (
    names.GEN_AI_USAGE_INPUT_TOKENS,
    names.GEN_AI_USAGE_OUTPUT_TOKENS,
    names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH,
    names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT,
)
"""LLM span attributes tracked as numeric signals (under their own names)."""

_NANOS = 1e-9


class ModelKey(NamedTuple):
    """Whose signals: a model (ML), an LLM (by requested model) or an agent, in one service.

    A named tuple, not a dataclass: keys are hashed and compared several times per span, and tuples
    do that in C (a frozen dataclass's ``__eq__``/``__hash__`` run Python code).
    """

    service: str
    model: str
    version: str
    family: str


class SignalKey(NamedTuple):
    """One tracked signal of one model, optionally within one segment (``attribute=value``)."""

    model: ModelKey
    signal: str
    segment: str = ""


@dataclass(frozen=True)
class SignalConfig:
    """What to extract beyond the built-in signals, and the cardinality cap.

    ``numeric_attributes`` / ``categorical_attributes``: extra span attributes treated as signals
    (read from the model's spans, under their own names). ``segments``: span or resource
    attributes whose value splits every signal into segments (each value also counts overall).
    ``signals``: when given, only these signal names are kept (``feature.`` keeps every feature).
    """

    numeric_attributes: tuple[str, ...] = ()
    categorical_attributes: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    embedding_attributes: tuple[str, ...] = (names.DRIFTLINE_EMBEDDING,)
    signals: frozenset[str] | None = None
    max_keys: int = 10_000


@dataclass(slots=True)
class PredictionRows:
    """The recorded rows of one prediction call, for joining feedback on (prediction id, row)."""

    model: ModelKey
    prediction_id: str
    rows: list[int]
    predictions: list[Any]
    scores: list[float | None]
    segment: str
    trace_id: bytes


@dataclass(slots=True)
class FeedbackRows:
    """Labels for rows of an earlier prediction."""

    model: ModelKey
    prediction_id: str
    rows: list[int]
    labels: list[Any]


@dataclass
class Observations:
    """What one batch of spans contributed: values per signal key (in arrival order), with the trace id of
    each value's span (for exemplars and alert examples)."""

    numeric: dict[SignalKey, list[float]] = field(default_factory=dict)
    categorical: dict[SignalKey, list[str | None]] = field(default_factory=dict)
    vectors: dict[SignalKey, list[list[float]]] = field(default_factory=dict)
    """Embedding vectors (``driftline.embedding`` and the configured ``embedding_attributes``)."""
    trace_ids: dict[SignalKey, list[bytes]] = field(default_factory=dict)
    predictions: list[PredictionRows] = field(default_factory=list)
    feedback: list[FeedbackRows] = field(default_factory=list)
    spans: int = 0
    overflow: int = 0
    """Values dropped because their key was beyond :attr:`SignalConfig.max_keys`."""


class SignalExtractor:
    """Turns OTLP ``ResourceSpans`` into :class:`Observations`; remembers the keys it has admitted."""

    def __init__(self, config: SignalConfig | None = None) -> None:
        self.config = config or SignalConfig()
        self._keys: set[SignalKey] = set()

    @property
    def key_count(self) -> int:
        """Signal keys admitted so far (at most ``max_keys``)."""
        return len(self._keys)

    def extract(self, resource_spans: Iterable[Any]) -> Observations:
        """Extract the signals of every span in ``resource_spans`` (an ExportTraceServiceRequest's)."""
        out = Observations()
        for rs in resource_spans:
            resource = attributes_dict(rs.resource.attributes)
            service = str(resource.get(names.SERVICE_NAME, ""))
            for ss in rs.scope_spans:
                spans = list(ss.spans)
                parsed = [(span, attributes_dict(span.attributes)) for span in spans]
                steps = _agent_steps(parsed)
                for span, attrs in parsed:
                    out.spans += 1
                    self._span(out, span, attrs, resource, service, steps)
        return out

    # -- per span ---------------------------------------------------------------------------------

    def _span(self, out: Observations, span: Any, attrs: Mapping[str, Any], resource: Mapping[str, Any],
              service: str, steps: Mapping[bytes, int]) -> None:
        segments = self._segments(attrs, resource)
        trace_id = bytes(span.trace_id)
        ml_operation = attrs.get(names.ML_OPERATION_NAME)
        if ml_operation is not None:
            self._ml_span(out, attrs, service, segments, trace_id, str(ml_operation))
            return
        operation = attrs.get(names.GEN_AI_OPERATION_NAME)
        key = model_key(attrs, service)
        if key is None:
            return
        if operation in _LLM_OPERATIONS:
            for name in _LLM_NUMERIC:
                value = attrs.get(name)
                if value is not None:
                    self._add_numeric(out, key, name, segments, [_number(value)], trace_id)
            duration = (span.end_time_unix_nano - span.start_time_unix_nano) * _NANOS
            if duration >= 0:
                self._add_numeric(out, key, names.SIGNAL_DURATION, segments, [duration], trace_id)
            reasons = attrs.get(names.GEN_AI_RESPONSE_FINISH_REASONS)
            if isinstance(reasons, list) and reasons:
                self._add_categorical(out, key, names.GEN_AI_RESPONSE_FINISH_REASONS, segments,
                                      [_text(r) for r in reasons], trace_id)
            self._add_categorical(out, key, names.ERROR_TYPE, segments, [_text(attrs.get(names.ERROR_TYPE))],
                                  trace_id)
            self._extra(out, key, attrs, segments, trace_id)
        elif operation == names.OPERATION_EXECUTE_TOOL:
            self._add_categorical(out, key, names.GEN_AI_TOOL_NAME, segments,
                                  [_text(attrs.get(names.GEN_AI_TOOL_NAME))], trace_id)
            failed = 1.0 if attrs.get(names.ERROR_TYPE) is not None else 0.0
            self._add_numeric(out, key, names.SIGNAL_TOOL_ERROR, segments, [failed], trace_id)
            self._extra(out, key, attrs, segments, trace_id)
        elif operation == names.OPERATION_INVOKE_AGENT:
            self._add_numeric(out, key, names.SIGNAL_AGENT_STEPS, segments,
                              [float(steps.get(bytes(span.span_id), 0))], trace_id)
            duration = (span.end_time_unix_nano - span.start_time_unix_nano) * _NANOS
            if duration >= 0:
                self._add_numeric(out, key, names.SIGNAL_DURATION, segments, [duration], trace_id)
            self._extra(out, key, attrs, segments, trace_id)

    def _ml_span(self, out: Observations, attrs: Mapping[str, Any], service: str, segments: list[str],
                 trace_id: bytes, operation: str) -> None:
        decoded = decode_span_attributes(attrs)
        key = ModelKey(service, decoded.model_name or "", decoded.model_version or "", FAMILY_ML)
        if operation == names.ML_OPERATION_FEEDBACK:
            if decoded.prediction_id is not None:
                out.feedback.append(FeedbackRows(key, decoded.prediction_id, decoded.rows, decoded.labels))
            return
        if operation != names.ML_OPERATION_PREDICT:
            return
        for name in decoded.feature_names:
            column = decoded.features[name]
            signal = names.SIGNAL_FEATURE_PREFIX + name
            if name in decoded.numeric_features:
                self._add_numeric(out, key, signal, segments, [math.nan if v is None else float(v) for v in column],
                                  trace_id)
            else:
                self._add_categorical(out, key, signal, segments, [None if v is None else str(v) for v in column],
                                      trace_id)
        predictions = decoded.predictions
        if predictions and all(not isinstance(p, tuple) for p in predictions):
            if all(p is None or isinstance(p, float) for p in predictions):
                self._add_numeric(out, key, names.SIGNAL_PREDICTION, segments,
                                  [math.nan if p is None else float(p) for p in predictions], trace_id)  # type: ignore[arg-type]
            else:
                self._add_categorical(out, key, names.SIGNAL_PREDICTION, segments,
                                      [None if p is None else str(p) for p in predictions], trace_id)
        top_scores: list[float | None] = []
        for row in decoded.scores:
            present = [s for s in row if isinstance(s, float)]
            top_scores.append(max(present) if present else None)
        if top_scores:
            self._add_numeric(out, key, names.SIGNAL_PREDICTION_SCORE, segments,
                              [math.nan if s is None else s for s in top_scores], trace_id)
        self._extra(out, key, attrs, segments, trace_id)
        if decoded.prediction_id is not None:
            out.predictions.append(PredictionRows(key, decoded.prediction_id, decoded.rows, list(predictions),
                                                  top_scores, segments[1] if len(segments) > 1 else "", trace_id))

    # -- helpers ------------------------------------------------------------------------------------

    def _segments(self, attrs: Mapping[str, Any], resource: Mapping[str, Any]) -> list[str]:
        """``[""]`` (all traffic) plus one ``attribute=value`` per configured segment attribute present."""
        out = [""]
        for name in self.config.segments:
            value = attrs.get(name, resource.get(name))
            if value is not None:
                out.append(f"{name}={_text(value)}")
        return out

    def _extra(self, out: Observations, key: ModelKey, attrs: Mapping[str, Any], segments: list[str],
               trace_id: bytes) -> None:
        for name in self.config.embedding_attributes:
            vector = attrs.get(name)
            if isinstance(vector, list) and vector and self._wanted(name):
                row = [_number(v) for v in vector]
                for segment in segments:
                    signal_key = SignalKey(key, name, segment)
                    if not self._admit(signal_key):
                        out.overflow += 1
                        continue
                    out.vectors.setdefault(signal_key, []).append(row)
                    out.trace_ids.setdefault(signal_key, []).append(trace_id)
        for name in self.config.numeric_attributes:
            value = attrs.get(name)
            if value is not None:
                self._add_numeric(out, key, name, segments, [_number(value)], trace_id)
        for name in self.config.categorical_attributes:
            if name in attrs:
                self._add_categorical(out, key, name, segments, [_text(attrs[name])], trace_id)

    def _wanted(self, signal: str) -> bool:
        wanted = self.config.signals
        if wanted is None or signal in wanted:
            return True
        return signal.startswith(names.SIGNAL_FEATURE_PREFIX) and names.SIGNAL_FEATURE_PREFIX in wanted

    def admit(self, key: SignalKey) -> bool:
        """Admit ``key`` if it is known or there is room under the cap (restored state uses this too)."""
        return self._admit(key)

    def _admit(self, key: SignalKey) -> bool:
        if key in self._keys:
            return True
        if len(self._keys) >= self.config.max_keys:
            return False
        self._keys.add(key)
        return True

    def _add_numeric(self, out: Observations, model: ModelKey, signal: str, segments: list[str],
                     values: list[float], trace_id: bytes) -> None:
        self._add(out, out.numeric, model, signal, segments, values, trace_id)

    def _add_categorical(self, out: Observations, model: ModelKey, signal: str, segments: list[str],
                         values: list[str | None], trace_id: bytes) -> None:
        self._add(out, out.categorical, model, signal, segments, values, trace_id)

    def _add(self, out: Observations, into: dict[SignalKey, list[Any]], model: ModelKey, signal: str,
             segments: list[str], values: list[Any], trace_id: bytes) -> None:
        """Append ``values`` (from one span) under the signal's key for every segment, within the key cap."""
        if not values or not self._wanted(signal):
            return
        for segment in segments:
            key = SignalKey(model, signal, segment)
            if not self._admit(key):
                out.overflow += len(values)
                continue
            into.setdefault(key, []).extend(values)
            out.trace_ids.setdefault(key, []).extend([trace_id] * len(values))


def model_key(attrs: Mapping[str, Any], service: str) -> ModelKey | None:
    """The :class:`ModelKey` a span's signals are kept under, or None for spans that carry none."""
    ml_operation = attrs.get(names.ML_OPERATION_NAME)
    if ml_operation is not None:
        return ModelKey(service, _text(attrs.get(names.ML_MODEL_NAME)) or "",
                        _text(attrs.get(names.ML_MODEL_VERSION)) or "", FAMILY_ML)
    operation = attrs.get(names.GEN_AI_OPERATION_NAME)
    if operation in _LLM_OPERATIONS:
        model = attrs.get(names.GEN_AI_REQUEST_MODEL) or attrs.get(names.GEN_AI_RESPONSE_MODEL) or ""
        return ModelKey(service, str(model), "", FAMILY_LLM)
    if operation == names.OPERATION_EXECUTE_TOOL:
        return ModelKey(service, str(attrs.get(names.GEN_AI_AGENT_NAME, "")), "", FAMILY_AGENT)
    if operation == names.OPERATION_INVOKE_AGENT:
        return ModelKey(service, str(attrs.get(names.GEN_AI_AGENT_NAME, "")),
                        str(attrs.get(names.GEN_AI_AGENT_VERSION, "")), FAMILY_AGENT)
    return None


def _agent_steps(parsed: Sequence[tuple[Any, Mapping[str, Any]]]) -> dict[bytes, int]:
    """Per ``invoke_agent`` span id: how many tool and LLM spans of this batch sit below it (nearest agent)."""
    parents = {bytes(span.span_id): bytes(span.parent_span_id) for span, _ in parsed}
    agents = {bytes(span.span_id) for span, attrs in parsed
              if attrs.get(names.GEN_AI_OPERATION_NAME) == names.OPERATION_INVOKE_AGENT}
    steps = dict.fromkeys(agents, 0)
    if not agents:
        return steps
    for span, attrs in parsed:
        operation = attrs.get(names.GEN_AI_OPERATION_NAME)
        if operation != names.OPERATION_EXECUTE_TOOL and operation not in _LLM_OPERATIONS:
            continue
        node = parents.get(bytes(span.span_id), b"")
        for _ in range(64):  # bounded walk: a malformed parent chain cannot loop forever
            if node in steps:
                steps[node] += 1
                break
            if node not in parents:
                break
            node = parents[node]
    return steps


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
