"""The quality engine on real spans: spans are recorded by driftline's own instrumentation (its GenAI
recorder with the OpenAI and Anthropic mappings fed provider-shaped responses, the ``@agent`` /
``@tool`` decorators, and once the real ``openai`` SDK against the fake provider), exported with the
OTel SDK, encoded to OTLP protobuf and parsed back, as the processor receives them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import openai
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation import agent, tool
from driftline.instrumentation._core.config import CaptureMode, Settings
from driftline.instrumentation._core.metrics import GenAIMetrics
from driftline.instrumentation._core.recorder import GenAIRecorder
from driftline.instrumentation.anthropic._mapping import MessagesMapping
from driftline.instrumentation.openai._chat import ChatMapping
from driftline.processors.analysis.quality import (
    PriceTable,
    QualityConfig,
    QualityEngine,
    QualityFlag,
    QualityReading,
    default_prices,
    flags_for_span,
    is_refusal,
)
from driftline.processors.analysis.signals import ModelKey
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import FakeLLMServer

SERVICE = "support-bot"
CONTENT_ON = {names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY"}
LUHN_CARD = "4111 1111 1111 1111"  # the classic test Visa number: passes the Luhn check
NOT_A_CARD = "4111 1111 1111 1112"  # same shape, fails Luhn


# -- recording spans the way the instrumentation does ------------------------------------------------


@pytest.fixture
def otel() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider(resource=Resource.create({names.SERVICE_NAME: SERVICE}))
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp, exporter
    tp.shutdown()


def request_of(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """Spans through the OTLP wire format, as the processor receives them."""
    wire = encode_spans(spans).SerializeToString()
    request = ExportTraceServiceRequest()
    request.ParseFromString(wire)
    return request


class Calls:
    """GenAI calls recorded by driftline's real recorder and provider mappings (no network)."""

    def __init__(self, tp: TracerProvider, *, capture: bool = True, redact: bool = True) -> None:
        self.capture = capture
        settings = Settings(capture=CaptureMode.SPAN_ONLY if capture else CaptureMode.NO_CONTENT, redact=redact)
        metrics = GenAIMetrics(MeterProvider().get_meter("test"))
        self.recorder = GenAIRecorder(tp.get_tracer("driftline.instrumentation.openai"), metrics, None, settings)

    def openai(self, content: str | None = "Paris is the capital of France.", *, model: str = "gpt-4o-mini",
               finish: str = "stop", prompt_tokens: int = 12, completion_tokens: int = 7, cached_tokens: int = 0,
               response_format: dict[str, Any] | None = None, refusal: str | None = None,
               tool_calls: list[dict[str, Any]] | None = None, error: BaseException | None = None) -> None:
        """One ``chat.completions.create`` call (``error``: the call raised it)."""
        mapping = ChatMapping()
        kwargs: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "Capital of France?"}]}
        if response_format is not None:
            kwargs["response_format"] = response_format
        inv = mapping.request(None, (), kwargs, self.capture)
        assert inv is not None
        self.recorder.start(inv)
        if error is not None:
            self.recorder.fail(inv, error)
            return
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
        if tool_calls:
            message["tool_calls"] = tool_calls
        body = {
            "id": "chatcmpl-1", "object": "chat.completion", "model": f"{model}-2024-07-18",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens,
                      "prompt_tokens_details": {"cached_tokens": cached_tokens}},
        }
        mapping.response(inv, body, self.capture)
        self.recorder.stop(inv)

    def anthropic(self, text: str = "Paris.", *, model: str = "claude-3-5-haiku-20241022", stop: str = "end_turn",
                  input_tokens: int = 10, output_tokens: int = 3, cache_read: int = 0, cache_write: int = 0) -> None:
        """One ``messages.create`` call."""
        mapping = MessagesMapping()
        kwargs = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "Capital of France?"}]}
        inv = mapping.request(None, (), kwargs, self.capture)
        assert inv is not None
        self.recorder.start(inv)
        body = {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model, "stop_reason": stop,
            "content": [{"type": "text", "text": text}],
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                      "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write},
        }
        mapping.response(inv, body, self.capture)
        self.recorder.stop(inv)


def observe(engine: QualityEngine, exporter: InMemorySpanExporter) -> list[QualityFlag]:
    """Feed every span finished so far as one request, then forget them."""
    flags = engine.observe(request_of(exporter.get_finished_spans()).resource_spans)
    exporter.clear()
    return flags


def reading(engine: QualityEngine, model: str, check: str, error_type: str = "") -> QualityReading | None:
    found = [r for r in engine.readings()
             if r.model.model == model and r.check == check and r.error_type == error_type]
    assert len(found) <= 1
    return found[0] if found else None


def value(engine: QualityEngine, model: str, check: str, error_type: str = "") -> float:
    found = reading(engine, model, check, error_type)
    assert found is not None, f"no {check} reading for {model}"
    return found.value


def flagged(flags: Sequence[QualityFlag], check: str) -> list[QualityFlag]:
    return [f for f in flags if f.check == check]


# -- rates ----------------------------------------------------------------------------------------------


def test_error_truncation_and_empty_rates_are_exact(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    for i in range(10):
        if i in (1, 4, 7):
            calls.openai("Paris is the capital", finish="length")
        elif i in (2, 5):
            calls.openai("")
        else:
            calls.openai()
    calls.openai(error=TimeoutError("read timed out"))
    calls.openai(error=TimeoutError("read timed out"))
    calls.anthropic("Paris is", stop="max_tokens")
    calls.anthropic()

    engine = QualityEngine()
    flags = observe(engine, exporter)

    assert engine.spans == 14
    # 12 gpt-4o-mini calls: 2 failed; finish reasons (and output) only on the 10 that answered.
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_ERROR_RATE) == 2 / 12
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_ERROR_TYPE_RATE, "TimeoutError") == 2 / 12
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_TRUNCATION_RATE) == 0.3
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_EMPTY_RATE) == 0.2
    truncation = reading(engine, "gpt-4o-mini", names.QUALITY_CHECK_TRUNCATION_RATE)
    assert truncation is not None
    assert truncation.count == 10
    # Anthropic's max_tokens stop reason is a truncation too.
    assert value(engine, "claude-3-5-haiku-20241022", names.QUALITY_CHECK_TRUNCATION_RATE) == 0.5
    assert len(flagged(flags, names.QUALITY_FLAG_TRUNCATED)) == 4
    assert len(flagged(flags, names.QUALITY_FLAG_EMPTY)) == 2
    errors = flagged(flags, names.QUALITY_FLAG_ERROR)
    assert len(errors) == 2
    assert all("TimeoutError" in f.detail for f in errors)
    assert all(f.model == ModelKey(SERVICE, "gpt-4o-mini", "", names.MODEL_FAMILY_LLM) for f in errors)
    assert all(len(f.trace_id) == 16 and len(f.span_id) == 8 for f in flags)


def test_empty_without_content_uses_output_length_and_tool_calls_are_not_empty(
        otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp, capture=False)
    calls.openai("")
    calls.openai(None, finish="tool_calls", tool_calls=[
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}])
    calls.openai("A real answer")
    calls.openai("   ")  # whitespace: 3 characters, and without content nothing more is known

    engine = QualityEngine()
    flags = observe(engine, exporter)

    assert [f.check for f in flagged(flags, names.QUALITY_FLAG_EMPTY)] == [names.QUALITY_FLAG_EMPTY]
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_EMPTY_RATE) == 0.25
    # With content captured, whitespace-only text is empty as well.
    captured = Calls(tp)
    captured.openai("   ")
    assert [f.check for f in flagged(observe(engine, exporter), names.QUALITY_FLAG_EMPTY)] == ["empty"]


# -- refusals, JSON, PII -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "refusal"), [
    ("I'm sorry, but I can't help with that.", True),
    ("I\u2019m sorry, I can\u2019t assist with that request.", True),
    ("As an AI language model, I cannot provide medical advice.", True),
    ("Unfortunately, I won't be able to help with this.", True),
    ("I must decline to answer that.", True),
    ("Paris is the capital of France.", False),
    ("I can't help but notice the question is about Paris: it is the capital.", False),
    ("I cannot wait to tell you: Paris!", False),
    ("Sorry for the wait! Paris is the capital of France.", False),
])
def test_refusal_phrases(text: str, refusal: bool) -> None:
    assert (is_refusal(text) is not None) is refusal


def test_refusals_by_text_finish_reason_and_not_without_content(
        otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai("I'm sorry, but I can't help with that.")
    calls.openai("Paris is the capital of France.")
    calls.openai(None, refusal="I'm sorry, I cannot assist with that request.")  # OpenAI's refusal field
    calls.openai("", finish="content_filter")
    calls.anthropic("", stop="refusal")
    Calls(tp, capture=False).openai("I'm sorry, but I can't help with that.", model="gpt-4.1")

    engine = QualityEngine()
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_REFUSAL)

    assert [f.model.model for f in flags] == ["gpt-4o-mini"] * 3 + ["claude-3-5-haiku-20241022"]
    assert "i can't help" in flags[0].detail
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_REFUSAL_RATE) == 0.75
    # Without captured content only the finish reason can tell: evaluated, not failed.
    assert value(engine, "gpt-4.1", names.QUALITY_CHECK_REFUSAL_RATE) == 0.0


def test_invalid_json_only_when_json_was_requested(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai('{"city": "Paris", "country": "France"}', response_format={"type": "json_object"})
    calls.openai('Sure! {"city": "Paris"}', response_format={"type": "json_object"})
    calls.openai('{"city": "Par', finish="length",
                 response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": {}}})
    calls.openai('Sure! {"city": "Paris"}')  # text was asked for
    calls.openai('Sure! {"city": "Paris"}', response_format={"type": "text"})

    engine = QualityEngine()
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_INVALID_JSON)

    assert len(flags) == 2
    assert all(f.detail.startswith("output is not JSON") for f in flags)
    rate = reading(engine, "gpt-4o-mini", names.QUALITY_CHECK_INVALID_JSON_RATE)
    assert rate is not None
    assert rate.count == 3
    assert rate.value == 2 / 3


def test_pii_in_outputs_redacted_at_source_or_not(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    Calls(tp).openai(f"Your card {LUHN_CARD} is on file.")  # redacted by the instrumentation: the marker
    raw = Calls(tp, redact=False)
    raw.openai(f"Your card {LUHN_CARD} is on file.")
    raw.openai(f"Order {NOT_A_CARD} shipped.")
    raw.openai("Paris is the capital of France.")
    spans = exporter.get_finished_spans()
    assert "[REDACTED:card]" in str(spans[0].attributes[names.GEN_AI_OUTPUT_MESSAGES])  # type: ignore[index]
    assert LUHN_CARD in str(spans[1].attributes[names.GEN_AI_OUTPUT_MESSAGES])  # type: ignore[index]

    engine = QualityEngine()
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_PII)

    assert [f.span_id for f in flags] == [s.context.span_id.to_bytes(8, "big") for s in spans[:2]]  # type: ignore[union-attr]
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_PII_RATE) == 0.5


# -- token spikes and latency ------------------------------------------------------------------------------


def test_token_spike_against_the_rolling_p99_after_warmup(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai(completion_tokens=10_000)  # before warm-up: not judged
    engine = QualityEngine(QualityConfig(token_spike_warmup=20))
    assert flagged(observe(engine, exporter), names.QUALITY_FLAG_TOKEN_SPIKE) == []
    assert reading(engine, "gpt-4o-mini", names.QUALITY_CHECK_TOKEN_SPIKE_RATE) is None

    engine = QualityEngine(QualityConfig(token_spike_warmup=20))
    for tokens in range(100, 200):
        calls.openai(completion_tokens=tokens)
    # p99 of 100..199 is the 99th smallest (inverted CDF), 198: the limit is 2 × 198 = 396
    calls.openai(completion_tokens=397)
    calls.openai(completion_tokens=396)  # the window now holds 397: p99 is 199, the limit 398
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_TOKEN_SPIKE)

    assert len(flags) == 1
    assert flags[0].detail.startswith("397 output tokens > 2 × p99 198 of the last 100 calls")
    # evaluated on the calls after the 20th: 80 of the ramp and the last two
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_TOKEN_SPIKE_RATE) == 1 / 82


def _timed_llm_spans(tp: TracerProvider, durations: Sequence[float], model: str = "gpt-4o") -> None:
    """Chat spans with the given durations (explicit timestamps), attributes as the recorder sets them."""
    tracer = tp.get_tracer("driftline.instrumentation.openai")
    base = 1_700_000_000 * 10**9
    for i, seconds in enumerate(durations):
        start = base + i * 10**9
        span = tracer.start_span(f"chat {model}", start_time=start, attributes={
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT, names.GEN_AI_PROVIDER_NAME: names.PROVIDER_OPENAI,
            names.GEN_AI_REQUEST_MODEL: model, names.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",)})
        span.end(end_time=start + round(seconds * 1e9))


def test_latency_percentiles_match_numpy_within_the_sketch_error(
        otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    durations = np.random.default_rng(7).lognormal(mean=0.0, sigma=0.8, size=3000)
    _timed_llm_spans(tp, durations.tolist())
    engine = QualityEngine(QualityConfig(window=5000))
    observe(engine, exporter)

    observed = np.sort(np.round(durations * 1e9) / 1e9)
    for check, q in ((names.QUALITY_CHECK_LATENCY_P50, 0.5), (names.QUALITY_CHECK_LATENCY_P95, 0.95),
                     (names.QUALITY_CHECK_LATENCY_P99, 0.99)):
        found = reading(engine, "gpt-4o", check)
        assert found is not None
        assert found.count == 3000
        # KLL guarantee at k=128 (sketch.py): the estimate's rank is within 2 % of q·n.
        rank = np.searchsorted(observed, found.value, side="right") / observed.size
        assert abs(rank - q) <= 0.02, (check, rank)
        assert found.value == pytest.approx(np.quantile(observed, q, method="inverted_cdf"), rel=0.15)


def test_latency_window_forgets_old_calls(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    _timed_llm_spans(tp, [10.0] * 150 + [1.0] * 200)
    engine = QualityEngine(QualityConfig(window=100))
    observe(engine, exporter)
    p99 = reading(engine, "gpt-4o", names.QUALITY_CHECK_LATENCY_P99)
    # tumbling sketches of 100: the last full one (calls 201–300) and the current one (301–350)
    assert p99 is not None
    assert p99.value == 1.0
    assert p99.count == 150


def test_latency_slo(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    _timed_llm_spans(tp, [0.5, 2.5, 1.0, 3.0])
    engine = QualityEngine(QualityConfig(latency_slo_seconds=2.0))
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_LATENCY_SLO)
    assert [f.detail for f in flags] == ["duration 2.500s > 2s", "duration 3.000s > 2s"]
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_LATENCY_SLO_RATE) == 0.5


# -- cost ------------------------------------------------------------------------------------------------------


def test_cost_is_tokens_times_list_price_exactly(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai(prompt_tokens=1000, completion_tokens=500)
    calls.openai(prompt_tokens=1234, cached_tokens=200, completion_tokens=567)
    calls.anthropic(input_tokens=100, cache_read=1000, cache_write=200, output_tokens=50)

    engine = QualityEngine()
    flags = observe(engine, exporter)

    assert flagged(flags, names.QUALITY_FLAG_COST_UNKNOWN) == []
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens (prices.yaml)
    first = Decimal("0.00045")  # (1000 × 0.15 + 500 × 0.60) / 10^6
    second = (Decimal(1034) * Decimal("0.15") + Decimal(200) * Decimal("0.075")
              + Decimal(567) * Decimal("0.60")) / Decimal(10**6)
    totals = engine.totals()[ModelKey(SERVICE, "gpt-4o-mini", "", names.MODEL_FAMILY_LLM)]
    assert totals.cost_usd == first + second
    assert totals.priced_calls == 2
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_COST_TOTAL) == float(first + second)
    assert value(engine, "gpt-4o-mini", names.QUALITY_CHECK_COST_PER_CALL) == float((first + second) / 2)
    # claude-3-5-haiku: input 0.80, cache read 0.08, cache write 1.00, output 4.00; input_tokens on the
    # span include the cache reads and writes (the Anthropic mapping adds them).
    haiku = (100 * Decimal("0.80") + 1000 * Decimal("0.08") + 200 * Decimal("1.00") + 50 * Decimal("4.00")) / 10**6
    assert haiku == Decimal("0.00056")
    assert value(engine, "claude-3-5-haiku-20241022", names.QUALITY_CHECK_COST_TOTAL) == 0.00056


def test_unknown_model_is_flagged_and_never_priced(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai(model="ft:my-finetune")
    calls.openai(model="o1-pro")  # o1 is listed; o1-pro is not a dated o1 and costs far more

    engine = QualityEngine()
    flags = flagged(observe(engine, exporter), names.QUALITY_FLAG_COST_UNKNOWN)

    assert [f.model.model for f in flags] == ["ft:my-finetune", "o1-pro"]
    assert default_prices().version in flags[0].detail
    for model in ("ft:my-finetune", "o1-pro"):
        assert value(engine, model, names.QUALITY_CHECK_COST_UNKNOWN_RATE) == 1.0
        assert reading(engine, model, names.QUALITY_CHECK_COST_PER_CALL) is None
        assert reading(engine, model, names.QUALITY_CHECK_COST_TOTAL) is None
        assert engine.totals()[ModelKey(SERVICE, model, "", names.MODEL_FAMILY_LLM)].priced_calls == 0


@pytest.mark.parametrize(("provider", "model", "listed"), [
    ("openai", "gpt-4o", "gpt-4o"),
    ("openai", "gpt-4o-2024-08-06", "gpt-4o"),
    ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("openai", "gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
    ("anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("anthropic", "claude-opus-4-1-20250805", "claude-opus-4-1"),
    (None, "claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("openai", "o1-pro", None),
    ("openai", "gpt-4o-audio-preview", None),
    ("anthropic", "gpt-4o", None),  # a listed provider is searched alone
])
def test_price_lookup_exact_then_dated_prefix(provider: str | None, model: str, listed: str | None) -> None:
    found = default_prices().lookup(provider, model)
    assert (found[0] if found else None) == listed


def test_price_table_file_is_versioned_and_validated(tmp_path: Path) -> None:
    table = default_prices()
    assert table.version
    assert table.updated
    assert table.models("openai")["gpt-4o-mini"].output == Decimal("0.60") / 10**6
    path = tmp_path / "prices.yaml"
    path.write_text("version: t1\nproviders:\n  acme:\n    m1: {input: 1, output: 2}\n")
    custom = PriceTable.load(path)
    assert custom.version == "t1"
    assert custom.models("acme")["m1"].cost(10**6, 10**6) == Decimal(3)
    path.write_text("version: t1\nproviders:\n  acme:\n    m1: {input: 1, outptu: 2}\n")
    with pytest.raises(ValueError, match="needs 'input' and 'output'"):
        PriceTable.load(path)
    path.write_text("version: t1\nproviders:\n  acme:\n    m1: {input: -1, output: 2}\n")
    with pytest.raises(ValueError, match="non-negative"):
        PriceTable.load(path)


# -- agents ----------------------------------------------------------------------------------------------------


@tool
def lookup(city: str) -> str:
    """Look a city up."""
    return f"{city}: rain"


@tool
def forecast(city: str) -> str:
    """Forecast for a city."""
    return f"{city}: sun"


@agent(name="weather-desk")
def desk(cities: list[str]) -> list[str]:
    return [lookup(city) for city in cities]


@agent(name="planner")
def planner(plan: list[str]) -> list[str]:
    tools: dict[str, Callable[[str], str]] = {"lookup": lookup, "forecast": forecast}
    return [tools[step]("Paris") for step in plan]


def drain(tel: Telemetry) -> ExportTraceServiceRequest:
    request = request_of(tel.spans())
    tel.span_exporter.clear()
    return request


def test_agent_loop_same_tool_and_arguments_three_times(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    desk(["Paris", "Paris", "Paris"])
    looping = sorted((s for s in tel.spans() if s.name == "execute_tool lookup"), key=lambda s: s.start_time or 0)
    desk(["Paris", "Rome", "Oslo"])
    desk(["Paris", "Paris"])

    engine = QualityEngine()
    flags = engine.observe(drain(tel).resource_spans)

    loops = flagged(flags, names.QUALITY_FLAG_AGENT_LOOP)
    assert [(f.trace_id, f.span_id) for f in loops] == [
        (looping[2].context.trace_id.to_bytes(16, "big"), looping[2].context.span_id.to_bytes(8, "big"))]  # type: ignore[union-attr]
    assert "'lookup' called 3 times with the same arguments" in loops[0].detail
    assert value(engine, "", names.QUALITY_CHECK_AGENT_LOOP_RATE) == 1 / 8
    assert value(engine, "", names.QUALITY_CHECK_TOOL_ERROR_RATE) == 0.0


def test_agent_loop_split_across_batches_and_without_arguments(telemetry: Callable[..., Telemetry],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    tel = telemetry(**CONTENT_ON)
    engine = QualityEngine()
    desk(["Paris", "Paris", "Paris"])
    spans = tel.spans()
    tel.span_exporter.clear()
    tools = sorted((s for s in spans if s.name == "execute_tool lookup"), key=lambda s: s.start_time or 0)
    assert engine.observe(request_of(tools[:2]).resource_spans) == []
    later = engine.observe(request_of([s for s in spans if s not in tools[:2]]).resource_spans)
    assert [f.span_id for f in flagged(later, names.QUALITY_FLAG_AGENT_LOOP)] == [
        tools[2].context.span_id.to_bytes(8, "big")]  # type: ignore[union-attr]

    # Arguments not captured: the same tool three times in a row is a loop, interleaved calls are not.
    monkeypatch.setenv(names.ENV_CAPTURE_MESSAGE_CONTENT, "NO_CONTENT")
    planner(["lookup", "forecast", "lookup", "forecast", "lookup"])
    assert flagged(engine.observe(drain(tel).resource_spans), names.QUALITY_FLAG_AGENT_LOOP) == []
    planner(["forecast", "lookup", "lookup", "lookup"])
    loops = flagged(engine.observe(drain(tel).resource_spans), names.QUALITY_FLAG_AGENT_LOOP)
    assert len(loops) == 1
    assert "3 times in a row" in loops[0].detail


def test_tool_errors_and_too_many_steps(telemetry: Callable[..., Telemetry]) -> None:
    @tool
    def flaky(n: int) -> int:
        if n % 2:
            raise ValueError("odd")
        return n

    @agent(name="busy")
    def busy(steps: int) -> None:
        for n in range(steps):
            try:
                flaky(n)
            except ValueError:
                pass

    tel = telemetry(**CONTENT_ON)  # distinct arguments: no loop
    engine = QualityEngine(QualityConfig(max_agent_steps=5))
    busy(5)
    busy(6)
    flags = engine.observe(drain(tel).resource_spans)

    too_many = flagged(flags, names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS)
    assert [(f.model.model, f.detail) for f in too_many] == [("busy", "6 steps > 5")]
    assert value(engine, "busy", names.QUALITY_CHECK_AGENT_TOO_MANY_STEPS_RATE) == 0.5
    assert len(flagged(flags, names.QUALITY_FLAG_TOOL_ERROR)) == 2 + 3
    assert value(engine, "", names.QUALITY_CHECK_TOOL_ERROR_RATE) == 5 / 11

    # Steps exported before their agent span still count when it arrives.
    busy(7)
    spans = tel.spans()
    tel.span_exporter.clear()
    agent_span = [s for s in spans if s.name == "invoke_agent busy"]
    assert engine.observe(request_of([s for s in spans if s not in agent_span]).resource_spans)
    late = flagged(engine.observe(request_of(agent_span).resource_spans), names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS)
    assert [f.detail for f in late] == ["7 steps > 5"]


# -- stateless flags, state, cardinality --------------------------------------------------------------------


def test_flags_for_span_on_sdk_attributes(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    calls.openai("I'm sorry, but I can't help with that.", finish="length", model="my-model",
                 response_format={"type": "json_object"})
    calls.openai()
    bad, good = exporter.get_finished_spans()
    assert flags_for_span(dict(bad.attributes or {}), 1.0) == [
        names.QUALITY_FLAG_TRUNCATED, names.QUALITY_FLAG_REFUSAL, names.QUALITY_FLAG_INVALID_JSON,
        names.QUALITY_FLAG_COST_UNKNOWN]
    assert flags_for_span(dict(good.attributes or {}), 1.0) == []
    assert flags_for_span(dict(good.attributes or {}), 3.0, latency_slo=2.0) == [names.QUALITY_FLAG_LATENCY_SLO]
    assert flags_for_span({names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
                           names.ERROR_TYPE: "ValueError"}) == [names.QUALITY_FLAG_TOOL_ERROR]
    assert flags_for_span({names.GEN_AI_OPERATION_NAME: names.OPERATION_EMBEDDINGS}) == []


def test_state_round_trip_continues_identically(otel: tuple[TracerProvider, InMemorySpanExporter],
                                                telemetry: Callable[..., Telemetry]) -> None:
    tp, exporter = otel
    config = QualityConfig(window=50, token_spike_warmup=5)
    calls = Calls(tp)
    for i in range(60):
        calls.openai(finish="length" if i % 4 == 0 else "stop", completion_tokens=10 + i % 7)
    calls.openai(error=TimeoutError())
    calls.openai(model="unknown-model")
    _timed_llm_spans(tp, [0.1 * i for i in range(1, 130)])
    first = request_of(exporter.get_finished_spans())
    exporter.clear()
    tel = telemetry(**CONTENT_ON)
    desk(["Paris", "Paris"])
    tools = drain(tel)

    engine = QualityEngine(config)
    engine.observe(first.resource_spans)
    engine.observe(tools.resource_spans)
    state = json.loads(json.dumps(engine.to_state()))
    restored = QualityEngine.from_state(state, config)

    assert restored.readings() == engine.readings()
    assert restored.totals() == engine.totals()
    assert restored.to_state() == state
    desk(["Paris", "Rome", "Rome", "Rome"])
    for i in range(5):
        calls.openai(completion_tokens=100 if i == 4 else 12)
    _timed_llm_spans(tp, [0.05] * 30)
    more = [request_of(exporter.get_finished_spans()), drain(tel)]
    for request in more:
        assert restored.observe(request.resource_spans) == engine.observe(request.resource_spans)
    assert restored.readings() == engine.readings()
    assert restored.to_state() == engine.to_state()


def test_redelivered_tool_spans_are_counted_once(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    desk(["Paris", "Paris"])
    request = drain(tel)
    engine = QualityEngine()
    assert engine.observe(request.resource_spans) == []
    assert engine.observe(request.resource_spans) == []  # an exporter retry: the same two calls
    assert engine.totals()[next(k for k in engine.models if k.model == "")].calls == 2


def test_latency_state_from_a_larger_window(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    _timed_llm_spans(tp, [2.0] * 300)
    engine = QualityEngine(QualityConfig(window=500))
    observe(engine, exporter)
    restored = QualityEngine.from_state(engine.to_state(), QualityConfig(window=100))
    _timed_llm_spans(tp, [1.0] * 150)
    observe(restored, exporter)
    p99 = reading(restored, "gpt-4o", names.QUALITY_CHECK_LATENCY_P99)
    assert p99 is not None
    assert p99.value == 1.0
    assert p99.count == 150


def test_trace_memory_is_bounded(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    desk(["Paris", "Paris", "Paris"])
    spans = tel.spans()
    tools = sorted((s for s in spans if s.name == "execute_tool lookup"), key=lambda s: s.start_time or 0)
    rest = [s for s in spans if s not in tools[:2]]
    tel.span_exporter.clear()
    desk(["Rome"])
    other = drain(tel)
    for max_traces, loops in ((2, 1), (1, 0)):
        engine = QualityEngine(QualityConfig(max_traces=max_traces))
        engine.observe(request_of(tools[:2]).resource_spans)
        engine.observe(other.resource_spans)  # with room for one trace only, this one evicts the first
        flags = engine.observe(request_of(rest).resource_spans)
        assert len(flagged(flags, names.QUALITY_FLAG_AGENT_LOOP)) == loops


def test_loop_across_a_restart(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    desk(["Paris", "Paris", "Paris"])
    spans = tel.spans()
    tools = sorted((s for s in spans if s.name == "execute_tool lookup"), key=lambda s: s.start_time or 0)
    engine = QualityEngine()
    engine.observe(request_of(tools[:2]).resource_spans)
    restored = QualityEngine.from_state(json.loads(json.dumps(engine.to_state())))
    flags = restored.observe(request_of([tools[2]]).resource_spans)
    assert [f.check for f in flags] == [names.QUALITY_FLAG_AGENT_LOOP]


def test_models_are_capped_and_overflow_counted(otel: tuple[TracerProvider, InMemorySpanExporter]) -> None:
    tp, exporter = otel
    calls = Calls(tp)
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1"):
        calls.openai(model=model, finish="length")
    engine = QualityEngine(QualityConfig(max_models=2))
    flags = observe(engine, exporter)
    assert {key.model for key in engine.models} == {"gpt-4o", "gpt-4o-mini"}
    assert engine.overflow == 2
    # stateless checks still flag the spans of the models beyond the cap
    assert [f.model.model for f in flagged(flags, names.QUALITY_FLAG_TRUNCATED)] == [
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1"]


# -- the real openai SDK against the fake provider ------------------------------------------------------------


def test_real_openai_sdk_spans_feed_the_engine(telemetry: Callable[..., Telemetry], fake_llm: FakeLLMServer) -> None:
    tel = telemetry(**CONTENT_ON)
    client = openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="test", max_retries=0)

    def ask(text: str, **kwargs: Any) -> None:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], **kwargs)

    ask("Capital of France?")
    ask("Tell me a long story [[length]]")
    ask("How do I pick a lock? [[reply:I'm sorry, but I can't help with that.]]")
    ask("JSON please [[reply:not json at all]]", response_format={"type": "json_object"})
    with pytest.raises(openai.RateLimitError):
        ask("again [[error:429]]")
    client.close()
    recorded = tel.llm_spans()

    engine = QualityEngine()
    flags = engine.observe(drain(tel).resource_spans)

    assert sorted(f.check for f in flags) == sorted([
        names.QUALITY_FLAG_TRUNCATED, names.QUALITY_FLAG_REFUSAL, names.QUALITY_FLAG_INVALID_JSON,
        names.QUALITY_FLAG_ERROR])
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_ERROR_RATE) == 0.2
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_ERROR_TYPE_RATE, "openai.RateLimitError") == 0.2
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_TRUNCATION_RATE) == 0.25
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_REFUSAL_RATE) == 0.25
    assert value(engine, "gpt-4o", names.QUALITY_CHECK_INVALID_JSON_RATE) == 1.0
    # Priced from the tokens on the spans (the fake counts words) at gpt-4o's list price, for the
    # served model gpt-4o-2025-01-01 (a dated variant).
    spans = [s for s in recorded if (s.attributes or {}).get(names.GEN_AI_USAGE_INPUT_TOKENS) is not None]
    assert len(spans) == 4
    expected = sum((Decimal(int((s.attributes or {})[names.GEN_AI_USAGE_INPUT_TOKENS])) * Decimal("2.50")  # type: ignore[arg-type]
                    + Decimal(int((s.attributes or {})[names.GEN_AI_USAGE_OUTPUT_TOKENS])) * Decimal("10.00"))  # type: ignore[arg-type]
                   / 10**6 for s in spans)
    assert engine.totals()[next(k for k in engine.models if k.model == "gpt-4o")].cost_usd == expected
