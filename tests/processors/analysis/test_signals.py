"""Signal extraction from real OTLP requests: spans made by the real instrumentation and SDK, encoded
by the OTel OTLP encoder, read back by the extractor."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sklearn.ensemble import HistGradientBoostingClassifier

from driftline.instrumentation.ml import _recorder as ml_recorder
from driftline.instrumentation.ml import record_feedback, set_model_info
from driftline.instrumentation.sklearn import SklearnInstrumentor
from driftline.processors.analysis.signals import (
    FAMILY_AGENT,
    FAMILY_LLM,
    FAMILY_ML,
    ModelKey,
    SignalConfig,
    SignalExtractor,
    SignalKey,
)
from driftline.semconv import names


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "checkout", "deployment.region": "eu"}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp, exporter
    tp.shutdown()


def _request(exporter: InMemorySpanExporter) -> ExportTraceServiceRequest:
    # Through the wire format, as the processor receives it.
    wire = encode_spans(exporter.get_finished_spans()).SerializeToString()
    request = ExportTraceServiceRequest()
    request.ParseFromString(wire)
    return request


def test_model_spans_give_features_predictions_scores_and_feedback_rows(
        provider: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = provider
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"amount": rng.normal(size=40), "age": rng.normal(size=40)})
    model = HistGradientBoostingClassifier(max_iter=5).fit(frame, (frame["amount"] > 0).astype(int))
    set_model_info(model, name="fraud", version="3")
    inst = SklearnInstrumentor()
    inst.instrument(tracer_provider=tp)
    ml_recorder.configure(tracer_provider=tp)
    try:
        rows = frame.iloc[:3].copy()
        rows.loc[rows.index[1], "age"] = np.nan
        scores = model.predict_proba(rows)
        pid = ml_recorder.last_prediction_id()
        assert pid is not None
        record_feedback(pid, [1, 0], model=model, row=[0, 2])
    finally:
        inst.uninstrument()
        ml_recorder.configure()

    out = SignalExtractor().extract(_request(exporter).resource_spans)
    key = ModelKey("checkout", "fraud", "3", FAMILY_ML)
    amount = out.numeric[SignalKey(key, names.SIGNAL_FEATURE_PREFIX + "amount")]
    assert amount == pytest.approx(rows["amount"].tolist())
    age = out.numeric[SignalKey(key, names.SIGNAL_FEATURE_PREFIX + "age")]
    assert math.isnan(age[1])
    assert age[0] == pytest.approx(rows["age"].iloc[0])
    assert out.numeric[SignalKey(key, names.SIGNAL_PREDICTION_SCORE)] == pytest.approx(scores.max(axis=1).tolist())
    assert out.numeric[SignalKey(key, names.SIGNAL_PREDICTION)] == pytest.approx(
        model.classes_[scores.argmax(axis=1)].astype(float).tolist())
    assert len(out.trace_ids[SignalKey(key, names.SIGNAL_PREDICTION)]) == 3
    [pred] = out.predictions
    assert (pred.model, pred.prediction_id, pred.rows) == (key, pid, [0, 1, 2])
    [fb] = out.feedback
    assert (fb.model, fb.prediction_id, fb.rows, fb.labels) == (key, pid, [0, 2], [1.0, 0.0])
    assert out.spans == 2
    assert out.overflow == 0


def _llm_span(tp: TracerProvider, model: str, *, output_tokens: int, finish: str, error: str | None = None,
              tier: str = "free") -> None:
    tracer = tp.get_tracer("test")
    span = tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, start_time=1_000_000_000)
    span.set_attributes({names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT, names.GEN_AI_REQUEST_MODEL: model,
                         names.GEN_AI_USAGE_INPUT_TOKENS: 12, names.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
                         names.GEN_AI_RESPONSE_FINISH_REASONS: [finish], "app.tier": tier})
    if error:
        span.set_attribute(names.ERROR_TYPE, error)
    span.end(end_time=1_250_000_000)


def test_llm_spans_give_tokens_duration_finish_reasons_errors_and_segments(
        provider: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = provider
    _llm_span(tp, "gpt-4o", output_tokens=30, finish="stop")
    _llm_span(tp, "gpt-4o", output_tokens=256, finish="length", tier="pro")
    _llm_span(tp, "gpt-4o", output_tokens=0, finish="stop", error="RateLimitError")
    extractor = SignalExtractor(SignalConfig(segments=("app.tier", "deployment.region")))
    out = extractor.extract(_request(exporter).resource_spans)
    key = ModelKey("checkout", "gpt-4o", "", FAMILY_LLM)
    assert out.numeric[SignalKey(key, names.GEN_AI_USAGE_OUTPUT_TOKENS)] == [30.0, 256.0, 0.0]
    assert out.numeric[SignalKey(key, names.GEN_AI_USAGE_OUTPUT_TOKENS, "app.tier=pro")] == [256.0]
    # a resource attribute segments too
    assert out.numeric[SignalKey(key, names.GEN_AI_USAGE_OUTPUT_TOKENS, "deployment.region=eu")] == [30.0, 256.0, 0.0]
    assert out.numeric[SignalKey(key, names.SIGNAL_DURATION)] == pytest.approx([0.25, 0.25, 0.25])
    assert out.categorical[SignalKey(key, names.GEN_AI_RESPONSE_FINISH_REASONS)] == ["stop", "length", "stop"]
    assert out.categorical[SignalKey(key, names.ERROR_TYPE)] == [None, None, "RateLimitError"]


def test_agent_spans_give_tool_names_errors_and_steps(provider: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = provider
    tracer = tp.get_tracer("test")
    from opentelemetry import trace

    with tracer.start_as_current_span("invoke_agent support", attributes={
            names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT, names.GEN_AI_AGENT_NAME: "support"}):
        _llm_span(tp, "gpt-4o", output_tokens=5, finish="tool_calls")
        for tool, error in (("lookup", None), ("refund", "TimeoutError")):
            with tracer.start_as_current_span(f"execute_tool {tool}", attributes={
                    names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL, names.GEN_AI_TOOL_NAME: tool}) as s:
                if error:
                    s.set_attribute(names.ERROR_TYPE, error)
        assert trace.get_current_span().is_recording()
    out = SignalExtractor().extract(_request(exporter).resource_spans)
    tools = ModelKey("checkout", "", "", FAMILY_AGENT)
    assert out.categorical[SignalKey(tools, names.GEN_AI_TOOL_NAME)] == ["lookup", "refund"]
    assert out.numeric[SignalKey(tools, names.SIGNAL_TOOL_ERROR)] == [0.0, 1.0]
    agent = ModelKey("checkout", "support", "", FAMILY_AGENT)
    assert out.numeric[SignalKey(agent, names.SIGNAL_AGENT_STEPS)] == [3.0]  # one LLM call + two tools


def test_key_cardinality_is_capped_and_overflow_counted(provider: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = provider
    for i in range(10):
        _llm_span(tp, f"model-{i}", output_tokens=i, finish="stop")
    extractor = SignalExtractor(SignalConfig(max_keys=4, signals=frozenset({names.GEN_AI_USAGE_OUTPUT_TOKENS})))
    out = extractor.extract(_request(exporter).resource_spans)
    assert extractor.key_count == 4
    assert len(out.numeric) == 4
    assert out.overflow == 6  # the other six models' one value each
    again: dict[Any, Any] = extractor.extract(_request(exporter).resource_spans).numeric
    assert set(again) == set(out.numeric)  # admitted keys stay admitted; no new ones
