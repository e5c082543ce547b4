"""The common baseline every contender shares: canned OpenAI answers served by an in-process mock
transport, the OpenTelemetry SDK pipeline, the request, and the timing loop.

Runs in the peers' virtualenvs too, so it imports only the standard library, ``openai`` and the
OpenTelemetry SDK. ``openai`` 3.x is built on ``httpx2``, 1.x/2.x on ``httpx``; both ship a
``MockTransport`` with the same shape, and the one the installed SDK uses is picked here.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
BASE_URL = "https://api.openai.com/v1"

REQUEST: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You are a concise assistant for an online bookshop."},
        {"role": "user", "content": "Suggest two science-fiction novels for a long train ride, one line each."},
    ],
    "temperature": 0.2,
    "max_completion_tokens": 300,
}
"""The non-streamed request (content capture is off everywhere, so message size does not matter)."""

STREAM_REQUEST: dict[str, Any] = {**REQUEST, "stream": True, "stream_options": {"include_usage": True}}
"""The streamed request; the answer is :data:`STREAM_CHUNKS` chunks, the last one carrying usage."""

_ANSWER = ("1. *The Left Hand of Darkness* by Ursula K. Le Guin: an envoy's slow, snowbound journey across a "
           "planet without fixed genders.\n2. *Project Hail Mary* by Andy Weir: a lone astronaut, an amnesiac "
           "puzzle and an unlikely friendship that keeps the pages turning.")
_ID = "chatcmpl-BzW4Xq7Jm2cN1Lk9Rb0vTs3eYdHgA"
_FINGERPRINT = "fp_b376dfbbd5"
_CREATED = 1_735_000_000
_USAGE: dict[str, Any] = {
    "prompt_tokens": 38, "completion_tokens": 61, "total_tokens": 99,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                  "rejected_prediction_tokens": 0},
}

CHAT_COMPLETION: bytes = json.dumps({
    "id": _ID, "object": "chat.completion", "created": _CREATED, "model": RESPONSE_MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": _ANSWER, "refusal": None,
                                         "annotations": []},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": _USAGE, "service_tier": "default", "system_fingerprint": _FINGERPRINT,
}).encode()
"""A realistic ``chat.completion`` body."""

_CONTENT_DELTAS = 7


def _sse_events() -> list[bytes]:
    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        body = {"id": _ID, "object": "chat.completion.chunk", "created": _CREATED, "model": RESPONSE_MODEL,
                "service_tier": "default", "system_fingerprint": _FINGERPRINT, "choices": choices, "usage": usage}
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    step = -(-len(_ANSWER) // _CONTENT_DELTAS)
    pieces = [_ANSWER[i:i + step] for i in range(0, len(_ANSWER), step)]
    events = [chunk([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None},
                      "logprobs": None, "finish_reason": None}])]
    events += [chunk([{"index": 0, "delta": {"content": p}, "logprobs": None, "finish_reason": None}])
               for p in pieces]
    events.append(chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    events.append(chunk([], _USAGE))
    events.append(b"data: [DONE]\n\n")
    return events


SSE_EVENTS: tuple[bytes, ...] = tuple(_sse_events())
"""The streamed answer as SSE frames (one transport read each), ending with ``data: [DONE]``."""
STREAM_CHUNKS = len(SSE_EVENTS) - 1
"""Chunks the SDK yields for one streamed call (role, content deltas, finish, usage)."""


def http_module() -> ModuleType:
    """``httpx2`` for openai >= 3, else ``httpx``: the HTTP library the installed SDK is built on."""
    return importlib.import_module("httpx2" if int(openai.__version__.split(".", 1)[0]) >= 3 else "httpx")


def make_clients() -> tuple[openai.OpenAI, openai.OpenAI]:
    """Two SDK clients over mock transports: one answers JSON, the other the SSE stream.

    Separate clients keep the handlers free of request parsing, so the transport costs the same
    fixed amount for every contender.
    """
    http = http_module()

    def json_handler(request: Any) -> Any:
        return http.Response(200, content=CHAT_COMPLETION, headers={"content-type": "application/json"})

    def sse_handler(request: Any) -> Any:
        return http.Response(200, content=iter(SSE_EVENTS), headers={"content-type": "text/event-stream"})

    def client(handler: Callable[[Any], Any]) -> openai.OpenAI:
        return openai.OpenAI(api_key="sk-bench", base_url=BASE_URL, max_retries=0,
                             http_client=http.Client(transport=http.MockTransport(handler)))

    return client(json_handler), client(sse_handler)


class DropSpanExporter(SpanExporter):
    """Counts and drops finished spans (keeps them only while :attr:`captured` is a list)."""

    def __init__(self) -> None:
        self.exported = 0
        self.captured: list[ReadableSpan] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Count (and optionally keep) the batch."""
        self.exported += len(spans)
        if self.captured is not None:
            self.captured.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""


@dataclass
class Pipeline:
    """The OpenTelemetry SDK pipeline every contender records into."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    exporter: DropSpanExporter
    reader: InMemoryMetricReader


PIPELINE_DESCRIPTION = ("SDK `TracerProvider` → `SimpleSpanProcessor` → an exporter that counts and drops spans; "
                        "SDK `MeterProvider` with an `InMemoryMetricReader` that is never read while timing")


def make_pipeline() -> Pipeline:
    """Build the SDK pipeline and install it globally too (for peers that use the global providers)."""
    from opentelemetry import metrics, trace

    exporter = DropSpanExporter()
    tracer_provider = TracerProvider()
    # Simple (synchronous) processor: the export cost lands on the calling thread, the same for
    # everyone, and no background thread competes for the VM's two cores while timing.
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Pipeline(tracer_provider, meter_provider, exporter, reader)


Create = Callable[..., Any]
"""Something shaped like ``client.chat.completions.create``."""


def nonstream_call(create: Create) -> Callable[[], None]:
    """One non-streamed chat completion, response object discarded."""
    def call() -> None:
        create(**REQUEST)
    return call


def stream_call(create: Create) -> Callable[[], None]:
    """One streamed chat completion, every chunk consumed."""
    def call() -> None:
        for _ in create(**STREAM_REQUEST):
            pass
    return call


def time_calls(call: Callable[[], None], n: int) -> list[float]:
    """Wall time of each of ``n`` calls, in microseconds."""
    clock = time.perf_counter_ns
    out: list[float] = []
    append = out.append
    for _ in range(n):
        t0 = clock()
        call()
        append((clock() - t0) / 1000.0)
    return out


@dataclass
class Variant:
    """A workload measured per contender (non-streamed or streamed)."""

    name: str
    request: dict[str, Any]
    make: Callable[[Create], Callable[[], None]]


VARIANTS: tuple[Variant, ...] = (Variant("nonstream", REQUEST, nonstream_call),
                                 Variant("stream", STREAM_REQUEST, stream_call))


@dataclass
class Contender:
    """Something to time: how to turn it on and off between rounds, and the ``create`` to call."""

    name: str
    nonstream_create: Create
    stream_create: Create
    enable: Callable[[], None] = field(default=lambda: None)
    disable: Callable[[], None] = field(default=lambda: None)

    def create_for(self, variant: Variant) -> Create:
        """The callable used for ``variant``."""
        return self.stream_create if variant.name == "stream" else self.nonstream_create


def sdk_create(clients: tuple[openai.OpenAI, openai.OpenAI]) -> tuple[Create, Create]:
    """Plain SDK ``create`` for the JSON and the SSE client (resolved per call, as applications do)."""
    json_client, sse_client = clients

    def json_create(**kwargs: Any) -> Any:
        return json_client.chat.completions.create(**kwargs)

    def sse_create(**kwargs: Any) -> Any:
        return sse_client.chat.completions.create(**kwargs)

    return json_create, sse_create
