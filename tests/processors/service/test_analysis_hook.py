"""The analysis stage inside a running processor (in-process ``Service``): enriching hooks change what
is forwarded, observing hooks see every span off the forwarding path, and a hook that raises is
counted while forwarding goes on unchanged."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.config import parse_config
from driftline.processors.pipeline.analysis import register_hook, unregister_hook
from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.service import Service
from driftline.semconv import names

from .support import ChaosBackend, make_request, send_grpc, span_numbers

pytestmark = pytest.mark.timeout(60)


class Tagger:
    """Enriching hook: adds ``team=<option>`` to every span; raises on spans whose number is 13."""

    name = "tagger"
    enriches = True

    def __init__(self, options: Mapping[str, object]) -> None:
        self.team = str(options.get("team", "none"))
        self.closed = False

    def process(self, batch: TraceBatch) -> None:
        for resource_spans in batch.request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    kv = span.attributes.add(key="team")
                    kv.value.string_value = self.team
                    if int.from_bytes(span.span_id, "big") == 13:
                        raise RuntimeError("tagger cannot handle span 13")
        batch.mark_modified()

    def close(self) -> None:
        self.closed = True


class Counter:
    """Observing hook: counts spans; raises on every third batch."""

    name = "counter"
    enriches = False

    def __init__(self) -> None:
        self.spans = 0
        self.batches = 0
        self.closed = False

    def process(self, batch: TraceBatch) -> None:
        self.batches += 1
        if self.batches % 3 == 0:
            raise ValueError("every third batch fails")
        self.spans += batch.span_count

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def hooks() -> Iterator[dict[str, object]]:
    made: dict[str, object] = {}

    def tagger(options: Mapping[str, object]) -> Tagger:
        made["tagger"] = Tagger(options)
        return made["tagger"]  # type: ignore[return-value]

    def counter(options: Mapping[str, object]) -> Counter:
        made["counter"] = Counter()
        return made["counter"]  # type: ignore[return-value]

    register_hook("tagger", tagger)
    register_hook("counter", counter)
    yield made
    unregister_hook("tagger")
    unregister_hook("counter")


def _attributes(request: ExportTraceServiceRequest) -> dict[int, dict[str, object]]:
    out: dict[int, dict[str, object]] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for span in ss.spans:
                out[int.from_bytes(span.span_id, "big")] = {kv.key: kv.value.WhichOneof("value") and getattr(
                    kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}
    return out


async def test_hooks_enrich_observe_and_never_block_forwarding(hooks: dict[str, object]) -> None:
    received: list[ExportTraceServiceRequest] = []
    backend = ChaosBackend(lambda request: received.append(request))  # type: ignore[func-returns-value]
    address = await backend.start()
    config = parse_config(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}
processors:
  driftline: {{team: search}}
exporters:
  otlp: {{endpoint: "{address}", tls: {{insecure: true}}, retry_on_failure: {{initial_interval: 10ms}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [driftline], exporters: [otlp]}}}}
""", environ={})
    service = Service(config)
    addresses = await service.start()
    try:
        async with grpc.aio.insecure_channel(str(addresses.grpc["otlp"])) as channel:
            for first in (0, 10, 20, 30, 40, 50):
                assert (await send_grpc(channel, make_request(first, 10))).accepted
        await backend.wait_for(lambda: len(backend.accepted) == 60, 30)
        await service._stages[0].idle()
    finally:
        await service.stop()
        await backend.stop()
    tagger, counter = hooks["tagger"], hooks["counter"]
    assert isinstance(tagger, Tagger)
    assert isinstance(counter, Counter)
    assert sorted(backend.accepted) == list(range(60))          # nothing dropped or delayed for good
    attributes = {n: a for request in received for n, a in _attributes(request).items()}
    assert all(attributes[n]["team"] == "search" for n in range(60) if not 10 <= n < 20)
    assert all("team" not in attributes[n] for n in range(10, 20))   # the batch with span 13: as received
    assert counter.batches == 6
    assert counter.spans == 40                                   # batches 3 and 6 raised
    assert service.telemetry.value(names.DRIFTLINE_ANALYSIS_ERRORS, stage="tagger") == 1
    assert service.telemetry.value(names.DRIFTLINE_ANALYSIS_ERRORS, stage="counter") == 2
    assert tagger.closed
    assert counter.closed


async def test_a_hook_that_cannot_be_built_leaves_the_pipeline_forwarding() -> None:
    def broken(options: Mapping[str, object]) -> Tagger:
        raise RuntimeError("no model file")

    register_hook("broken", broken)
    backend = ChaosBackend()
    address = await backend.start()
    try:
        config = parse_config(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}
processors:
  driftline: {{}}
exporters:
  otlp: {{endpoint: "{address}", tls: {{insecure: true}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [driftline], exporters: [otlp]}}}}
""", environ={})
        service = Service(config)
        addresses = await service.start()
        try:
            async with grpc.aio.insecure_channel(str(addresses.grpc["otlp"])) as channel:
                request = make_request(100, 5)
                assert (await send_grpc(channel, request)).accepted
            await backend.wait_for(lambda: len(backend.accepted) == 5, 30)
        finally:
            await service.stop()
        assert backend.accepted == span_numbers(request)
        assert service.telemetry.value(names.DRIFTLINE_ANALYSIS_ERRORS, stage="broken") == 1
    finally:
        unregister_hook("broken")
        await backend.stop()
