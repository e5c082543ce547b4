"""Helpers shared by the ``test_openai_*`` modules: one way to call the real SDK, sync or async,
and small readers over what the ``telemetry`` fixture captured.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import openai
from opentelemetry.sdk.metrics.export import Histogram, HistogramDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import Attributes

from driftline.semconv import names
from tests.fakes.llm_server import MODEL_SUFFIX, FakeLLMServer

if TYPE_CHECKING:
    from tests.conftest import Telemetry

CHAT_MODEL = "gpt-4o"
EMBEDDING_MODEL = "text-embedding-3-small"

CONTENT_KEYS = (names.GEN_AI_INPUT_MESSAGES, names.GEN_AI_OUTPUT_MESSAGES, names.GEN_AI_SYSTEM_INSTRUCTIONS,
                names.GEN_AI_TOOL_DEFINITIONS)
"""Every attribute that carries prompt or completion content."""

SPAN_ONLY = {names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY"}
"""``telemetry(**SPAN_ONLY)`` captures content on spans."""


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (sequences stay tuples)."""
    return dict(span.attributes or {})


def words(*texts: str) -> int:
    """Tokens as the fake provider counts them: whitespace-separated words."""
    return sum(len(t.split()) for t in texts)


def response_model(model: str = CHAT_MODEL) -> str:
    """The ``model`` the fake answers with for a requested ``model``."""
    return model + MODEL_SUFFIX


def user(text: str) -> list[dict[str, Any]]:
    """A one-message chat history."""
    return [{"role": "user", "content": text}]


def histogram(tel: Telemetry, name: str) -> tuple[str | None, list[HistogramDataPoint]]:
    """The unit and data points of the histogram ``name`` (fails the test if it was never recorded)."""
    data = tel.metric_reader.get_metrics_data()
    found = [m for rm in (data.resource_metrics if data else ()) for sm in rm.scope_metrics
             for m in sm.metrics if m.name == name]
    assert len(found) == 1, f"{name}: {len(found)} metrics"
    assert isinstance(found[0].data, Histogram)
    return found[0].unit, list(found[0].data.data_points)


def point_attrs(point: Any) -> dict[str, Any]:
    """A metric data point's attributes as a plain dict."""
    attributes: Attributes = point.attributes
    return dict(attributes or {})


def only_llm_span(tel: Telemetry) -> ReadableSpan:
    """The one span of the test, which must also have been ended exactly once.

    Ending records ``gen_ai.client.operation.duration`` once, so one histogram measurement in
    total proves that no second end slipped past the recorder's guard.
    """
    span = tel.only_span()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "driftline.instrumentation.openai"
    assert sum(p.count for p in tel.metric_points(names.GEN_AI_CLIENT_OPERATION_DURATION)) == 1
    return span


class Caller:
    """Runs the same SDK call through ``openai.OpenAI`` or ``openai.AsyncOpenAI`` (``asynchronous``),
    so one test body covers both; streams are consumed with the matching protocol."""

    def __init__(self, server: FakeLLMServer, asynchronous: bool) -> None:
        self.asynchronous = asynchronous
        options: dict[str, Any] = {"base_url": server.openai_base_url, "api_key": "test", "max_retries": 0}
        self.client: openai.OpenAI | openai.AsyncOpenAI = (
            openai.AsyncOpenAI(**options) if asynchronous else openai.OpenAI(**options))

    async def __aenter__(self) -> Caller:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if isinstance(self.client, openai.AsyncOpenAI):
            await self.client.close()
        else:
            self.client.close()

    def _method(self, path: str) -> Callable[..., Any]:
        target: Any = self.client
        for part in path.split("."):
            target = getattr(target, part)
        return target  # type: ignore[no-any-return]

    async def __call__(self, path: str, /, **kwargs: Any) -> Any:
        """``client.<path>(**kwargs)``, awaited for the async client (``path``: ``chat.completions.create``)."""
        result = self._method(path)(**kwargs)
        return await result if self.asynchronous else result

    async def chat(self, prompt: str, /, **kwargs: Any) -> Any:
        """``chat.completions.create`` with one user message."""
        return await self("chat.completions.create", model=CHAT_MODEL, messages=user(prompt), **kwargs)

    async def responses(self, prompt: str, /, **kwargs: Any) -> Any:
        """``responses.create`` with a string input (``text=`` stays free for the API's own parameter)."""
        return await self("responses.create", model=CHAT_MODEL, input=prompt, **kwargs)

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
