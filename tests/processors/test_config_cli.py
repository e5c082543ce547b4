"""``driftline processor --check / --print-default-config`` and ``python -m driftline.processors``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from driftline.processors.cli import main
from driftline.processors.config import DEFAULT_CONFIG_YAML, default_config, parse_config

VALID = {
    "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {}}}},
    "exporters": {"file": {"path": "./driftline-data/spans.jsonl"}, "debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file", "debug"]}}},
}
INVALID = {
    "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "4317"}}}},
    "exporters": {"otlp": {"endpoint": "jaeger:4317", "timeout": "5 s"}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp", "file"]}}},
}
INVALID_PROBLEMS = [
    'receivers.otlp.protocols.grpc.endpoint: "4317" has no port; use host:port, e.g. 127.0.0.1:4317',
    'exporters.otlp.timeout: "5 s" is not a duration; use e.g. 200ms, 5s, 1m',
    'service.pipelines.traces.exporters[1]: "file" is not defined under exporters; '
    "define it under exporters, or use one of: otlp",
]


@pytest.fixture
def valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(VALID))
    return path


@pytest.fixture
def invalid_file(tmp_path: Path) -> Path:
    path = tmp_path / "invalid.yaml"
    path.write_text(yaml.safe_dump(INVALID))
    return path


def test_check_a_valid_file(valid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processor", "--check", str(valid_file)]) == 0
    out, err = capsys.readouterr()
    assert out == "config OK: 1 receiver, 2 exporters, pipelines: traces\n"
    assert err == (
        'warning: receivers.otlp.protocols.grpc.endpoint: "0.0.0.0:4317" listens on every network interface, so '
        "anyone who can reach this machine can connect; use 127.0.0.1 unless that is intended (and then consider "
        "tls and auth)\n")


def test_check_an_invalid_file_prints_every_problem(invalid_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processor", "--check", str(invalid_file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"invalid configuration in {invalid_file} (3 problems):",
                                *(f"  {problem}" for problem in INVALID_PROBLEMS)]


def test_check_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processor", "--check", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read the file: No such file or directory" in capsys.readouterr().err


def test_print_default_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processor", "--print-default-config"]) == 0
    printed = capsys.readouterr().out
    assert printed == DEFAULT_CONFIG_YAML
    assert parse_config(printed, environ={}) == default_config()


def test_run_reports_a_bad_config_before_starting(valid_file: Path, invalid_file: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["processor", "--config", str(invalid_file)]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [f"  {problem}" for problem in INVALID_PROBLEMS]
    assert main(["processor", "--config", str(valid_file), "--shutdown-timeout", "soon"]) == 2
    assert capsys.readouterr().err == ("driftline processor: --shutdown-timeout 'soon': 'soon' is not a duration; "
                                       "use a number with a unit, e.g. 15s or 1m30s\n")


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: driftline [-h] <command> ..." in capsys.readouterr().err
    assert main(["processor", "--check"]) == 2
    assert "argument --check: expected one argument" in capsys.readouterr().err
    assert main(["processor", "--check", "a.yaml", "--print-default-config"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert main(["--help"]) == 0
    assert "processor" in capsys.readouterr().out


def test_python_dash_m(invalid_file: Path, valid_file: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "driftline.processors", "--check", str(valid_file)],
                        capture_output=True, text=True, timeout=60, check=False)
    assert (ok.returncode, ok.stdout) == (0, "config OK: 1 receiver, 2 exporters, pipelines: traces\n")
    bad = subprocess.run([sys.executable, "-m", "driftline.processors", "--check", str(invalid_file)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[1:] == [f"  {problem}" for problem in INVALID_PROBLEMS]


def test_missing_processor_dependencies_are_named(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "driftline.processors.config", None)  # as if PyYAML were not installed
    assert main(["processor", "--check", "x.yaml"]) == 2
    assert capsys.readouterr().err == (
        "driftline processor: driftline.processors.config is missing; install the processor with "
        "pip install 'driftline[processor]'\n")
