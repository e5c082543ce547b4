"""Scriptable OTLP backends on loopback for exporter tests: one gRPC, one HTTP, same interface.

Each records every request it receives (:class:`Received`: raw bytes, parsed request, headers,
arrival time) and answers from a script of :class:`Reply` values, then with plain success once the
script is used up. Replies can fail with a chosen gRPC code / HTTP status, carry a ``RetryInfo``
detail or ``Retry-After`` header, answer a partial success, or take a while (a slow backend).
Both run on the test's event loop; ``await backend.wait_for(n)`` replaces sleeping.

    async with ScriptedGrpcBackend() as backend:
        backend.script(Reply.fail(GrpcCode.UNAVAILABLE), Reply.ok())
        ...  # export to backend.endpoint
        await backend.wait_for(2)
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]
import grpc.aio  # type: ignore[import-untyped, unused-ignore]
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.otlp.status import (
    GRPC_STATUS_DETAILS_KEY,
    export_response,
    format_retry_after,
    http_status_for_grpc_code,
    rpc_status,
)

__all__ = ["ByteCountingProxy", "Received", "Reply", "ScriptedGrpcBackend", "ScriptedHttpBackend", "TLSFiles"]

_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``code`` is the gRPC code (HTTP backend: ``status`` if given, else the code's usual status);
    ``retry_after`` adds ``RetryInfo`` (gRPC) / ``Retry-After`` (HTTP); ``rejected`` > 0 answers a
    partial success; ``delay`` holds the answer back that many seconds (a slow backend).
    """

    code: GrpcCode = GrpcCode.OK
    message: str = ""
    status: int | None = None
    retry_after: float | None = None
    rejected: int = 0
    delay: float = 0.0

    @classmethod
    def ok(cls, *, delay: float = 0.0) -> Reply:
        """Full success."""
        return cls(delay=delay)

    @classmethod
    def partial(cls, rejected: int, message: str = "some spans were rejected") -> Reply:
        """Success with ``rejected`` spans refused."""
        return cls(rejected=rejected, message=message)

    @classmethod
    def fail(cls, code: GrpcCode, message: str = "scripted failure", *, retry_after: float | None = None,
             status: int | None = None, delay: float = 0.0) -> Reply:
        """A failure with ``code`` (and, for HTTP, ``status``)."""
        return cls(code=code, message=message, status=status, retry_after=retry_after, delay=delay)

    @classmethod
    def http(cls, status: int, *, retry_after: float | None = None) -> Reply:
        """An HTTP failure with ``status`` (the gRPC backend answers UNKNOWN)."""
        return cls(code=GrpcCode.UNKNOWN, status=status, retry_after=retry_after)


@dataclass(frozen=True)
class Received:
    """One request as the backend saw it: decompressed ``payload`` bytes, the parsed ``request``,
    the lower-cased ``headers`` / metadata, and the ``time.monotonic()`` of its arrival."""

    payload: bytes
    request: ExportTraceServiceRequest
    headers: dict[str, str]
    at: float


@dataclass(frozen=True)
class TLSFiles:
    """Server-side TLS: certificate and key; ``client_ca`` set = mutual TLS required."""

    cert_file: str
    key_file: str
    client_ca: str | None = None


@dataclass
class _Recorder:
    received: list[Received] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if self.replies else Reply.ok()

    async def record(self, payload: bytes, headers: dict[str, str]) -> None:
        request = ExportTraceServiceRequest.FromString(payload)
        async with self.changed:
            self.received.append(Received(payload, request, headers, time.monotonic()))
            self.changed.notify_all()

    async def wait_for(self, count: int, timeout: float) -> list[Received]:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: len(self.received) >= count), timeout)
            return list(self.received)


class _Backend:
    """What both backends share: the script and the record of received requests."""

    def __init__(self) -> None:
        self._recorder = _Recorder()

    @property
    def received(self) -> list[Received]:
        """Every request received so far, in arrival order."""
        return self._recorder.received

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order (then success)."""
        self._recorder.replies.extend(replies)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests have arrived (``TimeoutError`` after ``timeout``)."""
        return await self._recorder.wait_for(count, timeout)

    def spans(self) -> list[Any]:
        """Every span received, in arrival order."""
        return [span for r in self.received for rs in r.request.resource_spans for ss in rs.scope_spans
                for span in ss.spans]


class ScriptedGrpcBackend(_Backend):
    """A ``grpc.aio`` server implementing ``TraceService/Export`` on raw bytes.

    ``port`` 0 picks a free one; give a fixed port to restart a backend where an exporter expects it.
    """

    def __init__(self, *, port: int = 0, tls: TLSFiles | None = None) -> None:
        super().__init__()
        self._requested_port = port
        self._tls = tls
        self._server: Any = None
        self.port = 0
        """The bound port (after start)."""

    @property
    def endpoint(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        handler = grpc.method_handlers_generic_handler(_SERVICE, {
            "Export": grpc.unary_unary_rpc_method_handler(self._export, request_deserializer=None,
                                                          response_serializer=None)})
        self._server = grpc.aio.server(handlers=(handler,), options=[("grpc.max_receive_message_length", -1),
                                                                      ("grpc.so_reuseport", 0)])
        address = f"127.0.0.1:{self._requested_port}"
        if self._tls is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, _grpc_server_credentials(self._tls))
        await self._server.start()

    async def stop(self) -> None:
        """Stop serving (no grace: in-flight calls are cancelled)."""
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    async def __aenter__(self) -> ScriptedGrpcBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _export(self, payload: bytes, context: Any) -> bytes:
        headers = {k.lower(): v if isinstance(v, str) else v.decode("latin-1")
                   for k, v in context.invocation_metadata() or ()}
        await self._recorder.record(payload, headers)
        reply = self._recorder.next_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)  # the backend is slow: part of the scenario, not a wait
        if reply.code != GrpcCode.OK:
            status = rpc_status(reply.code, reply.message, retry_after=reply.retry_after)
            await context.abort(grpc.StatusCode[reply.code.name], reply.message,
                                trailing_metadata=((GRPC_STATUS_DETAILS_KEY, status.SerializeToString()),))
        return bytes(export_response(reply.rejected, reply.message if reply.rejected else "").SerializeToString())


class ScriptedHttpBackend(_Backend):
    """An ``aiohttp`` server answering ``POST /v1/traces`` (protobuf, optionally gzip: ``Received.payload`` is
    inflated, ``headers["content-length"]`` is what travelled)."""

    def __init__(self, *, port: int = 0, tls: TLSFiles | None = None) -> None:
        super().__init__()
        self._requested_port = port
        self._tls = tls
        self._runner: web.AppRunner | None = None
        self.port = 0
        """The bound port (after start)."""

    @property
    def endpoint(self) -> str:
        """The base URL, ``http(s)://127.0.0.1:<port>`` (the exporter appends ``/v1/traces``)."""
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = _server_ssl_context(self._tls) if self._tls else None
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port, ssl_context=context)
        await site.start()
        server = site._server  # aiohttp keeps the bound port here; a fixed port would not need it
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ScriptedHttpBackend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _export(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp inflates a gzip body; Content-Length is the size on the wire
        headers = {k.lower(): v for k, v in request.headers.items()}
        await self._recorder.record(body, headers)
        reply = self._recorder.next_reply()
        if reply.delay:
            await asyncio.sleep(reply.delay)  # the backend is slow: part of the scenario, not a wait
        protobuf = "application/x-protobuf"
        if reply.code == GrpcCode.OK and reply.status is None:
            answer = export_response(reply.rejected, reply.message if reply.rejected else "")
            return web.Response(body=answer.SerializeToString(), content_type=protobuf)
        status = reply.status if reply.status is not None else http_status_for_grpc_code(reply.code)
        extra = {} if reply.retry_after is None else {"Retry-After": format_retry_after(reply.retry_after)}
        body_status = rpc_status(reply.code, reply.message)
        return web.Response(status=status, body=body_status.SerializeToString(), content_type=protobuf,
                            headers=extra)


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as file:
        return file.read()


def _grpc_server_credentials(tls: TLSFiles) -> Any:
    key, cert = _read(tls.key_file), _read(tls.cert_file)
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=_read(tls.client_ca),
                                       require_client_auth=tls.client_ca is not None)


def _server_ssl_context(tls: TLSFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca:
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def received_names(received: Iterable[Received]) -> list[str]:
    """The span names of ``received``, in order (tests name spans to identify batches)."""
    return [span.name for r in received for rs in r.request.resource_spans for ss in rs.scope_spans
            for span in ss.spans]


class ByteCountingProxy:
    """A TCP relay on loopback to ``target_port`` that counts the bytes clients send through it:
    what compression actually put on the wire."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self.upstream_bytes = 0
        """Bytes clients sent towards the target so far."""
        self.port = 0
        """The proxy's port (after start)."""

    async def __aenter__(self) -> ByteCountingProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection("127.0.0.1", self._target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, count: bool) -> None:
            try:
                while chunk := await src.read(65536):
                    if count:
                        self.upstream_bytes += len(chunk)
                    dst.write(chunk)
                    await dst.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, target_writer, True), pump(target_reader, writer, False))
