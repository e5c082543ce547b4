"""A small MCP server run as a real subprocess over stdio by the tests.

``DRIFTLINE_TEST_MCP_SETUP=explicit`` (default): the script configures an OTLP/HTTP exporter to
``OTEL_EXPORTER_OTLP_ENDPOINT`` with a synchronous span processor and calls
``MCPInstrumentor().instrument()`` itself. ``auto``: nothing here; zero-code activation
(``DRIFTLINE_AUTO_INSTRUMENT=true``) is expected to do everything.
"""

from __future__ import annotations

import os

from opentelemetry import trace

if os.environ.get("DRIFTLINE_TEST_MCP_SETUP", "explicit") == "explicit":
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from driftline.instrumentation.mcp import MCPInstrumentor

    provider = TracerProvider(resource=Resource.create({"service.name": "mcp-tool-server"}))
    endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] + "/v1/traces"
    # Synchronous export: the server span is at the sink before the response reaches the client.
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    MCPInstrumentor().instrument()

from mcp.server.mcpserver import MCPServer

server = MCPServer("driftline-test-tools")
_tracer = trace.get_tracer("tests.mcp.tool_body")


@server.tool()
def lookup_order(order_id: str) -> str:
    """Find an order (the body records a span of its own)."""
    with _tracer.start_as_current_span("lookup_order.body") as span:
        span.set_attribute("order.id", order_id)
        return f"order {order_id}: shipped"


@server.tool()
def explode() -> str:
    """Always fails inside the tool."""
    raise RuntimeError("warehouse offline")


if __name__ == "__main__":
    server.run("stdio")
