"""The interfaces between the processor's stages: receivers → pipeline → exporters.

Receivers know only :class:`TraceConsumer` and :class:`MetricsConsumer`; exporters implement :class:`Exporter`; analysis
hooks implement :class:`AnalysisHook`. The service (``driftline.processors.service``) wires them
from the configuration, so a new receiver, exporter or hook touches none of the others.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from driftline.processors.config.model import HostPort
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.pipeline.batch import Batch, MetricsBatch, TraceBatch

__all__ = ["Admission", "AnalysisHook", "Exporter", "MetricsConsumer", "Receiver", "Refused", "TraceConsumer"]


class Refused(Exception):
    """The pipeline cannot take a batch now; the receiver answers retryably.

    ``grpc_code`` is UNAVAILABLE (HTTP 503) for memory pressure and full queues, the codes OTLP
    clients retry; ``retry_after`` (seconds) becomes gRPC ``RetryInfo`` / HTTP ``Retry-After``.
    ``reason`` is the metric label (``backpressure``, ``memory_limit``, ``shutting_down``).
    """

    def __init__(self, message: str, *, reason: str, retry_after: float = 1.0,
                 grpc_code: GrpcCode = GrpcCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
        self.grpc_code = grpc_code


class Admission(Protocol):
    """Decides, before a body is read and parsed, whether the processor can take ``size`` more bytes.

    ``reserve`` raises :class:`Refused` (memory limit, in-flight budget exhausted) or returns a
    token that the receiver passes to ``release`` once the request has been handed on or refused.
    """

    def reserve(self, size: int) -> int: ...

    def release(self, token: int) -> None: ...


class TraceConsumer(Protocol):
    """What a receiver hands accepted batches to (the pipeline)."""

    async def consume(self, batch: TraceBatch) -> None:
        """Take ``batch`` or raise :class:`Refused`; returns once every exporter's queue holds it
        (for a persistent queue: once it is on disk), so the receiver may then answer success."""
        ...


class MetricsConsumer(Protocol):
    """What a receiver hands accepted metrics batches to (the metrics pipelines)."""

    async def consume(self, batch: MetricsBatch) -> None:
        """Take ``batch`` or raise :class:`Refused`, as :meth:`TraceConsumer.consume`."""
        ...


@runtime_checkable
class Exporter(Protocol):
    """An exporter with its own sending queue and retry loop.

    ``id`` is the component id (``otlp/jaeger``), used as the ``exporter`` metric label.
    """

    id: str

    def can_accept(self) -> bool:
        """True if :meth:`offer` would take one more batch now (the pipeline checks every exporter
        first, so a batch goes to all of them or none and a retried request makes no duplicates)."""
        ...

    async def offer(self, batch: Batch) -> bool:
        """Put ``batch`` in the sending queue; False (and counted as enqueue-failed) when full. An exporter
        is offered batches of the signals of the pipelines it was built for."""
        ...

    async def start(self) -> None:
        """Open connections, recover a persistent queue, start the consumers."""
        ...

    async def shutdown(self, deadline: float) -> None:
        """Stop taking batches, send what is queued until ``deadline`` (``time.monotonic()``), then
        keep the rest (persistent queue) or drop and count it (in-memory queue), and close."""
        ...


class AnalysisHook(Protocol):
    """A stage between receive and export that sees decoded spans.

    ``enriches`` hooks run before the batch is queued for export and may add attributes (then call
    ``batch.mark_modified()``); other hooks run after it is queued, from a bounded backlog, so they
    never delay forwarding. Exceptions are counted and logged, and the batch is forwarded as it was
    received.
    """

    name: str
    enriches: bool

    def process(self, batch: TraceBatch) -> None: ...

    def close(self) -> None: ...


class Receiver(Protocol):
    """A receiver: listens on its configured endpoints and feeds a :class:`TraceConsumer` and/or a
    :class:`MetricsConsumer`."""

    @property
    def grpc_address(self) -> HostPort | None:
        """The bound gRPC address (actual port), or None without gRPC."""
        ...

    @property
    def http_address(self) -> HostPort | None:
        """The bound HTTP address (actual port), or None without HTTP."""
        ...

    async def start(self) -> None:
        """Bind and serve."""
        ...

    async def stop(self, grace: float) -> None:
        """Stop accepting requests, then let in-flight ones finish within ``grace`` seconds."""
        ...
