"""Metrics pipelines end to end: the OpenTelemetry SDK exports over OTLP/gRPC and OTLP/HTTP to a running
processor (a subprocess of the CLI, port 0 everywhere), whose prometheus exporter is then scraped; metrics
forwarded by ``otlp`` to a second processor and written by ``file``; a real Prometheus scraping it.

The SDK's reader exports on ``force_flush`` and the processor answers only once every exporter holds the
data, so each scrape after a flush sees it: no waiting.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from driftline.processors.otlp.json_codec import decode_json
from driftline.semconv import names
from tests.processors.service.support import make_request, processor, send_grpc
from tests.processors.service.test_prometheus_scrape import prometheus_scraping, require_prometheus

RESOURCE = Resource.create({"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "i-1"})
DURATIONS = [0.05, 0.05, 0.3]

SHARED = """
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}, http: {endpoint: 127.0.0.1:0}}}
exporters:
  prometheus: {endpoint: 127.0.0.1:0, namespace: app, const_labels: {env: test}}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {metrics: {receivers: [otlp], exporters: [prometheus]}}
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
IDENT = (("env", "test"), ("instance", "i-1"), ("job", "shop/checkout"))


def labels(*extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*IDENT, *extra)))


@contextmanager
def meter_provider(exporter: MetricExporter) -> Iterator[MeterProvider]:
    # A very long interval: exports happen on force_flush only, when the test says so.
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(metric_readers=[reader], resource=RESOURCE)
    try:
        yield provider
    finally:
        provider.shutdown()


def record(provider: MeterProvider, *, requests: int = 3) -> None:
    meter = provider.get_meter("driftline.tests")
    meter.create_counter("requests", unit="{request}").add(requests, {"route": "/chat"})
    meter.create_up_down_counter("inflight", unit="{request}").add(-2)
    duration = meter.create_histogram(
        names.GEN_AI_CLIENT_OPERATION_DURATION, unit="s",
        explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS))
    for value in DURATIONS:
        duration.record(value, {names.GEN_AI_OPERATION_NAME: "chat"})
    meter.create_gauge("cache.hit", unit="1").set(0.75)
    assert provider.force_flush(10_000)


def test_sdk_over_grpc_is_served_with_the_self_metrics(tmp_path: Path) -> None:
    with processor(SHARED, tmp_path) as running:
        with meter_provider(GrpcMetricExporter(endpoint=running.grpc_target, insecure=True)) as provider:
            record(provider)
        samples = running.metrics()

    assert samples[("app_requests_total", labels(("route", "/chat")))] == 3.0
    assert samples[("app_inflight", labels())] == -2.0
    assert samples[("app_cache_hit_ratio", labels())] == 0.75
    op = ("gen_ai_operation_name", "chat")
    buckets = {key[1]: value for key, value in samples.items()
               if key[0] == "app_gen_ai_client_operation_duration_seconds_bucket"}
    les = ["0.01", "0.02", "0.04", "0.08", "0.16", "0.32", "0.64", "1.28", "2.56", "5.12", "10.24", "20.48",
           "40.96", "81.92", "+Inf"]
    assert [buckets[labels(op, ("le", le))] for le in les] == [0, 0, 0, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
    assert len(buckets) == len(les)
    assert samples[("app_gen_ai_client_operation_duration_seconds_count", labels(op))] == 3.0
    assert abs(samples[("app_gen_ai_client_operation_duration_seconds_sum", labels(op))] - 0.4) < 1e-9
    target = [key[1] for key in samples if key[0] == "target_info"]
    assert [dict(t).keys() for t in target] == [{"env", "instance", "job", "telemetry_sdk_language",
                                                 "telemetry_sdk_name", "telemetry_sdk_version"}]
    # Self-telemetry on the same /metrics: 4 data points (one per instrument) sent twice, by force_flush and
    # again (cumulative, same values) by the SDK's shutdown.
    assert samples[("driftline_receiver_accepted_metric_points_total",
                    (("receiver", "otlp"), ("transport", "grpc")))] == 8.0
    assert samples[("driftline_exporter_sent_metric_points_total", (("exporter", "prometheus"),))] == 8.0
    assert samples[("driftline_exporter_prometheus_series", (("exporter", "prometheus"),))] == 5.0


def test_sdk_over_http_with_delta_temporality_accumulates(tmp_path: Path) -> None:
    delta = {Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
    with processor(SHARED, tmp_path) as running:
        url = running.http_url
        assert url.endswith("/v1/metrics"), running.log
        with meter_provider(HttpMetricExporter(endpoint=url, preferred_temporality=delta)) as provider:
            record(provider, requests=2)
            meter = provider.get_meter("driftline.tests")
            meter.create_counter("requests", unit="{request}").add(5, {"route": "/chat"})
            assert provider.force_flush(10_000)
        samples = running.metrics()
        malformed = urllib.request.Request(url, data=b"\x0a\xff\xff", method="POST",
                                           headers={"Content-Type": "application/x-protobuf"})
        try:
            urllib.request.urlopen(malformed, timeout=10)
            raise AssertionError("a malformed body was accepted")
        except urllib.error.HTTPError as error:
            status = error.code
        refused = running.metric("driftline_receiver_refused_requests_total", reason="malformed")

    assert samples[("app_requests_total", labels(("route", "/chat")))] == 7.0
    op = ("gen_ai_operation_name", "chat")
    assert samples[("app_gen_ai_client_operation_duration_seconds_count", labels(op))] == 3.0
    assert samples[("app_gen_ai_client_operation_duration_seconds_bucket", labels(op, ("le", "+Inf")))] == 3.0
    # First flush: 4 points; second: the counter's delta, the up-down counter (cumulative whatever the
    # preference) and the gauge; shutdown: the up-down counter and the gauge again (no new deltas).
    assert samples[("driftline_receiver_accepted_metric_points_total",
                    (("receiver", "otlp"), ("transport", "http")))] == 9.0
    assert (status, refused) == (400, 1.0)


FORWARDER = """
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}
exporters:
  otlp/next: {{endpoint: "{target}", tls: {{insecure: true}}, sending_queue: {{enabled: false}}}}
  file: {{path: ./out.jsonl}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines:
    traces: {{receivers: [otlp], exporters: [file, otlp/next]}}
    metrics: {{receivers: [otlp], exporters: [file, otlp/next]}}
"""


def test_otlp_forwards_and_file_writes_both_signals(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    backend = SHARED.replace("pipelines: {metrics:", "pipelines: {traces: {receivers: [otlp], exporters: [debug]}, "
                             "metrics:").replace("exporters:\n", "exporters:\n  debug: {}\n", 1)
    with processor(backend, tmp_path / "b", name="b") as second:
        with processor(FORWARDER.format(target=second.grpc_target), tmp_path / "a", name="a") as first:
            with meter_provider(GrpcMetricExporter(endpoint=first.grpc_target, insecure=True)) as provider:
                record(provider)

            async def send_trace() -> None:
                async with grpc.aio.insecure_channel(first.grpc_target) as channel:
                    assert (await send_grpc(channel, make_request(0, 5))).accepted

            asyncio.run(send_trace())
            forwarded = first.metric("driftline_exporter_sent_metric_points_total", exporter="otlp/next")
        received = second.metrics()

    assert forwarded == 8.0  # flush and shutdown, 4 points each
    assert received[("app_requests_total", labels(("route", "/chat")))] == 3.0
    lines = (tmp_path / "a" / "out.jsonl").read_bytes().splitlines()
    kinds = sorted(next(iter(json.loads(line))) for line in lines)
    assert kinds == ["resourceMetrics", "resourceMetrics", "resourceSpans"]  # one writer, both signals
    metrics_line = next(line for line in lines if line.startswith(b'{"resourceMetrics"'))
    decoded = decode_json(metrics_line, ExportMetricsServiceRequest)
    assert sorted(m.name for m in decoded.resource_metrics[0].scope_metrics[0].metrics) == sorted([
        "cache.hit", "inflight", "requests", names.GEN_AI_CLIENT_OPERATION_DURATION])
    spans_line = next(line for line in lines if line.startswith(b'{"resourceSpans"'))
    assert len(decode_json(spans_line, ExportTraceServiceRequest).resource_spans[0].scope_spans[0].spans) == 5


def test_real_prometheus_scrapes_the_prometheus_exporter(tmp_path: Path) -> None:
    binary = require_prometheus()
    with processor(SHARED, tmp_path) as running:
        with meter_provider(GrpcMetricExporter(endpoint=running.grpc_target, insecure=True)) as provider:
            record(provider)
        assert running.metrics_url is not None
        target = running.metrics_url.removeprefix("http://").removesuffix("/metrics")
        with prometheus_scraping(binary, target, tmp_path) as prometheus:
            counter = prometheus.wait_until('app_requests_total{exported_job="shop/checkout"}',
                                            lambda r: bool(r), "the counter scraped")
            quantile = prometheus.query("histogram_quantile(0.5, sum by (le) "
                                        "(app_gen_ai_client_operation_duration_seconds_bucket))")

    assert [(c["metric"]["route"], c["metric"]["exported_instance"], float(c["value"][1])) for c in counter] == [
        ("/chat", "i-1", 3.0)]
    # Rank 1.5 of 3 falls in (0.04, 0.08], holding 2: 0.04 + 0.04 * 1.5 / 2.
    assert abs(float(quantile[0]["value"][1]) - 0.07) < 1e-9
