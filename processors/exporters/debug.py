"""The ``debug`` exporter: spans and metrics to the log, at the chosen verbosity, sampled as the Collector
samples."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from driftline.processors.config.model import ComponentId, DebugExporterConfig
from driftline.processors.exporters._logging import child_logger
from driftline.processors.exporters.base import DirectExporter
from driftline.processors.otlp.json_codec import encode_json
from driftline.processors.pipeline.batch import Batch, MetricsBatch
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["DEBUG_LOGGER_NAME", "DebugExporter", "LogSampler"]

DEBUG_LOGGER_NAME = child_logger("debug").name
"""``driftline.processors.exporters.debug``: the logger the debug exporter writes to (INFO level)."""

_log = logging.getLogger(DEBUG_LOGGER_NAME)


class LogSampler:
    """The Collector's (zap's) log sampling: in each one-second window the first ``initial`` batches
    are logged, then every ``thereafter``-th (0: none after the first ``initial``)."""

    def __init__(self, initial: int, thereafter: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._initial = initial
        self._thereafter = thereafter
        self._clock = clock
        self._window = -1
        self._seen = 0

    def admit(self) -> bool:
        """Count one batch; True if it is to be logged."""
        window = int(self._clock())
        if window != self._window:
            self._window, self._seen = window, 0
        self._seen += 1
        if self._seen <= self._initial:
            return True
        return self._thereafter > 0 and (self._seen - self._initial) % self._thereafter == 0


class DebugExporter(DirectExporter):
    """Logs batches through the ``DEBUG_LOGGER_NAME`` logger.

    * ``basic``: one line per batch, its resource-span and span counts;
    * ``normal``: one line per span: trace id, span id, name, duration;
    * ``detailed``: the resource, scope and every span in full, attributes included, as OTLP-JSON.

    Metrics the same way: ``basic`` counts, ``normal`` one line per metric (name, type, points),
    ``detailed`` every metric as OTLP-JSON.

    Span names and attributes may hold personal data: only ``normal`` and ``detailed``, which the
    user chose, write them.
    """

    def __init__(self, component_id: ComponentId, config: DebugExporterConfig, telemetry: SelfTelemetry) -> None:
        super().__init__(component_id, telemetry)
        self._verbosity = config.verbosity
        self._sampler = LogSampler(config.sampling_initial, config.sampling_thereafter)

    async def _write(self, batch: Batch) -> None:
        if not self._sampler.admit() or not _log.isEnabledFor(logging.INFO):
            return
        if isinstance(batch, MetricsBatch):
            self._log_metrics(batch)
            return
        resource_spans = batch.request.resource_spans
        _log.info("%s: traces: %d resource spans, %d spans", self.id, len(resource_spans), batch.span_count)
        if self._verbosity == "basic":
            return
        detailed = self._verbosity == "detailed"
        for rs in resource_spans:
            if detailed:
                _log.info("%s: resource %s", self.id, encode_json(rs.resource).decode())
            for ss in rs.scope_spans:
                if detailed:
                    _log.info("%s: scope %s", self.id, encode_json(ss.scope).decode())
                for span in ss.spans:
                    if detailed:
                        _log.info("%s: span %s", self.id, encode_json(span).decode())
                    else:
                        duration_ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
                        _log.info("%s: %s %s %s %.3fms", self.id, span.trace_id.hex(), span.span_id.hex(),
                                  span.name, duration_ms)

    def _log_metrics(self, batch: MetricsBatch) -> None:
        resource_metrics = batch.request.resource_metrics
        _log.info("%s: metrics: %d resource metrics, %d data points", self.id, len(resource_metrics),
                  batch.point_count)
        if self._verbosity == "basic":
            return
        detailed = self._verbosity == "detailed"
        for rm in resource_metrics:
            if detailed:
                _log.info("%s: resource %s", self.id, encode_json(rm.resource).decode())
            for sm in rm.scope_metrics:
                if detailed:
                    _log.info("%s: scope %s", self.id, encode_json(sm.scope).decode())
                for metric in sm.metrics:
                    if detailed:
                        _log.info("%s: metric %s", self.id, encode_json(metric).decode())
                    else:
                        kind = metric.WhichOneof("data") or "empty"
                        points = len(getattr(metric, kind).data_points) if kind != "empty" else 0
                        _log.info("%s: %s %s %d points", self.id, metric.name, kind, points)
