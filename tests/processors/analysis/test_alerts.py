"""Alert rules (windows, baseline-relative thresholds, de-duplication, hysteresis) and their delivery to
a real loopback webhook and OTLP/HTTP logs endpoint — and, end to end, from a running processor."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from driftline.processors.analysis.alerts import AlertEvaluator, AlertInput, parse_rules
from driftline.processors.analysis.notify import AlertDispatcher, OtlpLogSink, WebhookSink
from driftline.semconv import names
from tests.processors.service.support import processor

from .test_drift_hook import _prediction_requests, _send_all

LABELS = {"service": "risk", "model": "scorer", "version": "7", "family": "ml", "signal": "feature.amount",
          "segment": "", "method": "psi"}


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _detected(value: float) -> AlertInput:
    return AlertInput(names.ALERT_METRIC_DRIFT_DETECTED, LABELS, value, 0.1, ("ab" * 16,))


def test_for_window_dedup_repeat_and_hysteresis() -> None:
    clock = Clock()
    rules = parse_rules([{"name": "drift", "metric": "drift.detected", "above": 0.5, "for": "5m",
                          "clear_for": "10m", "repeat_interval": "1h", "severity": "critical"}])
    ev = AlertEvaluator(rules, now=clock)
    assert ev.evaluate([_detected(1.0)]) == []          # pending
    clock.t = 299
    assert ev.evaluate([_detected(1.0)]) == []
    clock.t = 300
    [fired] = ev.evaluate([_detected(1.0)])
    assert (fired.state, fired.severity, fired.since) == ("firing", "critical", 0)
    assert fired.labels["signal"] == "feature.amount"
    assert fired.trace_ids == ("ab" * 16,)
    clock.t = 600
    assert ev.evaluate([_detected(1.0)]) == []          # de-duplicated while firing
    clock.t = 700
    assert ev.evaluate([_detected(0.0)]) == []          # clearing starts
    clock.t = 800
    assert ev.evaluate([_detected(1.0)]) == []          # one noisy window does not resolve it
    clock.t = 900
    assert ev.evaluate([_detected(0.0)]) == []
    clock.t = 1499
    assert ev.evaluate([_detected(0.0)]) == []
    clock.t = 1500
    [resolved] = ev.evaluate([_detected(0.0)])
    assert (resolved.state, resolved.since) == ("resolved", 900)
    clock.t = 1600
    assert ev.evaluate([_detected(1.0)]) == []          # a new episode needs its own 5 minutes
    clock.t = 1900
    assert [a.state for a in ev.evaluate([_detected(1.0)])] == ["firing"]
    clock.t = 1900 + 3600
    assert [a.state for a in ev.evaluate([_detected(1.0)])] == ["firing"]  # repeat interval


def test_baseline_relative_rule_and_matchers() -> None:
    clock = Clock()
    rules = parse_rules([{"name": "psi-up", "metric": "drift.score", "above_baseline": 2.0, "for": 0,
                          "signal": "feature.*", "segment": "region=*"}])
    ev = AlertEvaluator(rules, now=clock)

    def score(value: float, segment: str = "region=eu") -> AlertInput:
        return AlertInput(names.ALERT_METRIC_DRIFT_SCORE, {**LABELS, "segment": segment}, value)

    for value in (0.02, 0.03, 0.01, 0.02, 0.05):        # the baseline forms: median 0.02
        assert ev.evaluate([score(value)]) == []
    assert ev.evaluate([score(0.039)]) == []
    [fired] = ev.evaluate([score(0.041)])
    assert fired.threshold == pytest.approx(0.04)
    assert ev.evaluate([score(9.0, segment="")]) == []  # segment "" does not match region=*


def test_quality_and_performance_rules_select_by_check() -> None:
    clock = Clock()
    ev = AlertEvaluator(parse_rules([
        {"name": "truncation", "metric": "quality.value", "check": "truncation_rate", "above": 0.2, "for": 0},
        {"name": "accuracy", "metric": "performance.value", "check": "accuracy", "below": 0.8, "for": 0}]), now=clock)
    labels = {"service": "chat", "model": "gpt-4o-mini", "version": "", "segment": ""}
    fired = ev.evaluate([
        AlertInput(names.ALERT_METRIC_QUALITY_VALUE, {**labels, "check": "truncation_rate"}, 0.35),
        AlertInput(names.ALERT_METRIC_QUALITY_VALUE, {**labels, "check": "empty_rate"}, 0.9),
        AlertInput(names.ALERT_METRIC_PERFORMANCE_VALUE, {**labels, "check": "accuracy"}, 0.7),
        AlertInput(names.ALERT_METRIC_PERFORMANCE_VALUE, {**labels, "check": "recall"}, 0.1)])
    assert sorted((a.rule, a.value) for a in fired) == [("accuracy", 0.7), ("truncation", 0.35)]


@pytest.mark.parametrize(("rules", "message"), [
    ([{"metric": "drift.score", "above": 1}], "unique name"),
    ([{"name": "a", "metric": "drift.nope", "above": 1}], "is not one of"),
    ([{"name": "a", "metric": "drift.score"}], "exactly one of above, below, above_baseline"),
    ([{"name": "a", "metric": "drift.score", "above": 1, "for": "soon"}], r"alerts.rules\[0\].for"),
    ([{"name": "a", "metric": "drift.score", "above": 1, "colour": "red"}], "unknown keys"),
])
def test_rule_errors_name_the_key(rules: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_rules(rules)


class Receiver:
    """A loopback HTTP server recording POSTed bodies; answers 503 to the first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[tuple[str, str, bytes]] = []
        self.fail_first = fail_first
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.changed:
                    if receiver.fail_first > 0:
                        receiver.fail_first -= 1
                        self.send_response(503)
                    else:
                        receiver.bodies.append((self.path, self.headers["Content-Type"], body))
                        self.send_response(200)
                    receiver.changed.notify_all()
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[tuple[str, str, bytes]]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.bodies) >= count, timeout), self.bodies
            return list(self.bodies)

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(fail_first=1)
    yield server
    server.close()


def test_webhook_and_otlp_logs_delivery_with_retry(receiver: Receiver) -> None:
    clock = Clock()
    ev = AlertEvaluator(parse_rules([{"name": "drift", "metric": "drift.detected", "above": 0.5, "for": 0}]),
                        now=clock)
    alerts = ev.evaluate([_detected(1.0)])
    dispatcher = AlertDispatcher([WebhookSink(receiver.url + "/hook", {"Authorization": "Bearer t"}),
                                  OtlpLogSink(receiver.url)], backoff_s=0.01)
    dispatcher.submit(alerts)
    assert dispatcher.flush(30)
    dispatcher.close()
    bodies = receiver.wait_for(2)
    assert dispatcher.delivered == {"webhook": 1, "otlp": 1}   # the first 503 was retried
    hook = next(b for path, _, b in bodies if path == "/hook")
    payload = json.loads(hook)
    [alert] = payload["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"]["alertname"] == "drift"
    assert alert["labels"]["model"] == "scorer"
    assert alert["annotations"]["trace_ids"] == ["ab" * 16]
    _path, content_type, body = next(b for b in bodies if b[0] == "/v1/logs")
    assert content_type == "application/x-protobuf"
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    [record] = request.resource_logs[0].scope_logs[0].log_records
    attrs = {kv.key: kv.value for kv in record.attributes}
    assert record.event_name == names.DRIFTLINE_ALERT_EVENT
    assert record.severity_text == "WARNING"
    assert attrs[names.DRIFTLINE_ALERT_RULE].string_value == "drift"
    assert attrs[names.DRIFTLINE_DRIFT_SIGNAL].string_value == "feature.amount"
    assert attrs[names.DRIFTLINE_ALERT_STATE].string_value == "firing"
    assert record.trace_id == bytes.fromhex("ab" * 16)


def test_processor_sends_a_drift_alert_with_trace_ids(tmp_path: Path) -> None:
    hook = Receiver()
    try:
        config = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}
processors:
  driftline:
    drift: {{warmup: 400, window: 200}}
    enrich: true
    alerts:
      rules: [{{name: amount-drift, metric: drift.detected, signal: "feature.*", above: 0.5, for: 0s}}]
      webhook: {{url: "{hook.url}/alerts"}}
      evaluate_interval: 0s
    metrics_otlp: {{endpoint: "{hook.url}", interval: 1h}}
exporters:
  debug: {{verbosity: basic}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [driftline], exporters: [debug]}}}}
"""
        rng = np.random.default_rng(4)
        with processor(config, tmp_path) as proc:
            asyncio.run(_send_all(proc.grpc_target, _prediction_requests(rng.normal(size=800))))
            assert hook.bodies == []
            asyncio.run(_send_all(proc.grpc_target, _prediction_requests(rng.normal(loc=3.0, size=600))))
            [(path, _, body)] = hook.wait_for(1)[:1]
            line = proc.wait_for_log("firing warning alert amount-drift", 30)
            proc.signal(signal.SIGTERM)
            assert proc.wait(60) == 0
        # at shutdown the readings are pushed once more as OTLP metrics (the interval is an hour)
        [metrics_body] = [b for p, _, b in hook.wait_for(2) if p == "/v1/metrics"]
        pushed = ExportMetricsServiceRequest()
        pushed.ParseFromString(metrics_body)
        by_name = {m.name: m for m in pushed.resource_metrics[0].scope_metrics[0].metrics}

        def amount_psi(metric: Any) -> list[Any]:
            wanted = {names.DRIFTLINE_DRIFT_METHOD: "psi", names.DRIFTLINE_DRIFT_SIGNAL: "feature.amount"}
            return [pt for pt in metric.data_points
                    if wanted.items() <= {kv.key: kv.value.string_value for kv in pt.attributes}.items()]

        [score] = amount_psi(by_name[names.DRIFTLINE_DRIFT_SCORE].gauge)
        assert score.as_double > 1.0
        [exemplar] = score.exemplars                       # the trace id of the latest flagged span
        assert len(exemplar.trace_id) == 16
        assert exemplar.trace_id != bytes(16)
        [detected] = amount_psi(by_name[names.DRIFTLINE_DRIFT_DETECTED_METRIC].gauge)
        assert detected.as_double == 1.0
        [alarms] = amount_psi(by_name[names.DRIFTLINE_DRIFT_ALARMS].sum)
        assert alarms.as_int >= 2
        assert alarms.exemplars[0].trace_id == exemplar.trace_id
        assert by_name[names.DRIFTLINE_DRIFT_ALARMS].sum.is_monotonic
        assert path == "/alerts"
        [alert] = json.loads(body)["alerts"]
        assert alert["labels"]["model"] == "scorer"
        assert alert["labels"]["version"] == "7"
        assert alert["labels"]["signal"] == "feature.amount"
        assert alert["annotations"]["trace_ids"]
        assert all(len(t) == 32 for t in alert["annotations"]["trace_ids"])
        assert "signal=feature.amount" in line
    finally:
        hook.close()
