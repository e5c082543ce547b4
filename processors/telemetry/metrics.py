"""Self-telemetry instruments; see the package docstring for the choice of prometheus-client."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest

from driftline.processors.config.model import Signal
from driftline.semconv import names

__all__ = ["SelfTelemetry", "prometheus_name", "read_rss_bytes"]

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the exposition and no dashboard reads them

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def prometheus_name(name: str) -> str:
    """``driftline.receiver.accepted_spans`` → ``driftline_receiver_accepted_spans`` (the Prometheus
    exposition adds ``_total`` to counters)."""
    return name.replace(".", "_")


def read_rss_bytes() -> int:
    """Current resident set size of this process in bytes (``/proc/self/statm`` on Linux; elsewhere
    the peak RSS from ``getrusage``, the best the standard library offers)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_SIZE
    except (OSError, IndexError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


_R, _T, _E = names.DRIFTLINE_LABEL_RECEIVER, names.DRIFTLINE_LABEL_TRANSPORT, names.DRIFTLINE_LABEL_EXPORTER
_REASON, _STAGE = names.DRIFTLINE_LABEL_REASON, names.DRIFTLINE_LABEL_STAGE


class SelfTelemetry:
    """All of the processor's own instruments, in one private registry.

    Receivers, exporters and the pipeline call the small methods below; ``render()`` produces the
    Prometheus text exposition served at ``/metrics``.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry

        def counter(name: str, brief: str, labels: tuple[str, ...]) -> Counter:
            return Counter(prometheus_name(name), brief, labels, registry=r)

        def gauge(name: str, brief: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(prometheus_name(name), brief, labels, registry=r)

        def per_signal(spans: str, points: str, brief: str, labels: tuple[str, ...]) -> dict[Signal, Counter]:
            # One counter per signal, as the Collector's *_spans / *_metric_points pairs.
            return {"traces": counter(spans, brief.format(items="Spans"), labels),
                    "metrics": counter(points, brief.format(items="Metric data points"), labels)}

        self._accepted = per_signal(names.DRIFTLINE_RECEIVER_ACCEPTED_SPANS,
                                    names.DRIFTLINE_RECEIVER_ACCEPTED_METRIC_POINTS, "{items} accepted by a receiver.",
                                    (_R, _T))
        self._refused = per_signal(names.DRIFTLINE_RECEIVER_REFUSED_SPANS,
                                   names.DRIFTLINE_RECEIVER_REFUSED_METRIC_POINTS, "{items} refused by a receiver.",
                                   (_R, _T, _REASON))
        self._failed = per_signal(names.DRIFTLINE_RECEIVER_FAILED_SPANS, names.DRIFTLINE_RECEIVER_FAILED_METRIC_POINTS,
                                  "{items} a receiver failed to hand on.", (_R, _T))
        self._refused_requests = counter(names.DRIFTLINE_RECEIVER_REFUSED_REQUESTS,
                                         "Requests refused before their spans were counted.", (_R, _T, _REASON))
        self._in_flight = gauge(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "Export requests in flight.", (_R, _T))
        self._bytes_in_flight = gauge(names.DRIFTLINE_RECEIVER_BYTES_IN_FLIGHT, "Admitted bytes not yet queued.")
        self._sent = per_signal(names.DRIFTLINE_EXPORTER_SENT_SPANS, names.DRIFTLINE_EXPORTER_SENT_METRIC_POINTS,
                                "{items} delivered by an exporter.", (_E,))
        self._send_failed = per_signal(names.DRIFTLINE_EXPORTER_SEND_FAILED_SPANS,
                                       names.DRIFTLINE_EXPORTER_SEND_FAILED_METRIC_POINTS,
                                       "{items} an exporter gave up on.", (_E, _REASON))
        self._enqueue_failed = per_signal(names.DRIFTLINE_EXPORTER_ENQUEUE_FAILED_SPANS,
                                          names.DRIFTLINE_EXPORTER_ENQUEUE_FAILED_METRIC_POINTS,
                                          "{items} an exporter's queue could not take.", (_E,))
        self._retried = per_signal(names.DRIFTLINE_EXPORTER_RETRIED_SPANS,
                                   names.DRIFTLINE_EXPORTER_RETRIED_METRIC_POINTS, "{items} scheduled again.",
                                   (_E,))
        self._redelivered = per_signal(names.DRIFTLINE_EXPORTER_REDELIVERED_SPANS,
                                       names.DRIFTLINE_EXPORTER_REDELIVERED_METRIC_POINTS,
                                       "{items} re-sent after a restart (possible duplicates).", (_E,))
        self._queue_size = gauge(names.DRIFTLINE_EXPORTER_QUEUE_SIZE, "Requests in the sending queue.", (_E,))
        self._queue_capacity = gauge(names.DRIFTLINE_EXPORTER_QUEUE_CAPACITY, "Sending queue capacity.", (_E,))
        self._queues: dict[str, list[tuple[Callable[[], int], int]]] = {}
        self._prometheus_series = gauge(names.DRIFTLINE_EXPORTER_PROMETHEUS_SERIES,
                                        "Series a prometheus exporter holds for scraping.", (_E,))
        self._analysis_errors = counter(names.DRIFTLINE_ANALYSIS_ERRORS, "Exceptions raised by analysis hooks.",
                                        (_STAGE,))
        self._analysis_dropped = counter(names.DRIFTLINE_ANALYSIS_DROPPED_SPANS,
                                         "Spans skipped by analysis (backlog full).", ())
        rss = gauge(names.DRIFTLINE_PROCESS_MEMORY_RSS, "Resident set size of the processor.")
        rss.set_function(lambda: float(read_rss_bytes()))
        self._memory_limited = gauge(names.DRIFTLINE_PROCESS_MEMORY_LIMITED, "1 while the memory limiter refuses data.")

    # --- receivers ------------------------------------------------------------------------------

    def accepted(self, receiver: str, transport: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (data points for ``signal="metrics"``) accepted by ``receiver`` over ``transport``
        (``grpc``/``http``)."""
        self._accepted[signal].labels(receiver, transport).inc(spans)

    def refused(self, receiver: str, transport: str, spans: int, reason: str, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) refused, e.g. ``reason="backpressure"``."""
        self._refused[signal].labels(receiver, transport, reason).inc(spans)

    def failed(self, receiver: str, transport: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) lost to an internal fault in a receiver."""
        self._failed[signal].labels(receiver, transport).inc(spans)

    def refused_request(self, receiver: str, transport: str, reason: str) -> None:
        """Count a request refused before its spans could be counted (unreadable, unauthenticated, ...)."""
        self._refused_requests.labels(receiver, transport, reason).inc()

    def in_flight(self, receiver: str, transport: str, delta: int) -> None:
        """Move the in-flight request gauge of ``receiver`` by ``delta`` (+1 on entry, -1 on exit)."""
        self._in_flight.labels(receiver, transport).inc(delta)

    def set_bytes_in_flight(self, value: int) -> None:
        """Admitted bytes not yet handed to the exporters."""
        self._bytes_in_flight.set(value)

    def set_memory_limited(self, limited: bool) -> None:
        """Whether the memory limiter currently refuses data."""
        self._memory_limited.set(1.0 if limited else 0.0)

    # --- exporters ------------------------------------------------------------------------------

    def sent(self, exporter: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (data points for ``signal="metrics"``) delivered by ``exporter``."""
        self._sent[signal].labels(exporter).inc(spans)

    def send_failed(self, exporter: str, spans: int, reason: str, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) that ``exporter`` gave up on (``permanent``, ``max_elapsed``,
        ``partial_success``, ``shutdown``; the prometheus exporter: ``unsupported``, ``conflict``,
        ``series_limit``)."""
        self._send_failed[signal].labels(exporter, reason).inc(spans)

    def enqueue_failed(self, exporter: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) that did not fit in ``exporter``'s queue."""
        self._enqueue_failed[signal].labels(exporter).inc(spans)

    def retried(self, exporter: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) scheduled for another attempt."""
        self._retried[signal].labels(exporter).inc(spans)

    def redelivered(self, exporter: str, spans: int, signal: Signal = "traces") -> None:
        """Count ``spans`` (or data points) re-sent from a persistent queue after a restart."""
        self._redelivered[signal].labels(exporter).inc(spans)

    def queue(self, exporter: str, size: Callable[[], int], capacity: int) -> None:
        """Register ``exporter``'s queue: its size is read at each scrape. An exporter in traces and metrics
        pipelines has a queue per signal; the gauges show their sums."""
        queues = self._queues.setdefault(exporter, [])
        queues.append((size, capacity))
        self._queue_size.labels(exporter).set_function(lambda: float(sum(read() for read, _ in queues)))
        self._queue_capacity.labels(exporter).set(sum(limit for _, limit in queues))

    def prometheus_series(self, exporter: str, count: Callable[[], int]) -> None:
        """Register a prometheus exporter's series count, read at each scrape."""
        self._prometheus_series.labels(exporter).set_function(lambda: float(count()))

    # --- analysis -------------------------------------------------------------------------------

    def analysis_error(self, stage: str) -> None:
        """Count an exception raised by the analysis hook ``stage``."""
        self._analysis_errors.labels(stage).inc()

    def analysis_dropped(self, spans: int) -> None:
        """Count ``spans`` analysis skipped because its backlog was full."""
        self._analysis_dropped.inc(spans)

    # --- exposition -----------------------------------------------------------------------------

    def value(self, name: str, **labels: str) -> float:
        """The current value of metric ``name`` (a semconv name) with ``labels``, summed over any label
        not given; 0 when absent. For tests and the demo's summary."""
        prom = prometheus_name(name)
        total = 0.0
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name in (prom, prom + "_total") and all(
                        sample.labels.get(k) == v for k, v in labels.items()):
                    total += sample.value
        return total

    def render(self, openmetrics: bool = False) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type, or OpenMetrics (with exemplars) when asked."""
        if openmetrics:
            return openmetrics_latest(self.registry), OPENMETRICS_CONTENT_TYPE  # type: ignore[no-untyped-call]
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
