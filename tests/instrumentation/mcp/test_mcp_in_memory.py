"""MCP client and server in one process over the SDK's in-memory JSON-RPC transport.

The real ``mcp`` SDK on both sides: ``Client(server, mode="legacy")`` drives the initialize
handshake and JSON-RPC framing through memory streams, so trace context really travels in
``params._meta`` and the server really continues it. Spans go to a provider passed explicitly to
``instrument()``; the tool body records with a plain tracer from the same provider.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import wrapt
from mcp import Client
from mcp.client.session import ClientSession
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation import span_attributes
from driftline.instrumentation._core import safety
from driftline.instrumentation.mcp import MCPInstrumentor
from driftline.instrumentation.mcp._recorder import MCPRecorder
from driftline.semconv import names
from tests.conftest import _SPANS as GLOBAL_SPANS

TIMEOUT = 20
DRIFTLINE_SCOPE = "driftline.instrumentation.mcp"
NATIVE_SCOPE = "mcp-python-sdk"


class Recorded:
    """The spans one test produced, with lookups by name."""

    def __init__(self, exporter: InMemorySpanExporter, provider: TracerProvider) -> None:
        self.exporter = exporter
        self.provider = provider

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def one(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Recorded]]:
    """``recorded(**env)``: set env, instrument MCP with a fresh provider, return its spans."""
    instrumentor = MCPInstrumentor()

    def setup(**env: str) -> Recorded:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        instrumentor.instrument(tracer_provider=provider)
        return Recorded(exporter, provider)

    safety.reset_faults()
    GLOBAL_SPANS.clear()
    yield setup
    instrumentor.uninstrument()
    GLOBAL_SPANS.clear()


def make_server(provider: TracerProvider | None) -> MCPServer:
    server = MCPServer("driftline-test")
    tracer = (provider or TracerProvider()).get_tracer("tests.mcp.tool_body")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two numbers; the body records its own span."""
        with tracer.start_as_current_span("add.body"):
            return a + b

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"echo: {text}"

    @server.tool()
    def explode() -> str:
        """Fails inside the tool: the SDK answers with an isError result."""
        raise RuntimeError("warehouse offline")

    @server.tool()
    def refuse() -> str:
        """Fails with a JSON-RPC error."""
        raise MCPError(-32001, "quota exhausted")

    @server.prompt()
    def greet(name: str) -> str:
        """A prompt."""
        return f"Say hello to {name}"

    @server.resource("res://inventory")
    def inventory() -> str:
        """A resource."""
        return "42 widgets"

    return server


async def run_client(server: MCPServer, body: Callable[[Client], Any]) -> Any:
    with anyio.fail_after(TIMEOUT):
        async with Client(server, mode="legacy") as client:
            return await body(client)


def test_call_tool_client_server_and_tool_body_form_one_trace(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()
    server = make_server(rec.provider)

    async def body(client: Client) -> Any:
        return await client.call_tool("add", {"a": 2, "b": 3}), client.protocol_version

    result, version = anyio.run(run_client, server, body)
    assert result.structured_content == {"result": 5}

    client_span = rec.one("execute_tool add")
    server_span = rec.one("tools/call add")
    body_span = rec.one("add.body")
    assert client_span.kind is SpanKind.CLIENT
    assert client_span.instrumentation_scope is not None
    assert client_span.instrumentation_scope.name == DRIFTLINE_SCOPE
    assert dict(client_span.attributes or {}) == {
        names.MCP_METHOD_NAME: "tools/call",
        names.GEN_AI_OPERATION_NAME: "execute_tool",
        names.GEN_AI_TOOL_NAME: "add",
        names.MCP_PROTOCOL_VERSION: version,
        names.JSONRPC_REQUEST_ID: server_span.attributes[names.JSONRPC_REQUEST_ID],  # type: ignore[index]
    }
    assert client_span.status.status_code is StatusCode.UNSET
    assert server_span.kind is SpanKind.SERVER
    assert dict(server_span.attributes or {}) == {
        names.MCP_METHOD_NAME: "tools/call",
        names.GEN_AI_OPERATION_NAME: "execute_tool",
        names.GEN_AI_TOOL_NAME: "add",
        names.MCP_PROTOCOL_VERSION: version,
        names.JSONRPC_REQUEST_ID: "2",  # 1 was initialize
    }
    # client → server (through params._meta) → tool body: one trace, parent links intact.
    assert server_span.context.trace_id == client_span.context.trace_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert server_span.parent.is_remote
    assert body_span.context.trace_id == client_span.context.trace_id
    assert body_span.parent is not None
    assert body_span.parent.span_id == server_span.context.span_id
    # One span per request and side: the SDK's own spans are replaced, not doubled.
    assert [s.name for s in GLOBAL_SPANS.get_finished_spans()
            if s.instrumentation_scope and s.instrumentation_scope.name == NATIVE_SCOPE] == []


def test_client_span_continues_the_callers_trace(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()
    server = make_server(rec.provider)
    agent_tracer = rec.provider.get_tracer("tests.agent")

    async def body(client: Client) -> Any:
        with agent_tracer.start_as_current_span("agent.step"):
            return await client.call_tool("echo", {"text": "hi"})

    anyio.run(run_client, server, body)
    step = rec.one("agent.step")
    client_span = rec.one("execute_tool echo")
    server_span = rec.one("tools/call echo")
    assert client_span.parent is not None
    assert client_span.parent.span_id == step.context.span_id
    assert server_span.parent is not None
    assert server_span.parent.span_id == client_span.context.span_id
    assert {client_span.context.trace_id, server_span.context.trace_id} == {step.context.trace_id}


def test_tool_error_result_marks_both_spans_and_is_returned_untouched(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()

    async def body(client: Client) -> Any:
        return await client.call_tool("explode", {})

    result = anyio.run(run_client, make_server(rec.provider), body)
    assert result.is_error is True
    for name in ("execute_tool explode", "tools/call explode"):
        span = rec.one(name)
        assert span.status.status_code is StatusCode.ERROR, name
        assert span.attributes is not None
        assert span.attributes[names.ERROR_TYPE] == "tool_error", name


def test_jsonrpc_error_records_the_code_and_reraises_the_same_exception(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()
    caught: list[BaseException] = []

    async def body(client: Client) -> Any:
        try:
            await client.call_tool("refuse", {})
        except MCPError as exc:
            caught.append(exc)

    anyio.run(run_client, make_server(rec.provider), body)
    assert len(caught) == 1
    assert caught[0].error.code == -32001
    for name in ("execute_tool refuse", "tools/call refuse"):
        span = rec.one(name)
        assert span.status.status_code is StatusCode.ERROR, name
        assert span.status.description == "quota exhausted", name
        assert span.attributes is not None
        assert span.attributes[names.ERROR_TYPE] == "-32001", name
        assert span.attributes[names.RPC_RESPONSE_STATUS_CODE] == "-32001", name


def test_client_side_exception_passes_through_unchanged(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()
    unserialisable = object()
    caught: list[BaseException] = []

    async def body(client: Client) -> Any:
        try:
            await client.call_tool("echo", {"text": unserialisable})
        except Exception as exc:
            caught.append(exc)

    anyio.run(run_client, make_server(rec.provider), body)
    assert len(caught) == 1
    assert type(caught[0]).__name__ == "PydanticSerializationError"
    span = rec.one("execute_tool echo")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes[names.ERROR_TYPE] == "pydantic_core.PydanticSerializationError"


def test_arguments_and_results_are_not_recorded_by_default(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()

    async def body(client: Client) -> Any:
        return await client.call_tool("echo", {"text": "alice@example.com"})

    anyio.run(run_client, make_server(rec.provider), body)
    for span in rec.spans():
        attrs = span.attributes or {}
        assert names.GEN_AI_TOOL_CALL_ARGUMENTS not in attrs, span.name
        assert names.GEN_AI_TOOL_CALL_RESULT not in attrs, span.name


def test_content_policy_records_redacted_arguments_and_results(recorded: Callable[..., Recorded]) -> None:
    rec = recorded(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")

    async def body(client: Client) -> Any:
        return await client.call_tool("echo", {"text": "mail alice@example.com"})

    anyio.run(run_client, make_server(rec.provider), body)
    for name in ("execute_tool echo", "tools/call echo"):
        attrs = rec.one(name).attributes or {}
        assert json.loads(str(attrs[names.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"text": "mail [REDACTED:email]"}, name
        result = json.loads(str(attrs[names.GEN_AI_TOOL_CALL_RESULT]))
        assert result["content"] == [{"type": "text", "text": "echo: mail [REDACTED:email]"}], name
        assert attrs[names.DRIFTLINE_CONTENT_REDACTED] == 3, name  # arguments, content, structuredContent


def test_content_policy_size_budget(recorded: Callable[..., Recorded]) -> None:
    rec = recorded(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="true", DRIFTLINE_CONTENT_MAX_LENGTH="10")

    async def body(client: Client) -> Any:
        return await client.call_tool("echo", {"text": "x" * 50})

    result = anyio.run(run_client, make_server(rec.provider), body)
    assert result.content[0].text == "echo: " + "x" * 50  # the application sees everything
    attrs = rec.one("execute_tool echo").attributes or {}
    assert json.loads(str(attrs[names.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"text": "x" * 10 + "…[truncated by driftline]"}
    assert attrs[names.DRIFTLINE_CONTENT_TRUNCATED] is True


def test_other_requests_are_named_by_method(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()

    async def body(client: Client) -> Any:
        await client.list_tools()
        await client.get_prompt("greet", {"name": "Ada"})
        await client.read_resource("res://inventory")

    anyio.run(run_client, make_server(rec.provider), body)
    listing = [s for s in rec.spans() if s.name == "tools/list"]
    assert sorted(s.kind.name for s in listing) == ["CLIENT", "SERVER"]
    prompt_client = next(s for s in rec.spans() if s.name == "prompts/get greet" and s.kind is SpanKind.CLIENT)
    assert (prompt_client.attributes or {})[names.GEN_AI_PROMPT_NAME] == "greet"
    assert names.GEN_AI_OPERATION_NAME not in (prompt_client.attributes or {})
    read = [s for s in rec.spans() if s.name == "resources/read"]
    assert len(read) == 2  # the URI stays out of the span name (cardinality)
    for span in read:
        assert (span.attributes or {})[names.MCP_RESOURCE_URI] == "res://inventory"
    read_client = next(s for s in read if s.kind is SpanKind.CLIENT)
    read_server = next(s for s in read if s.kind is SpanKind.SERVER)
    assert read_server.parent is not None
    assert read_server.parent.span_id == read_client.context.span_id


def test_scoped_attributes_reach_the_client_span(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()

    async def body(client: Client) -> Any:
        with span_attributes(tenant="acme", **{names.GEN_AI_TOOL_NAME: "spoofed"}):
            return await client.call_tool("echo", {"text": "hi"})

    anyio.run(run_client, make_server(rec.provider), body)
    attrs = rec.one("execute_tool echo").attributes or {}
    assert attrs["tenant"] == "acme"
    assert attrs[names.GEN_AI_TOOL_NAME] == "echo"  # a custom attribute cannot falsify the call


def test_a_broken_recorder_never_reaches_the_application(recorded: Callable[..., Recorded],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rec = recorded()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("driftline bug")

    monkeypatch.setattr(MCPRecorder, "start_client", broken)
    monkeypatch.setattr(MCPRecorder, "start_server", broken)

    async def body(client: Client) -> Any:
        return await client.call_tool("add", {"a": 1, "b": 1})

    result = anyio.run(run_client, make_server(rec.provider), body)
    assert result.structured_content == {"result": 2}
    counts = safety.fault_counts()
    assert counts["mcp.client.start"] >= 1
    assert counts["mcp.server.start"] >= 1
    assert [s.name for s in rec.spans()] == ["add.body"]


def test_uninstrument_restores_the_sdk(recorded: Callable[..., Recorded]) -> None:
    rec = recorded()
    assert isinstance(ClientSession.__dict__["send_request"], wrapt.FunctionWrapper)
    MCPInstrumentor().uninstrument()
    assert not isinstance(ClientSession.__dict__["send_request"], wrapt.FunctionWrapper)

    async def body(client: Client) -> Any:
        return await client.call_tool("echo", {"text": "hi"})

    anyio.run(run_client, make_server(rec.provider), body)
    assert [s for s in rec.spans() if s.instrumentation_scope and
            s.instrumentation_scope.name == DRIFTLINE_SCOPE] == []
    native = [s.name for s in GLOBAL_SPANS.get_finished_spans()
              if s.instrumentation_scope and s.instrumentation_scope.name == NATIVE_SCOPE]
    assert "MCP send tools/call echo" in native
    assert "tools/call echo" in native
