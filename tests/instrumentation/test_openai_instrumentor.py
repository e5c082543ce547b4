"""OpenAIInstrumentor as a whole: trace context (parents, concurrent async calls), instrumenting
twice, uninstrumenting back to the SDK's own functions, suppression."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from openai.resources import embeddings as embeddings_module
from openai.resources.chat.completions import completions as chat_module
from openai.resources.responses import responses as responses_module
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan

from driftline.instrumentation.openai import OpenAIInstrumentor
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, FakeLLMServer
from tests.instrumentation.openai_support import EMBEDDING_MODEL, Caller, only_llm_span
from tests.instrumentation.sdk_support import attrs, sdk_fixture

PATCHED: list[tuple[type[Any], str]] = [
    (cls, method)
    for cls in (chat_module.Completions, chat_module.AsyncCompletions, responses_module.Responses,
                responses_module.AsyncResponses)
    for method in ("create", "parse")
] + [(embeddings_module.Embeddings, "create"), (embeddings_module.AsyncEmbeddings, "create")]
"""Every SDK function OpenAIInstrumentor wraps."""

tracer = trace.get_tracer("tests.openai.instrumentor")


sdk = sdk_fixture(Caller)


def assert_child_of(span: ReadableSpan, parent: trace.Span) -> None:
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    assert span.context is not None
    assert span.context.trace_id == parent.get_span_context().trace_id


# -- context ------------------------------------------------------------------------------------------


async def test_current_span_is_the_parent(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with tracer.start_as_current_span("parent") as parent:
        await sdk.chat("Hi")
        assert trace.get_current_span() is parent  # driftline's span is no longer current

    (llm,) = tel.llm_spans()
    assert_child_of(llm, parent)


async def test_without_a_parent_the_span_is_a_root(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    await sdk.chat("Hi")

    assert only_llm_span(tel).parent is None
    assert trace.get_current_span() is trace.INVALID_SPAN


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_concurrent_async_calls_keep_their_own_parent(telemetry: Callable[..., Telemetry],
                                                            fake_llm: FakeLLMServer, streamed: bool) -> None:
    tel = telemetry()
    parents: dict[str, trace.Span] = {}

    async def ask(sdk: Caller, model: str) -> str:
        with tracer.start_as_current_span(f"parent of {model}") as parent:
            parents[model] = parent
            # The delay keeps both requests in flight at once, interleaved on one event loop.
            messages = [{"role": "user", "content": "Hi [[delay_ms:20]]"}]
            result = await sdk("chat.completions.create", model=model, messages=messages, stream=streamed)
            if streamed:
                return "".join(c.choices[0].delta.content or "" for c in await sdk.drain(result))
            return str(result.choices[0].message.content)

    async with Caller(fake_llm, asynchronous=True) as sdk:
        replies = await asyncio.gather(ask(sdk, "gpt-4o"), ask(sdk, "gpt-4o-mini"))

    assert list(replies) == [DEFAULT_REPLY, DEFAULT_REPLY]
    spans = {attrs(s)[names.GEN_AI_REQUEST_MODEL]: s for s in tel.llm_spans()}
    assert set(spans) == {"gpt-4o", "gpt-4o-mini"}
    for model, span in spans.items():
        assert_child_of(span, parents[model])
    assert parents["gpt-4o"].get_span_context().trace_id != parents["gpt-4o-mini"].get_span_context().trace_id


# -- instrument / uninstrument ------------------------------------------------------------------------


async def test_instrumenting_twice_records_one_span(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    wrapped_once = chat_module.Completions.__dict__["create"]

    OpenAIInstrumentor().instrument()
    await sdk.chat("Hi")

    assert chat_module.Completions.__dict__["create"] is wrapped_once
    only_llm_span(tel)


async def test_uninstrument_restores_the_sdk_functions(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    originals = {(cls, name): cls.__dict__[name] for cls, name in PATCHED}
    tel = telemetry()
    assert all(cls.__dict__[name] is not originals[cls, name] for cls, name in PATCHED)

    OpenAIInstrumentor().uninstrument()

    assert all(cls.__dict__[name] is originals[cls, name] for cls, name in PATCHED)
    completion = await sdk.chat("Hi")
    stream = await sdk.chat("Hi", stream=True)
    assert type(stream).__name__ in ("Stream", "AsyncStream")  # the SDK's own class, not a proxy
    await sdk.drain(stream)
    await sdk.responses("Hi")
    await sdk("embeddings.create", model=EMBEDDING_MODEL, input="Hi")
    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert tel.spans() == []
    assert tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION) == []


async def test_suppressed_instrumentation_records_nothing(sdk: Caller, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with suppress_instrumentation():
        await sdk.chat("Hi")

    assert tel.spans() == []
