"""Admission control: the memory limiter and the in-flight byte budget.

Receivers ask :meth:`AdmissionControl.reserve` before they read and parse a request. Two limits
turn into retryable refusals (gRPC UNAVAILABLE + RetryInfo, HTTP 503 + Retry-After), so senders
keep their data and back off instead of the processor buffering without bound:

* **memory limiter** (the Collector's ``memory_limiter`` keys): the process's RSS is measured every
  ``check_interval``; above ``limit_mib - spike_limit_mib`` (the soft limit) new data is refused
  until it falls below again; above ``limit_mib`` a garbage collection is forced as well. The
  Collector measures the Go heap; RSS is the honest figure for a Python process.
* **in-flight budget**: the decompressed bytes of requests admitted but not yet in the exporters'
  queues. One request is always admitted when nothing else is in flight, so a request up to the
  receiver's size cap can never be refused for ever.
"""

from __future__ import annotations

import asyncio
import gc
import logging

from driftline.processors.config.model import MemoryLimiterConfig
from driftline.processors.pipeline.contracts import Refused
from driftline.processors.telemetry import SelfTelemetry, read_rss_bytes

__all__ = ["DEFAULT_IN_FLIGHT_BYTES", "AdmissionControl"]

_log = logging.getLogger(__name__)

DEFAULT_IN_FLIGHT_BYTES = 128 * 1024 * 1024
"""Default budget of admitted, not yet queued request bytes (two maximum-size requests)."""

_MIB = 1024 * 1024


class AdmissionControl:
    """Implements the receivers' ``Admission`` contract; one per processor."""

    def __init__(self, telemetry: SelfTelemetry, *, memory_limiter: MemoryLimiterConfig | None = None,
                 in_flight_bytes: int = DEFAULT_IN_FLIGHT_BYTES) -> None:
        self._telemetry = telemetry
        self._limiter = memory_limiter
        self._budget = in_flight_bytes
        self._in_flight = 0
        self._limited = False
        self._task: asyncio.Task[None] | None = None

    @property
    def memory_limited(self) -> bool:
        """True while the memory limiter refuses data."""
        return self._limited

    @property
    def bytes_in_flight(self) -> int:
        """Admitted bytes not yet released."""
        return self._in_flight

    def reserve(self, size: int) -> int:
        """Admit a request of ``size`` bytes or raise :class:`Refused`; returns the token for :meth:`release`."""
        if self._limited:
            assert self._limiter is not None
            raise Refused(f"the processor is above its memory limit ({self._limiter.soft_limit_mib} MiB); "
                          "retry later", reason="memory_limit", retry_after=max(1.0, self._limiter.check_interval))
        size = max(0, size)
        if self._in_flight and self._in_flight + size > self._budget:
            raise Refused("the processor is busy (in-flight budget used up); retry later",
                          reason="backpressure", retry_after=1.0)
        self._in_flight += size
        self._telemetry.set_bytes_in_flight(self._in_flight)
        return size

    def release(self, token: int) -> None:
        """Return the bytes reserved under ``token``."""
        self._in_flight = max(0, self._in_flight - token)
        self._telemetry.set_bytes_in_flight(self._in_flight)

    def check_memory(self) -> None:
        """Measure RSS once and update the limiter's state (the periodic task calls this)."""
        limiter = self._limiter
        if limiter is None:
            return
        rss = read_rss_bytes()
        if rss > limiter.limit_mib * _MIB:
            gc.collect()
            rss = read_rss_bytes()
        limited = rss > limiter.soft_limit_mib * _MIB
        if limited != self._limited:
            _log.warning("memory limiter: RSS %d MiB is %s the soft limit of %d MiB; %s", rss // _MIB,
                         "above" if limited else "below", limiter.soft_limit_mib,
                         "refusing new data retryably" if limited else "accepting data again")
            self._limited = limited
            self._telemetry.set_memory_limited(limited)

    def start(self) -> None:
        """Start measuring memory every ``check_interval`` (no-op without a memory limiter)."""
        if self._limiter is not None and self._task is None:
            self.check_memory()
            self._task = asyncio.get_running_loop().create_task(self._watch(self._limiter.check_interval),
                                                                 name="driftline-memory-limiter")

    async def _watch(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)  # a sampling period, not synchronisation
            self.check_memory()

    async def stop(self) -> None:
        """Stop the memory measurements."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
