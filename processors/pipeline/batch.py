"""One accepted export request as it travels from a receiver to the exporters.

A receiver has to parse every request anyway (to validate it and to count its spans), so a
:class:`TraceBatch` carries both the parsed ``ExportTraceServiceRequest`` and, when the request
arrived as protobuf, its original (decompressed) bytes. Exporters call :meth:`TraceBatch.payload`:
the original bytes while nothing has modified the request (no re-encoding on the hot path), a
fresh serialization once an analysis hook has called :meth:`TraceBatch.mark_modified`.
:class:`MetricsBatch` is the same for an ``ExportMetricsServiceRequest`` (no hook changes metrics).
Exporters that carry both signals read :attr:`signal` and :attr:`item_count` (spans or data points).
"""

from __future__ import annotations

from typing import Any, Literal

from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.otlp.admission import count_spans, decode_protobuf
from driftline.processors.otlp.errors import MalformedPayload
from driftline.processors.otlp.signals import count_data_points

__all__ = ["Batch", "MetricsBatch", "TraceBatch"]


class TraceBatch:
    """An accepted ``ExportTraceServiceRequest``: parsed request, span count, original bytes.

    Not thread-safe; it lives on the processor's event loop.
    """

    __slots__ = ("_body", "_modified", "request", "span_count")

    signal: Literal["traces"] = "traces"
    """The pipeline signal this batch belongs to."""

    def __init__(self, request: ExportTraceServiceRequest, *, body: bytes | None = None,
                 span_count: int | None = None) -> None:
        self.request = request
        """The parsed request; analysis hooks may change it, then call :meth:`mark_modified`."""
        self._body = body
        self.span_count: int = count_spans(request) if span_count is None else span_count
        """Spans in the request, counted once at admission."""
        self._modified = False

    @classmethod
    def from_protobuf(cls, body: bytes) -> TraceBatch:
        """Parse protobuf ``body`` (already decompressed); raises ``MalformedPayload`` if it is not a request."""
        return cls(decode_protobuf(body), body=body)

    @property
    def item_count(self) -> int:
        """:attr:`span_count`, under the name exporters of any signal use."""
        return self.span_count

    @property
    def modified(self) -> bool:
        """True once a hook has changed :attr:`request`; the original bytes are then stale."""
        return self._modified

    def mark_modified(self) -> None:
        """Record that :attr:`request` was changed, so :meth:`payload` re-serializes it."""
        self._modified = True
        self._body = None

    def payload(self) -> bytes:
        """The protobuf bytes to forward: the original bytes when unmodified, else a new serialization
        (computed once and kept)."""
        body = self._body
        if body is None:
            body = self._body = bytes(self.request.SerializeToString())
        return body

    def restore(self, payload: bytes) -> None:
        """Put back the request serialized as ``payload`` (a snapshot taken with :meth:`payload` before a
        hook ran), undoing whatever the hook changed."""
        request = ExportTraceServiceRequest()
        request.ParseFromString(payload)
        self.request = request
        self._body = payload
        self._modified = False

    def __repr__(self) -> str:  # never the content: spans may carry prompts and personal data
        return f"TraceBatch(spans={self.span_count}, modified={self._modified})"

    def resource_spans(self) -> Any:
        """The request's ``resource_spans`` (repeated field), for hooks that iterate spans."""
        return self.request.resource_spans


class MetricsBatch:
    """An accepted ``ExportMetricsServiceRequest``: parsed request, data point count, protobuf bytes.

    Nothing modifies metrics on the way through, so :meth:`payload` is always the bytes as received
    (or, for an OTLP/JSON request, its one protobuf encoding).
    """

    __slots__ = ("_body", "point_count", "request")

    signal: Literal["metrics"] = "metrics"
    """The pipeline signal this batch belongs to."""

    def __init__(self, request: ExportMetricsServiceRequest, *, body: bytes | None = None) -> None:
        self.request = request
        """The parsed request (read-only by convention)."""
        self._body = body
        self.point_count: int = count_data_points(request)
        """Data points in the request, counted once at admission."""

    @classmethod
    def from_protobuf(cls, body: bytes) -> MetricsBatch:
        """Parse protobuf ``body`` (already decompressed); raises ``MalformedPayload`` if it is not a request."""
        request = ExportMetricsServiceRequest()
        try:
            request.ParseFromString(body)
        except (DecodeError, UnicodeDecodeError):
            raise MalformedPayload("malformed protobuf body: not an ExportMetricsServiceRequest") from None
        return cls(request, body=body)

    @property
    def item_count(self) -> int:
        """:attr:`point_count`, under the name exporters of any signal use."""
        return self.point_count

    def payload(self) -> bytes:
        """The protobuf bytes to forward (serialized once if the request arrived as JSON)."""
        body = self._body
        if body is None:
            body = self._body = bytes(self.request.SerializeToString())
        return body

    def __repr__(self) -> str:  # never the content
        return f"MetricsBatch(points={self.point_count})"


Batch = TraceBatch | MetricsBatch
"""Any batch an exporter may be offered."""
