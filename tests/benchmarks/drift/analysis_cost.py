"""CPU cost of the processor's analysis per span: ``python -m tests.benchmarks.drift.analysis_cost``.

Builds 20,000 realistic spans with the real SDK (LLM chat spans with tokens and finish reasons, or
model prediction spans of 20 features made by ``observe_model``), encodes them as OTLP requests of
500 spans, and feeds them to the ``drift`` hook (drift, quality and performance together) in this
process, timing process CPU after four warm-up batches (which include the threshold simulations).
The issue's target is <= 20 % of one core per 10,000 AI spans/s, i.e. <= 20 us of CPU per span.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation.ml import _recorder as ml_recorder
from driftline.instrumentation.ml import observe_model
from driftline.processors.analysis.hook import DriftHook
from driftline.processors.pipeline.batch import TraceBatch
from driftline.semconv import names

SPANS = 20_000
BATCH = 500
WARMUP_BATCHES = 4


def _requests(kind: str) -> list[ExportTraceServiceRequest]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    rng = np.random.default_rng(0)
    if kind == "ml":
        ml_recorder.configure(tracer_provider=provider)
        try:
            @observe_model(name="m", version="1", feature_names=[f"f{i}" for i in range(20)])
            def score(x: np.ndarray) -> np.ndarray:
                return (x[:, 0] > 0).astype(float)

            for _ in range(SPANS):
                score(rng.normal(size=(1, 20)))
        finally:
            ml_recorder.configure()
    else:
        tracer = provider.get_tracer("bench")
        for _ in range(SPANS):
            tracer.start_span(f"{names.OPERATION_CHAT} gpt-4o-mini", attributes={
                names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT, names.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                names.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
                names.GEN_AI_USAGE_INPUT_TOKENS: int(rng.integers(10, 500)),
                names.GEN_AI_USAGE_OUTPUT_TOKENS: int(rng.integers(10, 300)),
                names.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
                names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH: int(rng.integers(10, 900))}).end()
    spans = exporter.get_finished_spans()
    out = []
    for i in range(0, len(spans), BATCH):
        request = ExportTraceServiceRequest()
        request.ParseFromString(encode_spans(spans[i:i + BATCH]).SerializeToString())  # as received
        out.append(request)
    return out


def measure(kind: str) -> float:
    """CPU microseconds per span of the drift hook on ``kind`` (``llm`` or ``ml``) spans."""
    requests = _requests(kind)
    hook = DriftHook({})
    for request in requests[:WARMUP_BATCHES]:
        hook.process(TraceBatch(request))
    started = time.process_time()
    for request in requests[WARMUP_BATCHES:]:
        hook.process(TraceBatch(request))
    elapsed = time.process_time() - started
    return elapsed / ((len(requests) - WARMUP_BATCHES) * BATCH) * 1e6


def main() -> int:
    """Print CPU per span and the share of a core at 10,000 spans/s for each kind."""
    for kind in sys.argv[1:] or ["llm", "ml"]:
        us = measure(kind)
        print(f"{kind}: {us:.1f} us CPU per span -> {us / 100:.0%} of one core at 10,000 spans/s "
              f"(target <= 20 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
