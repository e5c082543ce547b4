"""Helpers shared by the OpenAI and Anthropic test support modules (``openai_support``,
``anthropic_support``): one way to drive a real SDK client, sync or async, against the fake
provider, the ``sdk`` fixture built on it, and small readers over what the ``telemetry`` fixture
captured.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from driftline.semconv import names
from tests.fakes.llm_server import MODEL_SUFFIX, FakeLLMServer

if TYPE_CHECKING:
    from tests.conftest import Telemetry

SyncClientT = TypeVar("SyncClientT")
AsyncClientT = TypeVar("AsyncClientT")
CallerT = TypeVar("CallerT", bound="SdkCaller[Any, Any]")

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


def response_model(model: str) -> str:
    """The ``model`` the fake answers with for a requested ``model``."""
    return model + MODEL_SUFFIX


def user(text: str) -> list[Any]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


def only_span_of(tel: Telemetry, scope: str) -> ReadableSpan:
    """The one span of the test, from the instrumentation ``scope``, ended exactly once.

    Ending records ``gen_ai.client.operation.duration`` once, so one histogram measurement in
    total proves that no second end slipped past the recorder's guard.
    """
    span = tel.only_span()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == scope
    assert sum(p.count for p in tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)) == 1
    return span


class SdkCaller(Generic[SyncClientT, AsyncClientT]):
    """Runs the same SDK call through a provider's sync or async client (``asynchronous``), so one
    test body covers both; streams are consumed with the matching protocol.

    Subclasses pick the client classes and add provider-specific shortcuts.
    """

    def __init__(self, asynchronous: bool, base_url: str, sync_client: Callable[..., SyncClientT],
                 async_client: Callable[..., AsyncClientT]) -> None:
        self.asynchronous = asynchronous
        options: dict[str, Any] = {"base_url": base_url, "api_key": "test", "max_retries": 0}
        self.client: SyncClientT | AsyncClientT = async_client(**options) if asynchronous else sync_client(**options)

    async def __aenter__(self: CallerT) -> CallerT:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self("close")

    async def __call__(self, path: str, /, **kwargs: Any) -> Any:
        """``client.<path>(**kwargs)``, awaited for the async client (``path``: ``chat.completions.create``)."""
        target: Any = self.client
        for part in path.split("."):
            target = getattr(target, part)
        result = target(**kwargs)
        return await result if self.asynchronous else result

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


def sdk_fixture(caller: Callable[[FakeLLMServer, bool], CallerT]) -> object:
    """An ``sdk`` fixture yielding ``caller(fake_llm, asynchronous)``, once sync and once async.

    Use as ``sdk = sdk_fixture(Caller)`` at the top of a test module.
    """

    @pytest.fixture(params=["sync", "async"])
    async def sdk(request: pytest.FixtureRequest, fake_llm: FakeLLMServer) -> AsyncIterator[CallerT]:
        async with caller(fake_llm, request.param == "async") as made:
            yield made

    return sdk
