"""Shared fixtures: a fake LLM provider on loopback and in-memory OpenTelemetry pipelines.

The global TracerProvider is set once per session (so spans from *any* tracer — including the
anthropic SDK's native one — are captured and a test can assert "exactly one span per call").
Metrics and log events get a fresh provider per test, passed explicitly to ``instrument()``.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation._core import safety
from driftline.instrumentation.anthropic import AnthropicInstrumentor
from driftline.instrumentation.openai import OpenAIInstrumentor
from tests.fakes.llm_server import FakeLLMServer

_SPANS = InMemorySpanExporter()
_PROVIDER = TracerProvider()
_PROVIDER.add_span_processor(SimpleSpanProcessor(_SPANS))
trace.set_tracer_provider(_PROVIDER)


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLMServer]:
    """One fake OpenAI/Anthropic server for the whole session (loopback, ephemeral port)."""
    with FakeLLMServer() as server:
        yield server


@dataclass
class Telemetry:
    """What the instrumented code emitted during one test."""

    span_exporter: InMemorySpanExporter
    metric_reader: InMemoryMetricReader
    log_exporter: InMemoryLogRecordExporter

    def spans(self) -> list[ReadableSpan]:
        """Every finished span, in end order."""
        return list(self.span_exporter.get_finished_spans())

    def llm_spans(self) -> list[ReadableSpan]:
        """Spans whose instrumentation scope is driftline's."""
        return [s for s in self.spans() if s.instrumentation_scope and
                s.instrumentation_scope.name.startswith("driftline.")]

    def only_span(self) -> ReadableSpan:
        """The single finished span (fails the test if there is not exactly one)."""
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metric_points(self, name: str) -> list[Any]:
        """All data points of metric ``name`` collected so far."""
        data = self.metric_reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def logs(self) -> list[Any]:
        """Emitted log records (GenAI events)."""
        return list(self.log_exporter.get_finished_logs())


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Telemetry]]:
    """``telemetry(**env)`` sets environment variables, instruments OpenAI and Anthropic, and
    returns the :class:`Telemetry` to assert on. Everything is undone after the test."""
    meter_provider: MeterProvider | None = None
    logger_provider: LoggerProvider | None = None
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor()]

    def setup(**env: str) -> Telemetry:
        nonlocal meter_provider, logger_provider
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[reader])
        logs = InMemoryLogRecordExporter()
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
        for inst in instrumentors:
            inst.instrument(meter_provider=meter_provider, logger_provider=logger_provider)
        return Telemetry(_SPANS, reader, logs)

    _SPANS.clear()
    safety.reset_faults()
    yield setup
    # Streams a test left unconsumed end their spans on collection: do it now, not in the next test.
    gc.collect()
    for inst in instrumentors:
        inst.uninstrument()
    if meter_provider is not None:
        meter_provider.shutdown()
    if logger_provider is not None:
        logger_provider.shutdown()
    _SPANS.clear()
