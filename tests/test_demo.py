"""``make demo`` keeps working and shows the product: the sample app runs unmodified under zero-code
activation and exports its spans to the driftline processor; the demo prints the showcase traces, the
processor's own metrics and the app's metrics; then live traffic with a feature shift in one segment
(region=eu) and more truncated LLM answers is caught by the processor's drift analysis, which alerts
the demo's webhook, and the demo writes an HTML report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from driftline.processors.otlp.json_codec import decode_trace_request

ROOT = Path(__file__).resolve().parents[1]

SHOWCASE_SPANS = 22
"""6 LLM spans, 2 predictions, 3 feedback spans, and the agent turn: agent, 2 chats, 2 tools and the MCP
session (initialize, tools/list and the server's spans for them and for the tool call)."""
TRAFFIC_CALLS = 800 + 600
"""Phase A and phase B transactions (deploy/demo/run.py): each one predict span and one chat span."""
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _trace_ids(spans_file: Path) -> set[str]:
    ids: set[str] = set()
    for line in spans_file.read_text(encoding="utf-8").splitlines():
        request = decode_trace_request(line)
        ids |= {span.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    return ids


def _row(out: str, calls: int) -> str:
    """The live-traffic table's row for ``calls``."""
    return next(line for line in out.splitlines() if re.match(rf"\s*{calls}\s+(baseline|shifted)\s", line))


def _cells(row: str) -> list[tuple[float, float, bool]]:
    """``(psi, threshold, flagged)`` of every cell of a table row that has a reading."""
    return [(float(score), float(threshold), bool(star))
            for score, threshold, star in re.findall(r"(\d+\.\d+) vs (\d+\.\d+)( \*)?", row)]


@pytest.mark.timeout(300)
@pytest.mark.skipif(not (Path(sysconfig.get_paths()["purelib"]) / "driftline-auto.pth").exists(),
                    reason="the dev virtualenv lacks driftline-auto.pth (run `make venv`)")
def test_demo_prints_spans_metrics_drift_and_alerts(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "demo" / "run.py"), "--workdir", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    total = SHOWCASE_SPANS + 2 * TRAFFIC_CALLS
    assert f"== {total} spans received over OTLP by the processor, read back from spans.jsonl ==" in out
    assert f"- driftline_receiver_accepted_spans_total{{receiver=otlp,transport=http}} {total}" in out
    assert f"- driftline_exporter_sent_spans_total{{exporter=file}} {total}" in out

    # the showcase, printed as trees (the traffic is only summarised)
    for line in ("- chat gpt-4o-mini", "- embeddings text-embedding-3-small", "- chat claude-sonnet-4-5"):
        assert line in out
    assert "response.finish_reasons=[tool_calls]" in out
    assert "team=support" in out
    assert "content.redacted=1" in out
    assert "[REDACTED:email]" in out
    assert "jane.doe@example.com" not in out
    assert "gen_ai.client.operation.time_to_first_chunk" in out
    # the fraud model: two predictions (one live, one 500-row batch sampled to 32 rows) and 3 labels
    assert out.count("- predict fraud-detector") == 2
    assert "model.method=predict  batch.size=500  batch.recorded_rows=32" in out
    assert out.count("- feedback fraud-detector") == 3
    # the agent turn: one trace, the local tool with the model's call id, the MCP tool continued
    # by the other process's server span
    lines = out.splitlines()
    agent = next(i for i, line in enumerate(lines) if line.startswith("- invoke_agent dispute-assistant"))
    turn = "\n".join(lines[agent:agent + 40])
    assert "  - execute_tool lookup_transaction" in turn
    assert "tool.name=lookup_transaction  tool.call.id=call_" in turn
    assert "  - execute_tool card_risk" in turn
    assert "    - tools/call card_risk" in turn
    assert "[risk-tools]" in turn
    assert "agent     : T-1001 looks like fraud" in out

    # the traffic: one predict and one chat span per call, half of the predictions in each region
    assert f"- {TRAFFIC_CALLS:>5} x predict fraud-detector" in out
    assert f"- {TRAFFIC_CALLS:>5} x chat gpt-4o-mini" in out
    assert f"region: eu={TRAFFIC_CALLS // 2}, us={TRAFFIC_CALLS // 2}" in out

    # drift over time (/metrics scraped every 100 calls): columns amount eu, amount us, amount (all),
    # finish reasons. At the end of phase A nothing is flagged; at the end of phase B the EU amount and the
    # finish reasons are far over their thresholds, the US amount under it. (The all-traffic amount is left
    # out: its reference includes the showcase's randomly sampled batch rows.)
    end_a = _cells(_row(out, 800))
    assert len(end_a) == 4
    assert not any(flagged for i, (_, _, flagged) in enumerate(end_a) if i != 2)
    eu, us, _, finish = _cells(_row(out, TRAFFIC_CALLS))
    assert eu[0] > 2 * eu[1]
    assert eu[2]
    assert us[0] < us[1]
    assert not us[2]
    assert finish[0] > 2 * finish[1]
    assert finish[2]
    assert re.search(r"feature\.amount region=us: psi \d\.\d+ vs threshold \d\.\d+ at the end -> no drift flagged",
                     out)

    # quality: truncated LLM answers per batch of 100, from the stored spans: few in phase A, many in phase B
    quality = out.split("per batch, from the spans ==\n", 1)[1].splitlines()[0]
    shares = [int(share) for share in re.findall(r"\d+:(\d+)%", quality)]
    assert len(shares) == TRAFFIC_CALLS // 100
    assert max(shares[:8]) <= 10
    assert min(shares[8:]) >= 20

    # alerts, as the processor POSTed them to the demo's webhook
    data = tmp_path / "driftline-data"
    alerts: list[dict[str, Any]] = json.loads((data / "alerts.json").read_text())
    firing = [a for a in alerts if a["status"] == "firing"]
    feature = [a for a in firing if a["labels"]["alertname"] == "feature-drift"]
    eu_alerts = [a for a in feature if a["labels"]["segment"] == "region=eu"]
    assert eu_alerts, alerts
    assert {a["labels"]["signal"] for a in eu_alerts} == {"feature.amount"}
    assert {a["labels"]["model"] for a in feature} == {"fraud-detector"}
    assert not [a for a in alerts if a["labels"].get("segment") == "region=us"], alerts
    finish_alerts = [a for a in firing if a["labels"]["alertname"] == "llm-finish-reasons"]
    assert finish_alerts, alerts
    assert {a["labels"]["signal"] for a in finish_alerts} == {"gen_ai.response.finish_reasons"}
    assert {a["labels"]["model"] for a in finish_alerts} == {"gpt-4o-mini"}
    for alert in eu_alerts + finish_alerts:
        notes = alert["annotations"]
        assert (notes["metric"], notes["value"], notes["threshold"]) == ("drift.detected", 1.0, 0.5)
        assert 0 < notes["statistic_threshold"] < 1
    # their example trace ids are spans the processor stored
    stored = _trace_ids(data / "spans.jsonl")
    example_ids = [t for a in alerts for t in a["annotations"]["trace_ids"]]
    assert example_ids
    assert all(_HEX32.fullmatch(t) for t in example_ids)
    assert set(example_ids) <= stored
    assert f"== alerts received by the demo's webhook ({len(alerts)}) ==" in out
    assert "FIRING warning feature-drift: model=fraud-detector 2026.11.1 signal=feature.amount segment=region=eu" in out
    assert "FIRING critical llm-finish-reasons: model=gpt-4o-mini signal=gen_ai.response.finish_reasons" in out

    # the report: one self-contained page, SVG charts and the alert rows with their trace ids
    report = data / "report.html"
    assert f"- report : {report}" in out
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 6   # 3 distributions, 2 drift scores over time, 1 quality over time
    for title in ("feature.amount, region=eu", "feature.amount, region=us", "Drift score of feature.amount per region",
                  "Truncated LLM notes per batch"):
        assert title in page
    assert "<script" not in page
    assert page.count("<tr class='alert'>") == len(alerts)
    assert all(t in page for t in example_ids)
