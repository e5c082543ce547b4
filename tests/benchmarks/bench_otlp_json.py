"""OTLP/JSON decoding throughput: driftline's decoder against protobuf's ``json_format`` and binary
protobuf, on one realistic GenAI batch (512 spans by default) built by the real OpenTelemetry SDK.

    python -m tests.benchmarks.bench_otlp_json [--spans 512] [--seconds 2]

Prints a Markdown table of spans/s (best of several timed rounds, one process, one core). The
``json_format`` row parses the same document; it reads the hex ids as base64, so its result is
wrong for OTLP, but the time is what protobuf's generic mapping costs. :func:`genai_request` is
also the realistic batch the codec tests round-trip, so what is measured is what is tested.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.semconv.attributes import http_attributes, service_attributes, url_attributes
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from driftline.processors.otlp.json_codec import decode_trace_request, encode_json
from driftline.semconv import names

_QUESTION = "My March invoice shows two charges for the same plan. Can you explain why and refund one?"
_ANSWER = ("I can see two charges on 3 March: the renewal and a prorated upgrade. The upgrade is "
           "correct, so no refund is due; I have added a note to your account.")


class _SeededIds(IdGenerator):
    """Reproducible trace and span ids, so two runs build the same batch."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


def genai_request(spans: int = 512, seed: int = 7) -> ExportTraceServiceRequest:
    """An ``ExportTraceServiceRequest`` of ``spans`` spans, as the SDK's OTLP exporter encodes them.

    Each trace is an HTTP SERVER span wrapping two chat calls (one OpenAI, one Anthropic, the first
    with message content captured, one in ten failing with a recorded exception) and an embeddings
    call; spans link to the previous trace now and then. Attributes cover every type GenAI spans
    carry: strings, ints, doubles, bools and string arrays.
    """
    rnd = random.Random(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({service_attributes.SERVICE_NAME: "support-assistant",
                                  service_attributes.SERVICE_VERSION: "2.3.1"}),
        id_generator=_SeededIds(seed))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    web = provider.get_tracer("opentelemetry.instrumentation.asgi", "0.51b0")
    openai = provider.get_tracer("driftline.instrumentation.openai", "0.1.0")
    anthropic = provider.get_tracer("driftline.instrumentation.anthropic", "0.1.0")
    made = 0
    previous: Any = None
    while made < spans:
        links = [Link(previous, {"link.reason": "retry"})] if previous is not None and rnd.random() < 0.2 else []
        with web.start_as_current_span("POST /v1/support", kind=SpanKind.SERVER, links=links, attributes={
                http_attributes.HTTP_REQUEST_METHOD: "POST", url_attributes.URL_PATH: "/v1/support",
                http_attributes.HTTP_RESPONSE_STATUS_CODE: 200}) as root:
            previous = root.get_span_context()
            made += 1
            for tracer, provider_name, model in ((openai, names.PROVIDER_OPENAI, "gpt-4o-mini"),
                                                 (anthropic, names.PROVIDER_ANTHROPIC, "claude-3-5-haiku")):
                if made >= spans:
                    break
                made += 1
                _chat_span(tracer, rnd, provider_name, model, with_content=tracer is openai)
            if made < spans:
                made += 1
                with openai.start_as_current_span("embeddings text-embedding-3-small", kind=SpanKind.CLIENT) as span:
                    span.set_attributes({
                        names.GEN_AI_OPERATION_NAME: names.OPERATION_EMBEDDINGS,
                        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
                        names.GEN_AI_REQUEST_MODEL: "text-embedding-3-small",
                        names.GEN_AI_REQUEST_ENCODING_FORMATS: ("float",),
                        names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT: 1536,
                        names.GEN_AI_USAGE_INPUT_TOKENS: rnd.randint(5, 60),
                        names.SERVER_ADDRESS: "api.openai.com", names.SERVER_PORT: 443})
    provider.shutdown()
    return encode_spans(exporter.get_finished_spans())


def _chat_span(tracer: Any, rnd: random.Random, provider_name: str, model: str, *, with_content: bool) -> None:
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT, record_exception=False,
                                      set_status_on_exception=False) as span:
        span.set_attributes({
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
            names.GEN_AI_PROVIDER_NAME: provider_name,
            names.GEN_AI_REQUEST_MODEL: model,
            names.GEN_AI_REQUEST_MAX_TOKENS: 1024,
            names.GEN_AI_REQUEST_TEMPERATURE: 0.2,
            names.GEN_AI_REQUEST_TOP_P: 0.95,
            names.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\nUser:", "</answer>"),
            names.GEN_AI_REQUEST_STREAM: rnd.random() < 0.5,
            names.SERVER_ADDRESS: f"api.{provider_name}.com",
            names.SERVER_PORT: 443,
        })
        if rnd.random() < 0.1:
            error = TimeoutError("upstream timed out after 30 s")
            span.record_exception(error)
            span.set_attribute(names.ERROR_TYPE, "TimeoutError")
            span.set_status(Status(StatusCode.ERROR, "upstream timed out"))
            return
        span.set_attributes({
            names.GEN_AI_RESPONSE_ID: f"resp_{rnd.getrandbits(64):016x}",
            names.GEN_AI_RESPONSE_MODEL: f"{model}-2025-01-01",
            names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
            names.GEN_AI_USAGE_INPUT_TOKENS: rnd.randint(200, 6000),
            names.GEN_AI_USAGE_OUTPUT_TOKENS: rnd.randint(10, 900),
            names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: rnd.choice((0, 128, 1024)),
        })
        if with_content:
            span.set_attributes({
                names.GEN_AI_INPUT_MESSAGES: json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": _QUESTION}]}]),
                names.GEN_AI_OUTPUT_MESSAGES: json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": _ANSWER}],
                      "finish_reason": "stop"}]),
            })
        span.add_event(names.GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
                       {names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: rnd.uniform(0.1, 1.5)})
        span.set_status(Status(StatusCode.OK))


def _spans_per_second(run: Callable[[], object], spans: int, seconds: float) -> float:
    """Best of rounds lasting about ``seconds / 5`` each: the least disturbed estimate on a busy host."""
    run()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        count = 0
        while time.perf_counter() - start < seconds / 5:
            run()
            count += 1
        best = min(best, (time.perf_counter() - start) / count)
        if time.perf_counter() > deadline:
            return spans / best


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=512, help="spans per request (default 512)")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per row (default 2)")
    args = parser.parse_args(argv)

    request = genai_request(args.spans)
    body = encode_json(request)
    binary = request.SerializeToString()
    assert decode_trace_request(body) == request, "the decoder must reproduce the batch exactly"

    rows = [
        ("driftline `decode_trace_request` (JSON)", lambda: decode_trace_request(body)),
        ("`json.loads` alone (the floor of any JSON decoder here)", lambda: json.loads(body)),
        ("protobuf `json_format.Parse` (JSON, ids wrong for OTLP)",
         lambda: json_format.Parse(body, ExportTraceServiceRequest())),
        ("protobuf `ParseFromString` (binary)", lambda: ExportTraceServiceRequest.FromString(binary)),
        ("driftline `encode_json` (to JSON)", lambda: encode_json(request)),
    ]
    print(f"{args.spans}-span GenAI batch: {len(body):,} bytes as OTLP/JSON, {len(binary):,} as protobuf\n")
    print("| decoder | spans/s | ms per request |")
    print("|---|---:|---:|")
    for label, run in rows:
        rate = _spans_per_second(run, args.spans, args.seconds)
        print(f"| {label} | {rate:,.0f} | {1000 * args.spans / rate:.2f} |")


if __name__ == "__main__":
    main()
