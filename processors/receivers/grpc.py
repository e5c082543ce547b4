"""OTLP/gRPC: ``TraceService/Export`` and ``MetricsService/Export`` (each only when its signal has a
pipeline) on a ``grpc.aio`` server.

The method is registered without a deserializer, so the handler gets the message's bytes exactly as
the client sent them (after gRPC's own decompression): they are parsed once, to validate and count,
and forwarded unchanged. gRPC enforces ``max_recv_msg_size_mib`` itself, on the decompressed size,
answering RESOURCE_EXHAUSTED before the handler runs. Failures carry a ``google.rpc.Status`` in the
``grpc-status-details-bin`` trailer, with ``RetryInfo`` when the client should come back later.

Reference: OTLP specification, "OTLP/gRPC" (https://opentelemetry.io/docs/specs/otlp/#otlpgrpc).
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]

from driftline.processors.config.model import GRPCReceiverSettings, HostPort
from driftline.processors.otlp.signals import METRICS, TRACES
from driftline.processors.otlp.status import GRPC_STATUS_DETAILS_KEY
from driftline.processors.pipeline.batch import Batch, MetricsBatch, TraceBatch
from driftline.processors.receivers.intake import Intake, Rejection
from driftline.processors.receivers.tls import grpc_server_credentials

__all__ = ["METRICS_SERVICE", "TRACE_SERVICE", "GRPCTraceServer"]

TRACE_SERVICE = TRACES.grpc_service
"""The fully qualified name of the OTLP trace service."""

METRICS_SERVICE = METRICS.grpc_service
"""The fully qualified name of the OTLP metrics service."""

_EXPORT_OK = b""  # an empty Export*ServiceResponse: full success (partial_success unset), for every signal
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
_AUTHORIZATION = "authorization"


class GRPCTraceServer:
    """One OTLP/gRPC endpoint. ``config_key`` is where its endpoint is configured, for error messages."""

    def __init__(self, settings: GRPCReceiverSettings, intake: Intake, config_key: str) -> None:
        self._settings = settings
        self._intake = intake
        self._config_key = config_key
        self._server: Any = None
        self.address: HostPort | None = None
        """The bound address once started (the real port when the configured one is 0)."""

    async def start(self) -> None:
        """Bind and start serving; ``OSError`` naming the endpoint and its key when the address is taken."""
        settings = self._settings
        credentials = grpc_server_credentials(settings.tls) if settings.tls is not None else None
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", settings.max_recv_msg_size_bytes),
            # gRPC sets SO_REUSEPORT by default, which would let a second server share a port already
            # in use without any error; refusing to start is what a misconfiguration deserves.
            ("grpc.so_reuseport", 0),
        ])
        handlers = []
        for signal, service, export in (("traces", TRACE_SERVICE, self._export),
                                        ("metrics", METRICS_SERVICE, self._export_metrics)):
            if signal in self._intake.signals:
                handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None,
                                                              response_serializer=None)
                handlers.append(grpc.method_handlers_generic_handler(service, {"Export": handler}))
        server.add_generic_rpc_handlers(tuple(handlers))
        endpoint = settings.endpoint
        target = f"{_grpc_host(endpoint.host)}:{endpoint.port}"
        try:
            if credentials is not None:
                port = server.add_secure_port(target, credentials)
            else:
                port = server.add_insecure_port(target)
        except RuntimeError:
            port = 0
        if not port:
            await server.stop(None)
            raise OSError(errno.EADDRINUSE, f"the OTLP/gRPC receiver cannot listen on {endpoint} (address in use or "
                                            f"not available); change {self._config_key} or free the port")
        await server.start()
        self._server = server
        self.address = HostPort(endpoint.host, port)

    async def stop_accepting(self) -> None:
        """Answer RPCs that reach the handler from now on with UNAVAILABLE (reason ``shutting_down``)."""
        self._intake.close()

    async def stop(self, grace: float) -> None:
        """Refuse new RPCs and let those in flight finish for up to ``grace`` seconds, then cancel them.

        gRPC closes the listener and itself answers RPCs that arrive meanwhile, with UNAVAILABLE or
        (depending on timing) CANCELLED: both are retryable for OTLP clients."""
        self._intake.close()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    async def _export(self, request: bytes, context: Any) -> bytes:
        """``TraceService/Export``: the hot path of every OTLP/gRPC trace request."""
        return await self._handle(request, context, TraceBatch.from_protobuf)

    async def _export_metrics(self, request: bytes, context: Any) -> bytes:
        """``MetricsService/Export``."""
        return await self._handle(request, context, MetricsBatch.from_protobuf)

    async def _handle(self, request: bytes, context: Any, parse: Callable[[bytes], Batch]) -> bytes:
        intake = self._intake
        with intake.in_flight():
            try:
                intake.admit(_authorization(context.invocation_metadata()))
                with intake.reserved(len(request)):
                    with intake.refusals():
                        batch = parse(request)
                    await intake.deliver(batch)
            except Rejection as rejection:
                await context.abort(_STATUS_CODES[rejection.grpc_code], rejection.status.message,
                                    trailing_metadata=((GRPC_STATUS_DETAILS_KEY,
                                                        bytes(rejection.status.SerializeToString())),))
        return _EXPORT_OK


def _authorization(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key == _AUTHORIZATION:
            return value if isinstance(value, str) else None
    return None


def _grpc_host(host: str) -> str:
    if not host:
        return "[::]"  # every interface, IPv4 included (gRPC binds dual-stack)
    return f"[{host}]" if ":" in host else host
