"""The processor's own metrics (receivers, exporters, queues, memory), exposed for Prometheus.

Why prometheus-client and not the OTel SDK with its Prometheus reader: every processor object
(and every test that starts one in-process) owns a private ``CollectorRegistry`` instead of the
global registry the OTel reader binds to; a counter increment costs well under a microsecond
on the hot path; the OpenMetrics exposition carries exemplars, which the drift issue needs and
the OTel Prometheus exporter drops; and it is a stable release rather than a 0.x beta.
Names come from ``semconv/`` (dots become underscores; counters get ``_total``).
"""

from driftline.processors.telemetry.metrics import SelfTelemetry, prometheus_name, read_rss_bytes

__all__ = ["SelfTelemetry", "prometheus_name", "read_rss_bytes"]
