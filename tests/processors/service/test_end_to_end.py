"""End to end: an app instrumented by driftline (OTel SDK, OTLP/HTTP exporter) → processor A → OTLP/gRPC
→ processor B (a second driftline processor, the "real second OTLP server") → its file exporter.

The app also encodes its own finished spans with the OTel SDK's OTLP encoder; every span must reach
B's file byte-for-byte equal (as protobuf) to what the app produced.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.otlp.json_codec import decode_trace_request
from tests.fakes.llm_server import FakeLLMServer

from .support import processor

APP = textwrap.dedent("""
    import os, sys
    import openai
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from driftline.instrumentation.openai import OpenAIInstrumentor

    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app"}))
    mine = InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=sys.argv[1])))
    provider.add_span_processor(SimpleSpanProcessor(mine))
    trace.set_tracer_provider(provider)
    OpenAIInstrumentor().instrument()
    client = openai.OpenAI(base_url=os.environ["FAKE_BASE"] + "/v1", api_key="k", max_retries=0)
    tracer = trace.get_tracer("e2e-app")
    for turn in range(int(sys.argv[3])):
        with tracer.start_as_current_span("turn", attributes={"turn": turn}):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {turn}"}])
            client.embeddings.create(model="text-embedding-3-small", input=[f"turn {turn}"])
    provider.shutdown()  # flushes the OTLP exporter: the processor has acknowledged every span
    with open(sys.argv[2], "wb") as out:
        out.write(encode_spans(mine.get_finished_spans()).SerializeToString())
""")


def _spans_by_id(request: ExportTraceServiceRequest) -> dict[bytes, bytes]:
    return {span.span_id: span.SerializeToString() for rs in request.resource_spans for ss in rs.scope_spans
            for span in ss.spans}


def test_app_to_processor_to_second_processor_delivers_every_span_intact(tmp_path: Path,
                                                                         fake_llm: FakeLLMServer) -> None:
    second_config = """
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
exporters:
  file: {path: ./received.jsonl, flush_interval: 100ms}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {traces: {receivers: [otlp], exporters: [file]}}
"""
    with processor(second_config, tmp_path, name="second") as second:
        first_config = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: 127.0.0.1:0}}}}}}
processors:
  driftline: {{}}
exporters:
  otlp:
    endpoint: {second.grpc_target}
    tls: {{insecure: true}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [driftline], exporters: [otlp]}}}}
"""
        with processor(first_config, tmp_path, name="first") as first:
            app = tmp_path / "app.py"
            app.write_text(APP)
            produced = tmp_path / "produced.bin"
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
            run = subprocess.run([sys.executable, str(app), first.http_url, str(produced), "25"],
                                 env={**env, "FAKE_BASE": f"http://127.0.0.1:{fake_llm.port}"},
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 0, run.stderr
            expected = ExportTraceServiceRequest()
            expected.ParseFromString(produced.read_bytes())
            want = _spans_by_id(expected)
            assert len(want) == 75   # 25 turns × (turn + chat + embeddings)
            assert first.metric("driftline_receiver_accepted_spans_total", transport="http") == len(want)
            # A graceful stop drains the first processor's queue into the second: no waiting needed.
            first.signal(signal.SIGTERM)
            assert first.wait(60) == 0
        assert second.metric("driftline_receiver_accepted_spans_total", transport="grpc") == len(want)
        second.signal(signal.SIGTERM)
        assert second.wait(60) == 0
    got: dict[bytes, bytes] = {}
    for line in (tmp_path / "received.jsonl").read_text(encoding="utf-8").splitlines():
        got.update(_spans_by_id(decode_trace_request(line)))
    assert got == want                      # every span, each exactly as the app encoded it
