"""``make demo``: run the sample app under zero-code instrumentation and show what it produced.

1. starts the fake OpenAI/Anthropic provider (tests/fakes) on a loopback port;
2. starts the driftline processor (``python -m driftline.processors``) with the embedded default
   configuration, on free loopback ports, in a scratch directory: it receives the app's spans and
   writes them to ``./driftline-data/spans.jsonl`` (its file exporter) and serves ``/metrics``;
3. runs ``sample_app.py`` as a separate, unmodified process with
   ``DRIFTLINE_AUTO_INSTRUMENT=true`` and standard ``OTEL_*`` variables (spans to the processor,
   the app's GenAI metrics to a small OTLP receiver);
4. prints the processor's own metrics, stops it gracefully (it drains to the file), then prints
   the spans that arrived in the file and the app's metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from driftline.processors.config import DEFAULT_CONFIG_YAML  # noqa: E402
from driftline.processors.otlp.json_codec import decode_trace_request  # noqa: E402
from driftline.semconv import names  # noqa: E402
from tests.fakes.otlp_sink import OTLPSink, any_value, span_attributes  # noqa: E402
from tests.processors.service.support import ProcessorProcess, start_processor  # noqa: E402

SELF_METRICS = ("driftline_receiver_accepted_spans_total", "driftline_receiver_refused_spans_total",
                "driftline_exporter_sent_spans_total", "driftline_exporter_send_failed_spans_total",
                "driftline_exporter_queue_size", "driftline_exporter_queue_capacity",
                "driftline_receiver_requests_in_flight", "driftline_process_memory_rss")

SHOWN = (names.GEN_AI_REQUEST_MODEL, names.GEN_AI_RESPONSE_MODEL, names.GEN_AI_RESPONSE_FINISH_REASONS,
         names.GEN_AI_USAGE_INPUT_TOKENS, names.GEN_AI_USAGE_OUTPUT_TOKENS, names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
         names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT, names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
         names.DRIFTLINE_CONTENT_REDACTED, names.GEN_AI_AGENT_NAME, names.GEN_AI_TOOL_NAME, names.GEN_AI_TOOL_CALL_ID,
         names.ML_MODEL_NAME, names.ML_MODEL_VERSION, names.ML_MODEL_METHOD, names.ML_BATCH_SIZE,
         names.ML_BATCH_RECORDED_ROWS, names.ML_FEATURES_ENCODING, names.ML_PREDICTION_ID, names.ML_FEEDBACK_LABELS,
         names.ML_FEEDBACK_ROWS, "team")


def _start_provider(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakes" / "llm_server.py"),
                             "--port", "0", "--port-file", str(port_file)])
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("fake provider did not start")
        time.sleep(0.05)
    return proc, int(port_file.read_text())


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def _file_spans(path: Path) -> list[tuple[str, Any]]:
    """``(service.name, span)`` for every span in the processor's OTLP-JSON-lines file."""
    spans = []
    for line in path.read_text(encoding="utf-8").splitlines():
        request = decode_trace_request(line)
        for rs in request.resource_spans:
            resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
            service = str(resource.get("service.name", "?"))
            spans += [(service, span) for ss in rs.scope_spans for span in ss.spans]
    return spans


def _print_self_metrics(processor: ProcessorProcess) -> None:
    print("\n== the processor's own metrics (GET /metrics) ==")
    for (name, labels), value in sorted(processor.metrics().items()):
        if name in SELF_METRICS:
            shown = ",".join(f"{k}={v}" for k, v in labels)
            print(f"- {name}{'{' + shown + '}' if shown else ''} {value:g}")


def _print_traces(spans: list[tuple[str, Any]], path: Path) -> None:
    print(f"\n== {len(spans)} spans received over OTLP by the processor, read back from {path.name} ==")
    by_id = {span.span_id: span for _, span in spans}
    children: dict[bytes, list[tuple[str, Any]]] = {}
    roots = []
    for service, span in sorted(spans, key=lambda item: item[1].start_time_unix_nano):
        if span.parent_span_id in by_id:
            children.setdefault(span.parent_span_id, []).append((service, span))
        else:
            roots.append((service, span))
    app_service = roots[0][0] if roots else ""

    def show(service: str, span: Any, depth: int) -> None:
        attrs = span_attributes(span)
        ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        status = "ERROR" if span.status.code == 2 else "ok"
        where = "" if service == app_service else f"  [{service}]"
        indent = "  " * depth
        print(f"{indent}- {span.name:<{max(10, 44 - 2 * depth)}} {ms:7.1f} ms  {status}"
              f"{'  trace=' + span.trace_id.hex()[:8] if depth == 0 else ''}{where}")
        shown = "  ".join(f"{k.split('.', 1)[-1] if k != 'team' else k}={_fmt(attrs[k])}" for k in SHOWN
                          if k in attrs)
        if shown:
            print(f"{indent}    {shown}")
        messages = attrs.get(names.GEN_AI_INPUT_MESSAGES)
        if isinstance(messages, str):
            more = "…" if len(messages) > 200 else ""
            print(f"{indent}    input.messages: {messages[:200]}{more}")
        for child_service, child in children.get(span.span_id, []):
            show(child_service, child, depth + 1)

    for service, span in roots:
        show(service, span, 0)


def _print_metrics(sink: OTLPSink) -> None:
    print("\n== metrics ==")
    totals: dict[tuple[str, str], list[float]] = {}
    with sink._cond:
        requests = list(sink.requests["/v1/metrics"])
    for req in requests:
        for rm in req.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if not metric.HasField("histogram"):
                        continue
                    for point in metric.histogram.data_points:
                        labels = {kv.key: any_value(kv.value) for kv in point.attributes}
                        token_type = labels.get(names.GEN_AI_TOKEN_TYPE)
                        model = labels.get(names.GEN_AI_REQUEST_MODEL) or labels.get(names.ML_MODEL_NAME, "")
                        method = labels.get(names.ML_MODEL_METHOD)
                        label = f"{model}{' ' + token_type if token_type else ''}{' ' + method if method else ''}"
                        key = (metric.name, label)
                        totals[key] = [float(point.count), point.sum]
    for (name, label), (count, total) in sorted(totals.items()):
        print(f"- {name:<46} {label:<28} count={int(count):<3} sum={total:.3f} {'' if 'token' in name else 's'}")


def main() -> int:
    """Run the demo; return the app's exit code."""
    with tempfile.TemporaryDirectory() as tmp, OTLPSink() as sink:
        provider, port = _start_provider(Path(tmp))
        # The embedded default, on free ports so the demo never collides with a running processor.
        config = (DEFAULT_CONFIG_YAML.replace("127.0.0.1:4317", "127.0.0.1:0")
                  .replace("127.0.0.1:4318", "127.0.0.1:0").replace("127.0.0.1:9464", "127.0.0.1:0"))
        processor = start_processor(config, Path(tmp), name="demo-processor")
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
            env.update({
                names.ENV_AUTO_INSTRUMENT: "true",
                "OTEL_SERVICE_NAME": "driftline-demo",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": processor.http_url,
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,   # metrics and logs
                names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY",
                names.ENV_SPAN_ATTRIBUTES: "team=support",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "demo",
                "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": "demo",
            })
            print("$ driftline processor   (the embedded default; listening on",
                  f"{processor.grpc_target} gRPC, {processor.http_url})")
            print(f"$ DRIFTLINE_AUTO_INSTRUMENT=true python deploy/demo/sample_app.py   "
                  f"(fake provider on 127.0.0.1:{port}, spans to the processor)\n")
            app = subprocess.run([sys.executable, str(ROOT / "deploy" / "demo" / "sample_app.py")], env=env,
                                 timeout=120)
            _print_self_metrics(processor)
            processor.signal(signal.SIGTERM)   # graceful: drains its queue into the file, then exits
            stopped = processor.wait(60)
        finally:
            provider.terminate()
            provider.wait(timeout=10)
            if processor.process.poll() is None:
                processor.process.kill()
                processor.wait(10)
        spans_file = Path(tmp) / "driftline-data" / "spans.jsonl"
        _print_traces(_file_spans(spans_file), spans_file)
        _print_metrics(sink)
        return app.returncode or stopped


if __name__ == "__main__":
    sys.exit(main())
