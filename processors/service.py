"""The running processor: builds receivers, pipelines and exporters from a :class:`Config`, runs
them in one asyncio event loop, and shuts them down in the right order.

Start order is the reverse of data flow (exporters, then pipelines, then receivers), so nothing is
accepted before it can be queued; shutdown follows data flow: receivers stop taking requests first,
pipelines refuse what still arrives, exporters drain their queues until the deadline and then keep
(persistent queue) or drop-and-count (in-memory queue) the rest. Signals: the first SIGTERM/SIGINT
starts that graceful shutdown; a second one exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from driftline.processors.analysis import hook as _drift_hook  # noqa: F401  (registers the drift hook)
from driftline.processors.config.model import (
    BatchConfig,
    ComponentId,
    Config,
    DebugExporterConfig,
    DriftlineProcessorConfig,
    FileExporterConfig,
    HostPort,
    MemoryLimiterConfig,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    PrometheusExporterConfig,
    Signal,
)
from driftline.processors.pipeline.analysis import AnalysisStage
from driftline.processors.pipeline.contracts import Exporter, Receiver
from driftline.processors.pipeline.fanout import Fanout, Pipeline
from driftline.processors.pipeline.limits import AdmissionControl
from driftline.processors.receivers.http import METRICS_URL_PATH
from driftline.processors.telemetry import SelfTelemetry
from driftline.processors.telemetry.server import MetricsServer

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "READY_MESSAGE", "Service", "StartedAddresses", "run"]

_log = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 15.0
"""Seconds a graceful shutdown may spend draining the exporters' queues."""

READY_MESSAGE = "driftline processor ready"
"""Logged once every listener is bound and every exporter started (after one line per listener)."""

_RECEIVER_GRACE = 5.0
_EXIT_ON_SECOND_SIGNAL = 130


@dataclass
class StartedAddresses:
    """Where the running service listens (ports resolved when the configuration said 0)."""

    grpc: dict[str, HostPort] = field(default_factory=dict)
    http: dict[str, HostPort] = field(default_factory=dict)
    metrics: HostPort | None = None


class Service:
    """One processor: ``await start()``, then ``await wait_stopped()`` or ``await stop()``."""

    def __init__(self, config: Config, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> None:
        self.config = config
        self.telemetry = SelfTelemetry()
        self.shutdown_timeout = shutdown_timeout
        self.addresses = StartedAddresses()
        self.exporters: dict[ComponentId, Exporter] = {}
        """The exporters of the traces pipelines, by id."""
        self.metrics_exporters: dict[ComponentId, Exporter] = {}
        """The exporters of the metrics pipelines, by id (a ``file`` or ``debug`` exporter in both kinds of
        pipeline is the same instance in both maps; ``otlp`` and ``otlphttp`` have one per signal)."""
        self._served: dict[ComponentId, tuple[Signal, ...]] = {}
        self.pipelines: list[Pipeline] = []
        self.receivers: dict[ComponentId, Receiver] = {}
        self._stages: list[AnalysisStage] = []
        self._admission: AdmissionControl | None = None
        self._metrics_server: MetricsServer | None = None
        self._stopped = asyncio.Event()
        self._stopping: asyncio.Task[None] | None = None
        self._signals = 0

    # --- building ------------------------------------------------------------------------------

    def _build(self) -> None:
        from driftline.processors.exporters import build_exporter
        from driftline.processors.exporters.prometheus import PrometheusExporter
        from driftline.processors.receivers import OTLPReceiver

        config = self.config
        telemetry_metrics = config.service.telemetry.metrics
        shared_address = telemetry_metrics.address if telemetry_metrics.level != "none" else None
        for pid, pipeline_config in config.service.pipelines.items():
            built_for = self.exporters if pid.signal == "traces" else self.metrics_exporters
            for cid in pipeline_config.exporters:
                if cid in built_for:
                    continue
                exporter_config = config.exporters[cid]
                shared_instance = self.exporters.get(cid) or self.metrics_exporters.get(cid)
                if isinstance(exporter_config, PrometheusExporterConfig):
                    shared = self.telemetry.registry if exporter_config.endpoint == shared_address else None
                    built_for[cid] = PrometheusExporter(cid, exporter_config, self.telemetry, shared=shared)
                elif isinstance(exporter_config, (FileExporterConfig, DebugExporterConfig)) and shared_instance:
                    built_for[cid] = shared_instance  # one writer per file: both signals through one instance
                else:
                    built_for[cid] = build_exporter(cid, exporter_config, self.telemetry, pid.signal)

        limiter: MemoryLimiterConfig | None = None
        by_receiver: dict[ComponentId, dict[Signal, list[Pipeline]]] = {}
        for pid, pipeline in config.service.pipelines.items():
            stages: list[AnalysisStage] = []
            for processor_id in pipeline.processors:
                processor = config.processors[processor_id]
                if isinstance(processor, MemoryLimiterConfig):
                    limiter = processor if limiter is None or processor.limit_mib < limiter.limit_mib else limiter
                elif isinstance(processor, DriftlineProcessorConfig):
                    stage = AnalysisStage.from_options(processor.options, self.telemetry)
                    stages.append(stage)
                    self._stages.append(stage)
                elif isinstance(processor, BatchConfig):
                    pass  # batching is the senders' job here: requests are forwarded as received
            exporters = self.exporters if pid.signal == "traces" else self.metrics_exporters
            built = Pipeline(str(pid), [exporters[e] for e in pipeline.exporters], stages)
            self.pipelines.append(built)
            for rid in pipeline.receivers:
                by_receiver.setdefault(rid, {}).setdefault(pid.signal, []).append(built)

        self._admission = AdmissionControl(self.telemetry, memory_limiter=limiter)
        for rid, signals in by_receiver.items():
            traces = Fanout(signals["traces"]) if "traces" in signals else None
            metrics = Fanout(signals["metrics"]) if "metrics" in signals else None
            self.receivers[rid] = OTLPReceiver(rid, config.receivers[rid], traces, self._admission, self.telemetry,
                                               metrics=metrics)
            self._served[rid] = tuple(signals)

    def _all_exporters(self) -> list[Exporter]:
        """Every exporter instance once (a file or debug exporter may serve both signals)."""
        unique: dict[int, Exporter] = {}
        for exporter in (*self.exporters.values(), *self.metrics_exporters.values()):
            unique.setdefault(id(exporter), exporter)
        return list(unique.values())

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> StartedAddresses:
        """Build and start everything; on failure, stop what started and re-raise."""
        self._build()
        try:
            for exporter in self._all_exporters():
                await exporter.start()
            for stage in self._stages:
                stage.start()
            assert self._admission is not None
            self._admission.start()
            for rid, receiver in self.receivers.items():
                await receiver.start()
                if receiver.grpc_address is not None:
                    self.addresses.grpc[str(rid)] = receiver.grpc_address
                if receiver.http_address is not None:
                    self.addresses.http[str(rid)] = receiver.http_address
            metrics = self.config.service.telemetry.metrics
            if metrics.level != "none":
                self._metrics_server = MetricsServer(self.telemetry, metrics.address)
                await self._metrics_server.start()
                self.addresses.metrics = self._metrics_server.bound
        except BaseException:
            await self._shutdown(time.monotonic() + 1.0)
            raise
        return self.addresses

    def describe(self) -> str:
        """One line per listener and exporter, for the start-up log (no secrets)."""
        lines = []
        for rid, address in self.addresses.grpc.items():
            lines.append(f"receiver {rid}: OTLP/gRPC on {address}")
        for rid, address in self.addresses.http.items():
            component = ComponentId.parse(rid)
            receiver_config = self.config.receivers[component]
            signals = self._served.get(component, ())
            paths = [receiver_config.http.traces_url_path if receiver_config.http else ""] \
                if "traces" in signals else []
            if "metrics" in signals:
                paths.append(METRICS_URL_PATH)
            scheme = "https" if receiver_config.http and receiver_config.http.tls else "http"
            # The first URL is the traces one when traces are served (tests and tools read it from here).
            also = f" (also {', '.join(paths[1:])})" if len(paths) > 1 else ""
            lines.append(f"receiver {rid}: OTLP/HTTP on {scheme}://{address}{paths[0]}{also}")
        kinds: tuple[tuple[Signal, dict[ComponentId, Exporter]], ...] = (("traces", self.exporters),
                                                                          ("metrics", self.metrics_exporters))
        for kind, exporters in kinds:
            for cid, exporter in exporters.items():
                if kind == "metrics" and self.exporters.get(cid) is exporter:
                    continue  # one instance for both signals: already listed
                lines.append(f"exporter {cid}: {_exporter_target(self.config.exporters[cid], kind, exporter)}")
        if self.addresses.metrics is not None:
            lines.append(f"metrics: http://{self.addresses.metrics}/metrics")
        return "\n".join(lines)

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: graceful stop; second: exit at once."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            _log.warning("second %s: exiting now without draining", sig.name)
            os._exit(_EXIT_ON_SECOND_SIGNAL)
        _log.info("%s: shutting down (draining for up to %.0f s; send it again to exit at once)",
                  sig.name, self.shutdown_timeout)
        self.request_stop()

    def request_stop(self) -> None:
        """Begin a graceful stop without waiting for it."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self.stop())

    async def stop(self) -> None:
        """Graceful stop: receivers, then pipelines, then exporters drain until the shutdown deadline."""
        await self._shutdown(time.monotonic() + self.shutdown_timeout)

    async def _shutdown(self, deadline: float) -> None:
        for receiver in self.receivers.values():
            try:
                await receiver.stop(min(_RECEIVER_GRACE, max(0.0, deadline - time.monotonic())))
            except Exception:
                _log.exception("stopping a receiver failed")
        for pipeline in self.pipelines:
            pipeline.close()
        for stage in self._stages:
            await stage.stop()
        if self._admission is not None:
            await self._admission.stop()
        await asyncio.gather(*(exporter.shutdown(deadline) for exporter in self._all_exporters()),
                             return_exceptions=True)
        if self._metrics_server is not None:
            await self._metrics_server.stop()
        self._stopped.set()

    async def wait_stopped(self) -> None:
        """Return once a stop (by signal or :meth:`request_stop`) has completed."""
        await self._stopped.wait()


def _exporter_target(config: object, signal: Signal, exporter: Exporter) -> str:
    if isinstance(config, OTLPExporterConfig):
        return f"{signal} OTLP/gRPC to {config.endpoint} ({'TLS' if config.secure else 'plaintext'})"
    if isinstance(config, OTLPHTTPExporterConfig):
        return f"{signal} OTLP/HTTP to {config.url_for(signal)}"
    if isinstance(config, PrometheusExporterConfig):
        bound = getattr(exporter, "bound", None)
        if bound is None:
            return "Prometheus series served with the processor's own metrics"
        return f"Prometheus scrape endpoint http://{bound}/metrics"
    if isinstance(config, FileExporterConfig):
        return f"OTLP-JSON lines in {os.path.abspath(config.path)}"
    return type(config).__name__.removesuffix("Config").lower()


def run(config: Config, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
        ready_message: bool = True) -> int:
    """Run the processor until SIGTERM/SIGINT; returns the exit code (0 after a graceful stop)."""
    return asyncio.run(_main(config, shutdown_timeout, ready_message))


async def _main(config: Config, shutdown_timeout: float, ready_message: bool) -> int:
    service = Service(config, shutdown_timeout=shutdown_timeout)
    try:
        await service.start()
    except OSError as error:
        _log.error("cannot start: %s", error.strerror or error)
        return 1
    service.install_signal_handlers()
    if ready_message:
        for line in service.describe().splitlines():
            _log.info("%s", line)
        _log.info(READY_MESSAGE)
    await service.wait_stopped()
    _log.info("driftline processor stopped")
    return 0


def configure_logging(level: str) -> None:
    """Log to stderr at the configured ``service.telemetry.logs.level``."""
    levels: Mapping[str, int] = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                                 "error": logging.ERROR}
    logging.basicConfig(level=levels.get(level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
