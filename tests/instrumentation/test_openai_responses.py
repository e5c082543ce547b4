"""The Responses API (``responses.create``, plain and streamed, sync and async) against the fake
provider: usage, finish reasons, output length, request parameters and content."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, TOOL_CALL_TOKENS, FakeLLMServer
from tests.instrumentation.openai_support import CHAT_MODEL, Caller, only_llm_span
from tests.instrumentation.sdk_support import CONTENT_KEYS, SPAN_ONLY, attrs, response_model, sdk_fixture, words

sdk = sdk_fixture(Caller)


async def respond(sdk: Caller, streamed: bool, **kwargs: Any) -> Any:
    """``responses.create(**kwargs)``; when ``streamed``, the ``Response`` of the terminal event."""
    if not streamed:
        return await sdk("responses.create", **kwargs)
    events = await sdk.drain(await sdk("responses.create", stream=True, **kwargs))
    return events[-1].response


async def test_plain_response_span(sdk: Caller, telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    prompt = "Write a short greeting"

    response = await sdk.responses(prompt)

    assert response.output_text == DEFAULT_REPLY
    span = only_llm_span(tel)
    assert span.name == f"chat {CHAT_MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attrs(span) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
        names.GEN_AI_REQUEST_MODEL: CHAT_MODEL,
        names.SERVER_ADDRESS: "127.0.0.1",
        names.SERVER_PORT: fake_llm.port,
        names.GEN_AI_RESPONSE_ID: response.id,
        names.GEN_AI_RESPONSE_MODEL: response_model(CHAT_MODEL),
        names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        names.GEN_AI_USAGE_INPUT_TOKENS: words(prompt),
        names.GEN_AI_USAGE_OUTPUT_TOKENS: words(DEFAULT_REPLY),
        names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: 0,
        names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: len(DEFAULT_REPLY),
    }
    assert response.id.startswith("resp_")


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize(("directive", "finish_reason", "tool_calls", "output_tokens", "output_length"), [
    ("", "stop", 0, words(DEFAULT_REPLY), len(DEFAULT_REPLY)),
    ("[[length]]", "length", 0, words(DEFAULT_REPLY), len(DEFAULT_REPLY)),
    ('[[tool:lookup:{"q": "otel"}]] [[tool:lookup:{"q": "genai"}]]', "tool_calls", 2, 2 * TOOL_CALL_TOKENS, 0),
    ("[[reply:On it.]] [[tool:lookup]]", "tool_calls", 1, words("On it.") + TOOL_CALL_TOKENS, len("On it.")),
], ids=["completed", "incomplete", "function-calls", "text-and-call"])
async def test_finish_reasons_usage_and_output(
        sdk: Caller, telemetry: Callable[..., Telemetry], streamed: bool, directive: str, finish_reason: str,
        tool_calls: int, output_tokens: int, output_length: int) -> None:
    tel = telemetry()
    instructions = "Be brief."
    prompt = f"Answer me {directive}"

    response = await respond(sdk, streamed, model=CHAT_MODEL, input=prompt, instructions=instructions)

    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == (finish_reason,)
    assert span_attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == tool_calls
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(instructions, prompt) == response.usage.input_tokens
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == output_tokens == response.usage.output_tokens
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == output_length == len(response.output_text)
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == response.id
    assert (names.DRIFTLINE_STREAM_END_REASON in span_attrs) is streamed


async def test_request_parameters(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    await sdk.responses(
        "Hi", temperature=0.3, top_p=0.8, max_output_tokens=64, conversation="conv_42",
        text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}})

    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_REQUEST_TEMPERATURE] == 0.3
    assert span_attrs[names.GEN_AI_REQUEST_TOP_P] == 0.8
    assert span_attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert span_attrs[names.GEN_AI_OUTPUT_TYPE] == names.OUTPUT_TYPE_JSON
    assert span_attrs[names.GEN_AI_CONVERSATION_ID] == "conv_42"


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_function_calls_and_outputs_as_content(sdk: Caller, telemetry: Callable[..., Telemetry],
                                                     streamed: bool) -> None:
    tel = telemetry(**SPAN_ONLY)
    ask = 'Look it up [[tool:lookup:{"q": "otel"}]]'
    tools = [{"type": "function", "name": "lookup", "description": "Search.",
              "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]

    first = await respond(sdk, streamed, model=CHAT_MODEL, input=ask, instructions="Use tools.", tools=tools)
    (call,) = [item for item in first.output if item.type == "function_call"]
    second = await respond(sdk, streamed, model=CHAT_MODEL, tools=tools, input=[
        {"role": "user", "content": ask},
        {"type": "function_call", "call_id": call.call_id, "name": "lookup", "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "found it"},
    ])

    asked, answered = (attrs(s) for s in tel.llm_spans())
    assert json.loads(asked[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Use tools."}]
    assert json.loads(asked[names.GEN_AI_TOOL_DEFINITIONS]) == [
        {"type": "function", "name": "lookup", "description": "Search.",
         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    assert json.loads(asked[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": ask}]}]
    assert json.loads(asked[names.GEN_AI_OUTPUT_MESSAGES]) == [{
        "role": "assistant", "finish_reason": "tool_calls",
        "parts": [{"type": "tool_call", "id": call.call_id, "name": "lookup", "arguments": {"q": "otel"}}]}]

    assert json.loads(answered[names.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": ask}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": call.call_id, "name": "lookup", "arguments": {"q": "otel"}}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": call.call_id, "response": "found it"}]},
    ]
    assert json.loads(answered[names.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": DEFAULT_REPLY}]}]
    assert answered[names.GEN_AI_USAGE_INPUT_TOKENS] == second.usage.input_tokens == words(ask, "found it")


async def test_no_content_by_default(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    await sdk.responses("Secret plans [[tool:lookup]]", instructions="Keep it quiet.",
                        tools=[{"type": "function", "name": "lookup", "parameters": {"type": "object"}}])

    assert not set(CONTENT_KEYS) & set(attrs(only_llm_span(tel)))
    assert tel.logs() == []


async def test_with_raw_response(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    raw = await sdk("responses.with_raw_response.create", model=CHAT_MODEL, input="Raw")

    response = raw.parse()
    assert response.output_text == DEFAULT_REPLY
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == response.id
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(DEFAULT_REPLY)


async def test_parse_with_a_pydantic_model(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    from pydantic import BaseModel

    class Greeting(BaseModel):
        text: str

    tel = telemetry()
    reply = json.dumps({"text": "hi"})

    parsed = await sdk("responses.parse", model=CHAT_MODEL, input=f"[[reply:{reply}]]", text_format=Greeting)

    assert parsed.output_parsed == Greeting(text="hi")
    span_attrs = attrs(only_llm_span(tel))  # parse() must not also record an inner create()
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == parsed.id
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == len(reply)
