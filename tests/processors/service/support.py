"""Run real processors for service-level tests: as subprocesses (the CLI, as users run it) or
in-process; build requests with unique span ids; send them the way OTLP clients do (retrying what
OTLP says to retry); and a chaos backend that fails on purpose.

Synchronisation is by events and by reading the processor's own log and metrics, never by sleeping.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from prometheus_client.parser import text_string_to_metric_families

from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.otlp.status import (
    GRPC_STATUS_DETAILS_KEY,
    decode_rpc_status,
    grpc_retry_advice,
    rpc_status,
    status_details,
)
from driftline.processors.service import READY_MESSAGE

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
START_TIMEOUT_S = 60.0

_LISTEN = re.compile(r"receiver (?P<id>\S+): OTLP/(?P<transport>gRPC|HTTP) on (?P<address>\S+)")
_METRICS = re.compile(r"metrics: (?P<url>http://\S+/metrics)")


# --- requests --------------------------------------------------------------------------------------

def make_request(first_span: int, spans: int, *, service: str = "checkout",
                 per_resource: int = 64) -> ExportTraceServiceRequest:
    """A request of ``spans`` GenAI-like spans whose span ids are ``first_span .. first_span+spans-1``
    (big-endian in the 8-byte id), so a receiver can tell exactly which spans arrived."""
    request = ExportTraceServiceRequest()
    number = first_span
    remaining = spans
    while remaining:
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(_kv("service.name", service))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "driftline.tests"
        for _ in range(min(per_resource, remaining)):
            span = scope_spans.spans.add()
            span.trace_id = (number // 16 + 1).to_bytes(16, "big")
            span.span_id = number.to_bytes(8, "big")
            span.name = "chat gpt-4o-mini"
            span.kind = 3
            span.start_time_unix_nano = 1_700_000_000_000_000_000 + number
            span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
            span.attributes.append(_kv("gen_ai.request.model", "gpt-4o-mini"))
            span.attributes.append(_kv("gen_ai.usage.input_tokens", number % 500))
            number += 1
            remaining -= 1
    return request


def _kv(key: str, value: str | int) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, str):
        kv.value.string_value = value
    else:
        kv.value.int_value = value
    return kv


def span_numbers(request: ExportTraceServiceRequest) -> list[int]:
    """The span ids of ``request`` as numbers (see :func:`make_request`)."""
    return [int.from_bytes(span.span_id, "big") for rs in request.resource_spans for ss in rs.scope_spans
            for span in ss.spans]


# --- a processor in a subprocess -----------------------------------------------------------------

@dataclass
class ProcessorProcess:
    """A ``driftline processor`` subprocess and where it listens."""

    process: subprocess.Popen[str]
    grpc: dict[str, str] = field(default_factory=dict)
    http: dict[str, str] = field(default_factory=dict)
    metrics_url: str | None = None
    log: list[str] = field(default_factory=list)
    _log_changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def grpc_target(self) -> str:
        """``host:port`` of the first gRPC receiver."""
        return next(iter(self.grpc.values()))

    @property
    def http_url(self) -> str:
        """The traces URL of the first HTTP receiver."""
        return next(iter(self.http.values()))

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Scrape ``/metrics``: ``{(sample name, sorted labels): value}``."""
        assert self.metrics_url is not None
        with urllib.request.urlopen(self.metrics_url, timeout=10) as response:
            text = response.read().decode()
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples named ``name`` (Prometheus name) whose labels include ``labels``."""
        return sum(value for (sample, sample_labels), value in self.metrics().items()
                   if sample == name and set(labels.items()) <= set(sample_labels))

    def wait_for_log(self, needle: str, timeout: float) -> str:
        """Block until a log line contains ``needle``; return it."""
        deadline = time.monotonic() + timeout
        with self._log_changed:
            while True:
                for line in self.log:
                    if needle in line:
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reader_alive()):
                    raise AssertionError(f"no log line with {needle!r}; log so far:\n" + "\n".join(self.log))
                self._log_changed.wait(remaining)

    def _reader_alive(self) -> bool:
        return any(t.name == f"processor-log-{self.process.pid}" and t.is_alive() for t in threading.enumerate())

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the processor."""
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Wait for the processor to exit; its exit code."""
        return self.process.wait(timeout)


def start_processor(config_yaml: str, workdir: Path, *, name: str = "processor",
                    extra_args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> ProcessorProcess:
    """Write ``config_yaml`` to ``workdir/<name>.yaml`` and start ``python -m driftline.processors`` on it in
    ``workdir``; returns once it logged that it is ready (or raises with its log)."""
    path = workdir / f"{name}.yaml"
    path.write_text(config_yaml, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "driftline.processors", "--config", str(path), *extra_args],
        cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **(env or {})})
    running = ProcessorProcess(process)

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            with running._log_changed:
                running.log.append(line.rstrip("\n"))
                running._log_changed.notify_all()
        with running._log_changed:
            running._log_changed.notify_all()

    threading.Thread(target=read, name=f"processor-log-{process.pid}", daemon=True).start()
    try:
        running.wait_for_log(READY_MESSAGE, START_TIMEOUT_S)
    except AssertionError:
        process.kill()
        process.wait(10)
        raise
    for line in running.log:
        if match := _LISTEN.search(line):
            target = running.grpc if match["transport"] == "gRPC" else running.http
            target[match["id"]] = match["address"]
        elif match := _METRICS.search(line):
            running.metrics_url = match["url"]
    return running


@contextmanager
def processor(config_yaml: str, workdir: Path, **kwargs: Any) -> Iterator[ProcessorProcess]:
    """:func:`start_processor` as a context manager that always kills the process at the end."""
    running = start_processor(config_yaml, workdir, **kwargs)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
        running.process.wait(30)


# --- a client that behaves like an OTLP exporter ---------------------------------------------------

@dataclass
class SendOutcome:
    """How one request fared: accepted (possibly after retries) or given up."""

    accepted: bool
    attempts: int
    refusals: list[int] = field(default_factory=list)
    """gRPC codes of the retryable refusals seen before acceptance."""


async def send_grpc(channel: grpc.aio.Channel, request: ExportTraceServiceRequest | bytes, *,
                    give_up_after: float = 60.0, compression: grpc.Compression | None = None) -> SendOutcome:
    """Export over gRPC, retrying OTLP-retryable refusals after the server's RetryInfo delay (or 50 ms)."""
    call = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
    payload = request if isinstance(request, bytes) else request.SerializeToString()
    deadline = time.monotonic() + give_up_after
    outcome = SendOutcome(accepted=False, attempts=0)
    while time.monotonic() < deadline:
        outcome.attempts += 1
        try:
            await call(payload, timeout=30, compression=compression)
        except grpc.aio.AioRpcError as error:
            status = _status_of(error)
            advice = grpc_retry_advice(error.code().value[0], status)
            if not advice.retryable:
                raise
            outcome.refusals.append(error.code().value[0])
            await asyncio.sleep(min(advice.delay or 0.05, 1.0))  # the server's back-off hint, as a client obeys it
            continue
        outcome.accepted = True
        return outcome
    return outcome


def _status_of(error: grpc.aio.AioRpcError) -> Any:
    details = status_details(error.trailing_metadata())
    return None if details is None else decode_rpc_status(details)


# --- a backend that fails on purpose ---------------------------------------------------------------

Verdict = Callable[[ExportTraceServiceRequest], "tuple[GrpcCode, float | None] | int | None"]
"""Decides each request: None = accept all; an int = accept with that many spans rejected (partial
success); ``(code, retry_after)`` = fail with that code (and RetryInfo if ``retry_after`` is set)."""


class ChaosBackend:
    """An OTLP/gRPC backend on loopback recording the span numbers of every request it accepted."""

    def __init__(self, verdict: Verdict | None = None) -> None:
        self.verdict = verdict
        self.accepted: list[int] = []
        """Span numbers delivered (accepted by this backend), duplicates included."""
        self.rejected_by_partial_success = 0
        self.failures = 0
        self.requests = 0
        self.available = True
        """False → every request fails with UNAVAILABLE (the backend is 'down')."""
        self.changed = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (``port`` 0 = any); returns ``host:port``."""
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)])
        handler = grpc.unary_unary_rpc_method_handler(self._export, request_deserializer=None,
                                                      response_serializer=None)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}),))
        self.port = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self._server = server
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    async def _export(self, body: bytes, context: grpc.aio.ServicerContext) -> bytes:  # type: ignore[type-arg]
        self.requests += 1
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        decision = self.verdict(request) if self.verdict is not None else None
        if not self.available:
            decision = (GrpcCode.UNAVAILABLE, None)
        if isinstance(decision, tuple):
            code, retry_after = decision
            self.failures += 1
            status = rpc_status(code, "chaos backend refuses", retry_after=retry_after)
            await context.abort(grpc.StatusCode[code.name], "chaos backend refuses",
                                trailing_metadata=((GRPC_STATUS_DETAILS_KEY, status.SerializeToString()),))
        numbers = span_numbers(request)
        response = ExportTraceServiceResponse()
        if isinstance(decision, int) and decision > 0:
            rejected = min(decision, len(numbers))
            numbers = numbers[rejected:]
            self.rejected_by_partial_success += rejected
            response.partial_success.rejected_spans = rejected
            response.partial_success.error_message = "chaos backend rejects some spans"
        self.accepted.extend(numbers)
        self.changed.set()
        return response.SerializeToString()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until ``predicate()`` holds after some delivery; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for the backend")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


def seeded(seed: int) -> random.Random:
    """A private RNG so chaos decisions are reproducible from the seed in the test id."""
    return random.Random(seed)
