"""The ``otlp`` receiver: OTLP/gRPC and/or OTLP/HTTP, as configured, on the processor's event loop."""

from __future__ import annotations

import asyncio

from driftline.processors.config.model import ComponentId, HostPort, OTLPReceiverConfig
from driftline.processors.pipeline.contracts import Admission, MetricsConsumer, TraceConsumer
from driftline.processors.receivers.grpc import GRPCTraceServer
from driftline.processors.receivers.http import HTTPTraceServer
from driftline.processors.receivers.intake import Intake
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["OTLPReceiver"]


class OTLPReceiver:
    """Receives OTLP trace exports and hands them to ``consumer``, and metrics exports to ``metrics`` (the
    Collector's ``otlpreceiver``). A signal whose consumer is ``None`` is not served: its gRPC service is
    not registered (UNIMPLEMENTED) and its HTTP path answers 404.

    Each request is admitted (``admission.reserve``) before its body is read and parsed, and answered
    only once ``consumer.consume`` has taken it, so success means the pipeline holds the data.
    Self-metrics go to ``telemetry`` under ``receiver=str(component_id)`` and ``transport=grpc|http``.
    """

    def __init__(self, component_id: ComponentId, config: OTLPReceiverConfig, consumer: TraceConsumer | None,
                 admission: Admission, telemetry: SelfTelemetry, *, metrics: MetricsConsumer | None = None) -> None:
        self.id = component_id
        """The component id (``otlp``, ``otlp/internal``)."""
        receiver = str(component_id)
        key = f"receivers.{receiver}.protocols"
        self._stopping = False
        self._grpc: GRPCTraceServer | None = None
        self._http: HTTPTraceServer | None = None
        if config.grpc is not None:
            intake = Intake(receiver, "grpc", consumer, admission, telemetry, config.grpc.auth, metrics=metrics)
            self._grpc = GRPCTraceServer(config.grpc, intake, f"{key}.grpc.endpoint")
        if config.http is not None:
            intake = Intake(receiver, "http", consumer, admission, telemetry, config.http.auth, metrics=metrics)
            self._http = HTTPTraceServer(config.http, intake, f"{key}.http.endpoint")

    @property
    def grpc_address(self) -> HostPort | None:
        """Where OTLP/gRPC is served once started (``None`` when not configured or not started)."""
        return self._grpc.address if self._grpc is not None else None

    @property
    def http_address(self) -> HostPort | None:
        """Where OTLP/HTTP is served once started (``None`` when not configured or not started)."""
        return self._http.address if self._http is not None else None

    async def start(self) -> None:
        """Bind every configured transport; if one cannot bind, stop the other and raise its ``OSError``
        (the message names the endpoint and the configuration key)."""
        started: list[GRPCTraceServer | HTTPTraceServer] = []
        try:
            for server in (self._grpc, self._http):
                if server is not None:
                    await server.start()
                    started.append(server)
        except BaseException:
            for server in started:
                await server.stop(0)
            raise

    async def stop(self, grace: float) -> None:
        """Stop accepting connections and answer new requests with a retryable refusal, let requests in
        flight finish for up to ``grace`` seconds (both transports at once), then close everything."""
        self._stopping = True
        servers = [server for server in (self._grpc, self._http) if server is not None]
        # Both stop accepting before either waits for its requests in flight, so neither transport takes
        # new data while the other drains.
        for server in servers:
            await server.stop_accepting()
        await asyncio.gather(*(server.stop(grace) for server in servers))

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` has begun: new requests get a retryable refusal."""
        return self._stopping
