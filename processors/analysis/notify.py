"""Alert delivery: a webhook (JSON) and OTLP log records (OTLP/HTTP ``/v1/logs``), off the event loop.

One daemon thread works off a bounded queue, so a slow or dead receiver never delays span
forwarding; alerts beyond the queue are dropped and counted. Each delivery is tried up to three
times with exponential back-off (0.5 s, 1 s); HTTP 429 and 5xx and connection errors are retried,
other statuses are not (as OTLP/HTTP prescribes).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import SeverityNumber

from driftline.semconv import names

from .alerts import Alert

__all__ = ["AlertDispatcher", "DeliveryError", "OtlpLogSink", "Sink", "WebhookSink", "alert_log_request", "http_post"]

_log = logging.getLogger(__name__)

_ATTEMPTS = 3
_QUEUE = 1000
_SEVERITY_NUMBER = {"info": SeverityNumber.SEVERITY_NUMBER_INFO, "warning": SeverityNumber.SEVERITY_NUMBER_WARN,
                    "critical": SeverityNumber.SEVERITY_NUMBER_ERROR}
_LABEL_ATTRIBUTES = {"service": names.SERVICE_NAME, "model": names.DRIFTLINE_MODEL_NAME,
                     "version": names.DRIFTLINE_MODEL_VERSION, "family": names.DRIFTLINE_MODEL_FAMILY,
                     "signal": names.DRIFTLINE_DRIFT_SIGNAL, "method": names.DRIFTLINE_DRIFT_METHOD,
                     "segment": names.DRIFTLINE_SEGMENT}
"""Alert label → the attribute it is sent as (the same names the metrics use)."""


class Sink(Protocol):
    """Somewhere alerts go; ``send`` raises :class:`DeliveryError` (retryable or not) on failure."""

    name: str

    def send(self, alerts: Sequence[Alert]) -> None: ...


class DeliveryError(Exception):
    """A delivery failed; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def http_post(url: str, body: bytes, content_type: str, headers: Mapping[str, str], timeout: float) -> None:
    """POST ``body``; raise :class:`DeliveryError` (retryable for 429, 5xx and connection errors)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={**headers, "Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code}", exc.code == 429 or exc.code >= 500) from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}", True) from None


def alert_payload(alerts: Sequence[Alert]) -> dict[str, Any]:
    """The webhook body: Alertmanager-like (``alerts`` with ``status``, ``labels``, ``annotations``)."""
    return {
        "receiver": "driftline",
        "alerts": [{
            "status": a.state,
            "labels": {"alertname": a.rule, "severity": a.severity, **a.labels},
            "annotations": {"summary": a.summary(), "metric": a.metric, "value": a.value,
                            "threshold": a.threshold, "statistic_threshold": a.statistic_threshold,
                            "trace_ids": list(a.trace_ids)},
            "since_monotonic": a.since,
        } for a in alerts],
    }


class WebhookSink:
    """POSTs :func:`alert_payload` as JSON to ``url``."""

    name = "webhook"

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.headers = dict(headers or {})
        self.timeout = timeout

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver one batch of alerts."""
        http_post(self.url, json.dumps(alert_payload(alerts), allow_nan=False, default=str).encode(),
              "application/json", self.headers, self.timeout)


def _kv(key: str, value: str | float | Sequence[str]) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    any_value = AnyValue()
    for item in value:
        any_value.array_value.values.add().string_value = item
    return KeyValue(key=key, value=any_value)


def alert_log_request(alerts: Sequence[Alert], service_name: str = "driftline-processor") -> ExportLogsServiceRequest:
    """The alerts as OTLP log records (event ``driftline.alert``), one resource for the processor."""
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(_kv(names.SERVICE_NAME, service_name))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = __name__
    now = time.time_ns()
    for alert in alerts:
        record = scope_logs.log_records.add()
        record.time_unix_nano = now
        record.observed_time_unix_nano = now
        record.event_name = names.DRIFTLINE_ALERT_EVENT
        record.severity_number = _SEVERITY_NUMBER.get(alert.severity, SeverityNumber.SEVERITY_NUMBER_WARN)
        record.severity_text = alert.severity.upper()
        record.body.string_value = alert.summary()
        attributes = [_kv(names.DRIFTLINE_ALERT_RULE, alert.rule), _kv(names.DRIFTLINE_ALERT_SEVERITY, alert.severity),
                      _kv(names.DRIFTLINE_ALERT_STATE, alert.state), _kv(names.DRIFTLINE_ALERT_METRIC, alert.metric),
                      _kv(names.DRIFTLINE_ALERT_VALUE, float(alert.value)),
                      _kv(names.DRIFTLINE_ALERT_THRESHOLD, float(alert.threshold)),
                      _kv(names.DRIFTLINE_ALERT_TRACE_IDS, list(alert.trace_ids))]
        for label, attribute in _LABEL_ATTRIBUTES.items():
            if label in alert.labels:
                attributes.append(_kv(attribute if label != "service" else names.SERVICE_NAME, alert.labels[label]))
        record.attributes.extend(attributes)
        if alert.trace_ids:
            record.trace_id = bytes.fromhex(alert.trace_ids[0])
    return request


class OtlpLogSink:
    """POSTs the alerts as an OTLP/HTTP protobuf ``ExportLogsServiceRequest`` to ``endpoint``/v1/logs."""

    name = "otlp"

    def __init__(self, endpoint: str, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
        self.url = endpoint.rstrip("/") + "/v1/logs"
        self.headers = dict(headers or {})
        self.timeout = timeout

    def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver one batch of alerts."""
        http_post(self.url, alert_log_request(alerts).SerializeToString(), "application/x-protobuf", self.headers,
              self.timeout)


class AlertDispatcher:
    """Delivers alert batches to every sink from one background thread; counts what was delivered or lost."""

    def __init__(self, sinks: Sequence[Sink], backoff_s: float = 0.5) -> None:
        self.sinks = tuple(sinks)
        self._backoff = backoff_s
        self._queue: queue.Queue[Sequence[Alert] | None] = queue.Queue(maxsize=_QUEUE)
        self.delivered: dict[str, int] = {sink.name: 0 for sink in self.sinks}
        self.failed: dict[str, int] = {sink.name: 0 for sink in self.sinks}
        self.dropped = 0
        self._idle = threading.Condition()
        self._pending = 0
        self._thread = threading.Thread(target=self._run, name="driftline-alerts", daemon=True)
        self._thread.start()

    def submit(self, alerts: Sequence[Alert]) -> None:
        """Queue a batch (never blocks; a full queue drops it and counts the alerts)."""
        if not alerts or not self.sinks:
            return
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(tuple(alerts))
        except queue.Full:
            self.dropped += len(alerts)
            self._done()

    def flush(self, timeout: float) -> bool:
        """Wait until every queued batch has been delivered or given up; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the thread."""
        self.flush(timeout)
        self._queue.put(None)
        self._thread.join(timeout)

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            try:
                for sink in self.sinks:
                    self._deliver(sink, batch)
            finally:
                self._done()

    def _deliver(self, sink: Sink, batch: Sequence[Alert]) -> None:
        for attempt in range(_ATTEMPTS):
            try:
                sink.send(batch)
                self.delivered[sink.name] += len(batch)
                return
            except DeliveryError as exc:
                if not exc.retryable or attempt == _ATTEMPTS - 1:
                    self.failed[sink.name] += len(batch)
                    _log.warning("alert delivery to %s failed: %s (%d alert(s) lost)", sink.name, exc, len(batch))
                    return
            except Exception:
                self.failed[sink.name] += len(batch)
                _log.exception("alert delivery to %s failed", sink.name)
                return
            time.sleep(self._backoff * (2 ** attempt))
