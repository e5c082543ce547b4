"""Driftline's own faults never reach the caller: every internal recording step is broken in
turn, and the user's call must return exactly what it returns uninstrumented."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from driftline.instrumentation._core import safety
from driftline.instrumentation._core.content import ContentScrubber
from driftline.instrumentation._core.recorder import GenAIRecorder
from driftline.instrumentation.anthropic._mapping import MessagesMapping, MessagesStreamAccumulator
from driftline.instrumentation.openai._chat import ChatMapping, ChatStreamAccumulator
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import FakeLLMServer

TOOL_PROMPT = 'weather? [[tool:get_weather:{"city":"Paris"}]]'


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected driftline fault")


def _chat(fake: FakeLLMServer) -> Any:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": TOOL_PROMPT}])
    message = reply.choices[0].message
    return (message.tool_calls[0].function.name, message.tool_calls[0].function.arguments,
            reply.choices[0].finish_reason, reply.usage.prompt_tokens, reply.usage.completion_tokens)


def _chat_stream(fake: FakeLLMServer) -> Any:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "hi [[chunks:4]]"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, len(chunks), chunks[-1].usage.completion_tokens


def _claude(fake: FakeLLMServer) -> Any:
    client = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k", max_retries=0)
    message = client.messages.create(model="claude-test", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    return message.content[0].text, message.stop_reason, message.usage.output_tokens


def _claude_stream(fake: FakeLLMServer) -> Any:
    client = anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="k", max_retries=0)
    with client.messages.stream(model="claude-test", max_tokens=64,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        final = stream.get_final_message()
    return final.content[0].text, final.usage.output_tokens


def _rate_limited(fake: FakeLLMServer) -> Any:
    client = openai.OpenAI(base_url=fake.openai_base_url, api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[[error:429]]"}])
    return type(info.value), info.value.status_code


# (what to break, the call to make, the fault step that must be counted)
CASES: list[tuple[str, Any, str, Callable[[FakeLLMServer], Any], str]] = [
    ("chat request mapping", ChatMapping, "request", _chat, "openai.chat.start"),
    ("span start", GenAIRecorder, "start", _chat, "openai.chat.start"),
    ("chat response mapping", ChatMapping, "response", _chat, "openai.chat.response"),
    ("span stop", GenAIRecorder, "stop", _chat, "openai.chat.stop"),
    ("content scrubbing", ContentScrubber, "scrub", _chat, "openai.chat.stop"),
    ("span fail", GenAIRecorder, "fail", _rate_limited, "openai.chat.fail"),
    ("stream accumulator creation", ChatMapping, "accumulator", _chat_stream, "openai.chat.stream_wrap"),
    ("stream chunk", ChatStreamAccumulator, "on_chunk", _chat_stream, "openai.chat.stream_chunk"),
    ("stream finish", ChatStreamAccumulator, "finish", _chat_stream, "openai.chat.stream_finish"),
    ("first chunk timing", GenAIRecorder, "first_chunk", _chat_stream, "openai.chat.stream_chunk"),
    ("anthropic request mapping", MessagesMapping, "request", _claude, "anthropic.messages.start"),
    ("anthropic response mapping", MessagesMapping, "response", _claude, "anthropic.messages.response"),
    ("anthropic stream chunk", MessagesStreamAccumulator, "on_chunk", _claude_stream,
     "anthropic.messages.stream_chunk"),
    ("anthropic stream finish", MessagesStreamAccumulator, "finish", _claude_stream,
     "anthropic.messages.stream_finish"),
]


@pytest.mark.parametrize(("label", "owner", "attr", "call", "step"), CASES, ids=[c[0] for c in CASES])
def test_internal_fault_never_reaches_the_caller(label: str, owner: Any, attr: str, call: Callable[..., Any],
                                                 step: str, telemetry: Callable[..., Telemetry],
                                                 fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = call(fake_llm)  # uninstrumented: the reference result
    tel = telemetry(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_AND_EVENT")
    assert call(fake_llm) == expected  # instrumented, healthy
    monkeypatch.setattr(owner, attr, _boom)
    assert call(fake_llm) == expected  # instrumented, broken inside driftline
    assert safety.fault_counts().get(step, 0) >= 1, safety.fault_counts()
    errors = tel.metric_points(names.DRIFTLINE_INSTRUMENTATION_ERRORS)
    assert any(p.attributes[names.DRIFTLINE_INSTRUMENTATION_STEP] == step and p.value >= 1 for p in errors)
    # Whatever broke, no span is left open: every started span was ended.
    for span in tel.spans():
        assert span.end_time is not None


def test_fault_is_logged_once_per_step(telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer,
                                       monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    telemetry()
    monkeypatch.setattr(ChatMapping, "response", _boom)
    for _ in range(3):
        _chat(fake_llm)
    logged = [r for r in caplog.records if "openai.chat.response" in r.getMessage()]
    assert len(logged) == 1
    assert safety.fault_counts()["openai.chat.response"] == 3
