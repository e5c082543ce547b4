"""OpenAI specifics for the ``test_openai_*`` modules: the models, metric readers, and
:class:`Caller`, which calls the real ``openai`` SDK, sync or async, against the fake provider.
What the Anthropic tests share too lives in :mod:`tests.instrumentation.sdk_support`.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import openai
from opentelemetry.sdk.metrics.export import Histogram, HistogramDataPoint
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.util.types import Attributes

from tests.fakes.llm_server import FakeLLMServer
from tests.instrumentation.sdk_support import SdkCaller, only_span_of, user

if TYPE_CHECKING:
    from tests.conftest import Telemetry

CHAT_MODEL = "gpt-4o"
EMBEDDING_MODEL = "text-embedding-3-small"
SCOPE = "driftline.instrumentation.openai"


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
    """The one span of the test, which must also have been ended exactly once."""
    return only_span_of(tel, SCOPE)


class Caller(SdkCaller[openai.OpenAI, openai.AsyncOpenAI]):
    """Runs the same SDK call through ``openai.OpenAI`` or ``openai.AsyncOpenAI`` (``asynchronous``),
    so one test body covers both; streams are consumed with the matching protocol."""

    def __init__(self, server: FakeLLMServer, asynchronous: bool) -> None:
        super().__init__(asynchronous, server.openai_base_url, openai.OpenAI, openai.AsyncOpenAI)

    async def chat(self, prompt: str, /, **kwargs: Any) -> Any:
        """``chat.completions.create`` with one user message."""
        return await self("chat.completions.create", model=CHAT_MODEL, messages=user(prompt), **kwargs)

    async def responses(self, prompt: str, /, **kwargs: Any) -> Any:
        """``responses.create`` with a string input (``text=`` stays free for the API's own parameter)."""
        return await self("responses.create", model=CHAT_MODEL, input=prompt, **kwargs)
