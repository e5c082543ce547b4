"""The OpenTelemetry SDK's own OTLP exporters (gRPC and HTTP/protobuf) send spans to the receivers:
every span must arrive with its ids, parent, kind, attributes and events intact."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from driftline.processors.config.model import (
    BearerTokenAuth,
    GRPCReceiverSettings,
    HTTPReceiverSettings,
    OTLPReceiverConfig,
)
from driftline.semconv import names
from tests.fakes.otlp_sink import any_value
from tests.processors.receivers.conftest import StartReceiver
from tests.processors.receivers.harness import Harness, loopback

pytestmark = pytest.mark.timeout(60)

TOKEN = "sdk-token"


def make_spans(count: int) -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-sender"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("receiver-tests", "1.0")
    for i in range(count // 2):
        with tracer.start_as_current_span("parent", kind=SpanKind.SERVER, attributes={"index": i}), \
                tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            child.set_attributes({names.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", "temperature": 0.25,
                                  "stream": True, "tags": ("a", "b"), "big": 2**62 + i})
            child.add_event("chunk", {"n": i})
            child.set_status(StatusCode.ERROR, "boom")
    provider.shutdown()
    return memory.get_finished_spans()


def received(harness: Harness) -> dict[tuple[bytes, bytes], Any]:
    spans: dict[tuple[bytes, bytes], Any] = {}
    for batch in harness.consumer.batches:
        for resource_spans in batch.request.resource_spans:
            service = {kv.key: any_value(kv.value) for kv in resource_spans.resource.attributes}
            assert service["service.name"] == "sdk-sender"
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "receiver-tests"
                for span in scope_spans.spans:
                    spans[(span.trace_id, span.span_id)] = span
    return spans


def assert_all_arrived(sent: Sequence[ReadableSpan], harness: Harness) -> None:
    arrived = received(harness)
    assert len(arrived) == len(sent)
    for original in sent:
        context = original.context
        assert context is not None
        span = arrived[(context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big"))]
        assert span.name == original.name
        parent = original.parent.span_id.to_bytes(8, "big") if original.parent else b""
        assert span.parent_span_id == parent
        assert span.kind == original.kind.value + 1  # OTLP's enum counts UNSPECIFIED as 0
        assert span.start_time_unix_nano == original.start_time
        expected = {key: list(value) if isinstance(value, tuple) else value
                    for key, value in (original.attributes or {}).items()}
        assert {kv.key: any_value(kv.value) for kv in span.attributes} == expected
        assert [event.name for event in span.events] == [event.name for event in original.events]


@pytest.mark.parametrize("gzip", [False, True])
async def test_sdk_grpc_exporter(receiver: StartReceiver, gzip: bool) -> None:
    harness = await receiver(OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(),
                                                                          auth=BearerTokenAuth(TOKEN))))
    exporter = GrpcSpanExporter(endpoint=harness.grpc_target, insecure=True, timeout=10,
                                headers={"authorization": f"Bearer {TOKEN}"},
                                compression=grpc.Compression.Gzip if gzip else None)
    spans = make_spans(40)
    try:
        result = await asyncio.to_thread(exporter.export, spans)
    finally:
        await asyncio.to_thread(exporter.shutdown)

    assert result is SpanExportResult.SUCCESS
    assert_all_arrived(spans, harness)
    assert harness.accepted("grpc") == 40


@pytest.mark.parametrize("gzip", [False, True])
async def test_sdk_http_exporter(receiver: StartReceiver, gzip: bool) -> None:
    harness = await receiver(OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback(),
                                                                          auth=BearerTokenAuth(TOKEN))))
    exporter = HttpSpanExporter(endpoint=harness.url, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"},
                                compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression)
    spans = make_spans(40)
    try:
        result = await asyncio.to_thread(exporter.export, spans)
    finally:
        await asyncio.to_thread(exporter.shutdown)

    assert result is SpanExportResult.SUCCESS
    assert_all_arrived(spans, harness)
    assert harness.accepted("http") == 40


async def test_sdk_http_exporter_without_the_token_is_refused(receiver: StartReceiver) -> None:
    harness = await receiver(OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback(),
                                                                          auth=BearerTokenAuth(TOKEN))))
    exporter = HttpSpanExporter(endpoint=harness.url, timeout=10)
    try:
        result = await asyncio.to_thread(exporter.export, make_spans(4))
    finally:
        await asyncio.to_thread(exporter.shutdown)

    assert result is SpanExportResult.FAILURE  # 401 is not retryable: the SDK gives up at once
    assert harness.consumer.batches == []
    assert harness.refused_requests("http", "unauthenticated") == 1
