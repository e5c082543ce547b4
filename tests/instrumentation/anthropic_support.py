"""Helpers shared by the Anthropic, content-policy and span-attribute tests: one way to call the
real ``anthropic`` SDK, sync or async, against the fake provider, and small readers over what the
``telemetry`` fixture captured.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anthropic
from opentelemetry.sdk.trace import ReadableSpan

from driftline.semconv import names
from tests.fakes.llm_server import MODEL_SUFFIX, FakeLLMServer

if TYPE_CHECKING:
    from tests.conftest import Telemetry

MODEL = "claude-test"
SCOPE = "driftline.instrumentation.anthropic"
NATIVE_SCOPE = "com.anthropic.sdk.python"
"""The instrumentation scope of the anthropic SDK's own OpenTelemetry span."""

CONTENT_KEYS = (names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES, names.GEN_AI_SYSTEM_INSTRUCTIONS,
                names.GEN_AI_TOOL_DEFINITIONS)
"""Every attribute that carries prompt or completion content."""

SPAN_ONLY = {names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY"}
"""``telemetry(**SPAN_ONLY)`` captures content on spans."""


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (sequences stay tuples)."""
    return dict(span.attributes or {})


def content(span: ReadableSpan, key: str) -> Any:
    """A JSON content attribute of ``span``, decoded."""
    raw = attrs(span)[key]
    assert isinstance(raw, str)
    return json.loads(raw)


def words(*texts: str) -> int:
    """Tokens as the fake provider counts them: whitespace-separated words."""
    return sum(len(t.split()) for t in texts)


def response_model(model: str = MODEL) -> str:
    """The ``model`` the fake answers with for a requested ``model``."""
    return model + MODEL_SUFFIX


def user(text: str) -> list[Any]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


def only_llm_span(tel: Telemetry) -> ReadableSpan:
    """The one span of the test (no native SDK span beside it), ended exactly once.

    Ending records ``gen_ai.client.operation.duration`` once, so one histogram measurement in
    total proves that no second end slipped past the recorder's guard.
    """
    span = tel.only_span()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == SCOPE
    assert sum(p.count for p in tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)) == 1
    return span


class Claude:
    """Runs the same SDK call through ``anthropic.Anthropic`` or ``anthropic.AsyncAnthropic``
    (``asynchronous``), so one test body covers both; streams are read with the matching protocol."""

    def __init__(self, server: FakeLLMServer, asynchronous: bool) -> None:
        self.asynchronous = asynchronous
        options: dict[str, Any] = {"base_url": server.anthropic_base_url, "api_key": "test", "max_retries": 0}
        self.client: anthropic.Anthropic | anthropic.AsyncAnthropic = (
            anthropic.AsyncAnthropic(**options) if asynchronous else anthropic.Anthropic(**options))

    async def __aenter__(self) -> Claude:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if isinstance(self.client, anthropic.AsyncAnthropic):
            await self.client.close()
        else:
            self.client.close()

    async def __call__(self, path: str, **kwargs: Any) -> Any:
        """``client.<path>(**kwargs)``, awaited for the async client (``path``: ``beta.messages.create``)."""
        target: Any = self.client
        for part in path.split("."):
            target = getattr(target, part)
        result = target(**kwargs)
        return await result if self.asynchronous else result

    async def create(self, text: str | None = None, **kwargs: Any) -> Any:
        """``messages.create``: one user message ``text`` unless ``messages=`` is given."""
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("max_tokens", 64)
        if text is not None:
            kwargs["messages"] = user(text)
        return await self("messages.create", **kwargs)

    async def next(self, stream: Any) -> Any:
        """The next item of a stream."""
        return await anext(stream) if self.asynchronous else next(stream)

    async def drain(self, stream: Any) -> list[Any]:
        """Every (remaining) item of a stream."""
        if self.asynchronous:
            return [item async for item in stream]
        return list(stream)

    async def close(self, stream: Any) -> None:
        """``stream.close()``, awaited for async streams."""
        if self.asynchronous:
            await stream.close()
        else:
            stream.close()
