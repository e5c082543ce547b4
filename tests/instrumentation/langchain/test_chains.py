"""Chains, chat models and streams with LangChain's own fake chat model: span tree and attributes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Generator

import pytest
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from driftline.semconv import names
from tests.instrumentation.langchain.support import (
    SCOPE,
    FailingChatModel,
    LCTelemetry,
    fake_model,
    parent_of,
    scope,
    usage,
)

PROMPT = ChatPromptTemplate.from_messages([("system", "You are terse."), ("human", "Tell me about {topic}")])


def _reply() -> AIMessage:
    return AIMessage(content="Paris is in France.", usage_metadata=usage(12, 5),
                     response_metadata={"model_name": "fake-1", "finish_reason": "stop", "id": "resp_1"})


def test_chain_is_a_parent_span_with_prompt_chat_and_parser_children(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    chain = PROMPT | fake_model(_reply()) | StrOutputParser()
    assert chain.invoke({"topic": "Paris"}) == "Paris is in France."

    root = t.named("RunnableSequence")
    assert root.parent is None
    assert root.kind is SpanKind.INTERNAL
    assert scope(root) == SCOPE
    assert root.attributes is not None
    assert root.attributes[names.DRIFTLINE_LANGCHAIN_RUN_TYPE] == names.LANGCHAIN_RUN_CHAIN
    assert t.children(root) == ["ChatPromptTemplate", "chat", "StrOutputParser"]
    chat = t.named("chat")
    assert chat.kind is SpanKind.CLIENT
    assert dict(chat.attributes or {}) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT,
        names.GEN_AI_PROVIDER_NAME: "toolcallingfake",  # LangChain's default ls_provider: the class name
        names.DRIFTLINE_LANGCHAIN_RUN_TYPE: names.LANGCHAIN_RUN_CHAT_MODEL,
        names.GEN_AI_RESPONSE_ID: "resp_1",
        names.GEN_AI_RESPONSE_MODEL: "fake-1",
        names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        names.GEN_AI_USAGE_INPUT_TOKENS: 12,
        names.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT: 0,
        names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: len("Paris is in France."),
    }
    # Content is opt-in.
    assert names.GEN_AI_INPUT_MESSAGES not in (chat.attributes or {})
    # The chat span feeds the GenAI metrics of the LangChain instrumentor.
    data = t.lc_metrics.get_metrics_data()
    assert data is not None
    metric_names = {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert {names.GEN_AI_CLIENT_OPERATION_DURATION, names.GEN_AI_CLIENT_TOKEN_USAGE} <= metric_names


def test_model_name_and_request_parameters_come_from_langsmith_params(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    model = fake_model("ok")
    model.invoke("hi", stop=["END"])
    chat = t.named("chat")
    assert chat.attributes is not None
    assert chat.attributes[names.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)


def test_content_is_captured_under_the_policy(lc: Callable[..., LCTelemetry]) -> None:
    t = lc(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    (PROMPT | fake_model(_reply())).invoke({"topic": "Paris, mail me at jane@example.com"})
    chat = t.named("chat")
    assert chat.attributes is not None
    inputs = json.loads(str(chat.attributes[names.GEN_AI_INPUT_MESSAGES]))
    assert inputs[0] == {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]}
    assert inputs[1]["role"] == "user"
    text = inputs[1]["parts"][0]["content"]
    assert text.startswith("Tell me about Paris")
    assert "jane@example.com" not in text  # redacted by the content policy
    outputs = json.loads(str(chat.attributes[names.GEN_AI_OUTPUT_MESSAGES]))
    assert outputs == [{"role": "assistant", "parts": [{"type": "text", "content": "Paris is in France."}],
                        "finish_reason": "stop"}]


def test_stream_records_chunks_and_keeps_the_loop_body_out_of_the_span(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    chain = PROMPT | fake_model("one two three") | StrOutputParser()
    seen_in_loop = []
    pieces = []
    for piece in fake_model("alpha beta gamma").stream("hi"):
        seen_in_loop.append(trace.get_current_span().get_span_context().is_valid)
        pieces.append(piece.content)
    assert "".join(str(p) for p in pieces) == "alpha beta gamma"
    assert not any(seen_in_loop), "the model's span must not be current in the application's loop"
    chat = t.named("chat")
    assert chat.attributes is not None
    assert chat.attributes[names.GEN_AI_REQUEST_STREAM] is True
    chunk_count = chat.attributes[names.DRIFTLINE_STREAM_CHUNK_COUNT]
    assert isinstance(chunk_count, int)
    assert chunk_count >= 3
    assert chat.attributes[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_COMPLETED
    assert isinstance(chat.attributes[names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK], float)

    assert "".join(chain.stream({"topic": "x"})) == "one two three"
    assert t.children(t.named("RunnableSequence")) == ["ChatPromptTemplate", "chat", "StrOutputParser"]


def test_abandoned_stream_ends_its_span_as_closed(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    stream = fake_model("alpha beta gamma delta").stream("hi")
    assert isinstance(stream, Generator)
    next(stream)
    stream.close()
    chat = t.named("chat")
    assert chat.status.status_code is StatusCode.UNSET
    assert chat.attributes is not None
    assert chat.attributes[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_CLOSED
    assert not trace.get_current_span().get_span_context().is_valid


def test_async_invoke_and_astream(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()

    async def run() -> tuple[str, list[str], bool]:
        chain = PROMPT | fake_model(_reply()) | StrOutputParser()
        answer = await chain.ainvoke({"topic": "Paris"})
        await fake_model("direct").ainvoke("hi")
        leaked = trace.get_current_span().get_span_context().is_valid
        chunks = [str(c.content) async for c in fake_model("a b c").astream("hi")]
        return answer, chunks, leaked

    answer, chunks, leaked = asyncio.run(run())
    assert answer == "Paris is in France."
    assert "".join(chunks) == "a b c"
    assert not leaked, "an awaited model call must not leave its span current"
    root = t.named("RunnableSequence")
    assert t.children(root) == ["ChatPromptTemplate", "chat", "StrOutputParser"]
    chats = t.all_named("chat")
    assert len(chats) == 3
    assert [c.parent is None for c in chats] == [False, True, True]
    assert (chats[2].attributes or {})[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_COMPLETED


def test_errors_mark_model_and_chain_spans(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    chain = PROMPT | FailingChatModel()
    with pytest.raises(ValueError, match=r"^provider down$"):  # the application's exception, untouched
        chain.invoke({"topic": "x"})
    chat = t.named("chat")
    root = t.named("RunnableSequence")
    assert parent_of(chat, root)
    for span in (chat, root):
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})[names.ERROR_TYPE] == "ValueError"
    assert not trace.get_current_span().get_span_context().is_valid


def test_user_spans_nest_both_ways(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    tracer = trace.get_tracer("app")
    model = fake_model("inner")

    def step(text: str) -> str:
        with tracer.start_as_current_span("user-step"):
            return str(model.invoke(text).content)

    with tracer.start_as_current_span("request"):
        (RunnableLambda(step, name="step") | StrOutputParser()).invoke("hi")
    request, user_step, chat = t.named("request"), t.named("user-step"), t.named("chat")
    root = t.named("RunnableSequence")
    assert parent_of(root, request)
    assert parent_of(t.named("step"), root)
    assert parent_of(user_step, t.named("step"))
    assert parent_of(chat, user_step)


def test_uninstrument_stops_recording_and_reinstrument_records_once(lc: Callable[..., LCTelemetry]) -> None:
    from driftline.instrumentation.langchain import LangChainInstrumentor

    t = lc()
    model = fake_model("a", "b", "c")
    LangChainInstrumentor().uninstrument()
    model.invoke("hi")
    assert t.spans() == []
    LangChainInstrumentor().instrument()
    model.invoke("hi")
    assert [s.name for s in t.spans()] == ["chat"]
