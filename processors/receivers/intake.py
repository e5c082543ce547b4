"""What both OTLP transports do with an export request, whatever its framing: shutdown and auth
checks, admission, hand-off to the pipeline, and the self-metrics of each outcome.

A transport drives one request through these steps and renders the outcome: success, or a
:class:`Rejection` (already counted) that carries the ``google.rpc.Status`` to answer with and the
HTTP status / gRPC code for it. Which refusals are retryable follows the OTLP specification:
malformed and oversized data is permanent (400 / 413, INVALID_ARGUMENT / RESOURCE_EXHAUSTED);
pressure, shutdown and internal faults are retryable (503 / UNAVAILABLE), so the sender keeps the
data. Reference: OTLP "Failures" and "Throttling", https://opentelemetry.io/docs/specs/otlp/#failures
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from driftline.processors.config.model import BearerTokenAuth, Signal
from driftline.processors.otlp.errors import (
    GrpcCode,
    MalformedPayload,
    OTLPRefusal,
    PayloadTooLarge,
)
from driftline.processors.otlp.signals import SIGNALS
from driftline.processors.otlp.status import http_status_for_grpc_code, refusal_status, rpc_status
from driftline.processors.pipeline.batch import Batch, MetricsBatch
from driftline.processors.pipeline.contracts import Admission, MetricsConsumer, Refused, TraceConsumer
from driftline.processors.receivers.auth import BearerTokenVerifier
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["REASONS", "Intake", "Rejection", "Transport"]

logger = logging.getLogger(__name__)

Transport = Literal["grpc", "http"]

MALFORMED = "malformed"
TOO_LARGE = "too_large"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
UNAUTHENTICATED = "unauthenticated"
BACKPRESSURE = "backpressure"
MEMORY_LIMIT = "memory_limit"
SHUTTING_DOWN = "shutting_down"

REASONS = frozenset({MALFORMED, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, UNAUTHENTICATED, BACKPRESSURE, MEMORY_LIMIT,
                     SHUTTING_DOWN})
"""The ``reason`` label values a receiver counts refusals under."""


class Rejection(Exception):
    """A failure answer to one request, already counted in the self-metrics.

    ``status`` is the ``google.rpc.Status`` body (HTTP) or ``grpc-status-details-bin`` trailer (gRPC);
    ``retry_after`` (seconds) is also sent as ``Retry-After`` on HTTP.
    """

    def __init__(self, status: Any, http_status: int, reason: str, retry_after: float | None = None) -> None:
        super().__init__(status.message)
        self.status = status
        self.http_status = http_status
        self.reason = reason
        self.retry_after = retry_after

    @property
    def grpc_code(self) -> GrpcCode:
        """The gRPC status code to answer with."""
        return GrpcCode(self.status.code)

    @classmethod
    def retryable(cls, message: str, reason: str, *, retry_after: float | None = None,
                  code: GrpcCode = GrpcCode.UNAVAILABLE) -> Rejection:
        """A refusal the client retries: UNAVAILABLE / 503 unless ``code`` says otherwise."""
        return cls(rpc_status(code, message, retry_after=retry_after), http_status_for_grpc_code(code), reason,
                   retry_after)


def _reason_of(error: OTLPRefusal) -> str:
    if isinstance(error, PayloadTooLarge):
        return TOO_LARGE
    if isinstance(error, MalformedPayload):
        return MALFORMED
    return UNSUPPORTED_MEDIA_TYPE  # media type or content encoding


class Intake:
    """The transport-independent steps of receiving one export request, for one transport.

    ``consumer`` takes trace batches and ``metrics`` metrics batches; ``None`` when the receiver is in no
    pipeline of that signal (the transports then do not serve it at all).
    Not thread-safe: it lives on the processor's event loop, like the servers that call it.
    """

    def __init__(self, receiver: str, transport: Transport, consumer: TraceConsumer | None, admission: Admission,
                 telemetry: SelfTelemetry, auth: BearerTokenAuth | None, *,
                 metrics: MetricsConsumer | None = None) -> None:
        self.receiver = receiver
        """The ``receiver`` metric label: the component id, e.g. ``otlp``."""
        self.transport: Transport = transport
        self._consumer = consumer
        self._metrics = metrics
        self._admission = admission
        self._telemetry = telemetry
        self._verifier = BearerTokenVerifier(auth) if auth is not None else None
        self._closing = False
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def signals(self) -> tuple[Signal, ...]:
        """The signals this intake hands on (the transports serve exactly these)."""
        served: list[Signal] = []
        if self._consumer is not None:
            served.append("traces")
        if self._metrics is not None:
            served.append("metrics")
        return tuple(served)

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called: new requests are refused retryably."""
        return self._closing

    def close(self) -> None:
        """Refuse every request from now on with UNAVAILABLE / 503 (reason ``shutting_down``)."""
        self._closing = True

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Count one request as in flight (gauge, and :meth:`drained`) for the duration of the block."""
        self._active += 1
        self._idle.clear()
        self._telemetry.in_flight(self.receiver, self.transport, 1)
        try:
            yield
        finally:
            self._telemetry.in_flight(self.receiver, self.transport, -1)
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def drained(self) -> None:
        """Return once no request is in flight."""
        await self._idle.wait()

    def admit(self, authorization: str | None) -> None:
        """Check, before anything is read, that the receiver is open and the caller authenticated.

        ``authorization`` is the ``authorization`` header (metadata) value, ``None`` when absent.
        """
        if self._closing:
            raise self._refuse_request(Rejection.retryable("the receiver is shutting down; retry later",
                                                           SHUTTING_DOWN))
        if self._verifier is not None and not self._verifier.verify(authorization):
            # The header value is never logged or echoed: it may be a near-miss of the real token.
            status = rpc_status(GrpcCode.UNAUTHENTICATED, "missing or invalid bearer token")
            raise self._refuse_request(Rejection(status, 401, UNAUTHENTICATED))

    @contextmanager
    def refusals(self) -> Iterator[None]:
        """Turn an :class:`~driftline.processors.otlp.errors.OTLPRefusal` raised in the block into a counted
        :class:`Rejection` (the spans of an unreadable request cannot be counted, so the request is)."""
        try:
            yield
        except OTLPRefusal as error:
            rejection = Rejection(refusal_status(error), error.http_status, _reason_of(error))
            raise self._refuse_request(rejection) from None

    @contextmanager
    def reserved(self, size: int) -> Iterator[None]:
        """Hold an admission reservation of ``size`` bytes for the block; refuse retryably when
        admission refuses (memory limit, in-flight budget)."""
        try:
            token = self._admission.reserve(size)
        except Refused as refused:
            raise self._refuse_request(_retry_refused(refused)) from None
        try:
            yield
        finally:
            self._admission.release(token)

    async def deliver(self, batch: Batch) -> None:
        """Hand ``batch`` to the pipelines of its signal and count the outcome (spans or data points); raise
        :class:`Rejection` unless it was taken.

        An empty request is a success that the pipeline never sees, as in the Collector.
        """
        items = batch.item_count
        if items == 0:
            return
        signal = batch.signal
        try:
            if isinstance(batch, MetricsBatch):
                assert self._metrics is not None, "metrics are served only with a metrics consumer"
                await self._metrics.consume(batch)
            else:
                assert self._consumer is not None, "traces are served only with a trace consumer"
                await self._consumer.consume(batch)
        except Refused as refused:
            rejection = _retry_refused(refused)
            self._telemetry.refused(self.receiver, self.transport, items, rejection.reason, signal)
            raise rejection from None
        except Exception as error:
            self._telemetry.failed(self.receiver, self.transport, items, signal)
            logger.error("receiver %s (%s) could not hand %d %s to the pipeline (%s); answered retryably so "
                         "the sender keeps them", self.receiver, self.transport, items, SIGNALS[signal].items,
                         type(error).__name__, exc_info=True)
            raise Rejection.retryable("internal error while handing the data on; retry later", BACKPRESSURE) \
                from None
        self._telemetry.accepted(self.receiver, self.transport, items, signal)

    def _refuse_request(self, rejection: Rejection) -> Rejection:
        self._telemetry.refused_request(self.receiver, self.transport, rejection.reason)
        logger.debug("receiver %s (%s) refused a request: %s", self.receiver, self.transport, rejection.reason)
        return rejection


def _retry_refused(refused: Refused) -> Rejection:
    reason = refused.reason if refused.reason in REASONS else BACKPRESSURE
    return Rejection.retryable(str(refused) or "the processor cannot take data now; retry later", reason,
                               retry_after=refused.retry_after, code=refused.grpc_code)
