"""The content policy end to end (real anthropic SDK against the fake provider): where prompts and
completions go (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT), their shape (the GenAI
conventions' message schema), the size budget (DRIFTLINE_CONTENT_MAX_LENGTH) and PII redaction
(DRIFTLINE_CONTENT_REDACT)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from driftline.instrumentation._core import config
from driftline.instrumentation._core.content import TRUNCATION_MARKER
from driftline.instrumentation._core.safety import fault_counts
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import DEFAULT_REPLY, FakeLLMServer
from tests.instrumentation.anthropic_support import MODEL, only_llm_span
from tests.instrumentation.sdk_support import CONTENT_KEYS, attrs, content, user

CAPTURE = names.ENV_CAPTURE_MESSAGE_CONTENT
PROMPT = "What is the capital of France?"


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0) as created:
        yield created


def ask(client: anthropic.Anthropic, text: str = PROMPT, **kwargs: Any) -> anthropic.types.Message:
    message: anthropic.types.Message = client.messages.create(model=MODEL, max_tokens=64, messages=user(text),
                                                              **kwargs)
    return message


def expected_input(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": [{"type": "text", "content": text}]}]


def expected_output(text: str = DEFAULT_REPLY) -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}]


def assert_message_schema(messages: Any, output: bool) -> None:
    """The conventions' input/output message schema: role, typed parts, finish_reason on output."""
    assert isinstance(messages, list)
    assert messages
    for message in messages:
        assert isinstance(message["role"], str)
        assert isinstance(message["parts"], list)
        for part in message["parts"]:
            assert isinstance(part["type"], str)
            if part["type"] == "text":
                assert isinstance(part["content"], str)
        if output:
            assert message["finish_reason"] in {"stop", "length", "content_filter", "tool_call", "error"}


def content_attrs(span: ReadableSpan) -> dict[str, Any]:
    return {k: v for k, v in attrs(span).items() if k in CONTENT_KEYS}


def the_event(tel: Telemetry, span: ReadableSpan) -> dict[str, Any]:
    """The one content event of the test, checked to belong to ``span``; its attributes."""
    (record,) = tel.logs()
    log = record.log_record
    assert log.event_name == names.GEN_AI_CLIENT_INFERENCE_OPERATION_DETAILS
    assert span.context is not None
    assert (log.trace_id, log.span_id) == (span.context.trace_id, span.context.span_id)
    assert log.trace_id != 0
    return dict(log.attributes or {})


# -- where content goes ---------------------------------------------------------------------------------


def test_no_content_by_default(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CAPTURE, raising=False)
    tel = telemetry()

    ask(client, system="hidden system")

    span_attrs = attrs(only_llm_span(tel))
    assert content_attrs(only_llm_span(tel)) == {}
    assert names.DRIFTLINE_CONTENT_REDACTED not in span_attrs
    assert names.DRIFTLINE_CONTENT_TRUNCATED not in span_attrs
    assert tel.logs() == []


def test_span_only(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY"})

    ask(client)

    span = only_llm_span(tel)
    for key, output in ((names.GEN_AI_INPUT_MESSAGES, False), (names.GEN_AI_OUTPUT_MESSAGES, True)):
        assert_message_schema(content(span, key), output)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input()
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == expected_output()
    assert tel.logs() == []


def test_event_only(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "EVENT_ONLY"})

    message = ask(client)

    span = only_llm_span(tel)
    assert content_attrs(span) == {}
    event = the_event(tel, span)
    assert json.loads(event[names.GEN_AI_INPUT_MESSAGES]) == expected_input()
    assert json.loads(event[names.GEN_AI_OUTPUT_MESSAGES]) == expected_output()
    assert event[names.GEN_AI_OPERATION_NAME] == names.OPERATION_CHAT
    assert event[names.GEN_AI_PROVIDER_NAME] == names.PROVIDER_ANTHROPIC
    assert event[names.GEN_AI_REQUEST_MODEL] == MODEL
    assert event[names.GEN_AI_RESPONSE_ID] == message.id


def test_span_and_event(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_AND_EVENT"})

    ask(client, system="Answer briefly.")

    span = only_llm_span(tel)
    event = the_event(tel, span)
    on_span = content_attrs(span)
    assert set(on_span) == {names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES,
                            names.GEN_AI_SYSTEM_INSTRUCTIONS}
    assert {k: event[k] for k in on_span} == on_span  # the very same JSON in both places
    assert json.loads(on_span[names.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Answer briefly."}]


def test_event_for_a_failed_call(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    """A failed call still reports what was asked; there is no output."""
    tel = telemetry(**{CAPTURE: "EVENT_ONLY"})

    with pytest.raises(anthropic.InternalServerError):
        ask(client, "[[error:500]] hi")

    event = the_event(tel, only_llm_span(tel))
    assert json.loads(event[names.GEN_AI_INPUT_MESSAGES]) == expected_input("[[error:500]] hi")
    assert names.GEN_AI_OUTPUT_MESSAGES not in event


@pytest.mark.parametrize(("value", "on_span"), [
    pytest.param("true", True, id="true"),
    pytest.param("True", True, id="True"),
    pytest.param("false", False, id="false"),
    pytest.param(" span_only ", True, id="lower-case-padded"),
    pytest.param("no_content", False, id="no_content"),
])
def test_legacy_and_loose_spellings(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                                    value: str, on_span: bool) -> None:
    tel = telemetry(**{CAPTURE: value})

    ask(client)

    span = only_llm_span(tel)
    if on_span:
        assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input()
    else:
        assert content_attrs(span) == {}
    assert tel.logs() == []


def test_unknown_value_captures_nothing_and_warns(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                                                  caplog: pytest.LogCaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Both instrumentors read the variable; the bad value is reported once, naming it and the fallback."""
    monkeypatch.setattr(config, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="driftline.instrumentation"):
        tel = telemetry(**{CAPTURE: "everything please"})

    ask(client)

    assert content_attrs(only_llm_span(tel)) == {}
    assert tel.logs() == []
    warnings = [r.getMessage() for r in caplog.records if CAPTURE in r.getMessage()]
    assert len(warnings) == 1
    assert "'everything please'" in warnings[0]
    assert "NO_CONTENT" in warnings[0]


# -- size budget ----------------------------------------------------------------------------------------


def test_max_length_truncates_each_text_part(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_MAX_LENGTH: "20"})
    system = "You are a helpful assistant for geography."

    ask(client, system=system)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input(PROMPT[:20] + TRUNCATION_MARKER)
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == expected_output(DEFAULT_REPLY[:20] + TRUNCATION_MARKER)
    assert content(span, names.GEN_AI_SYSTEM_INSTRUCTIONS) == [
        {"type": "text", "content": system[:20] + TRUNCATION_MARKER}]
    assert attrs(span)[names.DRIFTLINE_CONTENT_TRUNCATED] is True


def test_max_length_leaves_short_text_alone(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_MAX_LENGTH: str(len(DEFAULT_REPLY))})

    ask(client, "short")

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_OUTPUT_MESSAGES) == expected_output()  # exactly at the limit
    assert names.DRIFTLINE_CONTENT_TRUNCATED not in attrs(span)


def test_max_length_zero_is_unlimited(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_MAX_LENGTH: "0"})
    long_prompt = "word " * 4000  # 20 000 characters, over the 8192 default

    ask(client, long_prompt)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input(long_prompt)
    assert names.DRIFTLINE_CONTENT_TRUNCATED not in attrs(span)


def test_default_max_length(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY"})
    long_prompt = "x" * 9000

    ask(client, long_prompt)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input("x" * 8192 + TRUNCATION_MARKER)
    assert attrs(span)[names.DRIFTLINE_CONTENT_TRUNCATED] is True


def test_truncation_applies_to_tool_call_arguments(client: anthropic.Anthropic,
                                                   telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_MAX_LENGTH: "5"})

    ask(client, '[[tool:lookup:{"query": "a rather long query", "limit": 10}]]')

    (message,) = content(only_llm_span(tel), names.GEN_AI_OUTPUT_MESSAGES)
    (call,) = message["parts"]
    assert call["name"] == "lookup"  # structure is never cut
    assert call["arguments"] == {"query": "a rat" + TRUNCATION_MARKER, "limit": 10}


# -- redaction --------------------------------------------------------------------------------------------

PII_PROMPT = ("Mail jane.doe@example.com or call +1 415 555 2671; card 4111 1111 1111 1111, "
              "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789. "
              "Keep order ORD-2024-000123, ref 4111111111111112, date 2024-01-15 12:30 and price $1,299.99.")
PII_REDACTED = ("Mail [REDACTED:email] or call [REDACTED:phone]; card [REDACTED:card], "
                "IBAN [REDACTED:iban], SSN [REDACTED:ssn]. "
                "Keep order ORD-2024-000123, ref 4111111111111112, date 2024-01-15 12:30 and price $1,299.99.")


def test_redaction_in_captured_content(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                                       fake_llm: FakeLLMServer) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_AND_EVENT"})

    ask(client, PII_PROMPT)

    assert fake_llm.requests[-1].body["messages"][0]["content"] == PII_PROMPT  # the provider got it all
    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input(PII_REDACTED)
    assert attrs(span)[names.DRIFTLINE_CONTENT_REDACTED] == 5
    event = the_event(tel, span)
    assert json.loads(event[names.GEN_AI_INPUT_MESSAGES]) == expected_input(PII_REDACTED)


def test_redaction_of_completions_and_tool_calls(client: anthropic.Anthropic,
                                                 telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY"})

    ask(client, '[[reply:Write to bob@example.org]] [[tool:send:{"to": "bob@example.org", "n": 1}]]')

    span = only_llm_span(tel)
    (message,) = content(span, names.GEN_AI_OUTPUT_MESSAGES)
    assert message["parts"][0] == {"type": "text", "content": "Write to [REDACTED:email]"}
    assert message["parts"][1]["arguments"] == {"to": "[REDACTED:email]", "n": 1}
    # The prompt holds the address twice (reply and tool directives), the output twice more.
    assert attrs(span)[names.DRIFTLINE_CONTENT_REDACTED] == 4
    assert "bob@example.org" not in json.dumps(content_attrs(span))


def test_redaction_happens_before_truncation(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    """Cutting first could keep the first digits of a card number that redaction then fails to see."""
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_MAX_LENGTH: "20"})

    ask(client, "my card: 4111111111111111 thanks")

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input(
        "my card: [REDACTED:c" + TRUNCATION_MARKER)
    assert attrs(span)[names.DRIFTLINE_CONTENT_REDACTED] == 1


def test_redaction_off(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**{CAPTURE: "SPAN_ONLY", names.ENV_CONTENT_REDACT: "false"})

    ask(client, PII_PROMPT)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_INPUT_MESSAGES) == expected_input(PII_PROMPT)
    assert names.DRIFTLINE_CONTENT_REDACTED not in attrs(span)


def test_tool_definitions_are_not_redacted(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    """Tool schemas are the developer's, not user text: an example address in them stays."""
    tel = telemetry(**{CAPTURE: "SPAN_ONLY"})
    tools = [{"name": "mail", "description": "Send mail, e.g. to ops@example.com",
              "input_schema": {"type": "object"}}]

    ask(client, tools=tools)

    span = only_llm_span(tel)
    assert content(span, names.GEN_AI_TOOL_DEFINITIONS)[0]["description"] == "Send mail, e.g. to ops@example.com"
    assert names.DRIFTLINE_CONTENT_REDACTED not in attrs(span)
    assert fault_counts() == {}
