"""``make demo``: run the sample app under zero-code instrumentation, watch drift and quality on its spans.

1. starts the fake OpenAI/Anthropic provider (tests/fakes) and a tiny loopback webhook receiver for
   alerts;
2. starts the driftline processor (``python -m driftline.processors``) with the embedded default's
   shape plus a demo ``driftline`` section (small drift windows, ``region`` segments, enrichment,
   saved state, two alert rules to the webhook; printed), on free loopback ports, in a scratch
   directory (kept: ``--workdir``, default a new ``driftline-demo-*`` directory under the system's
   temporary directory): it receives the app's spans, writes them to ``driftline-data/spans.jsonl``
   and serves ``/metrics``;
3. runs ``sample_app.py`` as a separate, unmodified process with ``DRIFTLINE_AUTO_INSTRUMENT=true``
   and standard ``OTEL_*`` variables (spans to the processor, the app's GenAI metrics to a small
   OTLP receiver): the showcase calls, then live traffic in two phases — the fraud model scoring
   transactions one at a time (``region`` eu/us) and LLM notes; in phase B the EU amounts shift and
   many more notes are truncated. The app pauses every 100 calls while the demo scrapes ``/metrics``;
4. prints the drift scores over time and the alerts the webhook received, the processor's own
   metrics; stops the processor gracefully (it drains to the file and saves its drift state), prints
   the showcase traces read back from the file, a summary of the traffic, the app's metrics;
5. writes ``driftline-data/report.html`` (inline SVG, no JavaScript) and ``alerts.json`` in the
   scratch directory and prints their paths.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deploy.demo import report  # noqa: E402
from driftline.processors.config import DEFAULT_CONFIG_YAML  # noqa: E402
from driftline.processors.exporters.prometheus_naming import label_name, metric_name  # noqa: E402
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

# --- the traffic phase ---------------------------------------------------------------------------------

BASELINE_CALLS = 800
"""Phase A transactions (each also an LLM note): per region 300 for the warm-up, then one clean window."""
SHIFTED_CALLS = 600
"""Phase B transactions: three windows per region."""
EU_AMOUNT_FACTOR = 3.0
"""Phase B: the EU transaction amounts are this many times larger (nothing else changes, nor the US)."""
CALLS = BASELINE_CALLS + SHIFTED_CALLS
BATCH = 100
"""Calls between two scrapes of ``/metrics``."""
CHECKPOINT = "@@checkpoint "
"""The line prefix sample_app.checkpoint() prints when it pauses (same constant there)."""
REGION = "region"
"""The app's span attribute the processor segments drift by."""
FRAUD_MODEL = "fraud-detector"
NOTES_MODEL = "gpt-4o-mini"
AMOUNT = names.SIGNAL_FEATURE_PREFIX + "amount"
FINISH_REASONS = names.GEN_AI_RESPONSE_FINISH_REASONS
TRUNCATED = "length"
"""The finish reason of a truncated answer (OpenAI; Anthropic says max_tokens)."""
DEADLINE_S = 300.0
"""The app is killed if it runs longer than this."""

EU, US, ALL, NOTES = "#d93025", "#1a73e8", "#5f6368", "#e37400"

_SCORE = metric_name(names.DRIFTLINE_DRIFT_SCORE, names.DRIFTLINE_DRIFT_SCORE_UNIT)
_THRESHOLD = metric_name(names.DRIFTLINE_DRIFT_THRESHOLD, names.DRIFTLINE_DRIFT_THRESHOLD_UNIT)
_DETECTED = metric_name(names.DRIFTLINE_DRIFT_DETECTED_METRIC, names.DRIFTLINE_DRIFT_DETECTED_METRIC_UNIT)
_ALARMS = metric_name(names.DRIFTLINE_DRIFT_ALARMS, names.DRIFTLINE_DRIFT_ALARMS_UNIT) + "_total"
_MODEL_LABEL = label_name(names.DRIFTLINE_MODEL_NAME)
_SIGNAL_LABEL = label_name(names.DRIFTLINE_DRIFT_SIGNAL)
_SEGMENT_LABEL = label_name(names.DRIFTLINE_SEGMENT)
_METHOD_LABEL = label_name(names.DRIFTLINE_DRIFT_METHOD)

DEMO_ANALYSIS = """\
  driftline:                            # the analysis stage, tuned so the demo takes seconds, not hours
    drift:
      warmup: 300                       # values frozen as each signal's reference (default 2000)
      window: 100                       # values per window tested against it (default 500)
    signals:
      segments: [region]                # also judge drift per value of the app's `region` span attribute
    enrich: true                        # spans of models with drift flagged carry driftline.drift.detected
    state: ./driftline-data/drift-state.sqlite   # baselines survive restarts; the report reads them
    alerts:
      evaluate_interval: 0s             # evaluate the rules on every batch of spans (default 1s)
      webhook:
        # the demo's own receiver; in production Slack, PagerDuty, Alertmanager...
        url: {webhook}
      rules:
        - name: feature-drift           # a fraud-detector input changed distribution, per segment
          metric: drift.detected
          model: fraud-detector
          signal: "feature.*"
          above: 0.5
          for: 0s                       # fire at once; production uses minutes (e.g. 5m) so a blip never pages
          severity: warning
        - name: llm-finish-reasons      # the mix of finish reasons (stop, length, tool_calls...) changed
          metric: drift.detected
          signal: gen_ai.response.finish_reasons
          above: 0.5
          for: 0s                       # production: minutes, as above
          severity: critical
"""

_ANALYSIS_BLOCK = re.compile(r"^  driftline:.*\n(?: {4,}.*\n)*", re.MULTILINE)


def demo_config(webhook: str) -> str:
    """The embedded default with the demo's ``driftline`` section, on free loopback ports."""
    config, replaced = _ANALYSIS_BLOCK.subn(DEMO_ANALYSIS.replace("{webhook}", webhook), DEFAULT_CONFIG_YAML, count=1)
    if not replaced:
        raise SystemExit("the embedded default configuration has no `driftline:` processor section")
    return (config.replace("127.0.0.1:4317", "127.0.0.1:0").replace("127.0.0.1:4318", "127.0.0.1:0")
            .replace("127.0.0.1:9464", "127.0.0.1:0"))


# --- helpers -------------------------------------------------------------------------------------------

class AlertReceiver:
    """A loopback webhook that keeps every alert the processor POSTs (``notify.alert_payload`` JSON)."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        """Each alert of each payload, with ``received_ns`` added."""
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body or b"{}")
                now = time.time_ns()
                with receiver._changed:
                    receiver.alerts += [{**alert, "received_ns": now} for alert in payload.get("alerts", [])]
                    receiver._changed.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints the alerts itself."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="demo-webhook", daemon=True)

    @property
    def url(self) -> str:
        """Where the processor should POST."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    def __enter__(self) -> AlertReceiver:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float) -> bool:
        """Block until ``predicate(alerts)`` holds (True) or ``timeout`` passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.alerts), timeout)


@dataclass(frozen=True)
class Tracked:
    """A drift series the demo follows over time (the deciding statistic, PSI)."""

    label: str
    model: str
    signal: str
    segment: str
    color: str


TRACKED = (Tracked("amount eu", FRAUD_MODEL, AMOUNT, f"{REGION}=eu", EU),
           Tracked("amount us", FRAUD_MODEL, AMOUNT, f"{REGION}=us", US),
           Tracked("amount (all)", FRAUD_MODEL, AMOUNT, "", ALL),
           Tracked("finish reasons", NOTES_MODEL, FINISH_REASONS, "", NOTES))


@dataclass(frozen=True)
class Reading:
    """One scraped drift series: PSI of the last closed window, its threshold, whether drift is flagged,
    and how many times the change detector (CUSUM) alarmed so far."""

    score: float
    threshold: float
    detected: bool
    change_alarms: int = 0

    def explain(self) -> str:
        """``psi X vs threshold Y``, and why drift is flagged when the last window alone is under it."""
        text = f"psi {self.score:.3f} vs threshold {self.threshold:.3f}"
        if self.detected and not self.score > self.threshold:
            why = "the change detector (CUSUM) alarmed" if self.change_alarms else "hysteresis: not cleared yet"
            text += f" (last window; flagged before the next one closed: {why})"
        return text


@dataclass(frozen=True)
class Sample:
    """The scrape taken at a checkpoint: traffic calls so far and the tracked readings."""

    calls: int
    phase: str
    readings: Mapping[str, Reading | None]


def _reading(metrics: Mapping[tuple[str, tuple[tuple[str, str], ...]], float], tracked: Tracked) -> Reading | None:
    want = {_MODEL_LABEL: tracked.model, _SIGNAL_LABEL: tracked.signal, _SEGMENT_LABEL: tracked.segment}
    found: dict[tuple[str, str], float] = {}
    for (name, labels), value in metrics.items():
        label_map = dict(labels)
        if name in (_SCORE, _THRESHOLD, _DETECTED, _ALARMS) and want.items() <= label_map.items():
            found[(name, label_map.get(_METHOD_LABEL, ""))] = value
    psi = names.DRIFT_METHOD_PSI
    if (_SCORE, psi) not in found:
        return None  # still warming up, or no window closed yet
    return Reading(found[(_SCORE, psi)], found.get((_THRESHOLD, psi), math.nan), found.get((_DETECTED, psi), 0.0) > 0.5,
                   int(found.get((_ALARMS, names.DRIFT_METHOD_CUSUM), 0)))


def _cell(reading: Reading | None) -> str:
    if reading is None:
        return f"{'(warm-up)':<17}"
    return f"{reading.score:.3f} vs {reading.threshold:.3f}{' *' if reading.detected else '  '}"


def _wait_drained(processor: ProcessorProcess, timeout: float = 60.0) -> dict[Any, float]:
    """Poll ``/metrics`` until every span the receiver accepted has left the pipeline (so the drift
    analysis has seen it); return that scrape."""
    deadline = time.monotonic() + timeout
    while True:
        metrics = processor.metrics()
        accepted = sum(v for (n, _), v in metrics.items() if n == "driftline_receiver_accepted_spans_total")
        done = sum(v for (n, _), v in metrics.items()
                   if n in ("driftline_exporter_sent_spans_total", "driftline_exporter_send_failed_spans_total"))
        if done >= accepted:
            return metrics
        if time.monotonic() > deadline:
            raise SystemExit(f"the processor did not drain: {done:g} of {accepted:g} spans out")
        time.sleep(0.02)


def _start_provider(tmp: Path) -> tuple[subprocess.Popen[bytes], int]:
    port_file = tmp / "provider-port"
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


def _print_self_metrics(metrics: Mapping[tuple[str, tuple[tuple[str, str], ...]], float]) -> None:
    print("\n== the processor's own metrics (GET /metrics) ==")
    for (name, labels), value in sorted(metrics.items()):
        if name in SELF_METRICS:
            shown = ",".join(f"{k}={v}" for k, v in labels)
            print(f"- {name}{'{' + shown + '}' if shown else ''} {value:g}")


def _print_traces(spans: list[tuple[str, Any]], total: int, path: Path) -> None:
    print(f"\n== {total} spans received over OTLP by the processor, read back from {path.name} ==")
    print(f"(the {len(spans)} spans of the showcase, as trees; the traffic is summarised further down)")
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
    print("\n== the app's metrics (OTLP) ==")
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
        print(f"- {name:<46} {label:<28} count={int(count):<4} sum={total:.3f} {'' if 'token' in name else 's'}")


# --- the traffic: checkpoints, alerts, quality -----------------------------------------------------------

@dataclass
class Traffic:
    """What the demo saw while the app served traffic."""

    samples: list[Sample]
    replies_ns: list[int]
    """When the demo let the app go on after each checkpoint (batch ``i`` runs after ``replies_ns[i]``)."""

    def batch_of(self, time_ns: int) -> int:
        """The batch (1-based) running at ``time_ns``; 0 = before the traffic. After the last checkpoint the
        app sends nothing more, so later times (a late delivery) count as the last batch."""
        return min(bisect.bisect_right(self.replies_ns, time_ns), max(0, len(self.replies_ns) - 1))


def _run_app(env: dict[str, str], processor: ProcessorProcess) -> tuple[int, Traffic]:
    """Run the sample app, echo its output and take a scrape at each of its checkpoints."""
    app = subprocess.Popen([sys.executable, str(ROOT / "deploy" / "demo" / "sample_app.py"), "--checkpoints",
                            "--baseline-calls", str(BASELINE_CALLS), "--shifted-calls", str(SHIFTED_CALLS),
                            "--eu-amount-factor", str(EU_AMOUNT_FACTOR), "--batch", str(BATCH)],
                           env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    watchdog = threading.Timer(DEADLINE_S, app.kill)
    watchdog.start()
    traffic = Traffic([], [])
    assert app.stdin is not None
    assert app.stdout is not None
    try:
        for line in app.stdout:
            if not line.startswith(CHECKPOINT):
                print(line, end="", flush=True)
                continue
            info = json.loads(line[len(CHECKPOINT):])
            metrics = _wait_drained(processor)
            sample = Sample(int(info["calls"]), str(info["phase"]), {t.label: _reading(metrics, t) for t in TRACKED})
            if not traffic.samples:
                print(f"\n== live traffic: {CALLS} calls; /metrics scraped every {BATCH}: driftline_drift_score "
                      "(psi of the last window) vs driftline_drift_threshold; * = driftline_drift_detected ==")
                print(f"{'calls':>6}  {'phase':<8}  " + "  ".join(f"{t.label:<17}" for t in TRACKED))
            else:
                print(f"{sample.calls:>6}  {sample.phase:<8}  "
                      + "  ".join(_cell(sample.readings[t.label]) for t in TRACKED), flush=True)
            traffic.samples.append(sample)
            traffic.replies_ns.append(time.time_ns())
            app.stdin.write("\n")
            app.stdin.flush()
        return app.wait(), traffic
    finally:
        watchdog.cancel()
        if app.poll() is None:
            app.kill()
            app.wait()


def _labels(alert: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in alert.get("labels", {}).items()}


def _expected_alerts(alerts: list[dict[str, Any]]) -> bool:
    seen = {(_labels(a).get("alertname"), _labels(a).get("segment")) for a in alerts if a.get("status") == "firing"}
    return ("feature-drift", f"{REGION}=eu") in seen and any(rule == "llm-finish-reasons" for rule, _ in seen)


def _condition(alert: Mapping[str, Any]) -> str:
    """``drift.detected=1 > 0.5`` for a firing alert; the rule's condition no longer holding for a resolved one."""
    notes = alert.get("annotations", {})
    value, threshold = float(notes.get("value", 0)), float(notes.get("threshold", 0))
    relation = ">" if alert.get("status") == "firing" else "no longer >"
    return f"{notes.get('metric', '')}={value:g} {relation} {threshold:g}"


def _alert_rows(alerts: list[dict[str, Any]], traffic: Traffic) -> list[report.AlertRow]:
    rows = []
    last = traffic.samples[-1] if traffic.samples else None
    for alert in alerts:
        labels = _labels(alert)
        notes = alert.get("annotations", {})
        segment = labels.get("segment", "")
        tracked = next((t for t in TRACKED if (t.model, t.signal, t.segment) ==
                        (labels.get("model"), labels.get("signal"), segment)), None)
        statistic = f"{labels.get('method', '')} threshold {float(notes.get('statistic_threshold', math.nan)):.3f}"
        batch = traffic.batch_of(int(alert["received_ns"]))
        # the scrape that closed the batch the alert arrived in (else the last one)
        sample = traffic.samples[batch] if batch < len(traffic.samples) else last
        reading = sample.readings.get(tracked.label) if sample is not None and tracked is not None else None
        if reading is not None:
            statistic = reading.explain()
        rows.append(report.AlertRow(
            rule=labels.get("alertname", ""), state=str(alert.get("status", "")), severity=labels.get("severity", ""),
            model=f"{labels.get('model', '')} {labels.get('version', '')}".strip(), signal=labels.get("signal", ""),
            segment=segment, condition=_condition(alert),
            statistic=statistic, trace_ids=list(notes.get("trace_ids", [])),
            arrived=f"calls {(batch - 1) * BATCH + 1}-{batch * BATCH}" if batch else "before the traffic"))
    return rows


def _print_alerts(rows: list[report.AlertRow], final: Sample | None) -> None:
    print(f"\n== alerts received by the demo's webhook ({len(rows)}) ==")
    for row in rows:
        print(f"- {row.state.upper()} {row.severity} {row.rule}: model={row.model} signal={row.signal} "
              f"segment={row.segment or '(all)'}  arrived during {row.arrived}")
        print(f"    {row.condition};  {row.statistic}")
        print(f"    example traces: {' '.join(row.trace_ids) or '-'}")
    if final is not None:
        for tracked in TRACKED[:2]:
            reading = final.readings.get(tracked.label)
            if reading is not None:
                verdict = "drift flagged" if reading.detected else "no drift flagged, no alert"
                print(f"  {tracked.signal} {tracked.segment}: psi {reading.score:.3f} vs threshold "
                      f"{reading.threshold:.3f} at the end -> {verdict}")


def _truncation(spans: list[tuple[str, Any]], traffic: Traffic) -> list[float | None]:
    """Per traffic batch: the share of the LLM notes whose finish reason is ``length`` (from the spans)."""
    totals: Counter[int] = Counter()
    cut: Counter[int] = Counter()
    for _, span in spans:
        attrs = span_attributes(span)
        if attrs.get(names.GEN_AI_REQUEST_MODEL) != NOTES_MODEL:
            continue
        batch = traffic.batch_of(span.start_time_unix_nano)
        if batch == 0:
            continue
        totals[batch] += 1
        cut[batch] += TRUNCATED in (attrs.get(names.GEN_AI_RESPONSE_FINISH_REASONS) or [])
    batches = CALLS // BATCH
    return [cut[b] / totals[b] if totals[b] else None for b in range(1, batches + 1)]


# --- the report ----------------------------------------------------------------------------------------

def _series(traffic: Traffic, tracked: Tracked) -> list[report.Series]:
    readings = [(float(s.calls), s.readings.get(tracked.label)) for s in traffic.samples]
    return [report.Series(f"{tracked.label} psi", [(x, r.score if r else None) for x, r in readings], tracked.color),
            report.Series(f"{tracked.label} threshold", [(x, r.threshold if r else None) for x, r in readings],
                          tracked.color, dashed=True)]


def _write_report(path: Path, *, state_path: Path, traffic: Traffic, rows: list[report.AlertRow],
                  truncation: list[float | None], summary: list[str], config: str) -> None:
    state = report.load_drift_state(state_path)
    histograms = [h for h in (
        report.histogram_from_state(state, model=FRAUD_MODEL, signal=AMOUNT, segment=f"{REGION}=eu", color=EU,
                                    title="feature.amount, region=eu",
                                    caption="EU amounts in the last window sit in the reference's top bins."),
        report.histogram_from_state(state, model=FRAUD_MODEL, signal=AMOUNT, segment=f"{REGION}=us", color=US,
                                    title="feature.amount, region=us",
                                    caption="US amounts in the last window look like the reference."),
        report.histogram_from_state(state, model=NOTES_MODEL, signal=FINISH_REASONS, segment="", color=NOTES,
                                    title=f"{FINISH_REASONS}, {NOTES_MODEL}",
                                    caption="Finish reasons of the LLM notes: far more 'length' (truncated)."),
    ) if h is not None]
    shade_from, shade_label = float(BASELINE_CALLS), f"phase B: EU amounts x{EU_AMOUNT_FACTOR:g}, more truncation"
    lines = [
        report.LineChart("Drift score of feature.amount per region (PSI)",
                         [*_series(traffic, TRACKED[0]), *_series(traffic, TRACKED[1])], "traffic calls", "PSI",
                         shade_from, shade_label,
                         caption="Dashed: each segment's calibrated threshold. A segment's score appears once its "
                                 "reference (300 values) is frozen and a window of 100 closed."),
        report.LineChart(f"Drift score of {FINISH_REASONS} ({NOTES_MODEL})", _series(traffic, TRACKED[3]),
                         "traffic calls", "PSI", shade_from, shade_label, caption="Dashed: the calibrated threshold."),
    ]
    batches = len(truncation)
    split = BASELINE_CALLS // BATCH
    phase_a = [v for v in truncation[:split] if v is not None]
    bars = [report.BarChart(
        "Truncated LLM notes per batch (finish_reason = length)", [str((i + 1) * BATCH) for i in range(batches)],
        truncation, [ALL if i < split else NOTES for i in range(batches)], f"traffic calls (batches of {BATCH})",
        "truncated share", reference=sum(phase_a) / len(phase_a) if phase_a else None,
        reference_label="phase A average", legend=(("phase A", ALL), ("phase B", NOTES)),
        caption="Computed from the chat spans the processor stored (gen_ai.response.finish_reasons).")]
    page = report.render_report(report.ReportData(
        title="Driftline demo: drift and quality on the live span stream", summary=summary, alerts=rows,
        histograms=histograms, lines=lines, bars=bars, config=config,
        footer=(f"Drift state: {state_path}", "Generated by deploy/demo/run.py (make demo).")))
    path.write_text(page, encoding="utf-8")


def _print_processor_errors(log: list[str], path: Path) -> None:
    """Point at errors the processor logged (each with its exception's last line): the demo's results
    are only as good as the analysis that produced them."""
    errors: list[str] = []
    for i, line in enumerate(log):
        if " ERROR " not in line:
            continue
        block = [line]
        for more in log[i + 1:]:
            if re.match(r"\d{4}-\d\d-\d\d ", more):
                break
            block.append(more)
        errors.append(line + ("\n    " + block[-1].strip() if len(block) > 1 else ""))
    if errors:
        print(f"\n!! the processor logged {len(errors)} error(s) ({path}); the first:\n{errors[0]}")


# --- main ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    """Run the demo; return the app's exit code (or the processor's, or 1 when the expected alerts are missing)."""
    parser = argparse.ArgumentParser(description="Driftline's product demo (make demo).")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="scratch directory, kept afterwards (default: a new driftline-demo-* temp directory)")
    args = parser.parse_args(argv)
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="driftline-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "driftline-data"
    started = time.monotonic()
    with AlertReceiver() as webhook, OTLPSink() as sink:
        provider, port = _start_provider(workdir)
        config = demo_config(webhook.url)
        processor = start_processor(config, workdir, name="demo-processor")
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
                "PYTHONUNBUFFERED": "1",
            })
            print(f"scratch directory (kept): {workdir}")
            print(f"$ driftline processor --config {workdir / 'demo-processor.yaml'}   (listening on "
                  f"{processor.grpc_target} gRPC, {processor.http_url}; alerts to {webhook.url})")
            print("\n".join("  | " + line for line in config.rstrip().splitlines()))
            print(f"$ DRIFTLINE_AUTO_INSTRUMENT=true python deploy/demo/sample_app.py   "
                  f"(fake provider on 127.0.0.1:{port}, spans to the processor)\n")
            code, traffic = _run_app(env, processor)
            got_alerts = webhook.wait_for(_expected_alerts, timeout=30.0)
            final_metrics = _wait_drained(processor)
            _print_self_metrics(final_metrics)
            processor.signal(signal.SIGTERM)   # graceful: drains its queue into the file, saves state, sends alerts
            stopped = processor.wait(60)
        finally:
            provider.terminate()
            provider.wait(timeout=10)
            if processor.process.poll() is None:
                processor.process.kill()
                processor.wait(10)
        alerts = list(webhook.alerts)   # complete: the processor delivered its queue before exiting
        (data / "processor.log").write_text("\n".join(processor.log) + "\n", encoding="utf-8")

    spans_file = data / "spans.jsonl"
    spans = _file_spans(spans_file)
    start = traffic.replies_ns[0] if traffic.replies_ns else math.inf
    showcase = [(service, span) for service, span in spans if span.start_time_unix_nano < start]
    traffic_spans = [span for _, span in spans if span.start_time_unix_nano >= start]
    _print_traces(showcase, len(spans), spans_file)

    kinds = Counter(span.name for span in traffic_spans)
    regions = Counter(str(span_attributes(span).get(REGION)) for span in traffic_spans
                      if span_attributes(span).get(names.ML_MODEL_NAME) == FRAUD_MODEL)
    enriched = [span_attributes(span) for _, span in spans if span_attributes(span).get(names.DRIFTLINE_DRIFT_DETECTED)]
    flagged_signals = sorted({s for attrs in enriched for s in attrs.get(names.DRIFTLINE_DRIFT_SIGNALS) or []})
    print(f"\n== the traffic: {len(traffic_spans)} spans, one trace each ==")
    for name, count in sorted(kinds.items()):
        print(f"- {count:>5} x {name}")
    print(f"  {REGION}: " + ", ".join(f"{k}={v}" for k, v in sorted(regions.items())))
    print(f"  enrich: {len(enriched)} spans carry {names.DRIFTLINE_DRIFT_DETECTED}=true "
          f"({names.DRIFTLINE_DRIFT_SIGNALS}: {', '.join(flagged_signals) or '-'})")

    truncation = _truncation(spans, traffic)
    print("\n== quality: share of LLM notes truncated (finish_reason=length) per batch, from the spans ==")
    print("  " + "  ".join(f"{(i + 1) * BATCH}:{'-' if v is None else f'{v:.0%}'}" for i, v in enumerate(truncation)))

    rows = _alert_rows(alerts, traffic)
    final = traffic.samples[-1] if traffic.samples else None
    _print_alerts(rows, final)
    _print_metrics(sink)

    (data / "alerts.json").write_text(json.dumps(alerts, indent=2), encoding="utf-8")
    split = BASELINE_CALLS // BATCH
    a_share = [v for v in truncation[:split] if v is not None]
    b_share = [v for v in truncation[split:] if v is not None]
    summary = [
        f"{CALLS} transactions scored one at a time by {FRAUD_MODEL} (region eu/us alternating) and "
        f"{CALLS} LLM notes by {NOTES_MODEL}; phase B (from call {BASELINE_CALLS + 1}): "
        f"EU amounts x{EU_AMOUNT_FACTOR:g}, US unchanged.",
        *(f"{t.signal} {t.segment or '(all)'}: psi {r.score:.3f} vs threshold {r.threshold:.3f} at the end, "
          f"{'drift flagged' if r.detected else 'not flagged'}"
          for t in TRACKED if final is not None and (r := final.readings.get(t.label)) is not None),
        f"Truncated LLM notes: {sum(a_share) / max(1, len(a_share)):.0%} per batch in phase A, "
        f"{sum(b_share) / max(1, len(b_share)):.0%} in phase B.",
        f"{len(rows)} alert(s) received by the webhook; {len(enriched)} spans enriched with "
        f"{names.DRIFTLINE_DRIFT_DETECTED}.",
    ]
    report_path = data / "report.html"
    _write_report(report_path, state_path=data / "drift-state.sqlite", traffic=traffic, rows=rows,
                  truncation=truncation, summary=summary, config=config)
    print("\n== results ==")
    print(f"- report : {report_path}   (open it in a browser)")
    print(f"- alerts : {data / 'alerts.json'}")
    print(f"- spans  : {spans_file}")
    print(f"- state  : {data / 'drift-state.sqlite'}")
    print(f"- log    : {data / 'processor.log'}")
    _print_processor_errors(processor.log, data / "processor.log")
    print(f"demo finished in {time.monotonic() - started:.1f} s")
    if not got_alerts:
        print("the expected alerts (feature-drift for region=eu, llm-finish-reasons) did not arrive", file=sys.stderr)
    return code or stopped or (0 if got_alerts else 1)


if __name__ == "__main__":
    sys.exit(main())
