"""The GenAI recorder: turns an :class:`LLMInvocation` into a span, an optional event and metrics.

Life cycle: :meth:`GenAIRecorder.start` (span opened with the request attributes, so samplers see
them) → :meth:`stop` or :meth:`fail` (response attributes, content, metrics, span ended once).
Every method is wrapped by the callers in fault isolation; nothing here touches the application's
objects — mappings translated them already.
"""

from __future__ import annotations

import timeit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import Logger
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from driftline.semconv import names

from . import first_use
from .config import Settings
from .content import ContentScrubber, to_json
from .invocation import LLMInvocation
from .metrics import GenAIMetrics
from .scoped import current_scoped_attributes

_now = timeit.default_timer

IN_CALL_KEY = otel_context.create_key("driftline-genai-call")
"""Context key set while a driftline-recorded call runs, so an SDK helper that calls another
patched method internally (``parse`` → ``create``) yields one span, not two."""

def error_type(exc: BaseException) -> str:
    """Low-cardinality ``error.type``: the exception class, qualified by its top-level package."""
    cls = type(exc)
    module = cls.__module__.split(".", 1)[0]
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


class GenAIRecorder:
    """Records GenAI client operations for one instrumentor (one tracer, meter and logger)."""

    __slots__ = ("_event_logger", "_metrics", "_tracer", "settings")

    def __init__(self, tracer: Tracer, metrics: GenAIMetrics, event_logger: Logger | None,
                 settings: Settings) -> None:
        self._tracer = tracer
        self._metrics = metrics
        self._event_logger = event_logger
        self.settings = settings

    @property
    def capture_content(self) -> bool:
        """Whether mappings should build content fields at all."""
        return self.settings.capture.enabled

    # -- life cycle -----------------------------------------------------------------------------
    # Hot path: start/stop run on every call; keep allocations to the attribute dicts.

    def start(self, inv: LLMInvocation) -> None:
        """Open the CLIENT span with the request attributes and the custom (static + scoped) ones."""
        if first_use.hooks:
            # Auto-activation configures the SDK here, lazily, so an application that installs
            # its own TracerProvider at start-up keeps it.
            first_use.run_hooks()
        # Custom attributes first (scoped over static), then driftline's own: a custom attribute
        # that happens to reuse a convention name cannot falsify what the call actually was.
        static = self.settings.static_attributes
        scoped = current_scoped_attributes()
        if scoped:
            attrs: dict[str, AttributeValue] = {**static, **scoped} if static else dict(scoped)
        else:
            attrs = dict(static) if static else {}
        attrs[names.GEN_AI_OPERATION_NAME] = inv.operation
        attrs[names.GEN_AI_PROVIDER_NAME] = inv.provider
        if inv.request_model:
            attrs[names.GEN_AI_REQUEST_MODEL] = inv.request_model
        if inv.server_address:
            attrs[names.SERVER_ADDRESS] = inv.server_address
            if inv.server_port:
                attrs[names.SERVER_PORT] = inv.server_port
        if inv.request_attributes:
            attrs.update(inv.request_attributes)
        name = f"{inv.operation} {inv.request_model}" if inv.request_model else inv.operation
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        inv.span = span
        inv.context = otel_context.set_value(IN_CALL_KEY, True, trace.set_span_in_context(span))
        inv.start_perf = _now()

    def first_chunk(self, inv: LLMInvocation) -> None:
        """Note the arrival of a stream's first chunk (time to first chunk)."""
        inv.time_to_first_chunk = _now() - inv.start_perf

    def stop(self, inv: LLMInvocation) -> None:
        """Record the response and end the span (no-op if already ended)."""
        if inv.ended or inv.span is None:
            return
        inv.ended = True
        span = inv.span
        try:
            attrs = self._response_attributes(inv)
            if self.settings.capture.enabled:
                self._content(inv, attrs)
            span.set_attributes(attrs)
        finally:
            # The span must end even if recording its attributes failed.
            span.end()
        self._record_metrics(inv, None)

    def fail(self, inv: LLMInvocation, exc: BaseException) -> None:
        """Mark the span as failed with ``error.type``, record what is known, end it once."""
        if inv.ended or inv.span is None:
            return
        inv.ended = True
        span = inv.span
        etype = error_type(exc)
        try:
            attrs = self._response_attributes(inv)
            attrs[names.ERROR_TYPE] = etype
            if self.settings.capture.enabled:
                self._content(inv, attrs)
            span.set_attributes(attrs)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {str(exc)[:200]}"))
        finally:
            span.end()
        self._record_metrics(inv, etype)

    def count_fault(self, step: str) -> None:
        """Count one swallowed internal fault in ``driftline.instrumentation.errors``."""
        self._metrics.errors.add(1, {names.DRIFTLINE_INSTRUMENTATION_STEP: step})

    # -- helpers --------------------------------------------------------------------------------

    def _response_attributes(self, inv: LLMInvocation) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {}
        if inv.response_id:
            attrs[names.GEN_AI_RESPONSE_ID] = inv.response_id
        if inv.response_model:
            attrs[names.GEN_AI_RESPONSE_MODEL] = inv.response_model
        if inv.finish_reasons:
            attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(inv.finish_reasons)
        if inv.input_tokens is not None:
            attrs[names.GEN_AI_USAGE_INPUT_TOKENS] = inv.input_tokens
        if inv.output_tokens is not None:
            attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] = inv.output_tokens
        if inv.cache_read_tokens is not None:
            attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = inv.cache_read_tokens
        if inv.cache_creation_tokens is not None:
            attrs[names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = inv.cache_creation_tokens
        if inv.reasoning_tokens is not None:
            attrs[names.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = inv.reasoning_tokens
        if inv.tool_call_count is not None:
            attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] = inv.tool_call_count
        if inv.output_length is not None:
            attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] = inv.output_length
        if inv.stream:
            attrs[names.DRIFTLINE_STREAM_CHUNK_COUNT] = inv.chunk_count
            if inv.time_to_first_chunk is not None:
                attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = inv.time_to_first_chunk
            if inv.stream_end_reason:
                attrs[names.DRIFTLINE_STREAM_END_REASON] = inv.stream_end_reason
        if inv.response_attributes:
            attrs.update(inv.response_attributes)
        return attrs

    def _content(self, inv: LLMInvocation, attrs: dict[str, AttributeValue]) -> None:
        scrubber = ContentScrubber(self.settings)
        content: dict[str, AttributeValue] = {}
        for key, value in (
            (names.GEN_AI_INPUT_MESSAGES, inv.input_messages),
            (names.GEN_AI_SYSTEM_INSTRUCTIONS, inv.system_instructions),
            (names.GEN_AI_TOOL_DEFINITIONS, inv.tool_definitions),
            (names.GEN_AI_OUTPUT_MESSAGES, inv.output_messages),
        ):
            if value:
                # Tool definitions are schemas written by the developer, not user text: not redacted.
                content[key] = to_json(scrubber.scrub(value) if key != names.GEN_AI_TOOL_DEFINITIONS else value)
        if scrubber.truncated:
            attrs[names.DRIFTLINE_CONTENT_TRUNCATED] = True
        if scrubber.redacted:
            attrs[names.DRIFTLINE_CONTENT_REDACTED] = scrubber.redacted
        if self.settings.capture.on_span:
            attrs.update(content)
        if self.settings.capture.on_event and self._event_logger is not None and content:
            event_attrs: dict[str, AttributeValue] = {
                names.GEN_AI_OPERATION_NAME: inv.operation,
                names.GEN_AI_PROVIDER_NAME: inv.provider,
            }
            if inv.request_model:
                event_attrs[names.GEN_AI_REQUEST_MODEL] = inv.request_model
            if inv.response_id:
                event_attrs[names.GEN_AI_RESPONSE_ID] = inv.response_id
            event_attrs.update(content)
            self._event_logger.emit(
                event_name=names.GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS,
                attributes=event_attrs,
                context=inv.context,
            )

    def _record_metrics(self, inv: LLMInvocation, etype: str | None) -> None:
        attrs: dict[str, AttributeValue] = {
            names.GEN_AI_OPERATION_NAME: inv.operation,
            names.GEN_AI_PROVIDER_NAME: inv.provider,
        }
        if inv.request_model:
            attrs[names.GEN_AI_REQUEST_MODEL] = inv.request_model
        if inv.response_model:
            attrs[names.GEN_AI_RESPONSE_MODEL] = inv.response_model
        if inv.server_address:
            attrs[names.SERVER_ADDRESS] = inv.server_address
            if inv.server_port:
                attrs[names.SERVER_PORT] = inv.server_port
        if etype:
            attrs[names.ERROR_TYPE] = etype
        # The span's context makes exemplars point at this call's trace (metrics → trace links).
        ctx = inv.context
        metrics = self._metrics
        metrics.duration.record(_now() - inv.start_perf, attrs, context=ctx)
        if inv.time_to_first_chunk is not None:
            metrics.time_to_first_chunk.record(inv.time_to_first_chunk, attrs, context=ctx)
        if inv.input_tokens is not None:
            metrics.token_usage.record(
                inv.input_tokens, {**attrs, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT}, context=ctx)
        if inv.output_tokens is not None:
            metrics.token_usage.record(
                inv.output_tokens, {**attrs, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT}, context=ctx)

