"""What differs between the OTLP signals the processor carries (traces and metrics): the gRPC service,
the request and response messages, the unit items are counted in, and how the backend reports a
partial success. Everything else (admission, queues, retries, statuses) is the same for both.

Reference: OTLP specification, "OTLP/gRPC" and "OTLP/HTTP" (https://opentelemetry.io/docs/specs/otlp/),
``opentelemetry/proto/collector/{trace,metrics}/v1/*_service.proto``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from driftline.processors.config.model import Signal

__all__ = ["METRICS", "SIGNALS", "TRACES", "OTLPSignal", "count_data_points"]


@dataclass(frozen=True)
class OTLPSignal:
    """One signal's OTLP vocabulary.

    ``items`` names what is counted (``spans``, ``metric points``) in logs; ``rejected(response)`` reads
    the partial success's ``rejected_spans`` / ``rejected_data_points``.
    """

    signal: Signal
    grpc_service: str
    request_type: type[Any]
    response_type: type[Any]
    items: str
    rejected: Callable[[Any], int]

    @property
    def grpc_method(self) -> str:
        """The full gRPC method path of ``Export``."""
        return f"/{self.grpc_service}/Export"


TRACES = OTLPSignal("traces", "opentelemetry.proto.collector.trace.v1.TraceService", ExportTraceServiceRequest,
                    ExportTraceServiceResponse, "spans", lambda r: int(r.partial_success.rejected_spans))
"""Traces: ``TraceService``, counted in spans."""

METRICS = OTLPSignal("metrics", "opentelemetry.proto.collector.metrics.v1.MetricsService",
                     ExportMetricsServiceRequest, ExportMetricsServiceResponse, "metric points",
                     lambda r: int(r.partial_success.rejected_data_points))
"""Metrics: ``MetricsService``, counted in data points."""

SIGNALS: dict[Signal, OTLPSignal] = {"traces": TRACES, "metrics": METRICS}
"""Each supported signal by its pipeline name."""


def count_data_points(request: Any) -> int:
    """Data points in an ``ExportMetricsServiceRequest``, the unit of the ``*_metric_points`` counts (as the
    Collector counts them: one per number, histogram, exponential-histogram or summary point)."""
    total = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    total += len(getattr(metric, kind).data_points)
    return total
