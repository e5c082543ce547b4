"""The floor: the least an OpenTelemetry instrumentation can do to record what driftline records.

A hand-written function around one ``client.chat.completions.create`` call, specialised for it:
no patching, no generic mapping layer, no fault isolation, no suppression checks, no transparent
stream proxy (a streamed call returns a generator). It opens a CLIENT span with the attributes
driftline sets at start, makes it current for the call, sets the same response attributes, ends
the span, and (unless built without a meter) records the same histograms: operation duration,
input and output token usage, and time to first chunk for streams, with the span's context (so
exemplars are the same too). Attribute keys are checked against driftline's spans by the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import context, trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, MeterProvider
from opentelemetry.trace import Span, SpanKind, TracerProvider
from opentelemetry.util.types import AttributeValue

from driftline.semconv import names

_now = time.perf_counter


class FloorInstrumentation:
    """Records one chat completion by hand; ``meter_provider=None`` gives the span-only floor."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider | None) -> None:
        self._tracer = tracer_provider.get_tracer("driftline.benchmarks.floor")
        self._metrics = meter_provider is not None
        if meter_provider is not None:
            meter = meter_provider.get_meter("driftline.benchmarks.floor")
            self._duration: Histogram = meter.create_histogram(
                names.GEN_AI_CLIENT_OPERATION_DURATION, unit=names.GEN_AI_CLIENT_OPERATION_DURATION_UNIT,
                explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS))
            self._tokens: Histogram = meter.create_histogram(
                names.GEN_AI_CLIENT_TOKEN_USAGE, unit=names.GEN_AI_CLIENT_TOKEN_USAGE_UNIT,
                explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS))
            self._ttfc: Histogram = meter.create_histogram(
                names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK,
                unit=names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_UNIT,
                explicit_bucket_boundaries_advisory=list(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_BUCKETS))

    def create(self, client: Any, **kwargs: Any) -> Any:
        """``client.chat.completions.create(**kwargs)`` inside a span (a generator when streaming)."""
        model = kwargs["model"]
        url = client.base_url
        host, port = url.host, url.port or 443
        attrs: dict[str, AttributeValue] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
            names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
            names.GEN_AI_REQUEST_MODEL: model,
            names.SERVER_ADDRESS: host,
            names.SERVER_PORT: port,
        }
        if "temperature" in kwargs:
            attrs[names.GEN_AI_REQUEST_TEMPERATURE] = float(kwargs["temperature"])
        if "max_completion_tokens" in kwargs:
            attrs[names.GEN_AI_REQUEST_MAX_TOKENS] = kwargs["max_completion_tokens"]
        stream = kwargs.get("stream") is True
        if stream:
            attrs[names.GEN_AI_REQUEST_STREAM] = True
        span = self._tracer.start_span(f"chat {model}", kind=SpanKind.CLIENT, attributes=attrs)
        ctx = trace.set_span_in_context(span)
        token = context.attach(ctx)
        start = _now()
        try:
            result = client.chat.completions.create(**kwargs)
        except BaseException as exc:
            span.set_attribute(names.ERROR_TYPE, type(exc).__qualname__)
            span.end()
            raise
        finally:
            context.detach(token)
        metric_attrs: dict[str, AttributeValue] = {
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
            names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
            names.GEN_AI_REQUEST_MODEL: model,
            names.SERVER_ADDRESS: host,
            names.SERVER_PORT: port,
        }
        if stream:
            return self._stream(result, span, ctx, start, metric_attrs)
        usage = result.usage
        length = 0
        tool_calls = 0
        for choice in result.choices:
            message = choice.message
            if message.content:
                length += len(message.content)
            if message.tool_calls:
                tool_calls += len(message.tool_calls)
        span.set_attributes({
            names.GEN_AI_RESPONSE_ID: result.id,
            names.GEN_AI_RESPONSE_MODEL: result.model,
            names.GEN_AI_RESPONSE_FINISH_REASONS: tuple(c.finish_reason for c in result.choices),
            names.GEN_AI_USAGE_INPUT_TOKENS: usage.prompt_tokens,
            names.GEN_AI_USAGE_OUTPUT_TOKENS: usage.completion_tokens,
            names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.prompt_tokens_details.cached_tokens,
            names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: tool_calls,
            names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: length,
        })
        span.end()
        if self._metrics:
            metric_attrs[names.GEN_AI_RESPONSE_MODEL] = result.model
            self._record(start, None, usage, metric_attrs, ctx)
        return result

    def _stream(self, stream: Any, span: Span, ctx: Context, start: float,
                metric_attrs: dict[str, AttributeValue]) -> Iterator[Any]:
        count = 0
        ttfc = 0.0
        response_id = response_model = None
        usage = None
        reasons: list[str] = []
        length = 0
        tool_calls: set[int] = set()
        try:
            for chunk in stream:
                if count == 0:
                    ttfc = _now() - start
                    response_id, response_model = chunk.id, chunk.model
                count += 1
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        length += len(delta.content)
                    if delta.tool_calls:
                        tool_calls.update(call.index for call in delta.tool_calls)
                    if choice.finish_reason:
                        reasons.append(choice.finish_reason)
                yield chunk
        finally:
            attrs: dict[str, AttributeValue] = {
                names.GEN_AI_RESPONSE_ID: response_id or "",
                names.GEN_AI_RESPONSE_MODEL: response_model or "",
                names.GEN_AI_RESPONSE_FINISH_REASONS: tuple(reasons),
                names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: len(tool_calls),
                names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: length,
                names.DRIFTLINE_STREAM_CHUNK_COUNT: count,
                names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: ttfc,
                names.DRIFTLINE_STREAM_END_REASON: "completed",
            }
            if usage is not None:
                attrs[names.GEN_AI_USAGE_INPUT_TOKENS] = usage.prompt_tokens
                attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.completion_tokens
                attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.prompt_tokens_details.cached_tokens
            span.set_attributes(attrs)
            span.end()
            if self._metrics:
                metric_attrs[names.GEN_AI_RESPONSE_MODEL] = response_model or ""
                self._record(start, ttfc, usage, metric_attrs, ctx)

    def _record(self, start: float, ttfc: float | None, usage: Any, attrs: dict[str, AttributeValue],
                ctx: Context) -> None:
        self._duration.record(_now() - start, attrs, context=ctx)
        if ttfc is not None:
            self._ttfc.record(ttfc, attrs, context=ctx)
        if usage is not None:
            self._tokens.record(usage.prompt_tokens, {**attrs, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT},
                                context=ctx)
            self._tokens.record(usage.completion_tokens,
                                {**attrs, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT}, context=ctx)
