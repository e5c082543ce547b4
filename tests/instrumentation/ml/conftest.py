"""``ml_telemetry(**env)``: environment set, ML recorder rebuilt, spans and metrics captured."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from driftline.instrumentation import ml
from tests.conftest import Telemetry


@pytest.fixture
def ml_telemetry(telemetry: Callable[..., Telemetry]) -> Iterator[Callable[..., Telemetry]]:
    providers: list[MeterProvider] = []

    def setup(**env: str) -> Telemetry:
        tel = telemetry(**env)
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader])
        providers.append(provider)
        ml.configure(meter_provider=provider)
        tel.metric_reader = reader
        return tel

    yield setup
    ml.configure()
    for provider in providers:
        provider.shutdown()
