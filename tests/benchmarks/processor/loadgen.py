"""Load generator: sends pre-encoded 512-span GenAI batches to an OTLP receiver, in its own process.

    python -m tests.benchmarks.processor.loadgen --transport grpc|http-protobuf|http-json \\
        --target 127.0.0.1:PORT --payloads FILE --counters FILE [--rate SPANS_PER_S] [--concurrency N]

The bodies are encoded once, up front (:func:`~.common.write_payloads`), and sent as they are, so
the generator spends almost nothing per request. ``--concurrency`` worker threads each keep one
request in flight: over gRPC they share one channel (one HTTP/2 connection, as an SDK exporter
does) and call ``TraceService/Export`` as a raw-bytes ``unary_unary``; over HTTP each thread holds
its own keep-alive ``http.client`` connection and POSTs to ``/v1/traces``.

Modes: ``--rate 0`` (saturation) sends the next request as soon as a thread is free, so the
receiver's acknowledgements set the pace; ``--rate R`` paces requests on a fixed schedule of
``R / 512`` requests per second (shared by all threads; a late request is sent at once, never
skipped). Acknowledged spans, refusals (gRPC error status / non-200 answer), partial-success
rejections and transport errors go to a :class:`~.common.Counters` file the orchestrator samples;
a JSON summary with refusals by code is printed on exit. Runs until SIGTERM/SIGINT or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import json
import signal
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

from .common import LOADGEN_FIELDS, SPANS_PER_REQUEST, TRACE_EXPORT_METHOD, Counters, read_payloads

TRANSPORTS = ("grpc", "http-protobuf", "http-json")
_REFUSAL_PAUSE_S = 0.02
"""After a refusal or error a thread waits this long, so an overloaded receiver is not hammered."""
_CALL_TIMEOUT_S = 30.0

Send = Callable[[bytes], tuple[bool, int, str]]
"""Send one body; return (accepted, spans rejected in a partial success, refusal code or "")."""


def _rejected_in_protobuf(answer: bytes) -> int:
    if not answer:
        return 0
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    return int(ExportTraceServiceResponse.FromString(answer).partial_success.rejected_spans)


def _rejected_in_json(answer: bytes) -> int:
    try:
        doc: Any = json.loads(answer or b"{}")
    except ValueError:
        return 0
    partial = doc.get("partialSuccess") or doc.get("partial_success") or {}
    return int(partial.get("rejectedSpans") or partial.get("rejected_spans") or 0)


def _grpc_sender(target: str, compress: bool) -> tuple[Callable[[], Send], Callable[[], None]]:
    import grpc

    channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", -1),
                                                     ("grpc.max_receive_message_length", 64 * 1024 * 1024)],
                                    compression=grpc.Compression.Gzip if compress else None)
    call = channel.unary_unary(TRACE_EXPORT_METHOD)  # no (de)serializers: raw bytes both ways

    def make() -> Send:
        def send(body: bytes) -> tuple[bool, int, str]:
            try:
                answer = call(body, timeout=_CALL_TIMEOUT_S)
            except grpc.RpcError as error:
                code = error.code() if hasattr(error, "code") else None
                return False, 0, getattr(code, "name", "UNKNOWN")
            return True, _rejected_in_protobuf(answer), ""
        return send

    return make, channel.close


def _http_sender(target: str, media: str, compress: bool, path: str) -> tuple[Callable[[], Send], Callable[[], None]]:
    host, _, port = target.rpartition(":")
    content_type = "application/json" if media == "json" else "application/x-protobuf"
    headers = {"Content-Type": content_type, "Connection": "keep-alive"}
    if compress:
        headers["Content-Encoding"] = "gzip"
    rejected = _rejected_in_json if media == "json" else _rejected_in_protobuf

    def make() -> Send:
        conn: list[http.client.HTTPConnection] = []

        def send(body: bytes) -> tuple[bool, int, str]:
            if not conn:
                conn.append(http.client.HTTPConnection(host, int(port), timeout=_CALL_TIMEOUT_S))
            try:
                conn[0].request("POST", path, body=body, headers=headers)
                response = conn[0].getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                conn.pop().close()
                raise
            if response.status != 200:
                return False, 0, f"HTTP {response.status}"
            return True, rejected(answer), ""
        return send

    return make, lambda: None


class LoadGenerator:
    """Worker threads sending ``bodies`` through ``make_sender()`` senders; see the module docstring."""

    def __init__(self, bodies: list[bytes], make_sender: Callable[[], Send], counters: Counters, *,
                 rate: float, concurrency: int, spans_per_body: int = SPANS_PER_REQUEST) -> None:
        self._bodies = bodies
        self._make_sender = make_sender
        self._counters = counters
        self._interval = spans_per_body / rate if rate > 0 else 0.0
        self._concurrency = concurrency
        self._spans = spans_per_body
        self._stop = threading.Event()
        self._slots = itertools.count()
        self._slot_lock = threading.Lock()
        self._start = 0.0
        self.refusals: Tally[str] = Tally()
        self.errors: Tally[str] = Tally()

    def stop(self) -> None:
        """Ask every thread to finish its current request and exit."""
        self._stop.set()

    def run(self, max_seconds: float) -> None:
        """Send until :meth:`stop` or ``max_seconds``; returns once every thread has exited."""
        self._start = time.monotonic()
        threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(self._concurrency)]
        for t in threads:
            t.start()
        self._stop.wait(max_seconds)
        self._stop.set()
        for t in threads:
            t.join(_CALL_TIMEOUT_S + 5)

    def _next_due(self) -> float:
        with self._slot_lock:
            slot = next(self._slots)
        return self._start + slot * self._interval

    def _worker(self, index: int) -> None:
        send = self._make_sender()
        bodies = itertools.cycle(self._bodies[index % len(self._bodies):] + self._bodies[:index % len(self._bodies)])
        while not self._stop.is_set():
            if self._interval:
                wait = self._next_due() - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            body = next(bodies)
            self._counters.add(sent_requests=1)
            started = time.perf_counter()
            try:
                accepted, rejected, code = send(body)
            except Exception as error:  # a transport failure: count it, pause, go on
                self.errors[type(error).__name__] += 1
                self._counters.add(errors=1)
                self._stop.wait(_REFUSAL_PAUSE_S)
                continue
            if accepted:
                latency_us = int((time.perf_counter() - started) * 1e6)
                self._counters.add(acked_requests=1, acked_spans=self._spans - rejected, rejected_spans=rejected,
                                   latency_us_total=latency_us)
            else:
                self.refusals[code] += 1
                self._counters.add(refused_requests=1, refused_spans=self._spans)
                self._stop.wait(_REFUSAL_PAUSE_S)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, send until told to stop, print a JSON summary."""
    parser = argparse.ArgumentParser(description="OTLP load generator for the processor benchmark")
    parser.add_argument("--transport", choices=TRANSPORTS, required=True)
    parser.add_argument("--target", required=True, help="host:port of the receiver")
    parser.add_argument("--payloads", required=True, help="payload file of the matching encoding (see common.py)")
    parser.add_argument("--counters", required=True, help="counter file to create and update")
    parser.add_argument("--rate", type=float, default=0.0, help="spans/s to pace at; 0 = saturation (default)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (threads)")
    parser.add_argument("--spans-per-body", type=int, default=SPANS_PER_REQUEST)
    parser.add_argument("--gzip", action="store_true", help="gzip the bodies (HTTP) / the calls (gRPC)")
    parser.add_argument("--path", default="/v1/traces", help="HTTP path")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="stop on its own after this long")
    args = parser.parse_args(argv)

    bodies = read_payloads(args.payloads)
    if args.transport == "grpc":
        make, close = _grpc_sender(args.target, args.gzip)
    else:
        if args.gzip:
            bodies = [gzip.compress(b, compresslevel=6) for b in bodies]
        make, close = _http_sender(args.target, args.transport.removeprefix("http-"), args.gzip, args.path)
    counters = Counters(args.counters, LOADGEN_FIELDS, create=True)
    generator = LoadGenerator(bodies, make, counters, rate=args.rate, concurrency=args.concurrency,
                              spans_per_body=args.spans_per_body)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: generator.stop())
    print(json.dumps({"ready": True}), flush=True)
    try:
        generator.run(args.max_seconds)
    finally:
        close()
        summary = {**counters.read(), "refusals": dict(generator.refusals), "error_kinds": dict(generator.errors)}
        counters.close()
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
