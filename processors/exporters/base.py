"""The machinery every network exporter shares: sending queue, consumer tasks, retry loop, shutdown.

It follows the OpenTelemetry Collector's exporterhelper: a bounded queue per exporter drained by
``num_consumers`` tasks; each request is retried with exponential backoff while OTLP allows it, and
given up (counted, with the reason) once it is permanent, partially accepted, past
``max_elapsed_time`` or the exporter shuts down. A subclass only says how to open, send one attempt
and close (:meth:`QueuedExporter._send`).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from enum import Enum

from driftline.processors.config.model import ComponentId, QueueSettings, RetrySettings
from driftline.processors.exporters._logging import child_logger
from driftline.processors.exporters.queue import MemoryQueue, Occupancy, PersistentQueue, QueuedRequest, SendingQueue
from driftline.processors.exporters.retry import Backoff, Outcome
from driftline.processors.otlp.signals import SIGNALS, TRACES, OTLPSignal
from driftline.processors.pipeline.batch import Batch
from driftline.processors.telemetry.metrics import SelfTelemetry

__all__ = ["DirectExporter", "QueuedExporter"]

_log = child_logger("exporters")

# send_failed reasons (metric label values).
_PERMANENT, _PARTIAL, _MAX_ELAPSED, _SHUTDOWN = "permanent", "partial_success", "max_elapsed", "shutdown"
_RETRY_DISABLED = "retry_disabled"

# Persistent-queue tables: traces keep the original name, so queues written before metrics existed recover.
_TABLES = {"traces": "requests", "metrics": "metric_requests"}


class _Fate(Enum):
    DELIVERED = "delivered"  # accepted by the backend (perhaps partially)
    DROPPED = "dropped"  # given up for good: permanent error
    GAVE_UP = "gave_up"  # retryable, but retries are off or exhausted
    STOPPED = "stopped"  # interrupted by shutdown


class _Stopped(Exception):
    """The exporter reached its shutdown deadline while a request waited to be retried."""


class QueuedExporter(ABC):
    """An exporter with a sending queue (memory or SQLite), consumer tasks and a retry loop.

    ``sending_queue.enabled: false`` removes the queue: :meth:`offer` then sends in the caller's task
    (with the same retry loop) and returns once the request is delivered or given up.

    One instance carries one ``signal``: the queue holds payload bytes and their item count (spans or
    data points), and the subclass sends them to that signal's method or URL. An exporter listed in
    traces and metrics pipelines is two instances; a persistent queue then keeps each signal in its
    own table of the one SQLite file.
    """

    def __init__(self, component_id: ComponentId, telemetry: SelfTelemetry, *, retry: RetrySettings,
                 queue: QueueSettings, timeout: float, signal: OTLPSignal = TRACES) -> None:
        self.id = str(component_id)
        """The component id, the ``exporter`` metric label."""
        self.signal = signal
        """The signal this instance exports."""
        self._kind = signal.signal
        self._items = signal.items
        self._telemetry = telemetry
        self._retry = retry
        self._backoff = Backoff(retry)
        self._timeout = timeout
        self._num_consumers = max(1, queue.num_consumers)
        self._queue: SendingQueue | None = None
        if queue.enabled:
            self._queue = (PersistentQueue(queue.storage, queue.queue_size, table=_TABLES[self._kind])
                           if queue.storage else MemoryQueue(queue.queue_size))
            telemetry.queue(self.id, self.queue_size, queue.queue_size)
        self._inline = Occupancy()  # requests being sent by offer() itself when there is no queue
        self._consumers: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()  # set at the shutdown deadline: ends retry waits
        self._accepting = False

    # --- what a subclass provides ------------------------------------------------------------------

    @abstractmethod
    async def _open(self) -> None:
        """Create the channel or session (on the running loop)."""

    @abstractmethod
    async def _send(self, payload: bytes) -> Outcome:
        """One export attempt of ``payload``, bounded by ``self._timeout``.

        Return an :class:`Outcome`; raise only for bugs: a network failure is ``Outcome.transient``.
        """

    @abstractmethod
    async def _close(self) -> None:
        """Close the channel or session."""

    # --- the Exporter protocol ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the connection, recover a persistent queue and start the consumers."""
        await self._open()
        if self._queue is not None:
            await self._queue.open()
            self._consumers = [asyncio.create_task(self._consume(), name=f"{self.id} consumer {i}")
                               for i in range(self._num_consumers)]
        self._accepting = True

    def can_accept(self) -> bool:
        """True if :meth:`offer` would take one more batch now."""
        return self._accepting and (self._queue is None or self._queue.has_room())

    async def offer(self, batch: Batch) -> bool:
        """Queue ``batch`` (False, counted as enqueue-failed, when full or shut down); without a queue,
        send it now and return False only if it could not be delivered for a retryable reason."""
        items = batch.item_count
        if not self.can_accept():
            self._telemetry.enqueue_failed(self.id, items, self._kind)
            return False
        payload = batch.payload()
        if self._queue is not None:
            return await self._queue.put(payload, items)
        request = QueuedRequest(payload, items)
        self._inline.add()
        try:
            fate = await self._deliver(request)
        finally:
            self._inline.remove()
        if fate is _Fate.STOPPED:
            self._telemetry.send_failed(self.id, request.spans, _SHUTDOWN, self._kind)
        return fate in (_Fate.DELIVERED, _Fate.DROPPED)

    def queue_size(self) -> int:
        """Requests waiting or being sent."""
        return self._queue.size() if self._queue is not None else self._inline.count

    async def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued or being sent; False if that takes longer than ``timeout``."""
        if self._queue is not None:
            return await self._queue.wait_empty(timeout)
        return await self._inline.wait_empty(timeout)

    async def shutdown(self, deadline: float) -> None:
        """Stop accepting, deliver what is queued until ``deadline`` (``time.monotonic()``), then stop
        the consumers: an in-memory queue's remaining requests are dropped and counted, a persistent
        queue keeps them for the next start. Closes the connection."""
        self._accepting = False
        await self.wait_idle(deadline - time.monotonic())
        self._stopping.set()
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        self._consumers = []
        if self._queue is not None:
            for request in self._queue.drain():
                self._abandon(request)
            await self._queue.close()
        await self._inline.wait_empty(0.0)  # inline senders see _stopping and return on their own
        await self._close()

    # --- consumers and the retry loop ----------------------------------------------------------

    async def _consume(self) -> None:
        queue = self._queue
        assert queue is not None
        # Checked as well as cancelled: on Python < 3.12, asyncio.wait_for can swallow a cancellation
        # that arrives just as its inner wait completes (here: the _stopping event being set).
        while not self._stopping.is_set():
            request = await queue.get()
            try:
                fate = await self._deliver(request)
            except asyncio.CancelledError:
                self._abandon(request)
                raise
            except Exception:  # a bug in a sender must not kill the consumer and strand the queue
                _log.exception("exporter %s: unexpected error; %d %s dropped", self.id, request.spans, self._items)
                self._telemetry.send_failed(self.id, request.spans, _PERMANENT, self._kind)
                fate = _Fate.DROPPED
            if fate is _Fate.STOPPED:
                self._abandon(request)
            else:
                await queue.finish(request)

    def _abandon(self, request: QueuedRequest) -> None:
        """Stop holding ``request`` at shutdown: kept on disk, or dropped and counted."""
        assert self._queue is not None
        if not self._queue.persistent:
            self._telemetry.send_failed(self.id, request.spans, _SHUTDOWN, self._kind)
        self._queue.release(request)

    async def _deliver(self, request: QueuedRequest) -> _Fate:
        """Send ``request`` until it is delivered or given up; all counting happens here."""
        assert request.payload is not None
        spans, started, retries = request.spans, time.monotonic(), 0
        while True:
            if self._queue is not None and await self._queue.begin_attempt(request):
                self._telemetry.redelivered(self.id, spans, self._kind)
            outcome = await self._send(request.payload)
            if outcome.delivered:
                self._delivered(spans, outcome)
                return _Fate.DELIVERED
            if not outcome.retryable:
                self._give_up(spans, _PERMANENT, outcome)
                return _Fate.DROPPED
            if not self._retry.enabled:
                self._give_up(spans, _RETRY_DISABLED, outcome)
                return _Fate.GAVE_UP
            wait = self._backoff.wait(retries)
            if outcome.delay is not None:
                wait = max(wait, outcome.delay)
            limit = self._retry.max_elapsed_time
            if limit > 0 and time.monotonic() - started + wait > limit:
                self._give_up(spans, _MAX_ELAPSED, outcome)
                return _Fate.GAVE_UP
            self._telemetry.retried(self.id, spans, self._kind)
            _log.info("exporter %s: %s; retrying %d %s in %.2fs", self.id, outcome.message, spans, self._items, wait)
            if await self._stopped_within(wait):
                return _Fate.STOPPED
            retries += 1

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait ``seconds`` unless shutdown's deadline comes first (then True)."""
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        return True

    def _delivered(self, spans: int, outcome: Outcome) -> None:
        rejected = min(max(outcome.rejected, 0), spans)
        self._telemetry.sent(self.id, spans - rejected, self._kind)
        if rejected:
            self._telemetry.send_failed(self.id, rejected, _PARTIAL, self._kind)
            _log.warning("exporter %s: backend rejected %d of %d %s (partial success, not retried): %s",
                         self.id, rejected, spans, self._items, outcome.message)
        elif outcome.message:
            _log.info("exporter %s: backend accepted the request with a warning: %s", self.id, outcome.message)

    def _give_up(self, spans: int, reason: str, outcome: Outcome) -> None:
        self._telemetry.send_failed(self.id, spans, reason, self._kind)
        _log.warning("exporter %s: dropped %d %s (%s): %s", self.id, spans, self._items, reason, outcome.message)


class DirectExporter(ABC):
    """An exporter that handles each batch in :meth:`offer` itself (``file``, ``debug``): no queue,
    no retries; ``offer`` returns once the batch is written. One instance serves every signal it is
    offered (counting spans or data points by the batch's signal), so one file has one writer."""

    def __init__(self, component_id: ComponentId, telemetry: SelfTelemetry) -> None:
        self.id = str(component_id)
        """The component id, the ``exporter`` metric label."""
        self._telemetry = telemetry
        self._busy = Occupancy()
        self._accepting = False

    @abstractmethod
    async def _write(self, batch: Batch) -> None:
        """Export ``batch``; an ``OSError`` drops it (counted as permanent)."""

    async def start(self) -> None:
        """Begin accepting batches."""
        self._accepting = True

    def can_accept(self) -> bool:
        """True until shutdown."""
        return self._accepting

    async def offer(self, batch: Batch) -> bool:
        """Export ``batch`` now; False (enqueue-failed) only after shutdown."""
        items, signal = batch.item_count, batch.signal
        if not self._accepting:
            self._telemetry.enqueue_failed(self.id, items, signal)
            return False
        self._busy.add()
        try:
            await self._write(batch)
        except OSError as error:
            self._telemetry.send_failed(self.id, items, _PERMANENT, signal)
            _log.error("exporter %s: dropped %d %s: %s", self.id, items, SIGNALS[signal].items,
                       error.strerror or error)
        else:
            self._telemetry.sent(self.id, items, signal)
        finally:
            self._busy.remove()
        return True

    def queue_size(self) -> int:
        """Batches being written."""
        return self._busy.count

    async def wait_idle(self, timeout: float) -> bool:
        """True once no batch is being written."""
        return await self._busy.wait_empty(timeout)

    async def shutdown(self, deadline: float) -> None:
        """Stop accepting, let writes in progress finish until ``deadline``, then close."""
        self._accepting = False
        await self.wait_idle(deadline - time.monotonic())
        await self._close()

    async def _close(self) -> None:
        """Release files and threads."""
        return  # the debug exporter holds none
