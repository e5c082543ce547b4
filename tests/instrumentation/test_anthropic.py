"""Anthropic Messages through the real anthropic SDK (sync and async) against the fake provider:
span shape, request parameters, usage, tool use and tool results, system instructions, errors,
metrics, and exactly one span per call (the SDK's native span is off while instrumented, and
back after ``uninstrument()``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.safety import fault_counts
from driftline.instrumentation.anthropic import AnthropicInstrumentor
from driftline.instrumentation.anthropic._mapping import MessagesMapping
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, TOOL_CALL_TOKENS, FakeLLMServer
from tests.instrumentation.anthropic_support import MODEL, NATIVE_SCOPE, SCOPE, Claude, only_llm_span
from tests.instrumentation.sdk_support import (
    CONTENT_KEYS,
    SPAN_ONLY,
    attrs,
    content,
    response_model,
    sdk_fixture,
    user,
    words,
)

sdk = sdk_fixture(Claude)


# -- the span of a plain call ------------------------------------------------------------------------


async def test_plain_message_span(sdk: Claude, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    prompt = "Tell me something nice"

    message = await sdk.create(prompt, max_tokens=50)

    span = only_llm_span(tel)
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert isinstance(message, anthropic.types.Message)
    assert message.content[0].type == "text"
    assert message.content[0].text == DEFAULT_REPLY
    assert attrs(span) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_ANTHROPIC,
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_REQUEST_MAX_TOKENS: 50,
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
        names.GEN_AI_RESPONSE_ID: message.id,
        names.GEN_AI_RESPONSE_MODEL: response_model(MODEL),
        names.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        names.GEN_AI_USAGE_INPUT_TOKENS: words(prompt),
        names.GEN_AI_USAGE_OUTPUT_TOKENS: words(DEFAULT_REPLY),
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
        names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: 0,
        names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: len(DEFAULT_REPLY),
    }
    assert message.id.startswith("msg_")


async def test_request_parameters(sdk: Claude, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    """max_tokens and stop_sequences are keyword arguments; anthropic 2.x has no temperature/top_p/top_k
    keywords any more, so callers send them in ``extra_body`` — they must still reach the span."""
    tel = telemetry()

    await sdk.create("hi", max_tokens=77, stop_sequences=["END", "STOP"],
                     extra_body={"temperature": 0.25, "top_p": 0.75, "top_k": 40})

    assert fake_llm.requests[-1].body["temperature"] == 0.25  # what the provider really received
    span_attrs = attrs(only_llm_span(tel))
    assert {k: span_attrs.get(k) for k in (
        names.GEN_AI_REQUEST_MAX_TOKENS, names.GEN_AI_REQUEST_STOP_SEQUENCES, names.GEN_AI_REQUEST_TEMPERATURE,
        names.GEN_AI_REQUEST_TOP_P, names.GEN_AI_REQUEST_TOP_K)} == {
        names.GEN_AI_REQUEST_MAX_TOKENS: 77,
        names.GEN_AI_REQUEST_STOP_SEQUENCES: ("END", "STOP"),
        names.GEN_AI_REQUEST_TEMPERATURE: 0.25,
        names.GEN_AI_REQUEST_TOP_P: 0.75,
        names.GEN_AI_REQUEST_TOP_K: 40.0,
    }
    assert names.GEN_AI_REQUEST_STREAM not in span_attrs


async def test_extra_body_overrides_keywords(sdk: Claude, telemetry: Callable[..., Telemetry],
                                             fake_llm: FakeLLMServer) -> None:
    """The SDK merges ``extra_body`` over the body; the span reports what was actually sent."""
    tel = telemetry()

    await sdk.create("hi", max_tokens=10, extra_body={"max_tokens": 20})

    assert fake_llm.requests[-1].body["max_tokens"] == 20
    assert attrs(only_llm_span(tel))[names.GEN_AI_REQUEST_MAX_TOKENS] == 20


async def test_max_tokens_stop_reason(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)

    message = await sdk.create("[[length]] go on")

    span = only_llm_span(tel)
    assert message.stop_reason == "max_tokens"
    assert attrs(span)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("max_tokens",)
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES)[0]["finish_reason"] == "length"


# -- tools ----------------------------------------------------------------------------------------------


async def test_tool_use_response(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)
    prompt = 'Weather? [[tool:get_weather:{"city": "Paris"}]] [[tool:get_time]]'

    message = await sdk.create(prompt)

    span = only_llm_span(tel)
    blocks = [b for b in message.content if b.type == "tool_use"]
    assert message.stop_reason == "tool_use"
    assert len(blocks) == 2
    span_attrs = attrs(span)
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 2
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 2 * TOOL_CALL_TOKENS
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == 0
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == [{
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": blocks[0].id, "name": "get_weather", "arguments": {"city": "Paris"}},
            {"type": "tool_call", "id": blocks[1].id, "name": "get_time", "arguments": {}},
        ],
        "finish_reason": "tool_call",
    }]


async def test_tool_results_in_request(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    """A user message made only of tool_result blocks is the conventions' ``tool`` role message."""
    tel = telemetry(**SPAN_ONLY)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "18C and sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "21C"},
                                                                          {"type": "text", "text": ", dry"}]},
        ]},
    ]
    tools = [{"name": "get_weather", "description": "Current weather",
              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]

    await sdk.create(messages=messages, tools=tools)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris and Rome?"}]},
        {"role": "assistant", "parts": [
            {"type": "text", "content": "Checking."},
            {"type": "tool_call", "id": "toolu_a", "name": "get_weather", "arguments": {"city": "Paris"}},
            {"type": "tool_call", "id": "toolu_b", "name": "get_weather", "arguments": {"city": "Rome"}},
        ]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "toolu_a", "response": "18C and sunny"},
            {"type": "tool_call_response", "id": "toolu_b", "response": "21C, dry"},
        ]},
    ]
    assert content(span, names.GEN_AI_TOOL_DEFINITIONS) == [{
        "type": "function", "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }]
    # The tool results were the last user message: the fake answers in text, as after a real tool loop.
    assert attrs(span)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)


# -- system instructions -----------------------------------------------------------------------------


@pytest.mark.parametrize("system", [
    pytest.param("You are terse.", id="string"),
    pytest.param([{"type": "text", "text": "You are terse."}], id="blocks"),
])
async def test_system_instructions(sdk: Claude, telemetry: Callable[..., Telemetry], system: Any) -> None:
    tel = telemetry(**SPAN_ONLY)

    await sdk.create("hello there", system=system)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": "You are terse."}]
    # System text is not a message: input messages hold the user turn only.
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]
    assert attrs(span)[names.GEN_AI_USAGE_INPUT_TOKENS] == words("You are terse.", "hello there")


async def test_one_shot_iterables_reach_the_provider(sdk: Claude, telemetry: Callable[..., Telemetry],
                                                     fake_llm: FakeLLMServer) -> None:
    """The SDK accepts any iterable for messages/system/tools; capturing content must not consume a
    generator before the SDK serialises it (the provider would get an empty conversation)."""
    tel = telemetry(**SPAN_ONLY)
    history = user("one two three")
    blocks = [{"type": "text", "text": "Be brief."}]

    message = await sdk.create(messages=(m for m in history), system=iter(blocks))

    sent = fake_llm.requests[-1].body
    assert sent["messages"] == history
    assert sent["system"] == blocks
    assert message.usage.input_tokens == words("one two three", "Be brief.")
    span_attrs = attrs(only_llm_span(tel))
    assert names.GEN_AI_INPUT_MESSAGES not in span_attrs  # not capturable without consuming it
    assert names.GEN_AI_SYSTEM_INSTRUCTIONS not in span_attrs
    assert names.GEN_AI_OUTPUT_MESSAGES in span_attrs


# -- usage ---------------------------------------------------------------------------------------------


def test_input_tokens_include_cache_reads_and_writes() -> None:
    """gen_ai.usage.input_tokens is all input tokens (the conventions); Anthropic's input_tokens excludes
    cached ones. The fake never caches, so the mapping is exercised with a literal Message body."""
    inv = LLMInvocation(operation=names.OPERATION_CHAT, provider=names.PROVIDER_ANTHROPIC)
    message = {"id": "msg_1", "model": "claude", "stop_reason": "end_turn",
               "content": [{"type": "text", "text": "hi"}],
               "usage": {"input_tokens": 12, "cache_read_input_tokens": 300, "cache_creation_input_tokens": 40,
                         "output_tokens": 7}}

    MessagesMapping().response(inv, message, capture=False)

    assert (inv.input_tokens, inv.cache_read_tokens, inv.cache_creation_tokens, inv.output_tokens) == (
        12 + 300 + 40, 300, 40, 7)


# -- errors --------------------------------------------------------------------------------------------


async def test_rate_limit_error_propagates_unchanged(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)

    with pytest.raises(anthropic.RateLimitError) as caught:
        await sdk.create("[[error:429]] hi")

    assert type(caught.value) is anthropic.RateLimitError
    assert caught.value.status_code == 429
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"] == {
        "type": "rate_limit_error", "message": "Number of requests has exceeded your rate limit."}
    span = only_llm_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    span_attrs = attrs(span)
    assert span_attrs[names.ERROR_TYPE] == "anthropic.RateLimitError"
    for absent in (names.GEN_AI_RESPONSE_ID, names.GEN_AI_RESPONSE_FINISH_REASONS, names.GEN_AI_USAGE_INPUT_TOKENS,
                   names.GEN_AI_OUTPUT_MESSAGES):
        assert absent not in span_attrs
    # The request content is still known and recorded.
    assert content(span, names.GEN_AI_INPUT_MESSAGES)[0]["parts"][0]["content"] == "[[error:429]] hi"
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert dict(point.attributes)[names.ERROR_TYPE] == "anthropic.RateLimitError"
    assert tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE) == []


# -- metrics -------------------------------------------------------------------------------------------


async def test_metrics(sdk: Claude, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    prompt = "count these four words"

    await sdk.create(prompt)

    common = {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_ANTHROPIC,
        names.GEN_AI_REQUEST_MODEL: MODEL,
        names.GEN_AI_RESPONSE_MODEL: response_model(MODEL),
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
    }
    (duration,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert dict(duration.attributes) == common
    assert duration.count == 1
    usage = {dict(p.attributes)[names.GEN_AI_TOKEN_TYPE]: (p.sum, dict(p.attributes))
             for p in tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE)}
    assert usage == {
        names.TOKEN_TYPE_INPUT: (words(prompt), {**common, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_INPUT}),
        names.TOKEN_TYPE_OUTPUT: (words(DEFAULT_REPLY), {**common, names.GEN_AI_TOKEN_TYPE: names.TOKEN_TYPE_OUTPUT}),
    }
    assert tel.metric_points(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK) == []


# -- exactly one span per call -----------------------------------------------------------------------


def test_native_sdk_span_off_while_instrumented_and_back_after(
        telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    """The global TracerProvider sees every tracer, the SDK's own included: while instrumented a call
    gives driftline's span only; after uninstrument() the SDK's native span is back, alone."""
    # Created before instrumenting: the switch must reach existing clients too.
    client = anthropic.Anthropic(base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0)
    tel = telemetry(**SPAN_ONLY)

    client.messages.create(model=MODEL, max_tokens=10, messages=user("first"))
    stream = client.messages.create(model=MODEL, max_tokens=10, messages=user("second"), stream=True)
    list(stream)
    with client.messages.stream(model=MODEL, max_tokens=10, messages=user("third")) as helper:
        helper.until_done()

    spans = tel.spans()
    assert [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else None) for s in spans] == [
        (f"chat {MODEL}", SCOPE)] * 3
    assert [content(s, names.GEN_AI_INPUT_MESSAGES)[0]["parts"][0]["content"] for s in spans] == [
        "first", "second", "third"]

    tel.span_exporter.clear()
    AnthropicInstrumentor().uninstrument()
    message = client.messages.create(model=MODEL, max_tokens=10, messages=user("after"))

    (native,) = tel.spans()
    assert native.instrumentation_scope is not None
    assert native.instrumentation_scope.name == NATIVE_SCOPE
    assert attrs(native)[names.GEN_AI_RESPONSE_ID] == message.id
    client.close()


async def test_calls_driftline_does_not_record_keep_the_native_span(
        sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    """Only the calls driftline records lose the SDK's span: beta.messages and count_tokens (not
    instrumented) must not go dark while messages.create is instrumented."""
    tel = telemetry()

    message = await sdk("beta.messages.create", model=MODEL, max_tokens=10, messages=user("beta"))
    with pytest.raises(anthropic.NotFoundError):  # the fake has no count_tokens route
        await sdk("messages.count_tokens", model=MODEL, messages=user("count"))
    await sdk.create("recorded")

    spans = [(s.name, s.instrumentation_scope.name if s.instrumentation_scope else None) for s in tel.spans()]
    assert spans == [("anthropic.messages.create", NATIVE_SCOPE), ("anthropic.messages.count_tokens", NATIVE_SCOPE),
                     (f"chat {MODEL}", SCOPE)]
    assert attrs(tel.spans()[0])[names.GEN_AI_RESPONSE_ID] == message.id


async def test_content_off_by_default(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    await sdk.create("secret prompt", system="secret system", tools=[
        {"name": "t", "description": "d", "input_schema": {"type": "object"}}])

    span_attrs = attrs(only_llm_span(tel))
    assert not set(CONTENT_KEYS) & set(span_attrs)
    assert tel.logs() == []


async def test_raw_response(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    """``with_raw_response`` (read for headers, e.g. by frameworks) still yields the full span."""
    tel = telemetry()

    raw = await sdk("messages.with_raw_response.create", model=MODEL, max_tokens=10, messages=user("hi"))
    parsed = raw.parse()
    message = await parsed if sdk.asynchronous else parsed

    assert raw.headers["request-id"].startswith("req_")
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == message.id
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(DEFAULT_REPLY)
    assert message.content[0].text == DEFAULT_REPLY


def test_streaming_response_wrapper(telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    """``with_streaming_response`` hands the unread body to the application: the span records the
    request, invents no response values (no zero counts) and reports no internal fault."""
    tel = telemetry()
    client = anthropic.Anthropic(base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0)

    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=10, messages=user("hi")) as raw:
        message = raw.parse()

    assert message.content[0].type == "text"
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 10
    for unknown in (names.GEN_AI_RESPONSE_ID, names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT,
                    names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH):
        assert unknown not in span_attrs
    assert fault_counts() == {}
    client.close()
