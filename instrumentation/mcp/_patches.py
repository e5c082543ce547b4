"""The wrapt wrappers around the ``mcp`` SDK: thin hooks that feed :class:`MCPRecorder`.

* ``ClientSession.send_request`` — every client request (``call_tool``, ``list_tools``,
  ``read_resource``, ``get_prompt``, ...) runs inside driftline's CLIENT span.
* The SDK's outbound-request span (``mcp.shared.jsonrpc_dispatcher.otel_span``, mcp 2.x) —
  inside a request driftline records, driftline's span takes its place: the SDK then records the
  JSON-RPC id on it and injects *its* context into ``params._meta``, so one request is one span.
* The SDK's server middleware (``OpenTelemetryMiddleware.__call__``, mcp 2.x) — each handled
  message gets driftline's SERVER span instead, continued from the trace context in ``_meta``.

Outside a recorded request every hook defers to the SDK untouched. The user's exceptions pass
through unchanged; driftline's own faults are reported (:func:`report_fault`) and swallowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from driftline.instrumentation._core.safety import report_fault
from driftline.semconv import names

from ._recorder import CLIENT_CALL_KEY, MCPCall, MCPRecorder


class Binding:
    """Mutable link from installed wrappers to the active recorder (None = pass through)."""

    __slots__ = ("recorder",)

    def __init__(self) -> None:
        self.recorder: MCPRecorder | None = None


def _active(binding: Binding) -> MCPRecorder | None:
    rec = binding.recorder
    return rec if rec is not None and is_instrumentation_enabled() else None


def _finish(rec: MCPRecorder, call: MCPCall, result: Any, step: str) -> None:
    try:
        rec.stop(call, result)
    except Exception:
        report_fault(f"{step}.stop")


def _abort(rec: MCPRecorder, call: MCPCall, exc: BaseException, step: str) -> None:
    try:
        rec.fail(call, exc)
    except Exception:
        report_fault(f"{step}.fail")


def _request_fields(request: Any) -> tuple[str, Mapping[str, Any] | None]:
    """Method and params of a typed client request (2.x models; 1.x ``ClientRequest`` root models)."""
    request = getattr(request, "root", request)
    method = request.method
    params = getattr(request, "params", None)
    if params is None:
        return method, None
    if isinstance(params, Mapping):
        return method, params
    # Attribute reads, not model_dump: the hot path should not serialise the request twice.
    fields: dict[str, Any] = {}
    for key in ("name", "arguments", "uri"):
        value = getattr(params, key, None)
        if value is not None:
            fields[key] = value
    return method, fields


def _protocol_version(session: Any) -> str | None:
    version = getattr(session, "protocol_version", None)
    return version if isinstance(version, str) else None


def client_send_request(binding: Binding) -> Callable[..., Any]:
    """Wrapper for ``ClientSession.send_request(request, result_type, ...)``."""

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        rec = _active(binding)
        if rec is None:
            return await wrapped(*args, **kwargs)
        try:
            request = args[0] if args else kwargs["request"]
            method, params = _request_fields(request)
            call: MCPCall | None = rec.start_client(method, params, _protocol_version(instance))
        except Exception:
            report_fault("mcp.client.start")
            call = None
        if call is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _abort(rec, call, exc, "mcp.client")
            raise
        finally:
            otel_context.detach(token)
        _finish(rec, call, result, "mcp.client")
        return result

    return wrapper


@contextmanager
def _adopted(call: MCPCall) -> Iterator[Any]:
    # Driftline's span stands in for the SDK's: current while the request is written and awaited
    # (so the SDK injects its context into _meta and records JSON-RPC errors on it), ended by
    # driftline, not here.
    with trace.use_span(call.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
        yield call.span


def native_client_span(binding: Binding) -> Callable[..., Any]:
    """Wrapper for the SDK's ``otel_span(name, *, kind, attributes, ...)`` in its JSON-RPC dispatcher."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        call = otel_context.get_value(CLIENT_CALL_KEY)
        rec = binding.recorder
        if rec is None or not isinstance(call, MCPCall) or call.wire_bound or call.ended:
            return wrapped(*args, **kwargs)
        try:
            attributes = kwargs.get("attributes") or {}
            if attributes.get(names.MCP_METHOD_NAME) != call.method:
                return wrapped(*args, **kwargs)  # not the request driftline is recording
            rec.bind_request_id(call, attributes.get(names.JSONRPC_REQUEST_ID))
            return _adopted(call)
        except Exception:
            report_fault("mcp.client.bind")
            return wrapped(*args, **kwargs)

    return wrapper


def server_middleware(binding: Binding) -> Callable[..., Any]:
    """Wrapper for ``OpenTelemetryMiddleware.__call__(ctx, call_next)``: driftline's SERVER span
    replaces the SDK's for every handled request and notification."""

    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        rec = _active(binding)
        if rec is None:
            return await wrapped(*args, **kwargs)
        try:
            ctx = args[0] if args else kwargs["ctx"]
            call_next = args[1] if len(args) > 1 else kwargs["call_next"]
            call: MCPCall | None = rec.start_server(ctx.method, ctx.params, ctx.meta, ctx.request_id,
                                                    getattr(ctx, "protocol_version", None))
        except Exception:
            report_fault("mcp.server.start")
            call = None
        if call is None:
            return await wrapped(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await call_next(ctx)
        except BaseException as exc:
            _abort(rec, call, exc, "mcp.server")
            raise
        finally:
            otel_context.detach(token)
        _finish(rec, call, result, "mcp.server")
        return result

    return wrapper
