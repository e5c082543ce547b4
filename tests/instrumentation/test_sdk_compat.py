"""The instrumentation keeps working on the previous SDK majors (openai 1.x/2.x, anthropic 0.x/1.x).

Each version set is pip-installed (with its own dependencies: httpx instead of httpx2, ...) into a
target folder that goes first on ``PYTHONPATH``; ``compat_app.py`` then runs every covered call
against the fake provider in a subprocess. The folders are cached under ``.venv/`` between runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.semconv import names
from tests.fakes.llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parents[2]
VERSION_SETS = [("openai==2.54.0", "anthropic==1.17.0"), ("openai==1.109.1", "anthropic==0.125.0")]


def _target(pins: tuple[str, ...]) -> Path:
    folder = ROOT / ".venv" / ("compat-" + "-".join(p.replace("==", "") for p in pins))
    if not (folder / ".ok").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(folder), "--upgrade", *pins], check=True, timeout=600)
        (folder / ".ok").write_text("ok")
    return folder


@pytest.mark.parametrize("pins", VERSION_SETS, ids=["-".join(p) for p in VERSION_SETS])
def test_previous_sdk_majors(pins: tuple[str, ...], fake_llm: FakeLLMServer) -> None:
    target = _target(pins)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}
    env = {k: v for k, v in env.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "instrumentation" / "compat_app.py"),
                          f"http://127.0.0.1:{fake_llm.port}"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert [report["openai"], report["anthropic"]] == [p.split("==")[1] for p in pins]
    calls = report["calls"]
    expected_names = {"chat": "chat gpt-4o", "chat_stream": "chat gpt-4o", "responses": "chat gpt-4o",
                      "responses_stream": "chat gpt-4o", "embeddings": "embeddings text-embedding-3-small",
                      "async_chat": "chat gpt-4o", "anthropic": "chat claude-test",
                      "anthropic_stream_helper": "chat claude-test"}
    for label, name in expected_names.items():
        spans = calls[label]
        assert [s["name"] for s in spans] == [name], (label, spans)
        attrs = spans[0]
        assert attrs[names.GEN_AI_RESPONSE_MODEL].endswith("-2025-01-01"), (label, attrs)
        assert attrs[names.GEN_AI_USAGE_INPUT_TOKENS] >= 1, (label, attrs)
    assert calls["chat_stream"][0][names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert calls["chat_stream"][0][names.DRIFTLINE_STREAM_END_REASON] == "completed"
    assert calls["anthropic_stream_helper"][0][names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
