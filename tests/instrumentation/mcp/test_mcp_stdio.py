"""MCP across processes: a real server subprocess over stdio, its spans shipped over OTLP/HTTP.

The client runs here (instrumented explicitly, spans in memory); the server is
``stdio_server.py`` started by the SDK's stdio client, instrumented either by its own
``instrument()`` call or by zero-code activation. Its spans arrive at an in-test OTLP sink; the
assertions are that they sit in the client's trace, under the client's span.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from driftline.instrumentation.auto import SUPPORTED
from driftline.instrumentation.mcp import MCPInstrumentor
from driftline.semconv import names
from tests.fakes.otlp_sink import OTLPSink, span_attributes

SERVER_SCRIPT = Path(__file__).with_name("stdio_server.py")
ROOT = Path(__file__).resolve().parents[3]
TIMEOUT = 30
# OTLP status code for ERROR (opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR).
OTLP_STATUS_ERROR = 2


@pytest.fixture
def client_spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = MCPInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    yield exporter
    instrumentor.uninstrument()


@pytest.fixture
def sink() -> Iterator[OTLPSink]:
    with OTLPSink() as receiver:
        yield receiver


def server_params(sink: OTLPSink, **env: str) -> StdioServerParameters:
    full_env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none", **env}
    return StdioServerParameters(command=sys.executable, args=[str(SERVER_SCRIPT)], env=full_env, cwd=str(ROOT))


def call_tools(params: StdioServerParameters, *calls: tuple[str, dict[str, Any]]) -> list[Any]:
    async def main() -> list[Any]:
        with anyio.fail_after(TIMEOUT):
            async with Client(params, mode="legacy") as client:
                return [await client.call_tool(name, args) for name, args in calls]

    return anyio.run(main)


def server_span(sink: OTLPSink, name: str, timeout: float = 0.0) -> Any:
    """The one span called ``name`` received from the server (waiting up to ``timeout`` for it)."""
    deadline = time.monotonic() + timeout
    cond: threading.Condition = sink._cond
    with cond:
        while True:
            found = [span for _, _, span in sink.spans() if span.name == name]
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                break
            cond.wait(remaining)
    assert len(found) == 1, [span.name for _, _, span in sink.spans()]
    return found[0]


def test_server_span_in_another_process_continues_the_client_trace(
        client_spans: InMemorySpanExporter, sink: OTLPSink) -> None:
    [result] = call_tools(server_params(sink), ("lookup_order", {"order_id": "A-17"}))
    assert result.content[0].text == "order A-17: shipped"

    [client_span] = [s for s in client_spans.get_finished_spans() if s.name == "execute_tool lookup_order"]
    remote = server_span(sink, "tools/call lookup_order")
    body = server_span(sink, "lookup_order.body")
    assert remote.trace_id == client_span.context.trace_id.to_bytes(16, "big")
    assert remote.parent_span_id == client_span.context.span_id.to_bytes(8, "big")
    assert body.trace_id == remote.trace_id
    assert body.parent_span_id == remote.span_id
    attrs = span_attributes(remote)
    assert attrs[names.MCP_METHOD_NAME] == "tools/call"
    assert attrs[names.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert attrs[names.GEN_AI_TOOL_NAME] == "lookup_order"
    assert attrs[names.JSONRPC_REQUEST_ID] == client_span.attributes[names.JSONRPC_REQUEST_ID]  # type: ignore[index]
    assert names.GEN_AI_TOOL_CALL_ARGUMENTS not in attrs
    scopes = {scope for _, scope, span in sink.spans() if span.trace_id == remote.trace_id}
    assert "mcp-python-sdk" not in scopes  # the SDK's own server span is replaced, not doubled


def test_tool_failure_in_the_server_process(client_spans: InMemorySpanExporter, sink: OTLPSink) -> None:
    [result] = call_tools(server_params(sink), ("explode", {}))
    assert result.is_error is True
    [client_span] = [s for s in client_spans.get_finished_spans() if s.name == "execute_tool explode"]
    assert client_span.status.status_code is StatusCode.ERROR
    assert (client_span.attributes or {})[names.ERROR_TYPE] == "tool_error"
    remote = server_span(sink, "tools/call explode")
    assert remote.status.code == OTLP_STATUS_ERROR
    assert span_attributes(remote)[names.ERROR_TYPE] == "tool_error"
    assert remote.parent_span_id == client_span.context.span_id.to_bytes(8, "big")


def test_content_policy_applies_in_the_server_process(client_spans: InMemorySpanExporter, sink: OTLPSink) -> None:
    params = server_params(sink, OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    call_tools(params, ("lookup_order", {"order_id": "A-17 for bob@example.org"}))
    attrs = span_attributes(server_span(sink, "tools/call lookup_order"))
    assert attrs[names.GEN_AI_TOOL_CALL_ARGUMENTS] == '{"order_id":"A-17 for [REDACTED:email]"}'
    assert "[REDACTED:email]" in attrs[names.GEN_AI_TOOL_CALL_RESULT]
    assert "bob@example.org" not in attrs[names.GEN_AI_TOOL_CALL_RESULT]


@pytest.mark.skipif("mcp" not in SUPPORTED,
                    reason="zero-code activation of MCP waits for 'mcp' in driftline.instrumentation.auto.SUPPORTED")
def test_auto_activated_server_continues_the_client_trace(client_spans: InMemorySpanExporter, sink: OTLPSink) -> None:
    # The dev virtualenv carries driftline-auto.pth (make venv), as a wheel install would.
    params = server_params(sink, DRIFTLINE_AUTO_INSTRUMENT="true", DRIFTLINE_TEST_MCP_SETUP="auto",
                           OTEL_SERVICE_NAME="mcp-auto-server", OTEL_BSP_SCHEDULE_DELAY="100")
    call_tools(params, ("lookup_order", {"order_id": "B-2"}))
    [client_span] = [s for s in client_spans.get_finished_spans() if s.name == "execute_tool lookup_order"]
    # Batched export: the spans leave the server by its exit at the latest; wait for them, bounded.
    remote = server_span(sink, "tools/call lookup_order", timeout=TIMEOUT)
    assert remote.trace_id == client_span.context.trace_id.to_bytes(16, "big")
    assert remote.parent_span_id == client_span.context.span_id.to_bytes(8, "big")
    body = server_span(sink, "lookup_order.body", timeout=TIMEOUT)
    assert body.parent_span_id == remote.span_id
    resources = [res for res, _, span in sink.spans() if span.name == "tools/call lookup_order"]
    assert resources[0]["service.name"] == "mcp-auto-server"
