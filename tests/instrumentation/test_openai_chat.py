"""Chat Completions through the real openai SDK (sync and async) against the fake provider:
span shape, request parameters, tool calls, content policy, errors, metrics, raw responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation.openai import OpenAIInstrumentor
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, TOOL_CALL_TOKENS, FakeLLMServer
from tests.instrumentation.openai_support import CHAT_MODEL, Caller, histogram, only_llm_span, point_attrs
from tests.instrumentation.sdk_support import CONTENT_KEYS, SPAN_ONLY, attrs, response_model, sdk_fixture, user, words

sdk = sdk_fixture(Caller)


# -- the span of a plain call ------------------------------------------------------------------------


async def test_plain_chat_span(sdk: Caller, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    prompt = "Tell me something nice"

    result = await sdk.chat(prompt)

    span = only_llm_span(tel)
    assert span.name == f"chat {CHAT_MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert result.choices[0].message.content == DEFAULT_REPLY
    assert attrs(span) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
        names.GEN_AI_RESPONSE_ID: result.id,
        names.GEN_AI_RESPONSE_MODEL: response_model(CHAT_MODEL),
        names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        names.GEN_AI_USAGE_INPUT_TOKENS: words(prompt),
        names.GEN_AI_USAGE_OUTPUT_TOKENS: words(DEFAULT_REPLY),
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: 0,
        names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: len(DEFAULT_REPLY),
    }
    assert result.id.startswith("chatcmpl-")


@pytest.mark.parametrize(("params", "expected"), [
    pytest.param(
        {"temperature": 0.2, "top_p": 0.9, "max_tokens": 50, "seed": 7, "stop": "END",
         "frequency_penalty": 0.5, "presence_penalty": -0.5},
        {names.GEN_AI_REQUEST_TEMPERATURE: 0.2, names.GEN_AI_REQUEST_TOP_P: 0.9,
         names.GEN_AI_REQUEST_MAX_TOKENS: 50, names.GEN_AI_REQUEST_SEED: 7,
         names.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",), names.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.5,
         names.GEN_AI_REQUEST_PRESENCE_PENALTY: -0.5},
        id="sampling"),
    pytest.param(
        {"max_completion_tokens": 60, "stop": ["a", "b"], "n": 2, "response_format": {"type": "json_object"}},
        {names.GEN_AI_REQUEST_MAX_TOKENS: 60, names.GEN_AI_REQUEST_STOP_SEQUENCES: ("a", "b"),
         names.GEN_AI_REQUEST_CHOICE_COUNT: 2, names.GEN_AI_OUTPUT_TYPE: names.OUTPUT_TYPE_JSON},
        id="choices-and-json"),
    pytest.param(
        {"n": 1, "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
        {names.GEN_AI_OUTPUT_TYPE: names.OUTPUT_TYPE_JSON},
        id="n1-json-schema"),
])
async def test_request_parameters(sdk: Caller, telemetry: Callable[..., Telemetry], params: dict[str, Any],
                                  expected: dict[str, Any]) -> None:
    tel = telemetry()

    await sdk.chat("Hi", **params)

    span_attrs = attrs(only_llm_span(tel))
    request_keys = {k for k in span_attrs if k.startswith("gen_ai.request.") or k == names.GEN_AI_OUTPUT_TYPE}
    assert {k: span_attrs[k] for k in request_keys} == {names.GEN_AI_REQUEST_MODEL: CHAT_MODEL, **expected}
    # n == 1 is the default and is not worth an attribute.
    assert (names.GEN_AI_REQUEST_CHOICE_COUNT in span_attrs) == (params.get("n", 1) != 1)


class _StartAttributes(SpanProcessor):
    """Keeps each span's attributes as they were when it started (what samplers and tail
    processors that act on start see)."""

    def __init__(self) -> None:
        self.at_start: list[dict[str, Any]] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.at_start.append(dict(span.attributes or {}))

    def on_end(self, span: ReadableSpan) -> None:
        pass


async def test_request_attributes_are_set_when_the_span_starts(
        sdk: Caller, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    telemetry()
    instrumentor = OpenAIInstrumentor()
    instrumentor.uninstrument()
    capture = _StartAttributes()
    provider = TracerProvider()
    provider.add_span_processor(capture)
    instrumentor.instrument(tracer_provider=provider)

    await sdk.chat("Hi", temperature=0.5)

    assert len(capture.at_start) == 1
    assert capture.at_start[0] == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
        names.GEN_AI_REQUEST_TEMPERATURE: 0.5,
    }


# -- tool calls and content ----------------------------------------------------------------------------

_WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
_ASK_TOOLS = 'What is the weather? [[tool:get_weather:{"city": "Paris"}]] [[tool:get_time:{"zone": "CET"}]]'


async def _tool_round_trip(sdk: Caller) -> tuple[Any, Any]:
    """Ask for two tool calls, then send both results back; returns both completions."""
    first = await sdk.chat(_ASK_TOOLS, tools=[_WEATHER_TOOL])
    calls = first.choices[0].message.tool_calls
    history: list[dict[str, Any]] = [
        *user(_ASK_TOOLS),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in calls]},
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1].id, "content": [{"type": "text", "text": "noon"}]},
    ]
    second = await sdk("chat.completions.create", model=CHAT_MODEL, messages=history, tools=[_WEATHER_TOOL])
    return first, second


async def test_tool_calls_in_the_response(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    first, second = await _tool_round_trip(sdk)

    asked, answered = tel.llm_spans()
    assert [c.function.name for c in first.choices[0].message.tool_calls] == ["get_weather", "get_time"]
    assert attrs(asked)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert attrs(asked)[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 2
    assert attrs(asked)[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 2 * TOOL_CALL_TOKENS
    assert attrs(asked)[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == 0
    # The tool results went back: the fake answers with text and counts their words as input.
    assert second.choices[0].finish_reason == "stop"
    assert attrs(answered)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs(answered)[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 0
    assert attrs(answered)[names.GEN_AI_USAGE_INPUT_TOKENS] == words(_ASK_TOOLS, "sunny", "noon")
    # Default policy (NO_CONTENT): no prompt or completion leaves the process, not even on events.
    for span in (asked, answered):
        assert not set(CONTENT_KEYS) & set(attrs(span))
    assert tel.logs() == []


async def test_tool_calls_and_results_as_content(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)

    first, _ = await _tool_round_trip(sdk)

    asked, answered = tel.llm_spans()
    call_ids = [c.id for c in first.choices[0].message.tool_calls]
    output = json.loads(attrs(asked)[names.GEN_AI_OUTPUT_MESSAGES])
    assert output == [{"role": "assistant", "finish_reason": "tool_calls", "parts": [
        {"type": "tool_call", "id": call_ids[0], "name": "get_weather", "arguments": {"city": "Paris"}},
        {"type": "tool_call", "id": call_ids[1], "name": "get_time", "arguments": {"zone": "CET"}},
    ]}]
    assert json.loads(attrs(asked)[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": _ASK_TOOLS}]}]
    assert json.loads(attrs(asked)[names.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "get_weather", "description": "Weather for a city.",
         "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]

    history = json.loads(attrs(answered)[names.GEN_AI_INPUT_MESSAGES])
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "tool"]
    assert [p["type"] for p in history[1]["parts"]] == ["tool_call", "tool_call"]
    assert history[1]["parts"][0]["arguments"] == {"city": "Paris"}
    assert history[2]["parts"] == [{"type": "tool_call_response", "id": call_ids[0], "response": "sunny"}]
    assert history[3]["parts"] == [{"type": "tool_call_response", "id": call_ids[1], "response": "noon"}]
    assert json.loads(attrs(answered)[names.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": DEFAULT_REPLY}]}]
    assert tel.logs() == []  # SPAN_ONLY: no event


async def test_content_as_an_event_only(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{names.ENV_CAPTURE_MESSAGE_CONTENT: "EVENT_ONLY"})

    result = await sdk.chat("Hello there")

    span = only_llm_span(tel)
    assert not set(CONTENT_KEYS) & set(attrs(span))
    (log,) = tel.logs()
    record = log.log_record
    assert record.event_name == names.GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS
    assert span.context is not None
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    event_attrs = dict(record.attributes or {})
    assert event_attrs[names.GEN_AI_RESPONSE_ID] == result.id
    assert json.loads(event_attrs[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello there"}]}]
    assert json.loads(event_attrs[names.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": DEFAULT_REPLY}]}]


# -- errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_class"), [
    (429, openai.RateLimitError),
    (500, openai.InternalServerError),
])
async def test_http_error_reaches_the_caller_and_fails_the_span(
        sdk: Caller, telemetry: Callable[..., Telemetry], status: int, error_class: type[openai.APIStatusError]
) -> None:
    prompt = f"Hi [[error:{status}]]"
    with pytest.raises(openai.APIStatusError) as uninstrumented:
        await sdk.chat(prompt)
    tel = telemetry()

    with pytest.raises(openai.APIStatusError) as instrumented:
        await sdk.chat(prompt)

    # The application sees exactly what it would see without driftline.
    assert type(instrumented.value) is type(uninstrumented.value) is error_class
    assert str(instrumented.value) == str(uninstrumented.value)
    assert instrumented.value.status_code == status
    assert instrumented.value.body == uninstrumented.value.body
    span = only_llm_span(tel)
    expected_type = f"openai.{error_class.__name__}"
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[names.ERROR_TYPE] == expected_type
    assert names.GEN_AI_RESPONSE_MODEL not in attrs(span)
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert point_attrs(point)[names.ERROR_TYPE] == expected_type
    assert tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE) == []


# -- metrics -------------------------------------------------------------------------------------------


async def test_duration_and_token_metrics(sdk: Caller, telemetry: Callable[..., Telemetry],
                                          fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    prompts = ["one two three", "four five"]

    for prompt in prompts:
        await sdk.chat(prompt)

    common = {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        names.GEN_AI_RESPONSE_MODEL: response_model(CHAT_MODEL),
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
    }
    unit, (point,) = histogram(tel, names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert unit == "s"
    assert point_attrs(point) == common
    assert point.count == 2
    assert tuple(point.explicit_bounds) == names.GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS
    assert 0 < point.min <= point.max < 5

    unit, points = histogram(tel, names.GEN_AI_CLIENT_TOKEN_USAGE)
    assert unit == "{token}"
    by_type = {point_attrs(p)[names.GEN_AI_TOKEN_TYPE]: p for p in points}
    assert set(by_type) == {names.TOKEN_TYPE_INPUT, names.TOKEN_TYPE_OUTPUT}
    for token_type, p in by_type.items():
        assert point_attrs(p) == {**common, names.GEN_AI_TOKEN_TYPE: token_type}
        assert p.count == 2
        assert tuple(p.explicit_bounds) == names.GEN_AI_CLIENT_TOKEN_USAGE_BUCKETS
    assert by_type[names.TOKEN_TYPE_INPUT].sum == words(*prompts)
    assert by_type[names.TOKEN_TYPE_OUTPUT].sum == 2 * words(DEFAULT_REPLY)
    # Not a stream: no time-to-first-chunk.
    assert tel.metric_points(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK) == []


# -- SDK surfaces around create() -----------------------------------------------------------------------


async def test_with_raw_response(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    prompt = "Raw please"

    raw = await sdk("chat.completions.with_raw_response.create", model=CHAT_MODEL, messages=user(prompt))

    completion = raw.parse()
    assert raw.http_response.status_code == 200
    assert raw.headers["x-request-id"].startswith("req_")
    assert completion.choices[0].message.content == DEFAULT_REPLY
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == completion.id
    assert span_attrs[names.GEN_AI_RESPONSE_MODEL] == response_model(CHAT_MODEL)
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(prompt)
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(DEFAULT_REPLY)
    assert raw.parse() is completion  # the SDK's cache still hands out one object


async def test_parse_with_a_pydantic_model(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    from pydantic import BaseModel

    class Greeting(BaseModel):
        text: str

    tel = telemetry()
    reply = json.dumps({"text": "hi"})

    parsed = await sdk("chat.completions.parse", model=CHAT_MODEL, messages=user(f"[[reply:{reply}]]"),
                       response_format=Greeting)

    assert parsed.choices[0].message.parsed == Greeting(text="hi")
    span_attrs = attrs(only_llm_span(tel))  # parse() must not also record its inner create()
    assert span_attrs[names.GEN_AI_OUTPUT_TYPE] == names.OUTPUT_TYPE_JSON
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == len(reply)
