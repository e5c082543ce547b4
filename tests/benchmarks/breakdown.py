"""Where driftline's per-call time goes: ``python -m tests.benchmarks.run --profile``.

Two views, printed (not written to the report):

1. **Steps, timed directly.** Driftline's life cycle for one non-streamed call, replayed step by step
   outside the SDK call (request mapping, span start, context attach/detach, response mapping,
   response attributes, span end, metrics), and the per-chunk and end-of-stream steps of a stream;
   each step's median over many repetitions, minus the cost of reading the clock. Next to it, the
   same SDK operations as the floor does them, so the difference is driftline's own code.
2. **cProfile** of many instrumented calls: the functions of driftline, OpenTelemetry and wrapt by
   own time per call. cProfile inflates small functions several-fold; read it for ranking, and view 1
   for microseconds.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .harness import REQUEST, STREAM_REQUEST, Pipeline, make_clients, make_pipeline, nonstream_call, sdk_create

if TYPE_CHECKING:
    from driftline.instrumentation._core.invocation import LLMInvocation

_REPS = 3000


def _clock_cost() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20000):
        t0 = clock()
        samples.append(clock() - t0)
    return statistics.median(samples) / 1000.0


def _invocation(mapping: Any, instance: Any, request: dict[str, Any]) -> LLMInvocation:
    inv = mapping.request(instance, (), request, False)
    assert inv is not None
    return inv  # type: ignore[no-any-return]


def _steps(pipeline: Pipeline, clients: Any) -> list[tuple[str, float]]:
    """Median µs of each step of driftline's recorder for one call, replayed ``_REPS`` times."""
    from opentelemetry import context as otel_context

    from driftline.instrumentation._core.config import load_settings
    from driftline.instrumentation._core.metrics import GenAIMetrics
    from driftline.instrumentation._core.recorder import GenAIRecorder
    from driftline.instrumentation._core.wrapping import StreamState
    from driftline.instrumentation.openai._chat import ChatMapping

    json_client, sse_client = clients
    result = json_client.chat.completions.create(**REQUEST)
    chunks = list(sse_client.chat.completions.create(**STREAM_REQUEST))
    tracer = pipeline.tracer_provider.get_tracer("driftline.benchmarks.breakdown")
    meter = pipeline.meter_provider.get_meter("driftline.benchmarks.breakdown")
    rec = GenAIRecorder(tracer, GenAIMetrics(meter), None, load_settings())
    mapping = ChatMapping()
    instance = json_client.chat.completions
    clock = time.perf_counter_ns
    names = ["mapping.request (ChatMapping)", "recorder.start (attrs + start_span + context)",
             "context attach + detach", "mapping.response (ChatMapping)", "recorder._response_attributes",
             "span.set_attributes", "span.end (+ SimpleSpanProcessor export)", "recorder._record_metrics (3 points)"]
    samples: list[list[float]] = [[] for _ in names]
    for _ in range(_REPS):
        t0 = clock()
        inv = _invocation(mapping, instance, REQUEST)
        t1 = clock()
        rec.start(inv)
        t2 = clock()
        assert inv.context is not None
        token = otel_context.attach(inv.context)
        otel_context.detach(token)
        t3 = clock()
        mapping.response(inv, result, False)
        t4 = clock()
        attrs = rec._response_attributes(inv)
        t5 = clock()
        span = inv.span
        assert span is not None
        span.set_attributes(attrs)
        t6 = clock()
        span.end()
        t7 = clock()
        rec._record_metrics(inv, None)
        t8 = clock()
        for i, (a, b) in enumerate(zip((t0, t1, t2, t3, t4, t5, t6, t7), (t1, t2, t3, t4, t5, t6, t7, t8),
                                       strict=True)):
            samples[i].append((b - a) / 1000.0)
    out = [(name, statistics.median(s)) for name, s in zip(names, samples, strict=True)]

    chunk_samples: list[float] = []
    end_samples: list[float] = []
    for _ in range(_REPS // 10):
        stream_inv = _invocation(mapping, instance, STREAM_REQUEST)
        rec.start(stream_inv)
        state = StreamState(rec, mapping, stream_inv, mapping.accumulator(stream_inv, False))
        for chunk in chunks:
            t0 = clock()
            state.chunk(chunk)
            chunk_samples.append((clock() - t0) / 1000.0)
        t0 = clock()
        state.end("completed")
        end_samples.append((clock() - t0) / 1000.0)
    out.append((f"stream: StreamState.chunk, per chunk (×{len(chunks)})", statistics.median(chunk_samples)))
    out.append(("stream: StreamState.end (finish + stop + 4 metric points)", statistics.median(end_samples)))
    out += _glue(rec, mapping, instance, chunks)
    return out


class _Dummy:
    def create(self, **kwargs: Any) -> None:
        return None


class _NoSpanMapping:
    """A mapping that declines every call, so only driftline's dispatch glue runs."""

    name = "bench.none"

    def request(self, *args: Any) -> None:
        return None


def _glue(rec: Any, mapping: Any, instance: Any, chunks: list[Any]) -> list[tuple[str, float]]:
    """Dispatch and stream-proxy costs that the step list above does not cover."""
    import wrapt

    from driftline.instrumentation._core.wrapping import Binding, StreamState, SyncStreamProxy, sync_wrapper

    binding = Binding()
    binding.recorder = rec
    wrapped = wrapt.FunctionWrapper(_Dummy.create, sync_wrapper(binding, _NoSpanMapping()))  # type: ignore[arg-type]
    dummy = _Dummy()
    clock = time.perf_counter_ns
    plain, through, proxy_new, proxy_iter, gen_iter = [], [], [], [], []

    def generator(items: list[Any]) -> Any:
        yield from items

    for _ in range(_REPS):
        t0 = clock()
        dummy.create(**REQUEST)
        t1 = clock()
        wrapped.__get__(dummy, _Dummy)(**REQUEST)
        t2 = clock()
        plain.append((t1 - t0) / 1000.0)
        through.append((t2 - t1) / 1000.0)
    for _ in range(_REPS // 10):
        inv = _invocation(mapping, instance, STREAM_REQUEST)
        rec.start(inv)
        state = StreamState(rec, mapping, inv, mapping.accumulator(inv, False))
        t0 = clock()
        proxy = SyncStreamProxy(iter(chunks), state)
        t1 = clock()
        state.done = True  # time the chunks only; the end of the stream is measured above
        for _chunk in proxy:
            pass
        t2 = clock()
        assert inv.span is not None
        inv.span.end()
        for _chunk in generator(chunks):
            pass
        t3 = clock()
        proxy_new.append((t1 - t0) / 1000.0)
        proxy_iter.append((t2 - t1) / 1000.0 / len(chunks))
        gen_iter.append((t3 - t2) / 1000.0 / len(chunks))
    return [
        ("dispatch: wrapt wrapper + run_sync/begin checks (call minus direct call)",
         statistics.median(through) - statistics.median(plain)),
        ("stream: SyncStreamProxy() (wrapt proxy + weakref.finalize)", statistics.median(proxy_new)),
        ("stream: proxy iteration per chunk (incl. StreamState.chunk)", statistics.median(proxy_iter)),
        ("stream: plain generator per chunk (what the floor pays)", statistics.median(gen_iter)),
    ]


def _floor_steps(pipeline: Pipeline) -> list[tuple[str, float]]:
    """The same SDK operations as the floor issues them, for comparison."""
    from opentelemetry import context, trace
    from opentelemetry.trace import SpanKind
    from opentelemetry.util.types import AttributeValue

    from driftline.semconv import names

    from .floor import FloorInstrumentation

    floor = FloorInstrumentation(pipeline.tracer_provider, pipeline.meter_provider)
    tracer = pipeline.tracer_provider.get_tracer("driftline.benchmarks.floor")
    attrs: dict[str, AttributeValue] = {names.GEN_AI_OPERATION_NAME: "chat", names.GEN_AI_PROVIDER_NAME: "openai",
             names.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", names.SERVER_ADDRESS: "api.openai.com",
             names.SERVER_PORT: 443, names.GEN_AI_REQUEST_TEMPERATURE: 0.2, names.GEN_AI_REQUEST_MAX_TOKENS: 300}
    clock = time.perf_counter_ns
    start, ctx_cost, end, metrics = [], [], [], []
    usage = type("U", (), {"prompt_tokens": 38, "completion_tokens": 61})()
    for _ in range(_REPS):
        t0 = clock()
        span = tracer.start_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs)
        ctx = trace.set_span_in_context(span)
        t1 = clock()
        token = context.attach(ctx)
        context.detach(token)
        t2 = clock()
        span.end()
        t3 = clock()
        floor._record(time.perf_counter(), None, usage, dict(attrs), ctx)
        t4 = clock()
        start.append((t1 - t0) / 1000.0)
        ctx_cost.append((t2 - t1) / 1000.0)
        end.append((t3 - t2) / 1000.0)
        metrics.append((t4 - t3) / 1000.0)
    return [("floor: start_span + set_span_in_context", statistics.median(start)),
            ("floor: context attach + detach", statistics.median(ctx_cost)),
            ("floor: span.end (no response attributes)", statistics.median(end)),
            ("floor: 3 histogram points", statistics.median(metrics))]


def _profile(pipeline: Pipeline, call: Callable[[], None], calls: int) -> str:
    """cProfile of ``calls`` instrumented calls: instrumentation-side functions by own time per call."""
    for _ in range(200):
        call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    rows = []
    total = 0.0
    for (filename, line, func), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        where = filename.replace("\\", "/")
        ours = any(part in where for part in ("/driftline/", "/instrumentation/", "/opentelemetry/", "/wrapt/"))
        if not ours and not (filename == "~" and "wrapt" in func):
            continue
        short = where.split("/site-packages/")[-1].split("/work/main/")[-1]
        rows.append((tottime, cumtime, ncalls, f"{short}:{line}({func})"))
        total += tottime
    rows.sort(reverse=True)
    lines = [f"  instrumentation-side own time under cProfile: {total / calls * 1e6:.1f} µs/call "
             "(inflated by the profiler)", f"  {'own µs/call':>12} {'cum µs/call':>12} {'calls/call':>10}  function"]
    for tottime, cumtime, ncalls, name in rows[:25]:
        lines.append(f"  {tottime / calls * 1e6:12.2f} {cumtime / calls * 1e6:12.2f} {ncalls / calls:10.1f}  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print both views for the non-streamed and streamed call."""
    import logging

    from driftline.instrumentation.openai import OpenAIInstrumentor

    from .harness import stream_call

    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    pipeline = make_pipeline()
    clients = make_clients()
    clock = _clock_cost()
    print(f"Driftline per-call breakdown (one clock read ≈ {clock * 1000:.0f} ns is included in each step)\n")
    print("1. Steps, timed directly (median µs):")
    for name, us in [*_steps(pipeline, clients), *_floor_steps(pipeline)]:
        print(f"  {us:8.2f}  {name}")
    json_create, sse_create = sdk_create(clients)
    inst = OpenAIInstrumentor()
    inst.instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider)
    try:
        print("\n2. cProfile, non-streamed (2000 calls):")
        print(_profile(pipeline, nonstream_call(json_create), 2000))
        print("\n   cProfile, streamed (1000 calls):")
        print(_profile(pipeline, stream_call(sse_create), 1000))
    finally:
        inst.uninstrument()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
