"""The ``prometheus`` exporter: the metrics pipelines' data at ``http://endpoint/metrics`` for scraping.

Naming, types, labels, temporality and limits are those of :mod:`.prometheus_store`. When ``endpoint``
equals ``service.telemetry.metrics.address`` the series are added to the processor's own registry, so
one ``/metrics`` serves both; otherwise the exporter runs its own listener.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from driftline.processors.config.model import ComponentId, HostPort, PrometheusExporterConfig
from driftline.processors.exporters._logging import child_logger
from driftline.processors.exporters.prometheus_store import MetricStore
from driftline.processors.pipeline.batch import Batch, MetricsBatch
from driftline.processors.telemetry.metrics import SelfTelemetry
from driftline.processors.telemetry.server import MetricsServer

__all__ = ["PrometheusExporter"]

_log = child_logger("exporters")
_WARN_EVERY = 60.0  # seconds between two warnings about dropped points of one reason


class _StoreCollector(Collector):
    """Adapts a :class:`MetricStore` to prometheus-client's custom-collector interface."""

    def __init__(self, store: MetricStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        """The store's families at scrape time."""
        return self._store.collect()

    def describe(self) -> list[Metric]:
        """Nothing up front: the families are whatever senders send, so the registry checks no names."""
        return []


class PrometheusExporter:
    """Keeps the latest value of every series received and serves them to Prometheus.

    ``shared`` is the self-telemetry registry to join when the endpoint is the processor's own metrics
    address; otherwise :meth:`start` listens on ``config.endpoint``. ``offer`` never waits: a point is
    applied to memory at once, so the exporter is never the reason a request is refused.
    """

    def __init__(self, component_id: ComponentId, config: PrometheusExporterConfig, telemetry: SelfTelemetry, *,
                 shared: CollectorRegistry | None = None) -> None:
        self.id = str(component_id)
        """The component id, the ``exporter`` metric label."""
        self.store = MetricStore(namespace=config.namespace, const_labels=config.const_labels,
                                 expiration=config.metric_expiration)
        """The series held for scraping."""
        self._config = config
        self._telemetry = telemetry
        self._shared = shared
        self._collector = _StoreCollector(self.store)
        self._registry: CollectorRegistry | None = None
        self._server: MetricsServer | None = None
        self._registered = False
        self._accepting = False
        self._warned: dict[str, float] = {}
        self.bound: HostPort | None = None
        """Where the series are served once started (``None`` when shared with the self-telemetry)."""
        telemetry.prometheus_series(self.id, lambda: self.store.series_count)

    @property
    def shared(self) -> bool:
        """True when the series are served by the processor's own ``/metrics``."""
        return self._shared is not None

    async def start(self) -> None:
        """Join the shared registry, or listen on ``endpoint`` (``OSError`` naming the key when taken)."""
        if self._shared is not None:
            self._shared.register(self._collector)
            self._registered = True
        else:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(self._collector)
            self._server = MetricsServer(self, self._config.endpoint, config_key=f"exporters.{self.id}.endpoint")
            await self._server.start()
            self.bound = self._server.bound
        self._accepting = True

    def render(self, openmetrics: bool = False) -> tuple[bytes, str]:
        """The exposition of this exporter's own listener (classic text format; ``openmetrics`` is not
        used: the translated series carry no exemplars)."""
        assert self._registry is not None
        return generate_latest(self._registry), CONTENT_TYPE_LATEST

    def can_accept(self) -> bool:
        """True until shutdown."""
        return self._accepting

    async def offer(self, batch: Batch) -> bool:
        """Apply ``batch``'s points to the series; counts stored points as sent, the rest as send-failed."""
        if not isinstance(batch, MetricsBatch) or not self._accepting:
            self._telemetry.enqueue_failed(self.id, batch.item_count, batch.signal)
            return False
        result = self.store.update(batch.request)
        self._telemetry.sent(self.id, result.stored, "metrics")
        for reason, points in result.dropped.items():
            self._telemetry.send_failed(self.id, points, reason, "metrics")
            now = time.monotonic()
            if now - self._warned.get(reason, -_WARN_EVERY) >= _WARN_EVERY:
                self._warned[reason] = now
                _log.warning("exporter %s: dropped %d metric points (%s; see "
                             "driftline_exporter_send_failed_metric_points_total)", self.id, points, reason)
        return True

    async def shutdown(self, deadline: float) -> None:
        """Stop serving (or leave the shared registry)."""
        self._accepting = False
        if self._shared is not None and self._registered:
            self._shared.unregister(self._collector)
            self._registered = False
        if self._server is not None:
            await self._server.stop()
            self._server = None
