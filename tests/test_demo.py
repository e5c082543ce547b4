"""``make demo`` keeps working: the sample app runs unmodified under zero-code activation, exports its
spans to the driftline processor (embedded default), and the demo prints the processor's own metrics,
the spans read back from the processor's file and the app's metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (Path(sysconfig.get_paths()["purelib"]) / "driftline-auto.pth").exists(),
                    reason="the dev virtualenv lacks driftline-auto.pth (run `make venv`)")
def test_demo_prints_spans_and_metrics() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    result = subprocess.run([sys.executable, str(ROOT / "deploy" / "demo" / "run.py")], env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # 6 LLM spans, 2 predictions, 3 feedback spans, and the agent turn: agent, 2 chats, 2 tools and the
    # MCP session (initialize, tools/list and the server's spans for them and for the tool call)
    total = 22
    assert f"== {total} spans received over OTLP by the processor, read back from spans.jsonl ==" in out
    assert f"- driftline_receiver_accepted_spans_total{{receiver=otlp,transport=http}} {total}" in out
    assert f"- driftline_exporter_sent_spans_total{{exporter=file}} {total}" in out
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
