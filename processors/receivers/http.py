"""OTLP/HTTP: ``POST /v1/traces`` (or ``traces_url_path``) and ``POST /v1/metrics`` (each only when its
signal has a pipeline) on an aiohttp server.

Everything that can be decided from the headers is decided before the body is read (and before
``100 Continue`` is sent to a client that asked for it): shutdown, bearer token, ``Content-Type``
(415), a declared ``Content-Length`` over ``max_request_body_size`` (413) and admission. The body is
then read with a cap (chunked bodies included) and decompressed with the same cap, so neither a large
upload nor a gzip bomb costs more than the limit. aiohttp's own request decompression is off: it would
inflate without that bound.

Answers are in the request's media type: ``Export{Trace,Metrics}ServiceResponse`` on success, a
``google.rpc.Status`` on failure (protobuf when the request's type is not one of the two).
Reference: OTLP specification, "OTLP/HTTP" (https://opentelemetry.io/docs/specs/otlp/#otlphttp).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import ssl
from collections.abc import Callable

from aiohttp import ClientConnectionError, ClientPayloadError, HttpVersion11, hdrs, web
from aiohttp.http_exceptions import HttpProcessingError

from driftline.processors.config.model import HostPort, HTTPReceiverSettings
from driftline.processors.otlp.admission import MediaType, decompress, parse_content_type
from driftline.processors.otlp.errors import MalformedPayload, OTLPRefusal, PayloadTooLarge
from driftline.processors.otlp.json_codec import decode_json, decode_trace_request
from driftline.processors.otlp.signals import METRICS
from driftline.processors.otlp.status import (
    encode_export_response,
    encode_rpc_status,
    export_response,
    format_retry_after,
)
from driftline.processors.pipeline.batch import Batch, MetricsBatch, TraceBatch
from driftline.processors.receivers.intake import SHUTTING_DOWN, Intake, Rejection
from driftline.processors.receivers.tls import http_ssl_context

__all__ = ["METRICS_URL_PATH", "HTTPTraceServer"]

METRICS_URL_PATH = "/v1/metrics"
"""Where OTLP/HTTP metrics are posted (the OTLP default; ``metrics_url_path`` is not configurable yet)."""

_EXPORT_OK = {media: encode_export_response(export_response(), media) for media in MediaType}

class _WithoutRequestText(logging.Filter):
    """aiohttp's errors for unparsable requests quote the offending line, header values included (a bearer
    token, say): log such an error by its type alone, at debug (it is the client's fault, and on a public
    port a common one). Other errors keep their level and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.msg} ({type(error).__name__}, HTTP {error.code})"
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


_server_logger = logging.getLogger(f"{__name__}.server")
_server_logger.addFilter(_WithoutRequestText())

_CANCEL_AFTER = 0.05
"""Seconds aiohttp's own shutdown waits for handlers. :meth:`HTTPTraceServer.stop` has already
waited out the grace period by then, so what is still running is cancelled (almost) at once."""


class HTTPTraceServer:
    """One OTLP/HTTP endpoint. ``config_key`` is where its endpoint is configured, for error messages."""

    def __init__(self, settings: HTTPReceiverSettings, intake: Intake, config_key: str) -> None:
        self._settings = settings
        self._intake = intake
        self._config_key = config_key
        self._runner: web.AppRunner | None = None
        self.address: HostPort | None = None
        """The bound address once started (the real port when the configured one is 0)."""

    async def start(self) -> None:
        """Bind and start serving; ``OSError`` naming the endpoint and its key when the address is taken."""
        settings = self._settings
        ssl_context: ssl.SSLContext | None = http_ssl_context(settings.tls) if settings.tls is not None else None
        app = web.Application()
        if "traces" in self._intake.signals:
            app.router.add_route(hdrs.METH_POST, settings.traces_url_path, self._export, expect_handler=_expect)
        if "metrics" in self._intake.signals:
            app.router.add_route(hdrs.METH_POST, METRICS_URL_PATH, self._export_metrics, expect_handler=_expect)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, auto_decompress=False,
                               logger=_server_logger, shutdown_timeout=_CANCEL_AFTER)
        await runner.setup()
        endpoint = settings.endpoint
        site = web.TCPSite(runner, endpoint.host or None, endpoint.port, ssl_context=ssl_context)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise OSError(error.errno or errno.EADDRNOTAVAIL,
                          f"the OTLP/HTTP receiver cannot listen on {endpoint} ({reason}); change "
                          f"{self._config_key} or free the port") from error
        self._runner = runner
        self.address = HostPort(endpoint.host, site.port)

    async def stop_accepting(self) -> None:
        """Close the listening socket; requests arriving on open connections are answered 503 from now on."""
        self._intake.close()
        if self._runner is not None:
            for site in list(self._runner.sites):
                await site.stop()

    async def stop(self, grace: float) -> None:
        """:meth:`stop_accepting`, let requests in flight finish for up to ``grace`` seconds, then cancel
        what is left and close every connection."""
        await self.stop_accepting()
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        try:
            await asyncio.wait_for(self._intake.drained(), grace)
        except asyncio.TimeoutError:
            pass
        await runner.cleanup()

    async def _export(self, request: web.Request) -> web.StreamResponse:
        """``POST traces_url_path``: the hot path of every OTLP/HTTP trace request."""
        return await self._handle(request, _decode_traces)

    async def _export_metrics(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/metrics``."""
        return await self._handle(request, _decode_metrics)

    async def _handle(self, request: web.Request,
                      decode: Callable[[bytes, MediaType], Batch]) -> web.StreamResponse:
        intake = self._intake
        limit = self._settings.max_request_body_size
        headers = request.headers
        content_type = headers.get(hdrs.CONTENT_TYPE)
        with intake.in_flight():
            try:
                intake.admit(headers.get(hdrs.AUTHORIZATION))
                with intake.refusals():
                    media = parse_content_type(content_type)
                    declared = request.content_length
                    if declared is not None and declared > limit:
                        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the {limit}-byte limit")
                raw: bytes | None = None
                if declared is None:
                    # Chunked: the size is known only once the (capped) body is in.
                    with intake.refusals():
                        raw = await _read_body(request, limit)
                    declared = len(raw)
                with intake.reserved(declared):
                    with intake.refusals():
                        if raw is None:
                            raw = await _read_body(request, limit)
                        body = decompress(raw, headers.get(hdrs.CONTENT_ENCODING), limit)
                        batch = decode(body, media)
                    await intake.deliver(batch)
            except Rejection as rejection:
                return _failure(rejection, _answer_media(content_type), body_unread=not request.content.is_eof())
        return web.Response(body=_EXPORT_OK[media], content_type=media.value)


def _decode_traces(body: bytes, media: MediaType) -> Batch:
    return TraceBatch(decode_trace_request(body)) if media is MediaType.JSON else TraceBatch.from_protobuf(body)


def _decode_metrics(body: bytes, media: MediaType) -> Batch:
    if media is MediaType.JSON:
        return MetricsBatch(decode_json(body, METRICS.request_type))
    return MetricsBatch.from_protobuf(body)


async def _expect(request: web.Request) -> None:
    """``Expect`` handling: ``100 Continue`` is not sent here but when the body is read, once the
    headers have passed every check (as Go's server, hence the Collector, does), so a client that
    waits for it never uploads a body that is refused anyway."""
    if request.headers.get(hdrs.EXPECT, "").lower() != "100-continue":
        raise web.HTTPExpectationFailed()


async def _continue_if_expected(request: web.Request) -> None:
    if request.version == HttpVersion11 and request.headers.get(hdrs.EXPECT, "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0  # as aiohttp's own handler: the interim answer is not the response


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes (``PayloadTooLarge`` beyond); chunked bodies included."""
    await _continue_if_expected(request)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the {limit}-byte limit")
            chunks.append(chunk)
    except (ClientPayloadError, ClientConnectionError, ConnectionError):
        raise MalformedPayload("the request body ended before it was complete") from None
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


def _answer_media(content_type: str | None) -> MediaType:
    # A failure body is protobuf unless the request was JSON (OTLP/HTTP "Failures").
    try:
        return parse_content_type(content_type)
    except OTLPRefusal:
        return MediaType.PROTOBUF


def _failure(rejection: Rejection, media: MediaType, *, body_unread: bool) -> web.Response:
    response = web.Response(status=rejection.http_status, body=encode_rpc_status(rejection.status, media),
                            content_type=media.value)
    if rejection.retry_after is not None:
        response.headers[hdrs.RETRY_AFTER] = format_retry_after(rejection.retry_after)
    if rejection.http_status == 401:
        response.headers[hdrs.WWW_AUTHENTICATE] = "Bearer"
    if body_unread or rejection.reason == SHUTTING_DOWN:
        # aiohttp drains what the client is still sending (so it can read this answer) and then closes,
        # rather than reading an unwanted body into the next request; after shutdown the client
        # should reconnect, finding the server gone or its replacement.
        response.force_close()
    return response
