"""A minimal OTLP/HTTP receiver on loopback for tests of processes we start (zero-code tests).

Accepts ``POST /v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with protobuf bodies (optionally
gzip), decodes them with the official opentelemetry-proto messages and keeps them in memory.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_MESSAGES: dict[str, type[Any]] = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


def any_value(value: AnyValue) -> Any:
    """Convert an OTLP ``AnyValue`` to a Python value."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


class OTLPSink:
    """Threaded OTLP/HTTP receiver; ``endpoint`` is the base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT``."""

    def __init__(self) -> None:
        self.requests: dict[str, list[Any]] = {path: [] for path in _MESSAGES}
        self._cond = threading.Condition()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                message_type = _MESSAGES.get(self.path)
                if message_type is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                message = message_type()
                message.ParseFromString(body)
                with sink._cond:
                    sink.requests[self.path].append(message)
                    sink._cond.notify_all()
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OTLPSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def spans(self) -> list[tuple[dict[str, Any], str, Any]]:
        """Every received span as (resource attributes, scope name, span)."""
        out: list[tuple[dict[str, Any], str, Any]] = []
        with self._cond:
            requests = list(self.requests["/v1/traces"])
        for req in requests:
            for rs in req.resource_spans:
                resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((resource, ss.scope.name, span))
        return out

    def metric_names(self) -> set[str]:
        """Names of every received metric."""
        with self._cond:
            requests = list(self.requests["/v1/metrics"])
        return {m.name for req in requests for rm in req.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics}


def span_attributes(span: Any) -> dict[str, Any]:
    """An OTLP span's attributes as a dict."""
    return {kv.key: any_value(kv.value) for kv in span.attributes}
