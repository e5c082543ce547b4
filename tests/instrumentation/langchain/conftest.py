"""LangChain fixtures: the LangChain instrumentor on top of the OpenAI/Anthropic ``telemetry`` fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from driftline.instrumentation.langchain import LangChainInstrumentor
from tests.conftest import Telemetry
from tests.instrumentation.langchain.support import LCTelemetry


@pytest.fixture
def lc(telemetry: Callable[..., Telemetry]) -> Iterator[Callable[..., LCTelemetry]]:
    """``lc(**env)``: the provider instrumentors plus LangChain's, with its own metric reader."""
    instrumentor = LangChainInstrumentor()
    providers: list[MeterProvider] = []

    def setup(**env: str) -> LCTelemetry:
        tel = telemetry(**env)
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        providers.append(meter_provider)
        instrumentor.instrument(meter_provider=meter_provider)
        return LCTelemetry(tel, reader)

    yield setup
    instrumentor.uninstrument()
    for provider in providers:
        provider.shutdown()
