"""The prometheus exporter's series store on hand-built OTLP requests: names, types, temporality,
expiration (with a fake clock), the series limit and what is skipped."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftline.processors.exporters.prometheus import _StoreCollector
from driftline.processors.exporters.prometheus_naming import label_name, merge_labels, metric_name
from driftline.processors.exporters.prometheus_store import MetricStore

DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kv(key: str, value: str) -> KeyValue:
    entry = KeyValue(key=key)
    entry.value.string_value = value
    return entry


def request(*metrics: Metric, resource: dict[str, str] | None = None) -> ExportMetricsServiceRequest:
    out = ExportMetricsServiceRequest()
    rm = out.resource_metrics.add()
    for key, value in (resource or {"service.name": "checkout"}).items():
        rm.resource.attributes.append(kv(key, value))
    rm.scope_metrics.add().metrics.extend(metrics)
    return out


def counter(name: str, value: int, t: int, *, temporality: int = CUMULATIVE, monotonic: bool = True,
            unit: str = "", **attrs: str) -> Metric:
    metric = Metric(name=name, unit=unit)
    metric.sum.aggregation_temporality = temporality
    metric.sum.is_monotonic = monotonic
    point = metric.sum.data_points.add(time_unix_nano=t, as_int=value)
    point.attributes.extend(kv(k, v) for k, v in attrs.items())
    return metric


def histogram(name: str, counts: list[int], bounds: list[float], total: float, t: int, *,
              temporality: int = CUMULATIVE) -> Metric:
    metric = Metric(name=name, unit="s")
    metric.histogram.aggregation_temporality = temporality
    metric.histogram.data_points.add(time_unix_nano=t, count=sum(counts), sum=total, bucket_counts=counts,
                                     explicit_bounds=bounds)
    return metric


def scrape(store: MetricStore) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(store))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_names_follow_the_specification() -> None:
    assert metric_name("gen_ai.client.operation.duration", "s") == "gen_ai_client_operation_duration_seconds"
    assert metric_name("gen_ai.client.token.usage", "{token}") == "gen_ai_client_token_usage"
    assert metric_name("http.server.request.size", "By", namespace="app") == "app_http_server_request_size_bytes"
    assert metric_name("requests_total", "1", counter=True) == "requests"
    assert metric_name("cache.hit", "1", gauge=True) == "cache_hit_ratio"
    assert metric_name("speed", "m/s", gauge=True) == "speed_meters_per_second"
    assert metric_name("latency.seconds", "s") == "latency_seconds"
    assert metric_name("3d..thing", "") == "_3d_thing"
    assert label_name("http.route") == "http_route"
    assert label_name("2xx") == "key_2xx"
    assert merge_labels([("a.b", "2"), ("a_b", "1")]) == {"a_b": "2;1"}


def test_types_labels_and_target_info() -> None:
    store = MetricStore(namespace="app", const_labels={"env": "test"})
    gauge = Metric(name="queue.depth", unit="{item}")
    gauge.gauge.data_points.add(time_unix_nano=5, as_double=2.5)
    result = store.update(request(
        counter("requests", 3, 5, route="/chat"),
        counter("inflight", -2, 5, monotonic=False),
        gauge,
        resource={"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "i-1",
                  "host.name": "h1"}))

    ident = (("env", "test"), ("instance", "i-1"), ("job", "shop/checkout"))
    assert result.stored == 3
    assert result.dropped == {}
    assert scrape(store) == {
        ("app_requests_total", tuple(sorted((*ident, ("route", "/chat"))))): 3.0,
        ("app_inflight", ident): -2.0,
        ("app_queue_depth", ident): 2.5,
        ("target_info", tuple(sorted((*ident, ("host_name", "h1"))))): 1.0,
    }


def test_delta_sums_and_histograms_accumulate_cumulative_replace() -> None:
    store = MetricStore()
    bounds = [0.1, 1.0]
    store.update(request(counter("d", 2, 10, temporality=DELTA), counter("c", 2, 10),
                         histogram("h", [1, 0, 0], bounds, 0.05, 10, temporality=DELTA)))
    store.update(request(counter("d", 5, 20, temporality=DELTA), counter("c", 5, 20),
                         histogram("h", [0, 2, 1], bounds, 3.5, 20, temporality=DELTA)))
    store.update(request(counter("d", 5, 20, temporality=DELTA), counter("c", 4, 15)))  # repeat, out of order

    job = (("job", "checkout"),)
    samples = scrape(store)
    assert samples[("d_total", job)] == 7.0
    assert samples[("c_total", job)] == 5.0
    assert [samples[("h_seconds_bucket", (("job", "checkout"), ("le", le)))] for le in ("0.1", "1.0", "+Inf")] == \
        [1.0, 3.0, 4.0]
    assert (samples[("h_seconds_count", job)], samples[("h_seconds_sum", job)]) == (4.0, 3.55)


def test_series_expire_after_metric_expiration() -> None:
    clock = Clock()
    store = MetricStore(expiration=60.0, clock=clock)
    store.update(request(counter("old", 1, 1), counter("kept", 1, 1)))
    clock.now += 40
    store.update(request(counter("kept", 2, 2)))
    clock.now += 30  # "old" is 70 s old, "kept" 30 s

    assert set(name for name, _ in scrape(store)) == {"kept_total"}
    assert store.series_count == 1


def test_series_limit_and_unsupported_points_are_counted() -> None:
    store = MetricStore(max_series=2)
    exponential = Metric(name="exp")
    exponential.exponential_histogram.data_points.add(time_unix_nano=1, count=1)
    result = store.update(request(counter("a", 1, 1, x="1"), counter("a", 1, 1, x="2"), counter("a", 1, 1, x="3"),
                                  exponential))
    conflict = store.update(request(counter("a", 1, 2, monotonic=False, x="1")))

    assert result.stored == 2
    assert result.dropped == {"series_limit": 1, "unsupported": 1}
    assert conflict.dropped == {"conflict": 1}
    assert store.series_count == 2
