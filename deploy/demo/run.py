"""``make demo``: run the sample app under zero-code instrumentation and show what it produced.

1. starts the fake OpenAI/Anthropic provider (tests/fakes) on a loopback port;
2. starts an OTLP/HTTP receiver on loopback (later: the driftline processor);
3. runs ``sample_app.py`` as a separate, unmodified process with
   ``DRIFTLINE_AUTO_INSTRUMENT=true`` and standard ``OTEL_*`` variables;
4. prints the spans (as trace trees) and metrics the app exported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from driftline.semconv import names  # noqa: E402
from tests.fakes.otlp_sink import OTLPSink, any_value, span_attributes  # noqa: E402

SHOWN = (names.GEN_AI_REQUEST_MODEL, names.GEN_AI_RESPONSE_MODEL, names.GEN_AI_RESPONSE_FINISH_REASONS,
         names.GEN_AI_USAGE_INPUT_TOKENS, names.GEN_AI_USAGE_OUTPUT_TOKENS, names.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
         names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT, names.GEN_AI_EMBEDDINGS_DIMENSION_COUNT,
         names.DRIFTLINE_CONTENT_REDACTED, "team")


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


def _print_traces(sink: OTLPSink) -> None:
    spans = [span for _, _, span in sink.spans()]
    print(f"\n== {len(spans)} spans received over OTLP ==")
    for span in sorted(spans, key=lambda s: s.start_time_unix_nano):
        attrs = span_attributes(span)
        ms = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6
        status = "ERROR" if span.status.code == 2 else "ok"
        print(f"- {span.name:<38} {ms:7.1f} ms  {status}  trace={span.trace_id.hex()[:8]}")
        shown = "  ".join(f"{k.split('.', 1)[-1] if k != 'team' else k}={_fmt(attrs[k])}" for k in SHOWN
                          if k in attrs)
        print(f"    {shown}")
        messages = attrs.get(names.GEN_AI_INPUT_MESSAGES)
        if isinstance(messages, str):
            more = "…" if len(messages) > 240 else ""
            print(f"    input.messages: {messages[:240]}{more}")


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
                        label = f"{labels.get(names.GEN_AI_REQUEST_MODEL, '')}{' ' + token_type if token_type else ''}"
                        key = (metric.name, label)
                        totals[key] = [float(point.count), point.sum]
    for (name, label), (count, total) in sorted(totals.items()):
        print(f"- {name:<46} {label:<28} count={int(count):<3} sum={total:.3f} {'' if 'token' in name else 's'}")


def main() -> int:
    """Run the demo; return the app's exit code."""
    with tempfile.TemporaryDirectory() as tmp, OTLPSink() as sink:
        provider, port = _start_provider(Path(tmp))
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
            env.update({
                names.ENV_AUTO_INSTRUMENT: "true",
                "OTEL_SERVICE_NAME": "driftline-demo",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
                names.ENV_CAPTURE_MESSAGE_CONTENT: "SPAN_ONLY",
                names.ENV_SPAN_ATTRIBUTES: "team=support",
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "demo",
                "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{port}", "ANTHROPIC_API_KEY": "demo",
            })
            print(f"$ DRIFTLINE_AUTO_INSTRUMENT=true python deploy/demo/sample_app.py   "
                  f"(fake provider on 127.0.0.1:{port}, OTLP to {sink.endpoint})\n")
            app = subprocess.run([sys.executable, str(ROOT / "deploy" / "demo" / "sample_app.py")], env=env,
                                 timeout=120)
        finally:
            provider.terminate()
            provider.wait(timeout=10)
        _print_traces(sink)
        _print_metrics(sink)
        return app.returncode


if __name__ == "__main__":
    sys.exit(main())
