"""The forwarding target: a minimal OTLP receiver that counts spans and acknowledges, in its own process.

    python -m tests.benchmarks.processor.sink --counters FILE [--grpc-port P] [--http-port P]

gRPC: ``TraceService/Export`` registered as a raw-bytes generic handler on a thread-pool server;
each request is parsed with protobuf (upb) only to count its spans, and answered with an empty
``ExportTraceServiceResponse`` (zero bytes), which is a full success. HTTP: ``POST /v1/traces`` on
aiohttp, protobuf or JSON, gzip accepted, answered ``200`` with an empty protobuf / ``{}`` body.
Nothing is stored, so the processor's exporter sees the fastest possible backend and its own cost
is what remains. Counts go to a :class:`~.common.Counters` file (``requests``, ``spans``, ``bytes``).
Runs until SIGTERM/SIGINT or ``--max-seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import signal
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .common import SINK_FIELDS, Counters

_MAX_MESSAGE = 256 * 1024 * 1024


def count_protobuf_spans(body: bytes) -> int:
    """Spans in a serialized ``ExportTraceServiceRequest``."""
    request = ExportTraceServiceRequest.FromString(body)
    return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


def count_json_spans(body: bytes) -> int:
    """Spans in an OTLP/JSON ``ExportTraceServiceRequest`` (lowerCamelCase or proto field names)."""
    doc: Any = json.loads(body)
    total = 0
    for rs in doc.get("resourceSpans") or doc.get("resource_spans") or ():
        for ss in rs.get("scopeSpans") or rs.get("scope_spans") or ():
            total += len(ss.get("spans") or ())
    return total


def _grpc_server(port: int, counters: Counters) -> grpc.Server:
    def export(body: bytes, context: grpc.ServicerContext) -> bytes:
        counters.add(requests=1, spans=count_protobuf_spans(body), bytes=len(body))
        return b""  # an empty ExportTraceServiceResponse: full success

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {"Export": grpc.unary_unary_rpc_method_handler(export)})  # no (de)serializers: raw bytes both ways
    server = grpc.server(ThreadPoolExecutor(max_workers=16), handlers=(handler,),
                         options=[("grpc.max_receive_message_length", _MAX_MESSAGE)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    return server


def _http_app(counters: Counters) -> web.Application:
    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        encoding = (request.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        is_json = (request.content_type or "").lower() == "application/json"
        spans = count_json_spans(body) if is_json else count_protobuf_spans(body)
        counters.add(requests=1, spans=spans, bytes=len(body))
        if is_json:
            return web.Response(body=b"{}", content_type="application/json")
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application(client_max_size=_MAX_MESSAGE)
    app.router.add_post("/v1/traces", traces)
    return app


async def _serve(args: argparse.Namespace, counters: Counters) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = _grpc_server(args.grpc_port, counters) if args.grpc_port else None
    runner: web.AppRunner | None = None
    if server is not None:
        server.start()
    if args.http_port:
        runner = web.AppRunner(_http_app(counters), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.http_port).start()
    print(json.dumps({"ready": True, "grpc_port": args.grpc_port, "http_port": args.http_port}), flush=True)
    try:
        await asyncio.wait_for(stop.wait(), timeout=args.max_seconds)
    except asyncio.TimeoutError:
        print("sink: --max-seconds reached, stopping", file=sys.stderr)
    if server is not None:
        server.stop(grace=1).wait(2)
    if runner is not None:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Serve until told to stop."""
    parser = argparse.ArgumentParser(description="Counting OTLP sink for the processor benchmark")
    parser.add_argument("--counters", required=True, help="counter file to create and update")
    parser.add_argument("--grpc-port", type=int, default=0, help="OTLP/gRPC port on 127.0.0.1 (0 = none)")
    parser.add_argument("--http-port", type=int, default=0, help="OTLP/HTTP port on 127.0.0.1 (0 = none)")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop on its own after this long")
    args = parser.parse_args(argv)
    if not args.grpc_port and not args.http_port:
        parser.error("give --grpc-port and/or --http-port")
    counters = Counters(args.counters, SINK_FIELDS, create=True)
    try:
        asyncio.run(_serve(args, counters))
    finally:
        counters.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
