"""Zero-code activation, exercised the way a user gets it: driftline installed from its wheel.

The ``.pth`` file that makes ``DRIFTLINE_AUTO_INSTRUMENT=true python app.py`` work ships only in
the built wheel (an editable install has none), so this module builds the wheel once, unpacks it
into a scratch virtualenv whose dependencies come from the dev virtualenv (a path line in a
``.pth``), and runs small apps there as real subprocesses. Telemetry leaves them over OTLP/HTTP
to an in-test receiver on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftline.semconv import names
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.otlp_sink import OTLPSink, span_attributes

ROOT = Path(__file__).resolve().parents[2]

APP = textwrap.dedent("""
    import os, sys
    import openai, anthropic
    from openai.resources.chat.completions.completions import Completions
    base = os.environ["FAKE_BASE"]
    client = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    claude = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
    message = claude.messages.create(model="claude-test", max_tokens=32,
                                      messages=[{"role": "user", "content": "hi"}])
    print("REPLY", reply.choices[0].message.content, "|", message.content[0].text)
    print("PATCHED", type(Completions.__dict__["create"]).__name__ == "FunctionWrapper")
""")

OWN_PROVIDER_APP = textwrap.dedent("""
    import os
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    import openai
    client = openai.OpenAI(base_url=os.environ["FAKE_BASE"] + "/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("OWN", [s.name for s in exporter.get_finished_spans()])
""")


@pytest.fixture(scope="module")
def scratch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with driftline installed from its wheel; returns its python."""
    work = tmp_path_factory.mktemp("auto")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "-w", str(work / "dist"), str(ROOT)],
                   check=True, timeout=300, cwd=work)
    wheel = next((work / "dist").glob("driftline-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        assert "driftline-auto.pth" in zf.namelist(), "the wheel must carry the activation .pth"
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    with zipfile.ZipFile(wheel) as zf:  # what an installer does for a pure wheel
        zf.extractall(site)
    # Dependencies (openai, opentelemetry, ...) come from the dev virtualenv; a plain path line
    # does not run that directory's own .pth files, so the editable driftline stays out.
    (site / "00-driftline-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.fixture
def sink() -> Iterator[OTLPSink]:
    with OTLPSink() as receiver:
        yield receiver


def _run(python: Path, script: str, env: dict[str, str], fake: FakeLLMServer, tmp_path: Path,
         argv_prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(script)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    full_env = {**clean, "FAKE_BASE": f"http://127.0.0.1:{fake.port}", **env}
    cmd = [*(argv_prefix or []), str(python), str(app)]
    result = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result


def _otlp_env(sink: OTLPSink) -> dict[str, str]:
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint, "OTEL_SERVICE_NAME": "auto-test",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000"}


def test_env_var_instruments_without_code_change(scratch_python: Path, sink: OTLPSink, fake_llm: FakeLLMServer,
                                                 tmp_path: Path) -> None:
    result = _run(scratch_python, APP, {names.ENV_AUTO_INSTRUMENT: "true", **_otlp_env(sink)}, fake_llm, tmp_path)
    assert "REPLY Hello from the fake provider. | Hello from the fake provider." in result.stdout
    assert "PATCHED True" in result.stdout
    spans = sink.spans()
    by_scope = sorted((scope, span.name) for _, scope, span in spans)
    # Exactly one span per call: the anthropic SDK's native span is switched off.
    assert by_scope == [("driftline.instrumentation.anthropic", "chat claude-test"),
                        ("driftline.instrumentation.openai", "chat gpt-4o")]
    resource, _, openai_span = next(s for s in spans if s[1] == "driftline.instrumentation.openai")
    assert resource["service.name"] == "auto-test"
    attrs = span_attributes(openai_span)
    assert attrs[names.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert {names.GEN_AI_CLIENT_OPERATION_DURATION, names.GEN_AI_CLIENT_TOKEN_USAGE} <= sink.metric_names()


def test_unset_variable_changes_nothing(scratch_python: Path, sink: OTLPSink, fake_llm: FakeLLMServer,
                                        tmp_path: Path) -> None:
    result = _run(scratch_python, APP, _otlp_env(sink), fake_llm, tmp_path)
    assert "PATCHED False" in result.stdout
    assert sink.spans() == []


def test_sdk_disabled_is_honoured(scratch_python: Path, sink: OTLPSink, fake_llm: FakeLLMServer,
                                  tmp_path: Path) -> None:
    env = {names.ENV_AUTO_INSTRUMENT: "true", names.ENV_SDK_DISABLED: "true", **_otlp_env(sink)}
    result = _run(scratch_python, APP, env, fake_llm, tmp_path)
    assert "PATCHED False" in result.stdout
    assert sink.spans() == []


def test_disabled_instrumentations_are_skipped(scratch_python: Path, sink: OTLPSink, fake_llm: FakeLLMServer,
                                               tmp_path: Path) -> None:
    env = {names.ENV_AUTO_INSTRUMENT: "true", names.ENV_DISABLED_INSTRUMENTATIONS: "driftline_openai",
           **_otlp_env(sink)}
    result = _run(scratch_python, APP, env, fake_llm, tmp_path)
    assert "PATCHED False" in result.stdout
    assert [(scope, span.name) for _, scope, span in sink.spans()] == [
        ("driftline.instrumentation.anthropic", "chat claude-test")]


def test_application_tracer_provider_is_kept(scratch_python: Path, sink: OTLPSink, fake_llm: FakeLLMServer,
                                             tmp_path: Path) -> None:
    env = {names.ENV_AUTO_INSTRUMENT: "true", **_otlp_env(sink)}
    result = _run(scratch_python, OWN_PROVIDER_APP, env, fake_llm, tmp_path)
    assert "OWN ['chat gpt-4o']" in result.stdout
    assert sink.spans() == [], "driftline must not install a second provider over the app's"


def test_opentelemetry_instrument_wrapper_works(sink: OTLPSink, fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    wrapper = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {**_otlp_env(sink), "OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    result = _run(Path(sys.executable), APP, env, fake_llm, tmp_path, argv_prefix=[str(wrapper)])
    assert "PATCHED True" in result.stdout
    names_seen = sorted(span.name for _, scope, span in sink.spans() if scope.startswith("driftline."))
    assert names_seen == ["chat claude-test", "chat gpt-4o"]
