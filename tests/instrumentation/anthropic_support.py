"""Anthropic specifics for the Anthropic, content-policy and span-attribute tests: the model and
scopes, and :class:`Claude`, which calls the real ``anthropic`` SDK, sync or async, against the fake
provider. What the OpenAI tests share too lives in :mod:`tests.instrumentation.sdk_support`.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anthropic
from opentelemetry.sdk.trace import ReadableSpan

from tests.fakes.llm_server import FakeLLMServer
from tests.instrumentation.sdk_support import SdkCaller, only_span_of, user

if TYPE_CHECKING:
    from tests.conftest import Telemetry

MODEL = "claude-test"
SCOPE = "driftline.instrumentation.anthropic"
NATIVE_SCOPE = "com.anthropic.sdk.python"
"""The instrumentation scope of the anthropic SDK's own OpenTelemetry span."""


def only_llm_span(tel: Telemetry) -> ReadableSpan:
    """The one span of the test (no native SDK span beside it), ended exactly once."""
    return only_span_of(tel, SCOPE)


class Claude(SdkCaller[anthropic.Anthropic, anthropic.AsyncAnthropic]):
    """Runs the same SDK call through ``anthropic.Anthropic`` or ``anthropic.AsyncAnthropic``
    (``asynchronous``), so one test body covers both; streams are read with the matching protocol."""

    def __init__(self, server: FakeLLMServer, asynchronous: bool) -> None:
        super().__init__(asynchronous, server.anthropic_base_url, anthropic.Anthropic, anthropic.AsyncAnthropic)

    async def create(self, text: str | None = None, **kwargs: Any) -> Any:
        """``messages.create``: one user message ``text`` unless ``messages=`` is given."""
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("max_tokens", 64)
        if text is not None:
            kwargs["messages"] = user(text)
        return await self("messages.create", **kwargs)
