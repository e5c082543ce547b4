"""The ``otlphttp`` exporter: OTLP/HTTP protobuf ``POST`` with one ``aiohttp`` session per exporter."""

from __future__ import annotations

import asyncio
import ssl
import zlib

import aiohttp
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]

from driftline.processors.config.model import ComponentId, OTLPHTTPExporterConfig
from driftline.processors.exporters.base import QueuedExporter
from driftline.processors.exporters.retry import Outcome
from driftline.processors.exporters.tls import ssl_context
from driftline.processors.otlp.admission import MediaType, parse_content_type
from driftline.processors.otlp.errors import UnsupportedMediaType
from driftline.processors.otlp.signals import TRACES, OTLPSignal
from driftline.processors.otlp.status import decode_rpc_status, http_retry_advice
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["OTLPHttpExporter", "gzip_body"]

_MAX_MESSAGE_TEXT = 300  # a backend's error text is logged, but a runaway one is cut short
_MAX_ERROR_BODY = 64 * 1024  # enough for any google.rpc.Status; the rest of an error page is not read
_MAX_SUCCESS_BODY = 1024 * 1024  # an Export*ServiceResponse is a count and a message

_INLINE_GZIP_LIMIT = 64 * 1024
"""Bodies up to this size are gzipped on the event loop. Measured with zlib level 6 on this
project's machines: ~1.3 ms for 64 KiB of incompressible bytes (less for span text), ~10 ms for
1.3 MiB. A thread hop costs ~50 µs, worth it only for the larger bodies (zlib releases the GIL)."""


def gzip_body(payload: bytes) -> bytes:
    """``payload`` as a gzip member (level 6, the Go default the Collector uses)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return compressor.compress(payload) + compressor.flush()


class OTLPHttpExporter(QueuedExporter):
    """POSTs each queued request's protobuf bytes to ``config.url_for(signal)`` (``/v1/traces``, ``/v1/metrics``).

    2xx answers are read for a partial success (an empty body is a full success); other statuses
    are retried or dropped per OTLP/HTTP (429/502/503/504 retryable, ``Retry-After`` honoured), and
    the ``google.rpc.Status`` body, if any, supplies the logged message.
    """

    def __init__(self, component_id: ComponentId, config: OTLPHTTPExporterConfig,
                 telemetry: SelfTelemetry, *, signal: OTLPSignal = TRACES) -> None:
        super().__init__(component_id, telemetry, retry=config.retry_on_failure, queue=config.sending_queue,
                         timeout=config.timeout, signal=signal)
        self._config = config
        self._url = config.url_for(signal.signal)
        self._headers = {**config.headers, "Content-Type": MediaType.PROTOBUF.value}
        if config.compression == "gzip":
            self._headers["Content-Encoding"] = "gzip"
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | bool = True

    async def _open(self) -> None:
        if self._config.uses_tls(self.signal.signal):
            self._ssl = await asyncio.to_thread(ssl_context, self._config.tls)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def _send(self, payload: bytes) -> Outcome:
        assert self._session is not None
        body = payload
        if self._config.compression == "gzip":
            body = gzip_body(payload) if len(payload) <= _INLINE_GZIP_LIMIT else \
                await asyncio.to_thread(gzip_body, payload)
        try:
            async with self._session.post(self._url, data=body, headers=self._headers, ssl=self._ssl,
                                          server_hostname=self._config.tls.server_name_override) as response:
                if 200 <= response.status < 300:
                    return _success(await _read_capped(response, _MAX_SUCCESS_BODY), self.signal)
                text = await _status_message(response)
                advice = http_retry_advice(response.status, response.headers.get("Retry-After"))
                return Outcome.failure(advice, f"HTTP {response.status}: {text}")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            return Outcome.transient(f"cannot reach the backend: {type(error).__name__}")

    async def _close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _success(body: bytes, signal: OTLPSignal) -> Outcome:
    response = signal.response_type()
    try:
        response.ParseFromString(body)
    except DecodeError:
        return Outcome.success(message=f"the backend's answer is not an {signal.response_type.__name__}")
    return Outcome.success(signal.rejected(response), response.partial_success.error_message[:_MAX_MESSAGE_TEXT])


async def _status_message(response: aiohttp.ClientResponse) -> str:
    """The ``google.rpc.Status`` message of an error answer, if it has one."""
    body = await _read_capped(response, _MAX_ERROR_BODY)
    try:
        media = parse_content_type(response.headers.get("Content-Type"))
    except UnsupportedMediaType:
        return response.reason or ""
    status = decode_rpc_status(body, media)
    message = str(status.message) if status is not None and status.message else (response.reason or "")
    return message[:_MAX_MESSAGE_TEXT]


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the (decompressed) body: a backend's answer is small, and a huge or
    endless one must not fill memory."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await response.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
