"""Test collaborators for the receivers (a recording pipeline, a scriptable admission) and thin clients:
raw-bytes OTLP/gRPC over a real ``grpc.aio`` channel and OTLP/HTTP over ``aiohttp``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import grpc
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.config.model import ComponentId, HostPort, OTLPReceiverConfig
from driftline.processors.otlp.admission import MediaType
from driftline.processors.otlp.status import decode_rpc_status, status_details
from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.pipeline.contracts import Refused
from driftline.processors.receivers import OTLPReceiver
from driftline.processors.telemetry import SelfTelemetry
from driftline.semconv import names

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
REQUEST_TIMEOUT = 10.0
"""Seconds any one test request may take: a hang fails the test instead of the run."""


class RecordingConsumer:
    """The pipeline as a list. ``refuse`` / ``fail`` script the next answers; ``hold()`` keeps
    ``consume`` waiting until ``release()`` (``until_waiting(n)`` returns once ``n`` batches wait there)."""

    def __init__(self) -> None:
        self.batches: list[TraceBatch] = []
        self.refuse: Refused | None = None
        self.fail: Exception | None = None
        self.waiting = 0
        self._arrivals = asyncio.Condition()
        self._gate: asyncio.Event | None = None

    def hold(self) -> None:
        self._gate = asyncio.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()

    async def until_waiting(self, count: int) -> None:
        """Return once ``count`` batches are held in ``consume``."""
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.waiting >= count)

    async def consume(self, batch: TraceBatch) -> None:
        if self._gate is not None:
            async with self._arrivals:
                self.waiting += 1
                self._arrivals.notify_all()
            try:
                await self._gate.wait()
            finally:
                self.waiting -= 1
        if self.refuse is not None:
            raise self.refuse
        if self.fail is not None:
            raise self.fail
        self.batches.append(batch)

    @property
    def span_count(self) -> int:
        return sum(batch.span_count for batch in self.batches)


class ScriptedAdmission:
    """Admits everything unless ``refuse`` is set; remembers every reservation and checks releases."""

    def __init__(self) -> None:
        self.refuse: Refused | None = None
        self.sizes: list[int] = []
        self.outstanding: set[int] = set()
        self._next = 0

    def reserve(self, size: int) -> int:
        if self.refuse is not None:
            raise self.refuse
        self._next += 1
        self.sizes.append(size)
        self.outstanding.add(self._next)
        return self._next

    def release(self, token: int) -> None:
        self.outstanding.remove(token)


@dataclass
class Harness:
    """A started receiver with its collaborators."""

    receiver: OTLPReceiver
    consumer: RecordingConsumer
    admission: ScriptedAdmission
    telemetry: SelfTelemetry
    scheme: str = "http"
    clients: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The OTLP/HTTP traces URL (default path)."""
        address = self.receiver.http_address
        assert address is not None
        return f"{self.scheme}://{address}/v1/traces"

    @property
    def grpc_target(self) -> str:
        address = self.receiver.grpc_address
        assert address is not None
        return str(address)

    def count(self, metric: str, transport: str, **labels: str) -> float:
        """A receiver self-metric for receiver ``otlp`` on ``transport``."""
        return self.telemetry.value(metric, receiver="otlp", transport=transport, **labels)

    def accepted(self, transport: str) -> float:
        return self.count(names.DRIFTLINE_RECEIVER_ACCEPTED_SPANS, transport)

    def refused_requests(self, transport: str, reason: str) -> float:
        return self.count(names.DRIFTLINE_RECEIVER_REFUSED_REQUESTS, transport, reason=reason)


async def start_receiver(config: OTLPReceiverConfig, *, name: str = "") -> Harness:
    consumer, admission, telemetry = RecordingConsumer(), ScriptedAdmission(), SelfTelemetry()
    receiver = OTLPReceiver(ComponentId("otlp", name), config, consumer, admission, telemetry)
    await receiver.start()
    return Harness(receiver, consumer, admission, telemetry)


def loopback(port: int = 0) -> HostPort:
    return HostPort("127.0.0.1", port)


# --- gRPC ---------------------------------------------------------------------------------------

class GrpcClient:
    """Raw-bytes calls to ``TraceService/Export`` over one channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._export = channel.unary_unary(EXPORT_METHOD)

    @classmethod
    def insecure(cls, target: str) -> GrpcClient:
        return cls(grpc.aio.insecure_channel(target))

    async def export(self, body: bytes, *, gzip: bool = False, metadata: Any = None) -> bytes:
        """The response bytes; raises ``grpc.aio.AioRpcError`` on failure."""
        compression = grpc.Compression.Gzip if gzip else None
        response: bytes = await self._export(body, timeout=REQUEST_TIMEOUT, compression=compression,
                                             metadata=metadata)
        return response

    async def failure(self, body: bytes, **kwargs: Any) -> tuple[grpc.StatusCode, Any]:
        """The code and ``google.rpc.Status`` trailer of a call that must fail."""
        try:
            await self.export(body, **kwargs)
        except grpc.aio.AioRpcError as error:
            return error.code(), grpc_status_details(error)
        raise AssertionError("the call succeeded")

    async def close(self) -> None:
        await self.channel.close()


def grpc_status_details(error: Any) -> Any:
    """The ``google.rpc.Status`` in an ``AioRpcError``'s trailers, or ``None``."""
    details = status_details(error.trailing_metadata())
    return None if details is None else decode_rpc_status(details)


# --- google.rpc.Status details --------------------------------------------------------------------

def retry_delay(status: Any) -> float | None:
    for detail in status.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info = error_details_pb2.RetryInfo()
            detail.Unpack(info)
            return float(info.retry_delay.ToNanoseconds()) / 1e9
    return None


def field_violations(status: Any) -> list[tuple[str, str]]:
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [(v.field, v.description) for v in bad.field_violations]
    return []


# --- HTTP ---------------------------------------------------------------------------------------

@dataclass
class HttpAnswer:
    status: int
    content_type: str
    headers: Any
    body: bytes

    def rpc_status(self) -> Any:
        """The body as a ``google.rpc.Status`` in the answer's media type."""
        media = MediaType.JSON if self.content_type == MediaType.JSON.value else MediaType.PROTOBUF
        status = decode_rpc_status(self.body, media)
        assert status is not None, self.body[:200]
        return status


async def post(session: aiohttp.ClientSession, url: str, body: Any, *, content_type: str | None =
               "application/x-protobuf", headers: dict[str, str] | None = None, **kwargs: Any) -> HttpAnswer:
    """POST ``body`` (bytes, or an async generator for a chunked body) and read the whole answer."""
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    async with session.post(url, data=body, headers=sent, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT),
                            **kwargs) as response:
        return HttpAnswer(response.status, response.content_type, response.headers, await response.read())


def sample_request(spans: int = 3) -> ExportTraceServiceRequest:
    """A small request with every attribute type and ids set."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "receiver-test"
    scope = resource_spans.scope_spans.add()
    scope.scope.name = "tests"
    for i in range(spans):
        span = scope.spans.add()
        span.trace_id = bytes([i + 1]) * 16
        span.span_id = bytes([i + 101]) * 8
        span.name = f"span {i}"
        span.kind = 3
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = 1_700_000_000_000_000_500 + i
        for key, kind, value in (("s", "string_value", "v"), ("i", "int_value", 2**62 + i),
                                 ("d", "double_value", 0.5), ("b", "bool_value", True)):
            kv = span.attributes.add()
            kv.key = key
            setattr(kv.value, kind, value)
    return request
