"""The MCP recorder: one span per MCP request, client side (CLIENT) and server side (SERVER).

Life cycle, as in the GenAI recorder: :meth:`MCPRecorder.start_client` / :meth:`start_server`
open the span with what the request says (visible to samplers) → :meth:`stop` (result) or
:meth:`fail` (exception) end it once. The patches in ``_client`` / ``_server`` translate the
SDK's objects into a method name and a params mapping at the edge; nothing here holds on to
the application's objects. Callers wrap every method in fault isolation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core import first_use
from driftline.instrumentation._core.config import Settings
from driftline.instrumentation._core.content import ContentScrubber, to_json
from driftline.instrumentation._core.recorder import error_type
from driftline.instrumentation._core.scoped import current_scoped_attributes
from driftline.semconv import names

CLIENT_CALL_KEY = otel_context.create_key("driftline-mcp-client-call")
"""Context key holding the :class:`MCPCall` of the client request being sent (so the SDK's own
outbound-span hook can hand the request over to driftline's span)."""

_URI_METHODS = frozenset({names.MCP_METHOD_RESOURCES_READ, names.MCP_METHOD_RESOURCES_SUBSCRIBE,
                          names.MCP_METHOD_RESOURCES_UNSUBSCRIBE})
# JSON-RPC "Invalid params": what an MCP server answers when request params fail validation.
_INVALID_PARAMS = -32602
# Result fields that are protocol bookkeeping, not what the tool returned.
_RESULT_BOOKKEEPING = frozenset({"_meta", "isError", "is_error", "meta"})


@dataclass(slots=True)
class MCPCall:
    """One MCP request being recorded."""

    method: str
    span: Span
    context: Context
    tool: bool
    wire_bound: bool = False
    """Set once the SDK's outbound hook has attached the request's JSON-RPC id to this span."""
    ended: bool = False
    redacted: int = 0
    """Values redacted so far in this call's captured content (arguments, then result)."""
    truncated: bool = False


def _target(method: str, params: Mapping[str, Any] | None) -> str | None:
    """The low-cardinality name that goes into the span name (tool or prompt name), if any."""
    if params is None or method not in (names.MCP_METHOD_TOOLS_CALL, names.MCP_METHOD_PROMPTS_GET):
        return None
    name = params.get("name")
    return name if isinstance(name, str) else None


def jsonrpc_error_code(exc: BaseException) -> int | None:
    """The JSON-RPC error code an MCP exception carries (``MCPError`` / 1.x ``McpError``), else None."""
    code = getattr(getattr(exc, "error", None), "code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if type(exc).__name__ == "ValidationError":  # pydantic: the server answers "Invalid params"
        return _INVALID_PARAMS
    return None


def is_tool_error(result: Any) -> bool:
    """Whether a ``tools/call`` result (model on the client, wire dict on the server) has ``isError``."""
    if isinstance(result, Mapping):
        return result.get("isError") is True
    return getattr(result, "is_error", None) is True


def _result_payload(result: Any) -> Any:
    """What a tool returned, as JSON-able data, without protocol bookkeeping."""
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(result, Mapping):
        return {k: v for k, v in result.items() if k not in _RESULT_BOOKKEEPING}
    return result


class MCPRecorder:
    """Records MCP requests for one instrumentor (one tracer, one set of settings)."""

    __slots__ = ("_tracer", "settings")

    def __init__(self, tracer: Tracer, settings: Settings) -> None:
        self._tracer = tracer
        self.settings = settings

    # -- start ----------------------------------------------------------------------------------

    def start_client(self, method: str, params: Mapping[str, Any] | None,
                     protocol_version: str | None) -> MCPCall:
        """Open the CLIENT span of an outgoing request; ``tools/call`` is an ``execute_tool`` span."""
        attrs = self._request_attributes(method, params, protocol_version, None)
        target = _target(method, params)
        if method == names.MCP_METHOD_TOOLS_CALL:
            # The GenAI conventions' execute_tool span (the MCP conventions call it compatible).
            name = f"{names.OPERATION_EXECUTE_TOOL} {target}" if target else names.OPERATION_EXECUTE_TOOL
        else:
            name = f"{method} {target}" if target else method
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        call = MCPCall(method, span, otel_context.get_current(), method == names.MCP_METHOD_TOOLS_CALL)
        call.context = otel_context.set_value(CLIENT_CALL_KEY, call, trace.set_span_in_context(span))
        self._note_content(call, attrs)
        return call

    def start_server(self, method: str, params: Mapping[str, Any] | None, meta: Mapping[str, Any] | None,
                     request_id: Any, protocol_version: str | None) -> MCPCall:
        """Open the SERVER span of a handled request, parented to the trace context in ``params._meta``.

        The ambient context (e.g. the HTTP request's span) is linked when it is a different span,
        as the MCP conventions recommend; with no usable ``_meta`` it is the parent instead.
        """
        attrs = self._request_attributes(method, params, protocol_version, request_id)
        parent: Context | None = None
        links: list[Link] = []
        if meta:
            extracted = propagate.extract(dict(meta))
            remote = trace.get_current_span(extracted).get_span_context()
            if remote.is_valid:
                parent = extracted
                ambient = trace.get_current_span().get_span_context()
                if ambient.is_valid and ambient.span_id != remote.span_id:
                    links.append(Link(ambient))
        target = _target(method, params)
        name = f"{method} {target}" if target else method
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attrs, links=links)
        # In-process transports carry the sender's context along with each message; the client call
        # recorded there must not be mistaken for one the handler itself makes.
        ctx = otel_context.set_value(CLIENT_CALL_KEY, None, trace.set_span_in_context(span))
        call = MCPCall(method, span, ctx, method == names.MCP_METHOD_TOOLS_CALL)
        self._note_content(call, attrs)
        return call

    def bind_request_id(self, call: MCPCall, request_id: Any) -> None:
        """Record the JSON-RPC id the SDK assigned to the request (client side)."""
        call.wire_bound = True
        if request_id is not None:
            call.span.set_attribute(names.JSONRPC_REQUEST_ID, str(request_id))

    # -- end ------------------------------------------------------------------------------------

    def stop(self, call: MCPCall, result: Any) -> None:
        """End the span with the result; a ``tools/call`` result with ``isError`` is an error."""
        if call.ended:
            return
        call.ended = True
        try:
            if call.tool:
                attrs: dict[str, AttributeValue] = {}
                if self.settings.capture.on_span:
                    self._content(attrs, names.GEN_AI_TOOL_CALL_RESULT, _result_payload(result), call)
                if is_tool_error(result):
                    attrs[names.ERROR_TYPE] = names.ERROR_TYPE_TOOL_ERROR
                    call.span.set_status(Status(StatusCode.ERROR))
                if attrs:
                    call.span.set_attributes(attrs)
        finally:
            call.span.end()

    def fail(self, call: MCPCall, exc: BaseException) -> None:
        """End the span as failed: ``error.type`` is the JSON-RPC error code or the exception class."""
        if call.ended:
            return
        call.ended = True
        try:
            code = jsonrpc_error_code(exc)
            attrs: dict[str, AttributeValue] = {}
            if code is not None:
                attrs[names.ERROR_TYPE] = str(code)
                attrs[names.RPC_RESPONSE_STATUS_CODE] = str(code)
                message = getattr(getattr(exc, "error", None), "message", None)
                description = message if isinstance(message, str) else f"{type(exc).__name__}: {str(exc)[:200]}"
            else:
                attrs[names.ERROR_TYPE] = error_type(exc)
                description = f"{type(exc).__name__}: {str(exc)[:200]}"
            call.span.set_attributes(attrs)
            call.span.set_status(Status(StatusCode.ERROR, description))
        finally:
            call.span.end()

    # -- helpers --------------------------------------------------------------------------------

    def _request_attributes(self, method: str, params: Mapping[str, Any] | None, protocol_version: str | None,
                            request_id: Any) -> dict[str, AttributeValue]:
        if first_use.hooks:
            # Auto-activation configures the SDK lazily, on the first span driftline starts.
            first_use.run_hooks()
        # Custom attributes first (scoped over static), then the request's own, which win.
        static = self.settings.static_attributes
        scoped = current_scoped_attributes()
        attrs: dict[str, AttributeValue] = {**static, **scoped} if scoped else dict(static)
        attrs[names.MCP_METHOD_NAME] = method
        if protocol_version:
            attrs[names.MCP_PROTOCOL_VERSION] = protocol_version
        if request_id is not None:
            attrs[names.JSONRPC_REQUEST_ID] = str(request_id)
        params = params or {}
        if method == names.MCP_METHOD_TOOLS_CALL:
            attrs[names.GEN_AI_OPERATION_NAME] = names.OPERATION_EXECUTE_TOOL
            tool = params.get("name")
            if isinstance(tool, str):
                attrs[names.GEN_AI_TOOL_NAME] = tool
            if self.settings.capture.on_span and params.get("arguments") is not None:
                self._content(attrs, names.GEN_AI_TOOL_CALL_ARGUMENTS, params["arguments"])
        elif method == names.MCP_METHOD_PROMPTS_GET:
            prompt = params.get("name")
            if isinstance(prompt, str):
                attrs[names.GEN_AI_PROMPT_NAME] = prompt
        elif method in _URI_METHODS:
            uri = params.get("uri")
            if uri is not None:
                attrs[names.MCP_RESOURCE_URI] = str(uri)
        return attrs

    @staticmethod
    def _note_content(call: MCPCall, attrs: Mapping[str, AttributeValue]) -> None:
        """Carry what the request's content capture did over to the result's (counts add up)."""
        redacted = attrs.get(names.DRIFTLINE_CONTENT_REDACTED)
        call.redacted = redacted if isinstance(redacted, int) else 0
        call.truncated = attrs.get(names.DRIFTLINE_CONTENT_TRUNCATED) is True

    def _content(self, attrs: dict[str, AttributeValue], key: str, value: Any, call: MCPCall | None = None) -> None:
        """Put ``value`` on the span as JSON, redacted and cut to the size budget (content policy)."""
        scrubber = ContentScrubber(self.settings)
        attrs[key] = to_json(scrubber.scrub(value, free_text=True))
        redacted = scrubber.redacted + (call.redacted if call else 0)
        if scrubber.truncated or (call is not None and call.truncated):
            attrs[names.DRIFTLINE_CONTENT_TRUNCATED] = True
        if redacted:
            attrs[names.DRIFTLINE_CONTENT_REDACTED] = redacted
