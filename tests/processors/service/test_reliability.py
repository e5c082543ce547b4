"""Reliability of the processor as users run it (the CLI in a subprocess) against a real gRPC backend:
the Collector's contract test, a backend outage, ``kill -9`` with the persistent queue, and overload.

Every span carries a unique id (see ``support.make_request``), so each test checks exactly which
spans arrived, not just how many.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import grpc
import pytest

from driftline.processors.otlp.errors import GrpcCode

from .support import (
    ChaosBackend,
    ProcessorProcess,
    make_request,
    processor,
    seeded,
    send_grpc,
    span_numbers,
    start_processor,
)

pytestmark = pytest.mark.timeout(180)


def _config(backend: str, *, storage: Path | None = None, queue_size: int = 1000, consumers: int = 4,
            max_elapsed: str = "0s", memory_limiter: str = "", extra_exporter: str = "") -> str:
    queue = f"\n      storage: {storage}" if storage else ""
    processors = f"\nprocessors:\n  memory_limiter:\n{memory_limiter}" if memory_limiter else ""
    pipeline_processors = "\n      processors: [memory_limiter]" if memory_limiter else ""
    return f"""
receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:0}}
      http: {{endpoint: 127.0.0.1:0}}
{processors}
exporters:
  otlp:
    endpoint: {backend}
    tls: {{insecure: true}}
    timeout: 5s
    retry_on_failure:
      initial_interval: 10ms
      max_interval: 100ms
      max_elapsed_time: {max_elapsed}
    sending_queue:
      queue_size: {queue_size}
      num_consumers: {consumers}{queue}
{extra_exporter}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines:
    traces:
      receivers: [otlp]{pipeline_processors}
      exporters: [otlp]
"""


async def _start(config: str, workdir: Path, name: str = "processor") -> ProcessorProcess:
    # In a thread: the backend serves on this loop while the processor starts (it may send at once).
    return await asyncio.to_thread(start_processor, config, workdir, name=name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_accounted(proc: ProcessorProcess, backend: ChaosBackend, total: float, timeout: float = 60.0) -> None:
    """Wait (woken by backend traffic) until the processor has delivered or dropped ``total`` spans."""
    def accounted() -> float:
        return (proc.metric("driftline_exporter_sent_spans_total")
                + proc.metric("driftline_exporter_send_failed_spans_total"))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (done := await asyncio.to_thread(accounted)) < total:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"only {done} of {total} spans accounted for: {await asyncio.to_thread(proc.metrics)}")
        backend.changed.clear()
        try:
            await asyncio.wait_for(backend.changed.wait(), min(remaining, 1.0))
        except asyncio.TimeoutError:
            pass  # a permanent refusal moves the counters without a delivery to wake us


async def test_contract_every_span_is_delivered_once_or_dropped_and_counted(tmp_path: Path) -> None:
    """The Collector's contract test: a backend failing at random with retryable and permanent errors."""
    rng = seeded(20261123)
    permanently_refused: list[int] = []

    def verdict(request: object) -> tuple[GrpcCode, float | None] | int | None:
        roll = rng.random()
        if roll < 0.25:
            return (GrpcCode.UNAVAILABLE, None)
        if roll < 0.32:
            return (GrpcCode.RESOURCE_EXHAUSTED, 0.01)      # retryable: carries RetryInfo
        if roll < 0.36:
            return (GrpcCode.DEADLINE_EXCEEDED, None)
        if roll < 0.40:
            permanently_refused.extend(span_numbers(request))  # type: ignore[arg-type]
            return (GrpcCode.INVALID_ARGUMENT, None)          # permanent: dropped and counted
        if roll < 0.43:
            permanently_refused.extend(span_numbers(request))  # type: ignore[arg-type]
            return (GrpcCode.RESOURCE_EXHAUSTED, None)        # no RetryInfo: not retryable
        if roll < 0.48:
            return 3                                          # partial success: 3 spans rejected
        return None

    backend = ChaosBackend(verdict)
    address = await backend.start()
    requests, per_request = 200, 40
    with processor(_config(address), tmp_path) as proc:
        async with grpc.aio.insecure_channel(proc.grpc_target) as channel:
            outcomes = await asyncio.gather(*(send_grpc(channel, make_request(i * per_request, per_request))
                                              for i in range(requests)))
        assert all(outcome.accepted for outcome in outcomes)
        sent = requests * per_request
        assert await asyncio.to_thread(proc.metric, "driftline_receiver_accepted_spans_total") == sent
        # every span is now either delivered or counted as dropped: wait for the sum
        await _wait_accounted(proc, backend, sent)
        failed = await asyncio.to_thread(proc.metric, "driftline_exporter_send_failed_spans_total")
        permanent = await asyncio.to_thread(proc.metric, "driftline_exporter_send_failed_spans_total",
                                            reason="permanent")
        partial = await asyncio.to_thread(proc.metric, "driftline_exporter_send_failed_spans_total",
                                          reason="partial_success")
    await backend.stop()
    delivered = backend.accepted
    assert len(delivered) == len(set(delivered)), "a span was delivered twice"
    assert set(delivered).isdisjoint(permanently_refused)
    assert len(delivered) + len(permanently_refused) + backend.rejected_by_partial_success == sent
    assert set(delivered) | set(permanently_refused) <= set(range(sent))
    assert (permanent, partial, failed) == (len(permanently_refused), backend.rejected_by_partial_success,
                                           len(permanently_refused) + backend.rejected_by_partial_success)
    assert backend.failures > 0
    assert permanently_refused
    assert backend.rejected_by_partial_success


async def test_backend_down_for_a_while_under_load_loses_nothing(tmp_path: Path) -> None:
    port = _free_port()
    backend = ChaosBackend()
    address = await backend.start(port)
    with processor(_config(address, queue_size=5000), tmp_path) as proc:
        async with grpc.aio.insecure_channel(proc.grpc_target) as channel:
            async def send(first: int, count: int) -> None:
                outcomes = await asyncio.gather(*(send_grpc(channel, make_request(first + i * 25, 25))
                                                  for i in range(count)))
                assert all(outcome.accepted for outcome in outcomes)

            await send(0, 40)                       # backend up
            await backend.wait_for(lambda: len(backend.accepted) >= 1000, 30)
            await backend.stop()                    # backend down: the port refuses connections
            await send(1000, 80)                    # load continues: the processor queues and retries
            assert await asyncio.to_thread(proc.metric, "driftline_exporter_queue_size") > 0
            await backend.start(port)               # back on the same port
            await send(3000, 40)
            await backend.wait_for(lambda: len(set(backend.accepted)) >= 4000, 60)
        retried = await asyncio.to_thread(proc.metric, "driftline_exporter_retried_spans_total")
        failed = await asyncio.to_thread(proc.metric, "driftline_exporter_send_failed_spans_total")
    await backend.stop()
    assert sorted(backend.accepted) == list(range(4000))   # every span, exactly once
    assert retried > 0
    assert failed == 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
async def test_kill_9_with_the_persistent_queue_loses_no_accepted_span(tmp_path: Path) -> None:
    delay = asyncio.Event()  # cleared: the backend answers slowly, so the queue holds a backlog at the kill

    async def slow_export() -> None:
        if not delay.is_set():
            await asyncio.sleep(0.02)   # simulated backend latency, not synchronisation

    backend = ChaosBackend()
    original = backend._export

    async def export(body: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
        await slow_export()
        return await original(body, context)

    backend._export = export  # type: ignore[method-assign]
    port = _free_port()
    address = await backend.start(port)
    storage = tmp_path / "queue.sqlite"
    config = _config(address, storage=storage, queue_size=10000, consumers=2)
    accepted: list[int] = []
    first = await _start(config, tmp_path, "first")
    try:
        async with grpc.aio.insecure_channel(first.grpc_target) as channel:
            for batch in range(30):
                requests = [make_request((batch * 10 + i) * 20, 20) for i in range(10)]
                outcomes = await asyncio.gather(*(send_grpc(channel, r, give_up_after=5) for r in requests))
                for request, outcome in zip(requests, outcomes, strict=True):
                    if outcome.accepted:
                        accepted.extend(span_numbers(request))
        delivered_before_kill = len(set(backend.accepted))
        os.kill(first.process.pid, signal.SIGKILL)   # mid-stream: the backlog is in SQLite only
        assert first.wait(30) == -signal.SIGKILL
    finally:
        if first.process.poll() is None:
            first.process.kill()
    assert delivered_before_kill < len(accepted), "the kill should interrupt a backlog"
    delay.set()                                            # the backend is fast again
    second = await _start(config, tmp_path, "second")
    try:
        await backend.wait_for(lambda: set(accepted) <= set(backend.accepted), 60)
        redelivered = await asyncio.to_thread(second.metric, "driftline_exporter_redelivered_spans_total")
    finally:
        second.process.kill()
        second.wait(30)
    await backend.stop()
    assert len(accepted) == 6000
    assert set(backend.accepted) == set(accepted)          # 0 accepted spans lost
    duplicates = len(backend.accepted) - len(set(backend.accepted))
    assert duplicates <= redelivered                       # at-least-once: duplicates are counted


async def test_overload_gets_retryable_refusals_stays_under_the_memory_limit_and_loses_nothing(
        tmp_path: Path) -> None:
    """~3× what the backend can take: 2 consumers × 1 request / 10 ms × 50 spans ≈ 10k spans/s of
    capacity, offered ≈ 30k spans/s by 12 concurrent senders."""
    backend = ChaosBackend()
    original = backend._export

    async def slow(body: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
        await asyncio.sleep(0.01)   # simulated backend latency: the backend's capacity
        return await original(body, context)

    backend._export = slow  # type: ignore[method-assign]
    address = await backend.start()
    limiter = "    check_interval: 100ms\n    limit_mib: 400\n    spike_limit_mib: 100\n"
    config = _config(address, queue_size=20, consumers=2, memory_limiter=limiter)
    with processor(config, tmp_path) as proc:
        rss_samples: list[float] = []
        accepted: list[int] = []
        refusals: list[int] = []
        async with grpc.aio.insecure_channel(proc.grpc_target) as channel:
            async def sender(worker: int) -> None:
                for i in range(40):
                    request = make_request((worker * 1000 + i) * 50, 50)
                    outcome = await send_grpc(channel, request, give_up_after=60)
                    refusals.extend(outcome.refusals)
                    if outcome.accepted:
                        accepted.extend(span_numbers(request))
                    if i % 10 == 0:
                        rss_samples.append(await asyncio.to_thread(proc.metric, "driftline_process_memory_rss"))
            await asyncio.gather(*(sender(w) for w in range(12)))
        await backend.wait_for(lambda: set(accepted) <= set(backend.accepted), 60)
        refused = await asyncio.to_thread(proc.metric, "driftline_receiver_refused_spans_total",
                                          reason="backpressure")
    await backend.stop()
    assert refusals
    assert set(refusals) == {GrpcCode.UNAVAILABLE}
    assert refused > 0
    assert len(accepted) == 12 * 40 * 50                        # the senders' retries got everything in
    assert sorted(backend.accepted) == sorted(accepted)          # 0 accepted spans lost, none twice
    assert max(rss_samples) < 300 * 1024 * 1024                 # under the soft limit (400 - 100 MiB)
