"""MCP instrumentation (the ``mcp`` Python SDK): client requests and server handling, one trace.

>>> from driftline.instrumentation.mcp import MCPInstrumentor
>>> MCPInstrumentor().instrument()

* Client: every request a ``ClientSession`` sends is a CLIENT span; ``call_tool`` is the GenAI
  ``execute_tool {tool}`` span (``gen_ai.operation.name=execute_tool``, ``gen_ai.tool.name``,
  ``mcp.method.name=tools/call``, ``jsonrpc.request.id``, ``mcp.protocol.version``); other
  requests are named by method (``tools/list``, ``prompts/get {prompt}``, ``resources/read``).
  The span's W3C trace context travels in the request's ``params._meta``.
* Server: every handled message is a SERVER span (``tools/call {tool}``, ...) whose parent is
  the client span from ``_meta``, so a tool run in another process sits in the caller's trace;
  the tool's own spans nest under it.
* ``isError`` tool results end the span as ``ERROR`` with ``error.type=tool_error``; JSON-RPC
  errors record the code as ``error.type`` and ``rpc.response.status_code``. Tool arguments and
  results are recorded only under the content policy (redacted, size-limited).

The mcp SDK 2.x emits spans of its own (scope ``mcp-python-sdk``); for every request driftline
records, driftline's span takes their place (one span per request and side), and
``uninstrument()`` gives the SDK its own back. Also activated by ``DRIFTLINE_AUTO_INSTRUMENT=true``
and ``opentelemetry-instrument`` (entry point ``driftline_mcp``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from driftline.instrumentation._core.config import load_settings
from driftline.instrumentation._core.instrumentor import VERSION

from ._patches import Binding, client_send_request, native_client_span, server_middleware
from ._recorder import MCPRecorder

__all__ = ["MCPInstrumentor"]

# (module, "Class.method" or module-level function, wrapper factory). Absent targets (an SDK
# version without them) are skipped: older SDKs get the spans they have hooks for.
_PATCHES: tuple[tuple[str, str, Callable[[Binding], Callable[..., Any]]], ...] = (
    ("mcp.client.session", "ClientSession.send_request", client_send_request),
    ("mcp.shared.jsonrpc_dispatcher", "otel_span", native_client_span),
    ("mcp.server._otel", "OpenTelemetryMiddleware.__call__", server_middleware),
)


class MCPInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Client and server spans, with trace context carried in ``params._meta``, for the ``mcp`` SDK.

    ``instrument()`` accepts ``tracer_provider`` (default: the global one). Instrumenting twice is
    a no-op; ``uninstrument()`` restores the SDK's original functions.
    """

    scope_name = "driftline.instrumentation.mcp"

    def __init__(self) -> None:
        # BaseInstrumentor is a per-class singleton; __init__ may run more than once.
        if not hasattr(self, "_binding"):
            self._binding = Binding()
            self._applied: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        """Requirement strings that must be importable for ``instrument()`` to act."""
        return ("mcp >= 1.2",)

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(self.scope_name, VERSION, tracer_provider=kwargs.get("tracer_provider"))
        self._binding.recorder = MCPRecorder(tracer, load_settings())
        for module_name, target, factory in _PATCHES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:
                continue
            owner_name, _, attribute = target.rpartition(".")
            owner = getattr(module, owner_name, None) if owner_name else module
            if owner is None or not hasattr(owner, attribute):
                continue
            wrapt.wrap_function_wrapper(owner, attribute, factory(self._binding))
            self._applied.append((owner, attribute))

    def _uninstrument(self, **kwargs: Any) -> None:
        self._binding.recorder = None
        while self._applied:
            owner, attribute = self._applied.pop()
            unwrap(owner, attribute)
