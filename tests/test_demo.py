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
    assert "== 6 spans received over OTLP by the processor, read back from spans.jsonl ==" in out
    assert "- driftline_receiver_accepted_spans_total{receiver=otlp,transport=http} 6" in out
    assert "- driftline_exporter_sent_spans_total{exporter=file} 6" in out
    for line in ("- chat gpt-4o-mini", "- embeddings text-embedding-3-small", "- chat claude-sonnet-4-5"):
        assert line in out
    assert "response.finish_reasons=[tool_calls]" in out
    assert "team=support" in out
    assert "content.redacted=1" in out
    assert "[REDACTED:email]" in out
    assert "jane.doe@example.com" not in out
    assert "gen_ai.client.operation.time_to_first_chunk" in out
