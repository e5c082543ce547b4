"""The fake provider, driven by the real openai and anthropic SDKs (sync and async)."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anthropic
import httpx2
import openai
import pytest
import pytest_asyncio
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk

from tests.fakes.llm_server import (
    DEFAULT_REPLY,
    FakeLLMServer,
    RecordedRequest,
    parse_directives,
    split_text,
)

SCRIPT = Path(__file__).resolve().parents[1] / "fakes" / "llm_server.py"
REPLY_WORDS = 5  # "Hello from the fake provider."
WEATHER = '[[tool:get_weather:{"city": "Paris", "days": [1, 2]}]]'
WEATHER_ARGS = {"city": "Paris", "days": [1, 2]}


def user(text: str) -> Any:
    """A plain user message."""
    return {"role": "user", "content": text}


def collect_chat_text(stream: Iterable[ChatCompletionChunk], into: list[str]) -> None:
    """Append each streamed chat content delta to ``into`` (so it survives an exception)."""
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            into.append(chunk.choices[0].delta.content)


async def acollect_chat_text(stream: AsyncIterable[ChatCompletionChunk], into: list[str]) -> None:
    """Async twin of :func:`collect_chat_text`."""
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            into.append(chunk.choices[0].delta.content)


def collect_types(stream: Iterable[Any], into: list[str]) -> None:
    """Append the ``type`` of each streamed event to ``into``."""
    for event in stream:
        into.append(event.type)


def collect_anthropic_text(stream: Iterable[RawMessageStreamEvent], into: list[str]) -> None:
    """Append each streamed Anthropic text delta to ``into``."""
    for event in stream:
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            into.append(event.delta.text)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _fresh(server: FakeLLMServer) -> None:
    server.clear()


@pytest.fixture(scope="module")
def oai(server: FakeLLMServer) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ant(server: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="x", max_retries=0)
    yield client
    client.close()


@pytest_asyncio.fixture
async def aoai(server: FakeLLMServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0) as client:
        yield client


@pytest_asyncio.fixture
async def aant(server: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="x", max_retries=0) as client:
        yield client


# --------------------------------------------------------------------------- directive parsing


def test_parse_directives_combined() -> None:
    found = parse_directives(
        "hi [[reply:Some text: with colon]] [[length]] [[chunks:4]] [[delay_ms:7]] [[first_delay_ms:9]]"
        " [[stream_break_after:2]] [[stream_error_after:1]] [[error:429]] [[unknown:1]]"
    )
    assert found.reply == "Some text: with colon"
    assert found.length is True
    assert found.chunks == 4
    assert (found.delay_ms, found.first_delay_ms) == (7, 9)
    assert (found.stream_break_after, found.stream_error_after) == (2, 1)
    assert found.error_status == 429
    assert found.tools == []


def test_parse_directives_tools() -> None:
    found = parse_directives(
        WEATHER + ' [[tool:noargs]] [[tool:nested:{"m": [[1, 2]], "s": "]]"}]] [[tool:bad:not json]]'
    )
    assert [tool.name for tool in found.tools] == ["get_weather", "noargs", "nested", "bad"]
    assert json.loads(found.tools[0].arguments) == WEATHER_ARGS
    assert found.tools[0].input == WEATHER_ARGS
    assert (found.tools[1].arguments, found.tools[1].input) == ("{}", {})
    assert found.tools[2].input == {"m": [[1, 2]], "s": "]]"}
    assert (found.tools[3].arguments, found.tools[3].input) == ("not json", {"raw": "not json"})
    assert parse_directives("no directives [[ here").reply is None


def test_split_text() -> None:
    assert split_text(DEFAULT_REPLY, 3) == ["Hello from", " the fake ", "provider."]
    for count in (1, 2, 5, 7, 100):
        pieces = split_text(DEFAULT_REPLY, count)
        assert "".join(pieces) == DEFAULT_REPLY
        assert len(pieces) == min(count, len(DEFAULT_REPLY))
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1
    assert split_text("", 3) == []


# --------------------------------------------------------------------------- chat completions


def test_chat_plain_and_recorded(server: FakeLLMServer, oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o", messages=[user("hello there")], temperature=0.5)
    choice = completion.choices[0]
    assert choice.message.content == DEFAULT_REPLY
    assert choice.message.role == "assistant"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert completion.model == "gpt-4o-2025-01-01"
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, REPLY_WORDS, 2 + REPLY_WORDS)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0

    assert len(server.requests) == 1
    recorded = server.requests[0]
    assert isinstance(recorded, RecordedRequest)
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.body == {"model": "gpt-4o", "messages": [user("hello there")], "temperature": 0.5}
    assert recorded.headers["authorization"] == "Bearer x"
    assert recorded.headers["content-type"] == "application/json"
    assert all(key == key.lower() for key in recorded.headers)


def test_chat_counts_all_messages_and_text_parts(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "[[reply:ignored]] first"},
            {"role": "assistant", "content": "an earlier answer"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "one two"}, {"type": "text", "text": "[[reply:Done now]]"}],
            },
        ],
    )
    assert completion.choices[0].message.content == "Done now"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 3 + 2 + 3 + 4  # "[[reply:Done now]]" is two words
    assert completion.usage.completion_tokens == 2


def test_chat_length(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="m", messages=[user("[[length]] [[reply:cut short]]")])
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "cut short"


def test_chat_tool_calls(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o", messages=[user(f"weather? {WEATHER} [[tool:get_time]]")])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert [call.type for call in calls] == ["function", "function"]
    assert all(call.id.startswith("call_") for call in calls)
    assert len({call.id for call in calls}) == 2
    functions = [call.function for call in calls if call.type == "function"]
    assert [f.name for f in functions] == ["get_weather", "get_time"]
    assert [json.loads(f.arguments) for f in functions] == [WEATHER_ARGS, {}]
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 10


def test_chat_tool_directive_ignored_after_tool_result(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o",
        messages=[
            user(f"{WEATHER} [[reply:It is sunny.]]"),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    assert completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "It is sunny."
    assert completion.choices[0].message.tool_calls is None


def test_chat_stream_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="gpt-4o", messages=[user("hi")], stream=True))
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].model == "gpt-4o-2025-01-01"
    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks[1:] if c.choices and c.choices[0].delta.content]
    assert contents == ["Hello from", " the fake ", "provider."]
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_with_usage(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o",
            messages=[user("count these four [[chunks:5]]")],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) == 5
    assert "".join(contents) == DEFAULT_REPLY
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (4, 5, 9)
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_chat_stream_tool_calls(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=[user(WEATHER)], stream=True))
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id is not None
    assert deltas[0].id.startswith("call_")
    assert deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    pieces = [d.function.arguments for d in deltas[1:] if d.function and d.function.arguments]
    assert len(pieces) >= 2
    assert json.loads("".join(pieces)) == WEATHER_ARGS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_stream_helper_accumulates_tool_calls(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(
        model="m", messages=[user(f"{WEATHER} [[tool:get_time]]")], stream_options={"include_usage": True}
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls is not None
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("get_weather", WEATHER_ARGS),
        ("get_time", {}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage is not None
    assert final.usage.completion_tokens == 10


@pytest.mark.asyncio
async def test_chat_async_plain_and_stream(aoai: openai.AsyncOpenAI) -> None:
    completion = await aoai.chat.completions.create(model="gpt-4o", messages=[user("[[reply:async hello]]")])
    assert completion.choices[0].message.content == "async hello"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2

    stream = await aoai.chat.completions.create(
        model="gpt-4o", messages=[user("[[chunks:2]]")], stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content] == [
        "Hello from the ",
        "fake provider.",
    ]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == REPLY_WORDS


@pytest.mark.asyncio
async def test_chat_async_concurrent_requests(aoai: openai.AsyncOpenAI) -> None:
    completions = await asyncio.gather(
        *(aoai.chat.completions.create(model="m", messages=[user(f"[[reply:r{i}]] [[delay_ms:50]]")]) for i in range(8))
    )
    assert [c.choices[0].message.content for c in completions] == [f"r{i}" for i in range(8)]


# --------------------------------------------------------------------------- responses


def test_responses_plain(server: FakeLLMServer, oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="gpt-4.1", input="hello responses api")
    assert response.output_text == DEFAULT_REPLY
    assert response.status == "completed"
    assert response.model == "gpt-4.1-2025-01-01"
    assert response.id.startswith("resp_")
    assert response.incomplete_details is None
    assert [item.type for item in response.output] == ["message"]
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (3, REPLY_WORDS, 3 + REPLY_WORDS)
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert server.requests[-1].path == "/v1/responses"
    assert server.requests[-1].body == {"model": "gpt-4.1", "input": "hello responses api"}


def test_responses_list_input_and_instructions(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model="gpt-4.1",
        instructions="Be brief please",
        input=[
            {"role": "user", "content": "first question here"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": [{"type": "input_text", "text": "[[reply:Second answer]] next"}]},
        ],
    )
    assert response.output_text == "Second answer"
    assert response.instructions == "Be brief please"
    assert response.usage is not None
    assert response.usage.input_tokens == 3 + 3 + 2 + 3
    assert response.usage.output_tokens == 2


def test_responses_function_calls_and_tool_results(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="m", input=f"{WEATHER} [[tool:get_time]]")
    calls = [item for item in response.output if item.type == "function_call"]
    assert [item.type for item in response.output] == ["function_call", "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [("get_weather", WEATHER_ARGS), ("get_time", {})]
    assert all(c.call_id.startswith("call_") and c.status == "completed" for c in calls)
    assert response.output_text == ""
    assert response.usage is not None
    assert response.usage.output_tokens == 10

    follow_up = oai.responses.create(
        model="m",
        input=[
            {"role": "user", "content": f"{WEATHER} [[reply:Sunny in Paris.]]"},
            {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
        ],
    )
    assert [item.type for item in follow_up.output] == ["message"]
    assert follow_up.output_text == "Sunny in Paris."


def test_responses_length(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="m", input="[[length]]")
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text == DEFAULT_REPLY


TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def test_responses_stream_event_sequence(server: FakeLLMServer, oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="gpt-4.1", input="stream me please", stream=True))
    assert [event.type for event in events] == TEXT_EVENTS
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = [event.delta for event in events if event.type == "response.output_text.delta"]
    assert deltas == ["Hello from", " the fake ", "provider."]
    done = events[7]
    assert done.type == "response.output_text.done"
    assert done.text == DEFAULT_REPLY
    created = events[0]
    assert created.type == "response.created"
    assert created.response.status == "in_progress"
    assert created.response.output == []
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.status == "completed"
    assert completed.response.output_text == DEFAULT_REPLY
    assert completed.response.usage is not None
    assert (completed.response.usage.input_tokens, completed.response.usage.output_tokens) == (3, REPLY_WORDS)
    assert completed.response.usage.total_tokens == 3 + REPLY_WORDS
    assert server.requests[-1].body == {"model": "gpt-4.1", "input": "stream me please", "stream": True}


def test_responses_stream_function_call(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="m", input=WEATHER, stream=True))
    assert [event.type for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    pieces = [event.delta for event in events if event.type == "response.function_call_arguments.delta"]
    assert json.loads("".join(pieces)) == WEATHER_ARGS
    completed = events[-1]
    assert completed.type == "response.completed"
    call = completed.response.output[0]
    assert call.type == "function_call"
    assert (call.name, json.loads(call.arguments)) == ("get_weather", WEATHER_ARGS)


def test_responses_stream_length_ends_incomplete(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="m", input="[[length]] [[chunks:1]]", stream=True))
    last = events[-1]
    assert last.type == "response.incomplete"
    assert last.response.status == "incomplete"
    assert last.response.incomplete_details is not None
    assert last.response.incomplete_details.reason == "max_output_tokens"


def test_responses_stream_helper(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="m", input="[[reply:helper works fine]] [[chunks:4]]") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "helper works fine"
    assert len(deltas) == 4
    assert final.output_text == "helper works fine"
    assert final.usage is not None
    assert final.usage.output_tokens == 3


@pytest.mark.asyncio
async def test_responses_async(aoai: openai.AsyncOpenAI) -> None:
    response = await aoai.responses.create(model="m", input="[[reply:async response]]")
    assert response.output_text == "async response"
    async with aoai.responses.stream(model="m", input=f"{WEATHER} [[reply:Checking.]]") as stream:
        types = [event.type async for event in stream]
        final = await stream.get_final_response()
    assert types[-1] == "response.completed"
    assert [item.type for item in final.output] == ["message", "function_call"]
    assert final.output_text == "Checking."
    assert final.usage is not None
    assert final.usage.output_tokens == 1 + 5


# --------------------------------------------------------------------------- embeddings


def test_embeddings_default_base64(server: FakeLLMServer, oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(model="text-embedding-3-small", input="embed this text")
    assert server.requests[-1].body["encoding_format"] == "base64"  # the SDK's own default
    assert server.requests[-1].path == "/v1/embeddings"
    assert len(result.data) == 1
    vector = result.data[0].embedding
    assert len(vector) == 8
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-5)
    assert result.model == "text-embedding-3-small-2025-01-01"
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (3, 3)

    as_floats = oai.embeddings.create(model="text-embedding-3-small", input="embed this text", encoding_format="float")
    assert server.requests[-1].body["encoding_format"] == "float"
    assert as_floats.data[0].embedding == vector


def test_embeddings_list_and_dimensions(oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(model="e", input=["alpha beta", "gamma", "alpha beta"], dimensions=16)
    assert [item.index for item in result.data] == [0, 1, 2]
    assert [len(item.embedding) for item in result.data] == [16, 16, 16]
    assert result.data[0].embedding == result.data[2].embedding
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens == 2 + 1 + 2


@pytest.mark.asyncio
async def test_embeddings_async(aoai: openai.AsyncOpenAI, oai: openai.OpenAI) -> None:
    result = await aoai.embeddings.create(model="e", input=["same input"], dimensions=4)
    again = oai.embeddings.create(model="e", input="same input", dimensions=4, encoding_format="float")
    assert result.data[0].embedding == again.data[0].embedding
    assert len(result.data[0].embedding) == 4


# --------------------------------------------------------------------------- anthropic messages


def test_messages_plain_and_recorded(server: FakeLLMServer, ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(
        model="claude-sonnet-4",
        max_tokens=100,
        system="Be kind.",
        messages=[user("hello there friend")],
    )
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text"
    assert message.content[0].text == DEFAULT_REPLY
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-sonnet-4-2025-01-01"
    assert message.id.startswith("msg_")
    usage = message.usage
    assert (usage.input_tokens, usage.output_tokens) == (2 + 3, REPLY_WORDS)
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (0, 0)

    recorded = server.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/messages")
    assert recorded.body == {
        "model": "claude-sonnet-4",
        "max_tokens": 100,
        "system": "Be kind.",
        "messages": [user("hello there friend")],
    }
    assert recorded.headers["authorization"] == "Bearer x"  # anthropic 2.x sends the key as a bearer token
    assert "anthropic-version" in recorded.headers


def test_messages_text_blocks_system_blocks_and_length(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(
        model="claude",
        max_tokens=5,
        system=[{"type": "text", "text": "System words here"}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "[[reply:Too long]] [[length]]"}]}],
    )
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text"
    assert message.content[0].text == "Too long"
    assert message.usage.input_tokens == 3 + 3
    assert message.usage.output_tokens == 2


def test_messages_tool_use(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(
        model="claude", max_tokens=100, messages=[user(f"[[reply:Let me check.]] {WEATHER} [[tool:get_time]]")]
    )
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    tools = [block for block in message.content if block.type == "tool_use"]
    assert [(t.name, t.input) for t in tools] == [("get_weather", WEATHER_ARGS), ("get_time", {})]
    assert all(t.id.startswith("toolu_") for t in tools)
    assert message.usage.output_tokens == 3 + 10

    tool_result: Any = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tools[0].id, "content": "sunny and warm"}],
    }
    follow_up = ant.messages.create(
        model="claude",
        max_tokens=100,
        messages=[user(WEATHER), message.to_param(), tool_result],
    )
    assert follow_up.stop_reason == "end_turn"
    assert follow_up.content[0].type == "text"
    assert follow_up.content[0].text == DEFAULT_REPLY


def test_messages_raw_stream_events(ant: anthropic.Anthropic) -> None:
    events = list(ant.messages.create(model="claude", max_tokens=10, messages=[user("hi there")], stream=True))
    assert [event.type for event in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0]
    assert start.type == "message_start"
    assert start.message.usage.input_tokens == 2
    assert start.message.model == "claude-2025-01-01"
    texts = [e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"]
    assert texts == ["Hello from", " the fake ", "provider."]
    delta = events[-2]
    assert delta.type == "message_delta"
    assert delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens == REPLY_WORDS


def test_messages_stream_helper(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(
        model="claude", max_tokens=10, system="sys prompt", messages=[user("[[reply:streamed by helper]] [[chunks:2]]")]
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces == ["streamed ", "by helper"]
    assert final.content[0].type == "text"
    assert final.content[0].text == "streamed by helper"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (2 + 4, 3)


def test_messages_stream_helper_tool_use(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(model="claude", max_tokens=10, messages=[user(WEATHER)]) as stream:
        events = list(stream)
        final = stream.get_final_message()
    partial = [
        e.delta.partial_json for e in events if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
    ]
    assert len(partial) >= 2
    assert json.loads("".join(partial)) == WEATHER_ARGS
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use"
    assert (final.content[0].name, final.content[0].input) == ("get_weather", WEATHER_ARGS)
    assert final.usage.output_tokens == 5


@pytest.mark.asyncio
async def test_messages_async(aant: anthropic.AsyncAnthropic) -> None:
    message = await aant.messages.create(model="claude", max_tokens=10, messages=[user("[[reply:async claude]]")])
    assert message.content[0].type == "text"
    assert message.content[0].text == "async claude"

    stream = await aant.messages.create(model="claude", max_tokens=10, messages=[user("[[length]]")], stream=True)
    types = [event.type async for event in stream]
    assert types[0] == "message_start"
    assert types[-1] == "message_stop"

    async with aant.messages.stream(model="claude", max_tokens=10, messages=[user("four words right here")]) as helper:
        text = "".join([piece async for piece in helper.text_stream])
        final = await helper.get_final_message()
    assert text == DEFAULT_REPLY
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, REPLY_WORDS)


# --------------------------------------------------------------------------- errors

StatusErrorT = TypeVar("StatusErrorT", openai.APIStatusError, anthropic.APIStatusError)


def raised_status_error(error_class: type[StatusErrorT], status: int, call: Callable[[str], object]) -> StatusErrorT:
    """The ``error_class`` that ``call(text)`` raises when sent the prompt ``text`` = ``[[error:<status>]]``,
    with its status and ``retry-after`` header (``0`` for 429 only) checked."""
    with pytest.raises(error_class) as caught:
        call(f"[[error:{status}]]")
    error = caught.value
    assert error.status_code == status
    assert error.response.headers.get("retry-after") == ("0" if status == 429 else None)
    return error


OPENAI_ERRORS = [
    (400, openai.BadRequestError, "invalid_request_error"),
    (401, openai.AuthenticationError, "invalid_request_error"),
    (403, openai.PermissionDeniedError, "invalid_request_error"),
    (404, openai.NotFoundError, "invalid_request_error"),
    (429, openai.RateLimitError, "requests"),
    (500, openai.InternalServerError, "server_error"),
    (503, openai.InternalServerError, "server_error"),
]


@pytest.mark.parametrize(("status", "error_class", "error_type"), OPENAI_ERRORS)
def test_openai_error_directive(
    oai: openai.OpenAI, status: int, error_class: type[openai.APIStatusError], error_type: str
) -> None:
    error = raised_status_error(
        error_class, status, lambda text: oai.chat.completions.create(model="m", messages=[user(text)])
    )
    assert error.type == error_type
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "type", "param", "code"}


def test_openai_error_directive_other_endpoints(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="m", messages=[user("[[error:429]]")], stream=True)
    assert caught.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError):
        oai.responses.create(model="m", input="[[error:500]]", stream=True)
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="m", input="[[error:400]]")
    with pytest.raises(openai.AuthenticationError):
        oai.embeddings.create(model="e", input=["[[error:401]]", "second"])


ANTHROPIC_ERRORS = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (404, anthropic.NotFoundError, "not_found_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (529, anthropic.OverloadedError, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "error_class", "error_type"), ANTHROPIC_ERRORS)
def test_anthropic_error_directive(
    ant: anthropic.Anthropic, status: int, error_class: type[anthropic.APIStatusError], error_type: str
) -> None:
    error = raised_status_error(
        error_class, status, lambda text: ant.messages.create(model="m", max_tokens=5, messages=[user(text)])
    )
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] == error_type


def test_anthropic_error_directive_streaming(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError):
        ant.messages.create(model="m", max_tokens=5, messages=[user("[[error:429]]")], stream=True)
    with (
        pytest.raises(anthropic.InternalServerError),
        ant.messages.stream(model="m", max_tokens=5, messages=[user("[[error:500]]")]) as stream,
    ):
        stream.get_final_message()


def test_unknown_paths_are_404(server: FakeLLMServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.models.list()
    with pytest.raises(anthropic.NotFoundError) as caught:
        ant.models.list()
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "not_found_error"
    assert [(r.method, r.path, r.body) for r in server.requests] == [("GET", "/v1/models", None)] * 2


# --------------------------------------------------------------------------- delays


def test_delays(oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    started = time.monotonic()
    oai.chat.completions.create(model="m", messages=[user("[[delay_ms:150]]")])
    assert time.monotonic() - started >= 0.15

    started = time.monotonic()
    stream = oai.chat.completions.create(model="m", messages=[user("[[first_delay_ms:200]]")], stream=True)
    next(stream)
    first_chunk_after = time.monotonic() - started
    rest = list(stream)
    assert first_chunk_after >= 0.2
    assert rest[-1].choices[0].finish_reason == "stop"

    started = time.monotonic()
    with ant.messages.stream(model="m", max_tokens=5, messages=[user("[[delay_ms:60]] [[chunks:3]]")]) as helper:
        assert "".join(helper.text_stream) == DEFAULT_REPLY
    assert time.monotonic() - started >= 0.18


# --------------------------------------------------------------------------- broken and failed streams


def test_openai_stream_break(server: FakeLLMServer, oai: openai.OpenAI) -> None:
    received: list[str] = []
    stream = oai.chat.completions.create(
        model="m", messages=[user("[[stream_break_after:2]] [[chunks:4]]")], stream=True
    )
    with pytest.raises(openai.APIConnectionError) as caught:
        collect_chat_text(stream, received)
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert received == split_text(DEFAULT_REPLY, 4)[:2]

    events: list[str] = []
    responses_stream = oai.responses.create(model="m", input="[[stream_break_after:1]]", stream=True)
    with pytest.raises(openai.APIConnectionError):
        collect_types(responses_stream, events)
    assert events == TEXT_EVENTS[:5]

    # the server keeps serving after a broken stream
    assert oai.chat.completions.create(model="m", messages=[user("hi")]).choices[0].message.content == DEFAULT_REPLY


@pytest.mark.asyncio
async def test_openai_stream_break_async(aoai: openai.AsyncOpenAI) -> None:
    stream = await aoai.chat.completions.create(model="m", messages=[user("[[stream_break_after:0]]")], stream=True)
    first = await stream.__anext__()
    assert first.choices[0].delta.role == "assistant"
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        await acollect_chat_text(stream, received)
    assert received == []


def test_openai_stream_error(oai: openai.OpenAI) -> None:
    received: list[str] = []
    stream = oai.chat.completions.create(model="m", messages=[user("[[stream_error_after:1]]")], stream=True)
    with pytest.raises(openai.APIError) as caught:
        collect_chat_text(stream, received)
    assert not isinstance(caught.value, (openai.APIStatusError, openai.APIConnectionError))
    assert caught.value.message == "The server had an error while processing your request."
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "server_error"
    assert received == ["Hello from"]

    events: list[str] = []
    responses_stream = oai.responses.create(model="m", input="[[stream_error_after:2]]", stream=True)
    with pytest.raises(openai.APIError):
        collect_types(responses_stream, events)
    assert events == TEXT_EVENTS[:6]
    # an in-stream error ends the body properly: the connection stays usable
    assert oai.responses.create(model="m", input="ok").output_text == DEFAULT_REPLY


@pytest.mark.asyncio
async def test_openai_stream_error_async(aoai: openai.AsyncOpenAI) -> None:
    stream = await aoai.chat.completions.create(model="m", messages=[user("[[stream_error_after:3]]")], stream=True)
    contents: list[str] = []
    with pytest.raises(openai.APIError):
        await acollect_chat_text(stream, contents)
    assert "".join(contents) == DEFAULT_REPLY


def test_anthropic_stream_break(ant: anthropic.Anthropic) -> None:
    texts: list[str] = []
    stream = ant.messages.create(model="m", max_tokens=5, messages=[user("[[stream_break_after:2]]")], stream=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        collect_anthropic_text(stream, texts)
    assert texts == ["Hello from", " the fake "]

    with (
        pytest.raises(httpx2.RemoteProtocolError),
        ant.messages.stream(model="m", max_tokens=5, messages=[user("[[stream_break_after:1]]")]) as helper,
    ):
        helper.get_final_message()


def test_anthropic_stream_error(ant: anthropic.Anthropic) -> None:
    texts: list[str] = []
    stream = ant.messages.create(model="m", max_tokens=5, messages=[user("[[stream_error_after:1]]")], stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        collect_anthropic_text(stream, texts)
    assert texts == ["Hello from"]
    assert caught.value.status_code == 200
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"


@pytest.mark.asyncio
async def test_anthropic_stream_break_and_error_async(aant: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(httpx2.RemoteProtocolError):
        async with aant.messages.stream(model="m", max_tokens=5, messages=[user("[[stream_break_after:2]]")]) as s:
            await s.get_final_message()
    with pytest.raises(anthropic.APIStatusError):
        async with aant.messages.stream(model="m", max_tokens=5, messages=[user("[[stream_error_after:0]]")]) as s:
            await s.get_final_message()


# --------------------------------------------------------------------------- transport behaviour


@pytest.mark.asyncio
async def test_keep_alive_reuses_one_connection(server: FakeLLMServer) -> None:
    async with openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="x", max_retries=0) as client:
        for _ in range(2):
            stream = await client.chat.completions.create(model="m", messages=[user("hi")], stream=True)
            assert len([chunk async for chunk in stream]) == 5
            await client.chat.completions.create(model="m", messages=[user("hi")])
            await client.embeddings.create(model="e", input="x")
    assert len(server.requests) == 6
    assert server.connections_opened == 1


def test_client_disconnect_is_quiet(capfd: pytest.CaptureFixture[str]) -> None:
    with FakeLLMServer() as srv:
        client = openai.OpenAI(base_url=srv.openai_base_url, api_key="x", max_retries=0)
        stream = client.chat.completions.create(
            model="m", messages=[user("[[chunks:20]] [[delay_ms:20]]")], stream=True
        )
        next(stream)
        next(stream)
        stream.close()
        assert srv.wait_idle(timeout=5)
        assert srv.client_disconnects == 1
        assert client.chat.completions.create(model="m", messages=[user("hi")]).choices[0].message.content
        client.close()
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_serves_while_another_stream_is_in_progress() -> None:
    with FakeLLMServer() as srv:
        client = openai.OpenAI(base_url=srv.openai_base_url, api_key="x", max_retries=0)
        slow = client.chat.completions.create(model="m", messages=[user("[[delay_ms:5000]]")], stream=True)
        first = next(slow)  # the role chunk; the server now waits 5 s before the first delta
        assert first.choices[0].delta.role == "assistant"
        started = time.monotonic()
        fast = client.chat.completions.create(model="m", messages=[user("[[reply:not blocked]]")])
        assert fast.choices[0].message.content == "not blocked"
        assert time.monotonic() - started < 4.0
        slow.close()
        client.close()
    # stop() wakes the handler still sleeping before its first delta, so it finishes at once
    assert srv.wait_idle(timeout=2.0)


def test_lifecycle() -> None:
    srv = FakeLLMServer()
    with pytest.raises(RuntimeError):
        _ = srv.port
    assert srv.start() is srv
    port = srv.port
    assert srv.openai_base_url == f"http://127.0.0.1:{port}/v1"
    assert srv.anthropic_base_url == f"http://127.0.0.1:{port}"
    with pytest.raises(RuntimeError):
        srv.start()
    srv.stop()
    srv.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with srv:  # restartable
        client = anthropic.Anthropic(base_url=srv.anthropic_base_url, api_key="x", max_retries=0)
        assert client.messages.create(model="m", max_tokens=5, messages=[user("hi")]).stop_reason == "end_turn"
        client.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_script_mode(tmp_path: Path, signum: int) -> None:
    port_file = tmp_path / "port"
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--port-file", str(port_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()  # printed once the port file is in place
        port = int(port_file.read_text())
        assert banner.strip() == f"fake LLM provider listening on http://127.0.0.1:{port}"
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        assert client.chat.completions.create(model="m", messages=[user("hi")]).choices[0].message.content
        client.close()
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=10)
        assert process.returncode == 0
        assert stderr == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
