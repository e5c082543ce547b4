"""The ``otlp`` exporter: OTLP/gRPC ``TraceService/Export`` (or ``MetricsService/Export``) over a ``grpc.aio``
channel."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

from driftline.processors.config.model import ComponentId, OTLPExporterConfig
from driftline.processors.exporters.base import QueuedExporter
from driftline.processors.exporters.retry import Outcome
from driftline.processors.exporters.tls import grpc_credentials
from driftline.processors.otlp.signals import TRACES, OTLPSignal
from driftline.processors.otlp.status import grpc_retry_advice, status_details
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["EXPORT_METHOD", "OTLPGrpcExporter"]

EXPORT_METHOD = TRACES.grpc_method
"""The OTLP/gRPC trace export method."""

_MAX_MESSAGE_TEXT = 300  # a backend's error text is logged, but a runaway one is cut short


class OTLPGrpcExporter(QueuedExporter):
    """Sends each queued request's protobuf bytes unchanged to ``signal``'s ``Export`` method.

    TLS per ``config.secure`` (``tls.ca_file``, client certificate for mTLS, ``server_name_override``
    as ``grpc.ssl_target_name_override``); ``headers`` become call metadata; ``compression: gzip``
    compresses every call. Message size limits are lifted on both directions: the receiver already
    bounded the request, and a backend's answer is small.
    """

    def __init__(self, component_id: ComponentId, config: OTLPExporterConfig, telemetry: SelfTelemetry, *,
                 signal: OTLPSignal = TRACES) -> None:
        super().__init__(component_id, telemetry, retry=config.retry_on_failure, queue=config.sending_queue,
                         timeout=config.timeout, signal=signal)
        self._config = config
        self._metadata = tuple(config.headers.items())
        self._channel: grpc.aio.Channel | None = None
        self._export: Any = None

    async def _open(self) -> None:
        config = self._config
        options: list[tuple[str, Any]] = [("grpc.max_send_message_length", -1),
                                          ("grpc.max_receive_message_length", -1)]
        compression = grpc.Compression.Gzip if config.compression == "gzip" else grpc.Compression.NoCompression
        target = str(config.endpoint)
        if config.secure:
            if config.tls.server_name_override:
                options.append(("grpc.ssl_target_name_override", config.tls.server_name_override))
            credentials = await asyncio.to_thread(grpc_credentials, config.tls)
            self._channel = grpc.aio.secure_channel(target, credentials, options=options, compression=compression)
        else:
            self._channel = grpc.aio.insecure_channel(target, options=options, compression=compression)
        # No serializers: the payload goes out as received, and the answer comes back as bytes.
        self._export = self._channel.unary_unary(self.signal.grpc_method, request_serializer=None,
                                                 response_deserializer=None)

    async def _send(self, payload: bytes) -> Outcome:
        try:
            answer = await self._export(payload, timeout=self._timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            return _failure(error)
        response = self.signal.response_type()
        try:
            response.ParseFromString(bytes(answer))
        except DecodeError:
            return Outcome.success(message=f"the backend's answer is not an {self.signal.response_type.__name__}")
        return Outcome.success(self.signal.rejected(response),
                               response.partial_success.error_message[:_MAX_MESSAGE_TEXT])

    async def _close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def _failure(error: grpc.aio.AioRpcError) -> Outcome:
    """Read a failed call: its code, and the ``RetryInfo`` hint in the status-details trailer."""
    code = error.code()
    details = status_details(error.trailing_metadata())
    text = (error.details() or "")[:_MAX_MESSAGE_TEXT]
    return Outcome.failure(grpc_retry_advice(code.value[0], details), f"gRPC {code.name}: {text}")
