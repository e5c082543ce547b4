"""The drift readings as OTLP metrics, for backends that take OTLP rather than scraping ``/metrics``.

:func:`drift_metrics_request` builds an ``ExportMetricsServiceRequest`` with three gauges
(``driftline.drift.score``, ``driftline.drift.threshold``, ``driftline.drift.detected``) and the
``driftline.drift.alarms`` cumulative sum, one point per model, signal, method and segment; score and
alarm points carry an exemplar with the trace id of the latest flagged span (OTLP allows exemplars
on every number point, unlike the Prometheus text format). :class:`MetricsPusher` POSTs it to an
OTLP/HTTP endpoint (``/v1/metrics``) on an interval, from a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric, NumberDataPoint

from driftline.semconv import names

from .engine import DriftEngine
from .notify import DeliveryError, http_post
from .signals import SignalKey

__all__ = ["MetricsPusher", "drift_metrics_request"]

_log = logging.getLogger(__name__)


def _attributes(point: NumberDataPoint, pairs: Mapping[str, str]) -> None:
    point.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in pairs.items())


def drift_metrics_request(engine: DriftEngine, start_ns: int, service_name: str = "driftline-processor",
                          ) -> ExportMetricsServiceRequest:
    """The engine's current readings and alarm counts as one OTLP metrics request."""
    now = time.time_ns()
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.append(KeyValue(key=names.SERVICE_NAME,
                                                         value=AnyValue(string_value=service_name)))
    scope = resource_metrics.scope_metrics.add()
    scope.scope.name = __name__
    score = scope.metrics.add(name=names.DRIFTLINE_DRIFT_SCORE, unit=names.DRIFTLINE_DRIFT_SCORE_UNIT)
    threshold = scope.metrics.add(name=names.DRIFTLINE_DRIFT_THRESHOLD, unit=names.DRIFTLINE_DRIFT_THRESHOLD_UNIT)
    detected = scope.metrics.add(name=names.DRIFTLINE_DRIFT_DETECTED_METRIC,
                                 unit=names.DRIFTLINE_DRIFT_DETECTED_METRIC_UNIT)
    alarms = scope.metrics.add(name=names.DRIFTLINE_DRIFT_ALARMS, unit=names.DRIFTLINE_DRIFT_ALARMS_UNIT)
    alarms.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    alarms.sum.is_monotonic = True
    counts = dict(engine.alarms)

    def labels(key: SignalKey, method: str, reference: str) -> dict[str, str]:
        model = key.model
        return {names.SERVICE_NAME: model.service, names.DRIFTLINE_MODEL_NAME: model.model,
                names.DRIFTLINE_MODEL_VERSION: model.version, names.DRIFTLINE_MODEL_FAMILY: model.family,
                names.DRIFTLINE_DRIFT_SIGNAL: key.signal, names.DRIFTLINE_DRIFT_METHOD: method,
                names.DRIFTLINE_SEGMENT: key.segment, names.DRIFTLINE_DRIFT_REFERENCE: reference}

    def add(metric: Metric, value: float, pairs: Mapping[str, str], trace_id: bytes | None = None) -> None:
        point = metric.gauge.data_points.add(time_unix_nano=now, as_double=value)
        _attributes(point, pairs)
        if trace_id:
            point.exemplars.add(time_unix_nano=now, as_double=value, trace_id=trace_id)

    for reading in engine.readings():
        pairs = labels(reading.key, reading.method, reading.reference)
        _, trace_id, _ = counts.get((reading.key, reading.method), (0, None, 0.0))
        add(score, reading.score, pairs, trace_id)
        if reading.threshold == reading.threshold:
            add(threshold, reading.threshold, pairs)
            add(detected, 1.0 if reading.detected else 0.0, pairs)
    sources = {key: monitor.reference_source for key, monitor in engine.monitors.items()}
    for (key, method), (count, trace_id, last) in counts.items():
        point = alarms.sum.data_points.add(start_time_unix_nano=start_ns, time_unix_nano=now, as_int=count)
        _attributes(point, labels(key, method, sources.get(key, "")))
        if trace_id:
            point.exemplars.add(time_unix_nano=now, as_double=last, trace_id=trace_id)
    return request


class MetricsPusher:
    """POSTs :func:`drift_metrics_request` to ``endpoint``/v1/metrics every ``interval`` seconds."""

    def __init__(self, build: Callable[[], ExportMetricsServiceRequest], endpoint: str, interval: float,
                 headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        self._build = build
        self.url = endpoint.rstrip("/") + "/v1/metrics"
        self._interval = interval
        self._headers = dict(headers or {})
        self._timeout = timeout
        self._stop = threading.Event()
        self.pushed = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="driftline-drift-metrics", daemon=True)
        self._thread.start()

    def push(self) -> bool:
        """Build and send one request now; False (counted, logged) when it could not be delivered."""
        try:
            http_post(self.url, self._build().SerializeToString(), "application/x-protobuf", self._headers,
                  self._timeout)
        except DeliveryError as exc:
            self.failed += 1
            _log.warning("drift metrics push to %s failed: %s", self.url, exc)
            return False
        self.pushed += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.push()

    def close(self) -> None:
        """Stop the interval and push the final values once."""
        self._stop.set()
        self._thread.join(self._timeout + 1)
        self.push()
