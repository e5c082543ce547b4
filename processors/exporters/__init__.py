"""The processor's trace exporters and the sending queue and retry loop they share.

* ``otlp`` (:class:`OTLPGrpcExporter`) and ``otlphttp`` (:class:`OTLPHttpExporter`): queued
  (memory or SQLite), retried with backoff, after the OpenTelemetry Collector's exporterhelper.
* ``file`` (:class:`FileExporter`): OTLP-JSON lines with rotation; ``debug`` (:class:`DebugExporter`).

:func:`build_exporter` picks one from a validated config entry.
"""

from driftline.processors.exporters.base import DirectExporter, QueuedExporter
from driftline.processors.exporters.debug import DEBUG_LOGGER_NAME, DebugExporter
from driftline.processors.exporters.factory import build_exporter
from driftline.processors.exporters.file import FileExporter
from driftline.processors.exporters.otlp_grpc import OTLPGrpcExporter
from driftline.processors.exporters.otlp_http import OTLPHttpExporter

__all__ = [
    "DEBUG_LOGGER_NAME",
    "DebugExporter",
    "DirectExporter",
    "FileExporter",
    "OTLPGrpcExporter",
    "OTLPHttpExporter",
    "QueuedExporter",
    "build_exporter",
]
