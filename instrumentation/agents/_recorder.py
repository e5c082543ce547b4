"""The agent recorder: one span per decorated call, with the content policy of the LLM spans.

Life cycle as in the GenAI recorder: :meth:`AgentRecorder.start` (span opened with everything
known from the call, so samplers see it) → :meth:`~AgentRecorder.item` per value a generator
yields → :meth:`~AgentRecorder.stop` or :meth:`~AgentRecorder.fail` (result, span ended once).
The wrappers isolate every method (:mod:`.safety`); nothing here runs the user's function.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core import first_use
from driftline.instrumentation._core.config import Settings, load_settings
from driftline.instrumentation._core.content import ContentScrubber
from driftline.instrumentation._core.instrumentor import VERSION
from driftline.instrumentation._core.recorder import error_type
from driftline.instrumentation._core.scoped import current_scoped_attributes
from driftline.semconv import names

from ._operation import Operation
from ._tool_call import TOOL_KEY, ToolFrame, scoped_call_id

SCOPE_NAME = "driftline.instrumentation.agents"
"""Instrumentation scope of agent, tool and workflow spans."""

_ENV_KEYS = (names.ENV_CAPTURE_MESSAGE_CONTENT, names.ENV_CONTENT_MAX_LENGTH, names.ENV_CONTENT_REDACT,
             names.ENV_SPAN_ATTRIBUTES)


def _environment_reader(environ: Any) -> tuple[Any, Callable[[Any], object], tuple[Any, ...]]:
    """``(environ, get, keys)``: how to read the raw values of :data:`_ENV_KEYS` from ``environ``.

    ``os.environ.get`` of an unset variable costs a raised and caught ``KeyError`` (about 1 µs
    each, per call of every decorated function). CPython's ``os.environ`` keeps its values in a
    plain dict under encoded keys, read here directly; the values only tell whether anything
    changed (the settings are parsed from ``os.environ.get``). Another ``os.environ`` object, or
    one without that dict, is read with its own ``get``.
    """
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    if type(data) is dict and callable(encode):
        try:
            return environ, data.get, tuple(encode(key) for key in _ENV_KEYS)
        except Exception:
            pass
    return environ, environ.get, _ENV_KEYS


_reader = _environment_reader(os.environ)
"""Replaced as one tuple (never attribute by attribute), so threads always see a consistent reader."""


def _raw_environment() -> tuple[object, ...]:
    """The current raw values of :data:`_ENV_KEYS` (the cache key of the parsed settings)."""
    global _reader
    reader = _reader
    environ = os.environ
    if reader[0] is not environ:
        reader = _reader = _environment_reader(environ)
    return tuple(map(reader[1], reader[2]))


@dataclass(slots=True, eq=False)
class AgentCall:
    """One decorated call in flight: its span, the context its body runs in, its content budget."""

    op: Operation
    span: Span
    context: Context
    settings: Settings
    scrubber: ContentScrubber | None = None
    items: int = 0
    collected: list[str] | None = None
    collected_length: int = 0
    ended: bool = False


def _fallback(value: Any) -> Any:
    """JSON stand-in for what ``json`` cannot encode: pydantic models and dataclasses as their
    fields, sets as lists, anything else as its ``repr``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    return repr(value)


def to_content_json(value: Any) -> str:
    """Compact JSON of ``value`` (``repr`` where JSON has no encoding for it)."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_fallback)
    except Exception:
        # Circular structures, a model_dump that raises ...: the whole value as its repr.
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__} object>"
        return json.dumps(text, ensure_ascii=False)


class AgentRecorder:
    """Records decorated agent, tool and workflow calls on the global tracer provider."""

    __slots__ = ("_settings", "_tracer")

    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        self._settings: tuple[tuple[object, ...], Settings] | None = None

    def settings(self) -> Settings:
        """The content policy and custom attributes in effect now.

        Decorators have no ``instrument()`` to read the environment at, so it is read per call:
        four lookups, parsed again only when a value changed.
        """
        raw = _raw_environment()
        cached = self._settings
        if cached is not None and cached[0] == raw:
            return cached[1]
        environ = os.environ
        settings = load_settings({key: value for key in _ENV_KEYS if (value := environ.get(key)) is not None})
        self._settings = (raw, settings)
        return settings

    def tracer(self) -> Tracer:
        """The tracer (a proxy until the application installs its provider, then the real one)."""
        tracer = self._tracer
        if tracer is None:
            tracer = self._tracer = trace.get_tracer(SCOPE_NAME, VERSION)
        return tracer

    # -- life cycle -------------------------------------------------------------------------------

    def start(self, op: Operation, args: tuple[Any, ...], kwargs: Mapping[str, Any],
              call_id: str | None) -> AgentCall:
        """Open the INTERNAL span of one call (custom attributes first, the operation's own over them)."""
        if first_use.hooks:
            first_use.run_hooks()  # zero-code activation configures the SDK on the first span
        settings = self.settings()
        static = settings.static_attributes
        scoped = current_scoped_attributes()
        attrs: dict[str, AttributeValue]
        if static or scoped:
            attrs = {**static, **scoped}
            attrs.update(op.attributes)
        else:
            attrs = dict(op.attributes)
        span_name = op.span_name
        if op.from_instance and op.has_self and args:
            instance = args[0]
            for key, attribute in op.from_instance:
                value = getattr(instance, attribute, None)
                if isinstance(value, str) and value:
                    attrs[key] = value
            name = str(attrs[op.name_key])
            span_name = f"{op.operation} {name}"
        scope = None
        parent = otel_context.get_current()
        is_tool = op.is_tool
        if is_tool:
            from_block, scope = scoped_call_id(parent.get(TOOL_KEY))
            if call_id is None:
                call_id = from_block
            if call_id is not None:
                attrs[names.GEN_AI_TOOL_CALL_ID] = call_id
        scrubber = None
        if settings.capture.on_span:
            scrubber = ContentScrubber(settings)
            attrs[op.arguments_key] = scrubber.text(to_content_json(op.bound_arguments(args, kwargs)))
        tracer = self._tracer
        if tracer is None:
            tracer = self.tracer()
        span = tracer.start_span(span_name, context=parent, kind=SpanKind.INTERNAL, attributes=attrs)
        context = trace.set_span_in_context(span, parent)
        if is_tool:
            context = otel_context.set_value(TOOL_KEY, ToolFrame(span, scope), context)
        return AgentCall(op, span, context, settings, scrubber)

    def item(self, call: AgentCall, value: Any) -> None:
        """Count one value a generator yielded and, under content capture, keep it within budget."""
        call.items += 1
        if call.scrubber is None:
            return
        collected = call.collected
        if collected is None:
            collected = call.collected = []
        budget = call.settings.max_length
        if budget and call.collected_length > budget:
            return  # already over the budget: the result will be cut there anyway
        text = to_content_json(value)
        collected.append(text)
        call.collected_length += len(text) + 1

    def stop(self, call: AgentCall, result: Any) -> None:
        """Record the function's return value and end the span (no-op if already ended)."""
        if call.ended:
            return
        call.ended = True
        scrubber = call.scrubber
        if scrubber is None:
            call.span.end()  # nothing to add: content capture was off for this call
            return
        try:
            attrs: dict[str, AttributeValue] = {call.op.result_key: scrubber.text(to_content_json(result))}
            self._content_flags(call, attrs)
            call.span.set_attributes(attrs)
        finally:
            call.span.end()

    def stop_iteration(self, call: AgentCall, reason: str) -> None:
        """End a generator's span: items yielded, how iteration ended, the items under capture."""
        if call.ended:
            return
        call.ended = True
        try:
            call.span.set_attributes(self._iteration_attributes(call, reason))
        finally:
            call.span.end()

    def fail(self, call: AgentCall, exc: BaseException, reason: str | None = None) -> None:
        """Mark the span as failed (status ERROR, ``error.type``) and end it once.

        ``reason`` is set for generators (``error`` or ``cancelled``), whose items count too.
        """
        if call.ended:
            return
        call.ended = True
        try:
            attrs = self._iteration_attributes(call, reason) if reason is not None else {}
            attrs[names.ERROR_TYPE] = error_type(exc)
            if reason is None:
                self._content_flags(call, attrs)
            call.span.set_attributes(attrs)
            call.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"))
        finally:
            call.span.end()

    # -- helpers ----------------------------------------------------------------------------------

    def _iteration_attributes(self, call: AgentCall, reason: str) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {
            names.DRIFTLINE_STREAM_CHUNK_COUNT: call.items,
            names.DRIFTLINE_STREAM_END_REASON: reason,
        }
        if call.scrubber is not None:
            attrs[call.op.result_key] = call.scrubber.text("[" + ",".join(call.collected or ()) + "]")
        self._content_flags(call, attrs)
        return attrs

    @staticmethod
    def _content_flags(call: AgentCall, attrs: dict[str, AttributeValue]) -> None:
        scrubber = call.scrubber
        if scrubber is None:
            return
        if scrubber.truncated:
            attrs[names.DRIFTLINE_CONTENT_TRUNCATED] = True
        if scrubber.redacted:
            attrs[names.DRIFTLINE_CONTENT_REDACTED] = scrubber.redacted


RECORDER = AgentRecorder()
"""The one recorder behind every decorator."""
