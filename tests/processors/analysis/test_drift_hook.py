"""The drift hook inside a real processor: model spans in over OTLP/gRPC, drift readings out on /metrics,
flagged spans enriched on the way to the file exporter, state restored after a restart."""

from __future__ import annotations

import asyncio
import signal
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from driftline.instrumentation.ml import _recorder as ml_recorder
from driftline.instrumentation.ml import observe_model
from driftline.processors.otlp.json_codec import decode_trace_request
from driftline.semconv import names
from tests.processors.service.support import processor, send_grpc

pytestmark = pytest.mark.timeout(120)

CONFIG = """
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
processors:
  driftline:
    drift: {warmup: 400, window: 200}
    enrich: true
    state: ./state/drift.sqlite
exporters:
  file: {path: ./out.jsonl, flush_interval: 100ms}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {traces: {receivers: [otlp], processors: [driftline], exporters: [file]}}
"""


def _prediction_requests(amounts: np.ndarray, batch: int = 100) -> list[ExportTraceServiceRequest]:
    """One prediction span per amount, made by observe_model on a real SDK, encoded as OTLP."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "risk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ml_recorder.configure(tracer_provider=provider)
    try:
        @observe_model(name="scorer", version="7", feature_names=["amount"])
        def score(x: np.ndarray) -> np.ndarray:
            return (x[:, 0] > 0).astype(float)

        for amount in amounts:
            score(np.array([[amount]]))
    finally:
        ml_recorder.configure()
    spans = exporter.get_finished_spans()
    return [encode_spans(spans[i:i + batch]) for i in range(0, len(spans), batch)]


async def _send_all(target: str, requests: list[ExportTraceServiceRequest]) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        for request in requests:
            outcome = await send_grpc(channel, request)
            assert outcome.accepted, outcome


def _labels(signal_name: str, method: str) -> dict[str, str]:
    return {"service_name": "risk", "driftline_model_name": "scorer", "driftline_model_version": "7",
            "driftline_drift_signal": signal_name, "driftline_drift_method": method}


def test_drift_is_measured_flagged_enriched_and_survives_a_restart(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    feature = names.SIGNAL_FEATURE_PREFIX + "amount"
    with processor(CONFIG, tmp_path) as proc:
        # warm-up (400) then two windows of the same distribution
        asyncio.run(_send_all(proc.grpc_target, _prediction_requests(rng.normal(size=800))))
        assert proc.metric("driftline_drift_detected", **_labels(feature, names.DRIFT_METHOD_PSI)) == 0.0
        threshold = proc.metric("driftline_drift_threshold", **_labels(feature, names.DRIFT_METHOD_PSI))
        assert threshold >= 0.1  # at least the minimum effect
        assert proc.metric("driftline_drift_score", **_labels(feature, names.DRIFT_METHOD_PSI)) < threshold
        # the feature moves by 3 sigma: windows flag, hysteresis raises after two of them
        shifted = _prediction_requests(rng.normal(loc=3.0, size=600))
        sent_trace_ids = {span.trace_id.hex() for request in shifted for rs in request.resource_spans
                          for ss in rs.scope_spans for span in ss.spans}
        asyncio.run(_send_all(proc.grpc_target, shifted))
        assert proc.metric("driftline_drift_detected", **_labels(feature, names.DRIFT_METHOD_PSI)) == 1.0
        assert proc.metric("driftline_drift_score", **_labels(feature, names.DRIFT_METHOD_PSI)) > 1.0
        assert proc.metric("driftline_drift_score", **_labels(feature, names.DRIFT_METHOD_CUSUM)) >= 0.0
        # OpenMetrics (what Prometheus asks for) carries a flagged span's trace id as an exemplar
        assert proc.metrics_url is not None
        scrape = urllib.request.Request(proc.metrics_url, headers={"Accept": "application/openmetrics-text"})
        with urllib.request.urlopen(scrape, timeout=10) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            text = response.read().decode()
        [alarms] = [s for f in openmetrics_families(text) for s in f.samples
                    if s.name == "driftline_drift_alarms_total" and s.labels["driftline_drift_signal"] == feature
                    and s.labels["driftline_drift_method"] == names.DRIFT_METHOD_PSI]
        assert alarms.value >= 2
        assert alarms.exemplar is not None
        assert alarms.exemplar.labels["trace_id"] in sent_trace_ids
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    flagged = []
    for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines():
        for rs in decode_trace_request(line).resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {kv.key: kv.value for kv in span.attributes}
                    if names.DRIFTLINE_DRIFT_DETECTED in attrs:
                        assert attrs[names.DRIFTLINE_DRIFT_DETECTED].bool_value is True
                        signals = [v.string_value for v in attrs[names.DRIFTLINE_DRIFT_SIGNALS].array_value.values]
                        flagged.append(signals)
    assert flagged, "no forwarded span carried the drift verdict"
    assert all(feature in signals for signals in flagged)
    assert len(flagged) <= 600  # only spans processed while drift was flagged

    # A restart restores the monitors: readings are back before any new span arrives.
    with processor(CONFIG, tmp_path, name="restarted") as again:
        assert again.metric("driftline_drift_detected", **_labels(feature, names.DRIFT_METHOD_PSI)) == 1.0
        assert again.metric("driftline_drift_threshold", **_labels(feature, names.DRIFT_METHOD_PSI)) == threshold
        again.signal(signal.SIGTERM)
        assert again.wait(60) == 0


def test_labels_from_feedback_spans_give_rolling_accuracy_on_metrics(tmp_path: Path) -> None:
    from driftline.instrumentation.ml import record_feedback

    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "risk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ml_recorder.configure(tracer_provider=provider)
    rng = np.random.default_rng(12)
    correct = 0
    try:
        @observe_model(name="scorer", version="7", feature_names=["amount"])
        def score(x: np.ndarray) -> np.ndarray:
            return (x[:, 0] > 0).astype(float)

        for _ in range(200):
            amount = rng.normal()
            predicted = float(score(np.array([[amount]]))[0])
            label = predicted if rng.random() < 0.8 else 1.0 - predicted  # 80 % of the labels agree
            correct += label == predicted
            pid = ml_recorder.last_prediction_id()
            assert pid is not None
            record_feedback(pid, label, model="scorer", version="7")
    finally:
        ml_recorder.configure()
    spans = exporter.get_finished_spans()
    requests = [encode_spans(spans[i:i + 50]) for i in range(0, len(spans), 50)]
    with processor(CONFIG, tmp_path) as proc:
        asyncio.run(_send_all(proc.grpc_target, requests))
        accuracy = proc.metric("driftline_model_performance", service_name="risk", driftline_model_name="scorer",
                               driftline_segment="", driftline_performance_metric="accuracy")
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    assert accuracy == pytest.approx(correct / 200)


def test_a_baseline_from_training_data_is_the_reference_from_the_first_span(tmp_path: Path) -> None:
    import subprocess
    import sys

    rng = np.random.default_rng(8)
    training = tmp_path / "train.csv"
    training.write_text("amount\n" + "\n".join(f"{v:.6f}" for v in rng.normal(size=5000)) + "\n")
    run = subprocess.run([sys.executable, "-m", "driftline.processors", "baseline", "build", str(training),
                          "--model", "scorer", "--version", "7", "-o", str(tmp_path / "baseline.json")],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    config = CONFIG.replace("drift: {warmup: 400, window: 200}",
                            "drift: {warmup: 400, window: 200}\n    baselines: [./baseline.json]")
    feature = names.SIGNAL_FEATURE_PREFIX + "amount"
    with processor(config, tmp_path) as proc:
        proc.wait_for_log("drift baseline ./baseline.json: model scorer version 7, 1 signals", 10)
        # no warm-up: the first 400 production values are already compared with training
        asyncio.run(_send_all(proc.grpc_target, _prediction_requests(rng.normal(loc=1.0, size=400))))
        labels = {**_labels(feature, names.DRIFT_METHOD_PSI), "driftline_drift_reference": "baseline"}
        assert proc.metric("driftline_drift_detected", **labels) == 1.0
        assert proc.metric("driftline_drift_score", **labels) > 0.2
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_llm_quality_is_measured_and_offending_spans_carry_their_flags(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "chat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    truncated: set[str] = set()
    for i in range(10):
        finish = "length" if i % 10 < 3 else "stop"
        span = tracer.start_span("chat gpt-4o-mini", attributes={
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT, names.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            names.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini", names.GEN_AI_USAGE_INPUT_TOKENS: 1000,
            names.GEN_AI_USAGE_OUTPUT_TOKENS: 100, names.GEN_AI_RESPONSE_FINISH_REASONS: [finish]})
        span.end()
        if finish == "length":
            truncated.add(format(span.get_span_context().span_id, "016x"))
    with processor(CONFIG, tmp_path) as proc:
        asyncio.run(_send_all(proc.grpc_target, [encode_spans(exporter.get_finished_spans())]))
        labels = {"service_name": "chat", "driftline_model_name": "gpt-4o-mini"}
        assert proc.metric("driftline_quality_value", driftline_quality_check="truncation_rate", **labels) == 0.3
        assert proc.metric("driftline_quality_value", driftline_quality_check="error_rate", **labels) == 0.0
        assert proc.metric("driftline_quality_value", driftline_quality_check="cost_per_call", **labels) > 0.0
        proc.signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    flagged = set()
    for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines():
        for rs in decode_trace_request(line).resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    attrs = {kv.key: kv.value for kv in span.attributes}
                    if names.DRIFTLINE_QUALITY_FLAGS in attrs:
                        checks = [v.string_value for v in attrs[names.DRIFTLINE_QUALITY_FLAGS].array_value.values]
                        assert checks == [names.QUALITY_FLAG_TRUNCATED]
                        flagged.add(span.span_id.hex())
    assert flagged == truncated
