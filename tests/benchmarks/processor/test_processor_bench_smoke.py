"""Smoke tests of the processor benchmark: its pieces always, the whole run once the processor runs.

No timing assertions: a few seconds on a shared machine measure nothing; these prove that the load
generator, the sink, the floor, the report section and (when the service runs) the orchestrated
run work end to end, and that no acknowledged span goes missing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.benchmarks.processor import floor
from tests.benchmarks.processor.common import (
    SINK_FIELDS,
    SPANS_PER_REQUEST,
    Counters,
    free_ports,
    write_payloads,
)
from tests.benchmarks.processor.run_processor import (
    NOT_AVAILABLE,
    REPO,
    Child,
    PhaseResult,
    ProcessorRun,
    Settings,
    machine_info,
    probe_service,
)
from tests.benchmarks.processor.section import HEADING, render_section
from tests.benchmarks.report import splice_processor_section


@pytest.fixture(scope="module")
def payloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The benchmark's payload files, built once."""
    return write_payloads(tmp_path_factory.mktemp("payloads"))


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[tuple[int, int, Counters]]:
    """A running sink: (gRPC port, HTTP port, its counters)."""
    grpc_port, http_port = free_ports(2)
    path = tmp_path / "sink.cnt"
    child = Child("sink", [sys.executable, "-m", "tests.benchmarks.processor.sink", "--grpc-port", str(grpc_port),
                           "--http-port", str(http_port), "--counters", str(path), "--max-seconds", "60"], tmp_path,
                  capture_stdout=True)
    try:
        line = child.read_line(30)
        assert line is not None, child.stderr_tail()
        assert '"ready"' in line, child.stderr_tail()
        counters = Counters(path, SINK_FIELDS, create=False)
        yield grpc_port, http_port, counters
        counters.close()
    finally:
        child.stop(5)


@pytest.mark.parametrize(("transport", "rate"), [("grpc", 0.0), ("http-protobuf", 0.0), ("http-json", 0.0),
                                                  ("grpc", 10_000.0)])
def test_loadgen_and_sink_agree_on_every_span(transport: str, rate: float, payloads: dict[str, Path],
                                              sink: tuple[int, int, Counters], tmp_path: Path) -> None:
    """Every span the load generator counts as acknowledged was counted by the sink, and nothing failed."""
    grpc_port, http_port, counters = sink
    port = grpc_port if transport == "grpc" else http_port
    payload = payloads["json" if transport == "http-json" else "protobuf"]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.processor.loadgen", "--transport", transport,
         "--target", f"127.0.0.1:{port}", "--payloads", str(payload),
         "--counters", str(tmp_path / "lg.cnt"), "--rate", str(rate), "--concurrency", "2", "--max-seconds", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["acked_spans"] > 0
    assert summary["acked_spans"] == summary["acked_requests"] * SPANS_PER_REQUEST
    assert summary["refused_requests"] == summary["errors"] == 0
    if rate:  # paced: about rate × 1 s (first request at t=0), never a burst far above it
        assert summary["acked_spans"] <= rate * 1.0 + 2 * SPANS_PER_REQUEST
    assert counters.read()["spans"] == summary["acked_spans"]


def test_floor_measures_both_encodings(payloads: dict[str, Path]) -> None:
    """The floor reports a positive rate and CPU cost for protobuf and OTLP/JSON."""
    result = floor.measure(payloads, seconds=0.4, rounds=2)
    for kind in ("protobuf", "json"):
        assert result[kind]["spans_per_s"] > 0
        assert result[kind]["cpu_pct_per_10k"] > 0


def _fake_run() -> ProcessorRun:
    settings = Settings(rounds=2, transports=("grpc", "http-protobuf"))
    phases = [PhaseResult(round=r, transport=t, mode=m, target_rate=10_000.0 if m == "rate" else 0.0, window_s=10.0,
                          acked_spans_per_s=10_000.0 if m == "rate" else 150_000.0,
                          delivered_spans_per_s=10_000.0 if m == "rate" else 140_000.0, refused_spans_per_s=0.0,
                          errors=0, cpu_pct=6.0 if m == "rate" else 90.0, rss_mib_median=60.0, rss_mib_max=62.0,
                          gauge_rss_mib=61.0, loadgen_cpu_pct=2.0, sink_cpu_pct=4.0, mean_latency_ms=3.0,
                          acked_total=100 * SPANS_PER_REQUEST, delivered_total=100 * SPANS_PER_REQUEST,
                          processor_accepted_total=100 * SPANS_PER_REQUEST)
              for r in range(2) for m in ("rate", "saturation") for t in settings.transports]
    floor_result = {"protobuf": {"spans_per_s": 600_000.0, "cpu_pct_per_10k": 1.6},
                    "json": {"spans_per_s": 20_000.0, "cpu_pct_per_10k": 50.0}}
    return ProcessorRun(settings=settings, phases=phases, floor=[floor_result, floor_result],
                        machine=machine_info(), config_yaml="receivers: {}\n",
                        payload_bytes={"protobuf": 337_000.0, "json": 644_000.0}, elapsed_s=100.0)


def test_section_renders_targets_and_splices_into_the_report() -> None:
    """The section has the targets table with verdicts, and replaces (not duplicates) an existing one."""
    lines = render_section(_fake_run())
    text = "\n".join(lines)
    assert lines[0] == HEADING
    targets = [line for line in lines if line.startswith("| OTLP/gRPC | 6.0 % [6.0–6.0] |")]
    assert len(targets) == 1, text
    assert targets[0].count("**met**") == 3
    assert "140,000 [140,000–140,000]" in targets[0]
    assert "floor: protobuf" in text
    report = "# Performance\n\n## Results\n\nx\n\n## Noise\n\ny\n"
    once = splice_processor_section(report, lines)
    assert once.index(HEADING) < once.index("## Noise")
    twice = splice_processor_section(once, [HEADING, "", "replaced", ""])
    assert twice.count(HEADING) == 1
    assert "replaced" in twice
    assert "## Noise\n\ny" in twice


@pytest.mark.timeout(240)
def test_processor_benchmark_smoke(tmp_path: Path) -> None:
    """A ~15 s run of the whole benchmark against the real processor; skipped while the service is not built."""
    reason = probe_service(tmp_path)
    if reason is not None and NOT_AVAILABLE in reason:
        pytest.skip(f"the processor service is not built yet: `driftline processor --config` says: {reason}")
    assert reason is None, f"the processor does not start: {reason}"
    out = tmp_path / "result.json"
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.processor.run_processor", "--smoke",
                           "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=200, check=False)
    assert proc.returncode == 0, (proc.stdout[-1000:], proc.stderr[-3000:])
    data = json.loads(out.read_text())
    assert len(data["phases"]) == 4, data["phases"]
    for phase in data["phases"]:
        assert phase["acked_total"] > 0, phase
        assert phase["lost"] == 0, phase
        assert phase["errors"] == 0, phase
        assert phase["cpu_pct"] > 0, phase
        assert phase["rss_mib_median"] > 0, phase
        if phase["processor_accepted_total"] is not None:
            assert phase["processor_accepted_total"] == phase["acked_total"], phase
    assert HEADING in proc.stdout
    assert time.monotonic() - started < 200


def test_probe_reports_a_service_that_is_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The skip condition of the smoke test: the CLI's "not available" answer comes back as the reason."""
    from tests.benchmarks.processor import run_processor

    message = "driftline processor: the processor service is not available in this version"
    monkeypatch.setattr(run_processor, "processor_command", lambda config: [
        sys.executable, "-c", f"import sys; print({message!r}, file=sys.stderr); sys.exit(2)"])
    reason = run_processor.probe_service(tmp_path, timeout=10)
    assert reason is not None
    assert NOT_AVAILABLE in reason
