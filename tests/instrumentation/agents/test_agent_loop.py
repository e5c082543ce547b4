"""One agent turn end to end: a real ``openai`` client against the fake provider, whose model asks
for ``get_weather``; the ``@agent`` function runs the ``@tool`` with the model's call id and asks
the model again. One trace must show the whole loop:

    invoke_agent weather-desk
    ├── chat gpt-4o            (answers with a tool call)
    ├── execute_tool get_weather   (gen_ai.tool.call.id = the model's id)
    └── chat gpt-4o            (the final answer)

The agent is written four ways (function, coroutine, generator, async generator), each handing the
call id over a different way (keyword argument, ``tool_call`` block, ``set_tool_call_id``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation import agent, set_tool_call_id, tool, tool_call
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, FakeLLMServer
from tests.instrumentation.agents.support import (
    CONTENT_ON,
    agent_spans,
    attrs,
    decoded,
    parent_id,
    span_id,
    trace_id,
)

MODEL = "gpt-4o"
QUESTION = 'Weather in Paris? [[tool:get_weather:{"city":"Paris"}]]'
FORECAST = {"city": "Paris", "forecast": "rain"}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
AGENT_CONTENT = (names.DRIFTLINE_INVOCATION_ARGUMENTS, names.DRIFTLINE_INVOCATION_RESULT)
TOOL_CONTENT = (names.GEN_AI_TOOL_CALL_ARGUMENTS, names.GEN_AI_TOOL_CALL_RESULT)


@tool(call_id_arg="tool_call_id")
def get_weather(city: str) -> dict[str, str]:
    """Current weather for a city."""
    return {"city": city, "forecast": "rain"}


@tool(name="get_weather")
async def get_weather_async(city: str) -> dict[str, str]:
    """Current weather for a city."""
    return {"city": city, "forecast": "rain"}


@tool(name="get_weather")
def get_weather_for(call: Any) -> dict[str, str]:
    """Current weather for a city."""
    set_tool_call_id(call.id)  # the tool learns its id from the call object it is handed
    return get_weather.__wrapped__(**json.loads(call.function.arguments))  # type: ignore[attr-defined, no-any-return]


@tool(name="get_weather", call_id_arg="tool_call_id")
async def get_weather_declared(city: str, tool_call_id: str) -> dict[str, str]:
    """Current weather for a city."""
    assert tool_call_id.startswith("call_")  # declared: the function still receives it
    return {"city": city, "forecast": "rain"}


def _after_tool_call(messages: list[Any], reply: Any) -> list[Any]:
    """The conversation so far plus the assistant's tool-call message; its tool calls."""
    message = reply.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    return list(message.tool_calls)


def _tool_result(call: Any, result: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}


class WeatherDesk:
    """An agent whose name is an attribute of the instance (``name_attribute``)."""

    def __init__(self, server: FakeLLMServer, asynchronous: bool) -> None:
        options: dict[str, Any] = {"base_url": server.openai_base_url, "api_key": "test", "max_retries": 0}
        self.client: Any = openai.AsyncOpenAI(**options) if asynchronous else openai.OpenAI(**options)
        self.name = "weather-desk"
        self.call_ids: list[str] = []

    @agent(name_attribute="name", id="desk-7", description="Answers weather questions", version="1.2")
    def turn(self, question: str) -> str:
        messages: list[Any] = [{"role": "user", "content": question}]
        first = self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        for call in _after_tool_call(messages, first):
            self.call_ids.append(call.id)
            result = get_weather(**json.loads(call.function.arguments), tool_call_id=call.id)  # type: ignore[call-arg]
            messages.append(_tool_result(call, result))
        final = self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        return str(final.choices[0].message.content)

    @agent(name_attribute="name", id="desk-7", description="Answers weather questions", version="1.2")
    async def turn_async(self, question: str) -> str:
        messages: list[Any] = [{"role": "user", "content": question}]
        first = await self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        for call in _after_tool_call(messages, first):
            self.call_ids.append(call.id)
            with tool_call(id=call.id):
                result = await get_weather_async(**json.loads(call.function.arguments))
            messages.append(_tool_result(call, result))
        final = await self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        return str(final.choices[0].message.content)

    @agent(name_attribute="name", id="desk-7", description="Answers weather questions", version="1.2")
    def turn_stream(self, question: str) -> Iterator[str]:
        messages: list[Any] = [{"role": "user", "content": question}]
        first = self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        for call in _after_tool_call(messages, first):
            self.call_ids.append(call.id)
            messages.append(_tool_result(call, get_weather_for(call)))
        for chunk in self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    @agent(name_attribute="name", id="desk-7", description="Answers weather questions", version="1.2")
    async def turn_astream(self, question: str) -> AsyncIterator[str]:
        messages: list[Any] = [{"role": "user", "content": question}]
        first = await self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        for call in _after_tool_call(messages, first):
            self.call_ids.append(call.id)
            result = await get_weather_declared(**json.loads(call.function.arguments), tool_call_id=call.id)
            messages.append(_tool_result(call, result))
        stream = await self.client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, stream=True)
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content


async def _run_sync(desk: WeatherDesk) -> str:
    return desk.turn(QUESTION)


async def _run_async(desk: WeatherDesk) -> str:
    return await desk.turn_async(QUESTION)


async def _run_generator(desk: WeatherDesk) -> str:
    return "".join(desk.turn_stream(QUESTION))


async def _run_async_generator(desk: WeatherDesk) -> str:
    return "".join([piece async for piece in desk.turn_astream(QUESTION)])


SHAPES: list[tuple[str, bool, Callable[[WeatherDesk], Any], bool]] = [
    ("function", False, _run_sync, False),
    ("coroutine", True, _run_async, False),
    ("generator", False, _run_generator, True),
    ("async-generator", True, _run_async_generator, True),
]


@pytest.mark.parametrize("capture", [False, True], ids=["no-content", "content"])
@pytest.mark.parametrize(("shape", "asynchronous", "run", "streamed"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_one_trace_shows_the_whole_agent_loop(shape: str, asynchronous: bool, run: Callable[[WeatherDesk], Any],
                                                    streamed: bool, capture: bool,
                                                    telemetry: Callable[..., Telemetry],
                                                    fake_llm: FakeLLMServer) -> None:
    tel = telemetry(**(CONTENT_ON if capture else {}))
    desk = WeatherDesk(fake_llm, asynchronous)
    answer = await run(desk)
    assert answer == DEFAULT_REPLY
    (model_call_id,) = desk.call_ids

    spans = tel.llm_spans()  # every driftline scope: the decorators' and the openai instrumentation's
    assert len(spans) == 4, [s.name for s in spans]
    root, first_chat, tool_span, final_chat = sorted(spans, key=lambda s: s.start_time or 0)
    assert [s.name for s in (root, first_chat, tool_span, final_chat)] == [
        "invoke_agent weather-desk", f"chat {MODEL}", "execute_tool get_weather", f"chat {MODEL}"]
    assert agent_spans(tel) == [tool_span, root]  # the tool ended inside the turn, the agent last

    # one trace, the agent at the root, the model calls and the tool call its children
    assert {trace_id(s) for s in spans} == {trace_id(root)}
    assert root.parent is None
    for child in (first_chat, tool_span, final_chat):
        assert parent_id(child) == span_id(root)
    assert (first_chat.end_time or 0) <= (tool_span.start_time or 0)
    assert (tool_span.end_time or 0) <= (final_chat.start_time or 0)
    assert (root.kind, tool_span.kind) == (SpanKind.INTERNAL, SpanKind.INTERNAL)
    assert (root.status.status_code, tool_span.status.status_code) == (StatusCode.UNSET, StatusCode.UNSET)
    root_attrs = {k: v for k, v in attrs(root).items() if k not in AGENT_CONTENT}
    expected_root: dict[str, Any] = {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT,
        names.GEN_AI_AGENT_NAME: "weather-desk",
        names.GEN_AI_AGENT_ID: "desk-7",
        names.GEN_AI_AGENT_DESCRIPTION: "Answers weather questions",
        names.GEN_AI_AGENT_VERSION: "1.2",
    }
    if streamed:
        expected_root[names.DRIFTLINE_STREAM_END_REASON] = names.STREAM_END_COMPLETED
        expected_root[names.DRIFTLINE_STREAM_CHUNK_COUNT] = 3  # the fake streams the reply in three deltas
    assert root_attrs == expected_root
    assert {k: v for k, v in attrs(tool_span).items() if k not in TOOL_CONTENT} == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
        names.GEN_AI_TOOL_NAME: "get_weather",
        names.GEN_AI_TOOL_TYPE: names.TOOL_TYPE_FUNCTION,
        names.GEN_AI_TOOL_DESCRIPTION: "Current weather for a city.",
        names.GEN_AI_TOOL_CALL_ID: model_call_id,
    }
    assert attrs(first_chat)[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)

    if not capture:
        for span in spans:
            assert not set(attrs(span)) & {*AGENT_CONTENT, *TOOL_CONTENT, names.GEN_AI_INPUT_MESSAGES}
        return
    assert decoded(tool_span, names.GEN_AI_TOOL_CALL_RESULT) == FORECAST
    # the arguments the model sent, whichever way they reached the tool (the call id is not one)
    expected_arguments: Any = {"city": "Paris"}
    if shape == "generator":
        raw = decoded(tool_span, names.GEN_AI_TOOL_CALL_ARGUMENTS)["call"]  # the SDK's object, as its fields
        assert (raw["id"], raw["function"]["name"]) == (model_call_id, "get_weather")
        expected_arguments = {"call": raw}
    assert decoded(tool_span, names.GEN_AI_TOOL_CALL_ARGUMENTS) == expected_arguments
    assert decoded(root, names.DRIFTLINE_INVOCATION_ARGUMENTS) == {"question": QUESTION}  # self left out
    result = decoded(root, names.DRIFTLINE_INVOCATION_RESULT)
    assert ("".join(result) if streamed else result) == DEFAULT_REPLY
    assert json.loads(str(attrs(final_chat)[names.GEN_AI_INPUT_MESSAGES]))[-1]["parts"][0]["id"] == model_call_id
