"""Streamed chat completions and Responses: one span per call, ended exactly once, whatever ends
the stream (consumed, closed, context manager, error, connection break, cancellation, garbage
collection), and a stream that still behaves like the SDK's own."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, TOOL_CALL_TOKENS, FakeLLMServer
from tests.instrumentation.openai_support import CHAT_MODEL, Caller, histogram, only_llm_span
from tests.instrumentation.sdk_support import SPAN_ONLY, attrs, response_model, sdk_fixture, user, words

APIS = ["chat", "responses"]

FULL_STREAM_ITEMS = {"chat": 6, "responses": 12}
"""Items in a whole ``[[chunks:4]]`` stream: chat: role chunk, 4 text deltas, finish chunk;
Responses: created, in_progress, item added, part added, 4 deltas, text done, part done, item done,
completed."""


sdk = sdk_fixture(Caller)


async def open_stream(sdk: Caller, api: str, text: str, **kwargs: Any) -> Any:
    """``chat.completions.create`` or ``responses.create`` with ``stream=True``."""
    create = sdk.chat if api == "chat" else sdk.responses
    return await create(text, stream=True, **kwargs)


def text_of(api: str, items: list[Any]) -> str:
    """The reply text carried by a stream's items."""
    if api == "chat":
        return "".join(c.choices[0].delta.content or "" for c in items if c.choices)
    return "".join(e.delta for e in items if e.type == "response.output_text.delta")


def stream_span(tel: Telemetry, end_reason: str, chunks: int) -> dict[str, Any]:
    """The one span of the test, ended once with ``end_reason`` after ``chunks`` chunks; its attributes."""
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.DRIFTLINE_STREAM_END_REASON] == end_reason
    assert span_attrs[names.DRIFTLINE_STREAM_CHUNK_COUNT] == chunks
    assert span_attrs[names.GEN_AI_REQUEST_STREAM] is True
    return span_attrs


# -- ended by the stream itself -----------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_fully_consumed(sdk: Caller, telemetry: Callable[..., Telemetry], api: str) -> None:
    tel = telemetry()
    prompt = "Stream to me [[chunks:4]]"

    stream = await open_stream(sdk, api, prompt)
    assert tel.spans() == []  # open until the stream ends
    items = await sdk.drain(stream)

    assert text_of(api, items) == DEFAULT_REPLY
    span = tel.only_span()
    assert span.status.status_code is StatusCode.UNSET
    span_attrs = stream_span(tel, "completed", len(items))
    assert span_attrs[names.GEN_AI_RESPONSE_MODEL] == response_model(CHAT_MODEL)
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == len(DEFAULT_REPLY)
    assert span_attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    (ttfc,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1
    assert ttfc.sum == span_attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert len(items) == FULL_STREAM_ITEMS[api]
    if api == "chat":
        # no usage unless asked for
        assert names.GEN_AI_USAGE_INPUT_TOKENS not in span_attrs
        assert names.GEN_AI_USAGE_OUTPUT_TOKENS not in span_attrs
        assert tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE) == []
        assert span_attrs[names.GEN_AI_RESPONSE_ID] == items[0].id
    else:
        assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(prompt)
        assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(DEFAULT_REPLY)
        assert span_attrs[names.GEN_AI_RESPONSE_ID] == items[-1].response.id


async def test_chat_usage_only_with_include_usage(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    prompt = "Count my words please"

    items = await sdk.drain(await open_stream(sdk, "chat", prompt, stream_options={"include_usage": True}))

    assert items[-1].choices == []  # the usage chunk
    span_attrs = stream_span(tel, "completed", len(items))
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(prompt)
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(DEFAULT_REPLY)
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    sums = {p.attributes[names.GEN_AI_TOKEN_TYPE]: p.sum for p in tel.metric_points(names.GEN_AI_CLIENT_TOKEN_USAGE)}
    assert sums == {names.TOKEN_TYPE_INPUT: words(prompt), names.TOKEN_TYPE_OUTPUT: words(DEFAULT_REPLY)}


async def test_chat_streamed_tool_calls(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)
    prompt = 'Weather? [[tool:get_weather:{"city": "Paris", "days": [1, 2]}]] [[tool:get_time]]'

    items = await sdk.drain(await open_stream(sdk, "chat", prompt, stream_options={"include_usage": True}))

    span_attrs = stream_span(tel, "completed", len(items))
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 2
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 2 * TOOL_CALL_TOKENS
    ids = [d.id for c in items if c.choices for d in c.choices[0].delta.tool_calls or () if d.id]
    assert json.loads(span_attrs[names.GEN_AI_OUTPUT_MESSAGES]) == [{
        "role": "assistant", "finish_reason": "tool_calls", "parts": [
            {"type": "tool_call", "id": ids[0], "name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2]}},
            {"type": "tool_call", "id": ids[1], "name": "get_time", "arguments": {}},
        ]}]


@pytest.mark.parametrize("api", APIS)
async def test_time_to_first_chunk_includes_the_wait(sdk: Caller, telemetry: Callable[..., Telemetry],
                                                     api: str) -> None:
    tel = telemetry()
    delay_s = 0.06

    await sdk.drain(await open_stream(sdk, api, f"Slow start [[first_delay_ms:{int(delay_s * 1000)}]]"))

    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= delay_s
    unit, (point,) = histogram(tel, names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
    assert unit == "s"
    assert point.count == 1
    assert point.sum >= delay_s
    assert tuple(point.explicit_bounds) == names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK_BUCKETS
    _, (duration,) = histogram(tel, names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert duration.sum >= point.sum


# -- ended by the application -------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_closed_early(sdk: Caller, telemetry: Callable[..., Telemetry], api: str) -> None:
    tel = telemetry()
    stream = await open_stream(sdk, api, "Long answer [[chunks:10]]")

    await sdk.next(stream)
    await sdk.close(stream)

    span = tel.only_span()  # ended by close(), not by a later garbage collection
    assert span.status.status_code is StatusCode.UNSET
    stream_span(tel, "closed", 1)
    await sdk.close(stream)  # closing twice is harmless and ends nothing more
    stream_span(tel, "closed", 1)


async def test_async_aclose(telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry()
    async with Caller(fake_llm, asynchronous=True) as sdk:
        stream = await open_stream(sdk, "chat", "Hi")
        await anext(stream)

        await stream.aclose()  # AsyncStream's alias of close()

    stream_span(tel, "closed", 1)


@pytest.mark.parametrize("api", APIS)
async def test_context_manager_exited_early(sdk: Caller, telemetry: Callable[..., Telemetry], api: str) -> None:
    tel = telemetry()
    stream = await open_stream(sdk, api, "Long answer [[chunks:10]]")

    if sdk.asynchronous:
        async with stream as entered:
            assert entered is stream
            async for _ in entered:
                break
    else:
        with stream as entered:
            assert entered is stream
            for _ in entered:
                break

    assert stream.response.is_closed
    stream_span(tel, "closed", 1)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("partly_consumed", [False, True], ids=["unconsumed", "partly-consumed"])
async def test_dropped_stream_is_ended_by_garbage_collection(
        sdk: Caller, telemetry: Callable[..., Telemetry], api: str, partly_consumed: bool) -> None:
    tel = telemetry()
    stream = await open_stream(sdk, api, "Never read [[chunks:10]]")
    if partly_consumed:
        await sdk.next(stream)
    assert tel.spans() == []

    del stream
    gc.collect()

    span = tel.only_span()
    assert span.status.status_code is StatusCode.UNSET
    stream_span(tel, "garbage_collected", int(partly_consumed))


# -- ended by a failure -------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("directive", "error_class"), [
    ("stream_error_after", openai.APIError),  # an error event inside the stream
    ("stream_break_after", openai.APIConnectionError),  # the connection drops mid-body
])
async def test_failure_mid_stream(sdk: Caller, telemetry: Callable[..., Telemetry], api: str, directive: str,
                                  error_class: type[openai.APIError]) -> None:
    prompt = f"Break [[{directive}:1]]"

    async def consume() -> tuple[list[Any], openai.APIError]:
        received: list[Any] = []
        stream = await open_stream(sdk, api, prompt)
        while True:  # a stream that ends without the error fails the test with StopIteration
            try:
                received.append(await sdk.next(stream))
            except openai.APIError as exc:
                return received, exc

    _, uninstrumented = await consume()
    tel = telemetry()

    received, error = await consume()

    assert type(error) is type(uninstrumented) is error_class
    assert str(error) == str(uninstrumented)
    partial = text_of(api, received)  # the one delta sent before the failure
    assert DEFAULT_REPLY.startswith(partial)
    assert 0 < len(partial) < len(DEFAULT_REPLY)
    span = tel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    span_attrs = stream_span(tel, "error", len(received))
    assert span_attrs[names.ERROR_TYPE] == f"openai.{error_class.__name__}"
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert point.attributes[names.ERROR_TYPE] == f"openai.{error_class.__name__}"


@pytest.mark.parametrize("api", APIS)
async def test_error_before_the_stream_starts(sdk: Caller, telemetry: Callable[..., Telemetry], api: str) -> None:
    tel = telemetry()

    with pytest.raises(openai.RateLimitError):
        await open_stream(sdk, api, "No [[error:429]]")

    span = tel.only_span()
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[names.ERROR_TYPE] == "openai.RateLimitError"
    assert names.DRIFTLINE_STREAM_END_REASON not in attrs(span)


@pytest.mark.parametrize("api", APIS)
async def test_cancelled_while_iterating(telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer,
                                         api: str) -> None:
    tel = telemetry()
    received: list[Any] = []
    first_chunk = asyncio.Event()

    async with Caller(fake_llm, asynchronous=True) as sdk:
        # Every text delta is 2 s away: the task is bound to be waiting inside the stream when cancelled.
        stream = await open_stream(sdk, api, "Slow [[delay_ms:2000]]")

        async def consume() -> None:
            async for item in stream:
                received.append(item)
                first_chunk.set()

        task = asyncio.create_task(consume())
        await first_chunk.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        span_attrs = stream_span(tel, "cancelled", len(received))
        assert received
        assert span_attrs[names.ERROR_TYPE] == "asyncio.CancelledError"
        assert tel.only_span().status.status_code is StatusCode.ERROR


# -- still the SDK's stream ---------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
async def test_proxy_behaves_like_the_sdk_stream(sdk: Caller, telemetry: Callable[..., Telemetry], api: str) -> None:
    prompt = "Same as ever [[chunks:5]]"
    plain_stream = await open_stream(sdk, api, prompt)
    plain = await sdk.drain(plain_stream)
    tel = telemetry()

    stream = await open_stream(sdk, api, prompt)

    assert type(stream) is not type(plain_stream)  # really proxied...
    assert isinstance(stream, openai.AsyncStream if sdk.asynchronous else openai.Stream)  # ...yet the SDK's class
    assert isinstance(stream.response, type(plain_stream.response))
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    items = await sdk.drain(stream)
    assert [type(i) for i in items] == [type(i) for i in plain]
    assert text_of(api, items) == text_of(api, plain) == DEFAULT_REPLY
    stream_span(tel, "completed", len(items))


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("early_exit", [False, True], ids=["consumed", "exited-early"])
async def test_sdk_stream_helpers(sdk: Caller, telemetry: Callable[..., Telemetry], api: str,
                                  early_exit: bool) -> None:
    """``chat.completions.stream()`` / ``responses.stream()`` call ``create(stream=True)`` and, on an
    early exit, close the stream's HTTP response rather than the stream."""
    tel = telemetry()
    prompt = "Helper [[chunks:4]]"
    client: Any = sdk.client
    manager = (client.chat.completions.stream(model=CHAT_MODEL, messages=user(prompt)) if api == "chat"
               else client.responses.stream(model=CHAT_MODEL, input=prompt))

    if sdk.asynchronous:
        async with manager as stream:
            async for _ in stream:
                if early_exit:
                    break
    else:
        with manager as stream:
            for _ in stream:
                if early_exit:
                    break

    # `stream` is still referenced here: the span was ended by the helper, not by garbage collection.
    assert stream is not None
    if early_exit:
        stream_span(tel, "closed", 1)
    else:
        stream_span(tel, "completed", FULL_STREAM_ITEMS[api])
