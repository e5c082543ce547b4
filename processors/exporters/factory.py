"""``build_exporter``: the exporter for a validated ``exporters:`` entry."""

from __future__ import annotations

from driftline.processors.config.model import (
    ComponentId,
    DebugExporterConfig,
    ExporterConfig,
    FileExporterConfig,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    Signal,
)
from driftline.processors.exporters.base import DirectExporter, QueuedExporter
from driftline.processors.exporters.debug import DebugExporter
from driftline.processors.exporters.file import FileExporter
from driftline.processors.exporters.otlp_grpc import OTLPGrpcExporter
from driftline.processors.exporters.otlp_http import OTLPHttpExporter
from driftline.processors.otlp.signals import SIGNALS
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["build_exporter"]


def build_exporter(component_id: ComponentId, config: ExporterConfig, telemetry: SelfTelemetry,
                   signal: Signal = "traces") -> QueuedExporter | DirectExporter:
    """The exporter of ``signal`` for ``config`` (not started: call ``await exporter.start()``).

    ``file`` and ``debug`` exporters take batches of any signal, so one instance can serve both; the
    ``prometheus`` exporter is built by the service (it serves an endpoint rather than sending).
    Raises ``ValueError`` for an exporter that cannot take traces (``prometheus`` serves metrics).
    """
    if isinstance(config, OTLPExporterConfig):
        return OTLPGrpcExporter(component_id, config, telemetry, signal=SIGNALS[signal])
    if isinstance(config, OTLPHTTPExporterConfig):
        return OTLPHttpExporter(component_id, config, telemetry, signal=SIGNALS[signal])
    if isinstance(config, FileExporterConfig):
        return FileExporter(component_id, config, telemetry)
    if isinstance(config, DebugExporterConfig):
        return DebugExporter(component_id, config, telemetry)
    raise ValueError(f"exporter {component_id} ({type(config).__name__}) cannot export traces; "
                     "use it in a metrics pipeline, or choose otlp, otlphttp, file or debug")
