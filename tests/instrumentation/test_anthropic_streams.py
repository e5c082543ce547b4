"""Streamed Anthropic Messages — ``messages.create(stream=True)`` and the ``messages.stream()``
helper, sync and async: one span per call, ended exactly once whatever ends the stream (consumed,
closed, the helper's block left early, a mid-stream error, a broken connection, cancellation,
garbage collection), usage from message_start + message_delta, and streams that still behave
exactly like the SDK's own."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Callable
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream
from opentelemetry.trace import StatusCode

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation.anthropic._mapping import MessagesStreamAccumulator
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, TOOL_CALL_TOKENS, FakeLLMServer, split_text
from tests.instrumentation.anthropic_support import MODEL, Claude, only_llm_span
from tests.instrumentation.sdk_support import SPAN_ONLY, attrs, content, response_model, sdk_fixture, user, words

# message_start, content_block_start, the text deltas, content_block_stop, message_delta,
# message_stop (the SDK drops "ping" events before the caller sees them).
FRAME_EVENTS = 5


def events_for(chunks: int) -> int:
    """How many events a one-text-block stream with ``chunks`` deltas yields."""
    return FRAME_EVENTS + chunks


sdk = sdk_fixture(Claude)


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0)


@pytest.fixture
async def aclient(fake_llm: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=fake_llm.anthropic_base_url, api_key="test",
                                        max_retries=0) as created:
        yield created


def stream_span(tel: Telemetry, end_reason: str, chunks: int) -> dict[str, Any]:
    """The one span of the test, ended once with ``end_reason`` after ``chunks`` events; its attributes."""
    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.DRIFTLINE_STREAM_END_REASON] == end_reason
    assert span_attrs[names.DRIFTLINE_STREAM_CHUNK_COUNT] == chunks
    assert span_attrs[names.GEN_AI_REQUEST_STREAM] is True
    return span_attrs


def text_of(events: list[Any]) -> str:
    return "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")


def assert_completed_usage(span_attrs: dict[str, Any], prompt: str, reply: str = DEFAULT_REPLY) -> None:
    """Input tokens come from message_start, output tokens from the final message_delta (the fake's
    message_start claims 1 output token, as the real API's does)."""
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(prompt)
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words(reply)
    assert span_attrs[names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert span_attrs[names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 0


# -- messages.create(stream=True) ----------------------------------------------------------------------


async def test_create_stream_consumed(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    prompt = "stream me a greeting"

    stream = await sdk.create(prompt, stream=True)
    assert tel.spans() == []  # open until the stream ends
    events = await sdk.drain(stream)

    assert text_of(events) == DEFAULT_REPLY
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    span_attrs = stream_span(tel, "completed", events_for(3))
    assert len(events) == events_for(3)
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == events[0].message.id
    assert span_attrs[names.GEN_AI_RESPONSE_MODEL] == response_model(MODEL)
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == len(DEFAULT_REPLY)
    assert span_attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 0
    assert_completed_usage(span_attrs, prompt)


async def test_create_stream_is_the_sdks_stream(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    """The proxy is transparent: isinstance, attributes and the response object are the SDK's."""
    telemetry()

    stream = await sdk.create("hi", stream=True)

    expected = anthropic.AsyncStream if sdk.asynchronous else anthropic.Stream
    assert isinstance(stream, expected)
    assert stream.response.status_code == 200
    await sdk.drain(stream)


async def test_time_to_first_chunk(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    stream = await sdk.create("[[first_delay_ms:120]] hi", stream=True)
    await sdk.drain(stream)

    ttfc = stream_span(tel, "completed", events_for(3))[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert ttfc >= 0.120
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_TIME_TO_FIRST_CHUNK)
    assert point.count == 1
    assert point.sum == pytest.approx(ttfc)


async def test_create_stream_closed_early(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    prompt = "close me early"

    stream = await sdk.create(prompt, stream=True)
    first = await sdk.next(stream)
    await sdk.close(stream)
    await sdk.close(stream)  # closing twice ends nothing twice

    assert first.type == "message_start"
    span_attrs = stream_span(tel, "closed", 1)
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == first.message.id
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words(prompt)
    assert names.GEN_AI_RESPONSE_FINISH_REASONS not in span_attrs
    assert only_llm_span(tel).status.status_code is StatusCode.UNSET


def test_create_stream_context_manager(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"), stream=True) as stream:
        for event in stream:
            if event.type == "content_block_delta":
                break

    stream_span(tel, "closed", 3)


async def test_create_stream_tool_use_with_content(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)
    prompt = '[[reply:Let me look.]] [[tool:search:{"q": "otel", "n": 2}]] [[chunks:2]]'

    stream = await sdk.create(prompt, stream=True)
    events = await sdk.drain(stream)

    tool_id = next(e.content_block.id for e in events if e.type == "content_block_start"
                   and e.content_block.type == "tool_use")
    # text block: start, 2 deltas, stop; tool block: start, >= 2 argument pieces, stop
    span_attrs = stream_span(tel, "completed", len(events))
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert span_attrs[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 1
    assert span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == words("Let me look.") + TOOL_CALL_TOKENS
    assert span_attrs[names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH] == len("Let me look.")
    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == [{
        "role": "assistant",
        "parts": [{"type": "text", "content": "Let me look."},
                  {"type": "tool_call", "id": tool_id, "name": "search", "arguments": {"q": "otel", "n": 2}}],
        "finish_reason": "tool_call",
    }]


# -- errors in the middle of a stream ---------------------------------------------------------------------


async def test_create_stream_mid_stream_error(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    seen: list[Any] = []

    async def read_all(stream: Any) -> None:
        while True:
            seen.append(await sdk.next(stream))

    stream = await sdk.create("[[stream_error_after:1]] hi", stream=True)
    with pytest.raises(anthropic.APIStatusError) as caught:
        await read_all(stream)

    assert type(caught.value) is anthropic.APIStatusError  # the SDK's own exception, unchanged
    assert caught.value.status_code == 200
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"]["type"] == "overloaded_error"
    assert text_of(seen) == split_text(DEFAULT_REPLY, 3)[0]
    span_attrs = stream_span(tel, "error", len(seen))
    assert span_attrs[names.ERROR_TYPE] == "anthropic.APIStatusError"
    assert span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS] == words("[[stream_error_after:1]] hi")
    span = only_llm_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    (point,) = tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)
    assert dict(point.attributes)[names.ERROR_TYPE] == "anthropic.APIStatusError"


async def test_create_stream_connection_broken(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    stream = await sdk.create("[[stream_break_after:2]] hi", stream=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        await sdk.drain(stream)

    span_attrs = attrs(only_llm_span(tel))
    assert span_attrs[names.DRIFTLINE_STREAM_END_REASON] == "error"
    assert span_attrs[names.ERROR_TYPE] == "httpx2.RemoteProtocolError"


async def test_create_stream_http_error_before_any_event(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with pytest.raises(anthropic.RateLimitError):
        await sdk.create("[[error:429]]", stream=True)

    span = only_llm_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    span_attrs = attrs(span)
    assert span_attrs[names.ERROR_TYPE] == "anthropic.RateLimitError"
    assert names.DRIFTLINE_STREAM_END_REASON not in span_attrs


# -- garbage collection and cancellation ----------------------------------------------------------------


async def test_unconsumed_stream_garbage_collected(sdk: Claude, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    stream = await sdk.create("never read", stream=True)
    assert tel.spans() == []
    del stream
    gc.collect()

    span_attrs = stream_span(tel, "garbage_collected", 0)
    assert names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in span_attrs
    assert only_llm_span(tel).status.status_code is StatusCode.UNSET


async def test_cancelled_while_waiting_for_a_chunk(aclient: anthropic.AsyncAnthropic,
                                                   telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    stream = await aclient.messages.create(model=MODEL, max_tokens=10, stream=True,
                                           messages=user("[[delay_ms:3000]] slow"))
    # message_start and content_block_start come at once; the first delta is 3 s away.
    assert (await anext(stream)).type == "message_start"
    assert (await anext(stream)).type == "content_block_start"
    waiting = asyncio.Event()

    async def next_delta() -> Any:
        waiting.set()
        return await anext(stream)

    task = asyncio.create_task(next_delta())
    await waiting.wait()  # the task runs until it blocks on the socket, then we get here
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    span_attrs = stream_span(tel, "cancelled", 2)
    assert span_attrs[names.ERROR_TYPE] == "asyncio.CancelledError"
    assert only_llm_span(tel).status.status_code is StatusCode.ERROR
    await stream.close()  # ends nothing a second time
    stream_span(tel, "cancelled", 2)


async def test_cancelled_inside_async_stream_helper(aclient: anthropic.AsyncAnthropic,
                                                    telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    inside = asyncio.Event()
    texts: list[str] = []

    async def consume() -> None:
        async with aclient.messages.stream(model=MODEL, max_tokens=10,
                                           messages=user("[[delay_ms:3000]] slow")) as stream:
            inside.set()
            async for text in stream.text_stream:
                texts.append(text)

    task = asyncio.create_task(consume())
    await inside.wait()  # the consumer is reading events; the first text is 3 s away
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert texts == []
    span = only_llm_span(tel)
    span_attrs = attrs(span)
    assert span_attrs[names.DRIFTLINE_STREAM_END_REASON] == "cancelled"
    assert span_attrs[names.DRIFTLINE_STREAM_CHUNK_COUNT] <= 2  # at most message_start, content_block_start
    assert span_attrs[names.ERROR_TYPE] == "asyncio.CancelledError"
    assert span.status.status_code is StatusCode.ERROR


# -- the messages.stream() helper, sync ------------------------------------------------------------------


def test_stream_helper_text_stream_and_final_message(client: anthropic.Anthropic,
                                                     telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)
    prompt = "[[reply:streamed by helper]] [[chunks:2]]"

    with client.messages.stream(model=MODEL, max_tokens=10, system="Be nice", messages=user(prompt)) as stream:
        assert isinstance(stream, MessageStream)
        pieces = list(stream.text_stream)
        final = stream.get_final_message()

    assert pieces == ["streamed ", "by helper"]
    assert final.content[0].type == "text"
    assert final.content[0].text == "streamed by helper"
    span_attrs = stream_span(tel, "completed", events_for(2))
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == final.id
    assert span_attrs[names.GEN_AI_REQUEST_MAX_TOKENS] == 10
    assert span_attrs[names.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert (span_attrs[names.GEN_AI_USAGE_INPUT_TOKENS], span_attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS]) == (
        final.usage.input_tokens, final.usage.output_tokens) == (words("Be nice", prompt), 3)
    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": "Be nice"}]
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == [{
        "role": "assistant", "parts": [{"type": "text", "content": "streamed by helper"}], "finish_reason": "stop"}]


def test_stream_helper_until_done(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with client.messages.stream(model=MODEL, max_tokens=10, messages=user("wait for it")) as stream:
        stream.until_done()
        assert tel.spans() != []  # ended when the events ran out, before the block exits

    span_attrs = stream_span(tel, "completed", events_for(3))
    assert_completed_usage(span_attrs, "wait for it")


def test_stream_helper_block_left_early(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with client.messages.stream(model=MODEL, max_tokens=10, messages=user("[[chunks:4]] hi")) as stream:
        first = next(iter(stream.text_stream))
        assert tel.spans() == []

    assert first == split_text(DEFAULT_REPLY, 4)[0]
    span_attrs = stream_span(tel, "closed", 3)  # message_start, content_block_start, one delta
    assert names.GEN_AI_RESPONSE_FINISH_REASONS not in span_attrs
    assert only_llm_span(tel).status.status_code is StatusCode.UNSET


def test_stream_helper_mid_stream_error(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with (pytest.raises(anthropic.APIStatusError) as caught,
          client.messages.stream(model=MODEL, max_tokens=10, messages=user("[[stream_error_after:1]]")) as stream):
        stream.get_final_message()

    assert type(caught.value) is anthropic.APIStatusError
    span_attrs = stream_span(tel, "error", 3)
    assert span_attrs[names.ERROR_TYPE] == "anthropic.APIStatusError"
    assert only_llm_span(tel).status.status_code is StatusCode.ERROR


def test_stream_helper_never_entered(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                                     fake_llm: FakeLLMServer) -> None:
    """The helper sends nothing until its block is entered; neither does driftline open a span."""
    tel = telemetry()
    sent = len(fake_llm.requests)

    client.messages.stream(model=MODEL, max_tokens=10, messages=user("hi"))
    gc.collect()

    assert len(fake_llm.requests) == sent
    assert tel.spans() == []


def test_stream_helper_span_attributes_at_enter(client: anthropic.Anthropic,
                                                telemetry: Callable[..., Telemetry]) -> None:
    """The request runs when the block is entered: scoped attributes in effect there are recorded."""
    from driftline.instrumentation import span_attributes

    tel = telemetry()
    manager = client.messages.stream(model=MODEL, max_tokens=10, messages=user("hi"))
    with span_attributes(team="search"), manager as stream:
        stream.until_done()

    assert stream_span(tel, "completed", events_for(3))["team"] == "search"


# -- the messages.stream() helper, async ------------------------------------------------------------------


async def test_async_stream_helper(aclient: anthropic.AsyncAnthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**SPAN_ONLY)
    prompt = "four words right here"

    async with aclient.messages.stream(model=MODEL, max_tokens=10, messages=user(prompt)) as stream:
        assert isinstance(stream, AsyncMessageStream)
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert "".join(pieces) == DEFAULT_REPLY
    span_attrs = stream_span(tel, "completed", events_for(3))
    assert span_attrs[names.GEN_AI_RESPONSE_ID] == final.id
    assert_completed_usage(span_attrs, prompt)
    assert content(only_llm_span(tel), names.GEN_AI_INPUT_MESSAGES) == [
        {"role": "user", "parts": [{"type": "text", "content": prompt}]}]


async def test_async_stream_helper_block_left_early(aclient: anthropic.AsyncAnthropic,
                                                    telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    async with aclient.messages.stream(model=MODEL, max_tokens=10, messages=user("hi")) as stream:
        async for _text in stream.text_stream:
            break

    stream_span(tel, "closed", 3)


async def test_async_stream_helper_mid_stream_error(aclient: anthropic.AsyncAnthropic,
                                                    telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with pytest.raises(anthropic.APIStatusError):
        async with aclient.messages.stream(model=MODEL, max_tokens=10,
                                           messages=user("[[stream_error_after:0]]")) as stream:
            await stream.until_done()

    span_attrs = stream_span(tel, "error", 2)
    assert span_attrs[names.ERROR_TYPE] == "anthropic.APIStatusError"


# -- the accumulator on its own -----------------------------------------------------------------------------


def test_stream_usage_keeps_fields_a_later_event_leaves_null() -> None:
    """The real API's message_delta usage is cumulative and may carry input_tokens with null cache
    fields: the cache counts from message_start must still be part of gen_ai.usage.input_tokens."""
    inv = LLMInvocation(operation=names.OPERATION_CHAT, provider=names.PROVIDER_ANTHROPIC, stream=True)
    acc = MessagesStreamAccumulator(inv, capture=True)
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {
            "input_tokens": 10, "cache_read_input_tokens": 200, "cache_creation_input_tokens": 30,
            "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm, "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "easy."}},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Four."}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {
            "input_tokens": 10, "cache_read_input_tokens": None, "cache_creation_input_tokens": None,
            "output_tokens": 42}},
    ]
    for event in events:
        acc.on_chunk(event)
    acc.finish()

    assert (inv.input_tokens, inv.cache_read_tokens, inv.cache_creation_tokens, inv.output_tokens) == (
        240, 200, 30, 42)
    assert (inv.response_id, inv.finish_reasons, inv.output_length) == ("msg_1", ["end_turn"], len("Four."))
    assert inv.output_messages == [{"role": "assistant", "parts": [
        {"type": "reasoning", "content": "Hmm, easy."}, {"type": "text", "content": "Four."}],
        "finish_reason": "stop"}]
