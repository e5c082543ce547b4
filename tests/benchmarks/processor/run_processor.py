"""Orchestrates the processor benchmark: sink, processor, load generator, floor; interleaved rounds.

    python -m tests.benchmarks.processor.run_processor [--rounds 5] [--json FILE] [--smoke]

Each round starts a fresh counting sink (:mod:`.sink`) and a fresh processor, launched through its
CLI (``python -m driftline.processors --config FILE``) with a generated forward-only configuration:
the ``otlp`` receiver (gRPC and HTTP) → the ``otlp`` exporter → the sink, exporter compression
``none`` as in the OpenTelemetry Collector's testbed, no processors. Then, one load generator
process (:mod:`.loadgen`) per phase, one phase at a time:

1. *fixed rate*, per transport: 10k spans/s (20 requests of 512 spans per second, paced). The
   processor is fresh, so its RSS is that of a process that has only ever seen this rate.
2. *saturation*, per transport: as fast as the processor acknowledges, 8 requests in flight.

The transport order rotates from round to round. In each phase, after a warm-up, a window of fixed
length is measured: the processor's CPU from ``/proc/<pid>/stat`` (utime + stime of all its threads
and live descendants) at the window's ends, its VmRSS from ``/proc/<pid>/status`` every 0.5 s and
its own ``driftline_process_memory_rss`` gauge at the window's end, spans acknowledged to the load
generator and spans received by the sink (both read from shared counter files, so sampling costs
the measured processes nothing). After the load stops, the orchestrator waits for the exporter's
queue to drain and checks that the sink received exactly the spans the processor acknowledged.
Before each round the floor (:mod:`.floor`) runs in its own process while nothing else does.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .common import (
    LOADGEN_FIELDS,
    MIB,
    SINK_FIELDS,
    Counters,
    free_ports,
    loadavg,
    sample,
    wait_for_port,
    write_payloads,
)

REPO = Path(__file__).resolve().parents[3]
NOT_AVAILABLE = "not available"
"""What ``driftline processor --config`` prints while the service is not built (the smoke test skips on it)."""
READY_MESSAGE = "driftline processor ready"
"""The processor logs this once every listener is bound."""

TRANSPORT_LABELS = {"grpc": "OTLP/gRPC", "http-protobuf": "OTLP/HTTP protobuf", "http-json": "OTLP/HTTP JSON"}
_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 20.0
_DRAIN_TIMEOUT_S = 60.0
_DRAIN_STALL_S = 10.0


class ServiceUnavailable(RuntimeError):
    """The processor could not be started (not built yet, or it exited); the message says why."""


@dataclass
class Settings:
    """How much to measure."""

    rounds: int = 5
    transports: tuple[str, ...] = ("grpc", "http-protobuf", "http-json")
    rate: float = 10_000.0
    """Spans/s of the fixed-rate phases."""
    rate_warmup_s: float = 5.0
    rate_window_s: float = 15.0
    saturation_warmup_s: float = 5.0
    saturation_window_s: float = 10.0
    saturation_concurrency: int = 8
    rate_concurrency: int = 4
    floor_seconds: float = 2.0
    exporter_compression: str = "none"
    gzip_variant: bool = True
    """Also measure OTLP/gRPC at the fixed rate with the exporter's ``compression: gzip`` (a second processor
    per round): the Collector's default, where its testbed (and the main measurement) uses ``none``."""
    smoke: bool = False

    @classmethod
    def smoke_settings(cls) -> Settings:
        """A ~10 s run that exercises every piece once (numbers meaningless)."""
        return cls(rounds=1, transports=("grpc", "http-protobuf"), rate_warmup_s=0.5, rate_window_s=1.5,
                   saturation_warmup_s=0.5, saturation_window_s=1.5, floor_seconds=0.4, gzip_variant=False,
                   smoke=True)


@dataclass
class PhaseResult:
    """One measured window of one phase in one round."""

    round: int
    transport: str
    mode: str
    """``rate`` or ``saturation``."""
    target_rate: float
    window_s: float
    acked_spans_per_s: float
    delivered_spans_per_s: float
    refused_spans_per_s: float
    errors: int
    cpu_pct: float
    """Processor CPU over the window, % of one core."""
    rss_mib_median: float
    rss_mib_max: float
    gauge_rss_mib: float | None
    loadgen_cpu_pct: float
    sink_cpu_pct: float
    mean_latency_ms: float | None
    acked_total: int
    """Spans acknowledged over the whole phase (warm-up included)."""
    delivered_total: int
    """Spans the sink received for this phase once the exporter drained."""
    processor_accepted_total: int | None
    """Delta of the processor's own ``driftline_receiver_accepted_spans_total`` over the phase."""
    refusals: dict[str, int] = field(default_factory=dict)
    load_before: float | None = None
    load_after: float | None = None
    exporter_compression: str = "none"
    """The ``otlp`` exporter's compression in this phase."""

    @property
    def lost(self) -> int:
        """Acknowledged spans the sink never received (negative: duplicates)."""
        return self.acked_total - self.delivered_total

    @property
    def throughput(self) -> float:
        """Spans/s both acknowledged and delivered: the lower of the two (a filling queue does not count)."""
        return min(self.acked_spans_per_s, self.delivered_spans_per_s)

    @property
    def cpu_pct_per_10k(self) -> float:
        """CPU % of one core per 10k spans/s acknowledged."""
        return self.cpu_pct * 10_000 / self.acked_spans_per_s if self.acked_spans_per_s > 0 else float("inf")


@dataclass
class ProcessorRun:
    """Everything one benchmark run measured."""

    settings: Settings
    phases: list[PhaseResult]
    floor: list[dict[str, Any]]
    """One :func:`.floor.measure` result per round."""
    machine: dict[str, str]
    config_yaml: str
    payload_bytes: dict[str, float]
    """Mean body size per encoding."""
    elapsed_s: float
    notes: list[str] = field(default_factory=list)

    def select(self, transport: str, mode: str, compression: str | None = None) -> list[PhaseResult]:
        """The phases of one transport and mode (exporter compression: the main setting's), in round order."""
        compression = compression or self.settings.exporter_compression
        return [p for p in self.phases
                if p.transport == transport and p.mode == mode and p.exporter_compression == compression]

    def floor_median(self, kind: str, key: str) -> float:
        """Median over the rounds' floors of ``key`` (``spans_per_s``/``cpu_pct_per_10k``) of ``kind``."""
        return statistics.median(float(f[kind][key]) for f in self.floor)

    def to_json(self) -> dict[str, Any]:
        """A JSON-serializable dump (the derived ``lost`` and ``cpu_pct_per_10k`` included)."""
        data = asdict(self)
        for raw, phase in zip(data["phases"], self.phases, strict=True):
            raw["lost"] = phase.lost
            raw["cpu_pct_per_10k"] = phase.cpu_pct_per_10k
            raw["throughput"] = phase.throughput
        return data


# --- processes ---------------------------------------------------------------------------------


class Child:
    """A subprocess in its own session, stopped (SIGTERM, then SIGKILL of its group) by :meth:`stop`."""

    def __init__(self, name: str, cmd: list[str], logdir: Path, *, capture_stdout: bool = False) -> None:
        self.name = name
        self.stderr_path = logdir / f"{name}.stderr"
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=_child_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE if capture_stdout else subprocess.DEVNULL,
                                     stderr=self._stderr, start_new_session=True)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    def stderr_tail(self, lines: int = 15) -> str:
        """The last lines the process wrote to stderr."""
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def read_line(self, timeout: float) -> str | None:
        """The next stdout line (``capture_stdout`` only), or ``None`` after ``timeout`` or at EOF."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return line.decode(errors="replace") if line else None

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> str:
        """Stop gracefully, then by force; returns whatever stdout remained (``capture_stdout`` only)."""
        out = b""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            out, _ = self.proc.communicate(timeout=10)
        finally:
            with contextlib.suppress(ProcessLookupError):  # anything the child left behind in its group
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._stderr.close()
        return (out or b"").decode(errors="replace")


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTLINE_"))}
    env["PYTHONPATH"] = str(REPO)  # tests.benchmarks.* importable from the children
    return env


def processor_command(config_path: Path) -> list[str]:
    """How the processor is started: its CLI, with this interpreter."""
    return [sys.executable, "-m", "driftline.processors", "--config", str(config_path)]


def forward_config(grpc_port: int, http_port: int, metrics_port: int, sink_port: int, compression: str) -> str:
    """The forward-only configuration: otlp receiver (gRPC + HTTP) → otlp exporter to the sink."""
    return f"""\
# Generated by tests/benchmarks/processor/run_processor.py: forward-only, everything on loopback.
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
      http:
        endpoint: 127.0.0.1:{http_port}

exporters:
  otlp/sink:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
    compression: {compression}

service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics_port}
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp/sink]
"""


def probe_service(workdir: Path, timeout: float = 20.0) -> str | None:
    """``None`` if ``driftline processor --config`` runs (starts and reports ready), else why it does not.

    Starts the processor with a tiny forward-only configuration (to a port nobody listens on) and
    stops it again.
    """
    ports = free_ports(4)
    config = workdir / "probe.yaml"
    config.write_text(forward_config(ports[0], ports[1], ports[2], ports[3], "none"))
    child = Child("probe", processor_command(config), workdir)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_MESSAGE in child.stderr_tail(200) or all(
                    wait_for_port(p, time.monotonic() + 0.05) for p in ports[:3]):
                return None
            if child.proc.poll() is not None:
                return child.stderr_tail() or f"exited with {child.proc.returncode}"
            time.sleep(0.1)
        return f"no '{READY_MESSAGE}' within {timeout:.0f} s: {child.stderr_tail()}"
    finally:
        child.stop(5)


def _start_processor(config: Path, ports: list[int], logdir: Path, round_: int) -> Child:
    child = Child(f"processor-{round_}", processor_command(config), logdir)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            tail = child.stderr_tail()
            child.stop(1)
            raise ServiceUnavailable(tail or f"the processor exited with {child.proc.returncode}")
        if all(wait_for_port(p, time.monotonic() + 0.05) for p in ports):  # receivers bind last
            return child
        time.sleep(0.1)
    tail = child.stderr_tail()
    child.stop(5)
    raise ServiceUnavailable(f"the processor did not listen on {ports} within {_START_TIMEOUT_S:.0f} s: {tail}")


def _start_sink(port: int, counters: Path, logdir: Path, round_: int) -> Child:
    child = Child(f"sink-{round_}", [sys.executable, "-m", "tests.benchmarks.processor.sink", "--grpc-port",
                                     str(port), "--counters", str(counters), "--max-seconds", "3600"], logdir,
                  capture_stdout=True)
    line = child.read_line(_START_TIMEOUT_S)
    if not line or '"ready"' not in line:
        tail = child.stderr_tail()
        child.stop(2)
        raise RuntimeError(f"the sink did not start: {tail}")
    return child


# --- metrics -----------------------------------------------------------------------------------


def scrape(metrics_port: int) -> dict[str, float]:
    """The processor's ``/metrics``: RSS gauge and accepted/sent span counters (summed over labels)."""
    wanted = {"driftline_process_memory_rss": "rss", "driftline_receiver_accepted_spans_total": "accepted",
              "driftline_exporter_sent_spans_total": "sent"}
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return out
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in wanted:
            with contextlib.suppress(ValueError, IndexError):
                out[wanted[name]] = out.get(wanted[name], 0.0) + float(line.rsplit(" ", 1)[1])
    return out


# --- one phase ---------------------------------------------------------------------------------


@dataclass
class _Round:
    index: int
    workdir: Path
    payloads: dict[str, Path]
    processor: Child
    sink: Child
    sink_counters: Counters
    grpc_port: int
    http_port: int
    metrics_port: int
    compression: str


def _loadgen_cmd(r: _Round, transport: str, rate: float, concurrency: int, counters: Path, max_s: float) -> list[str]:
    target = r.grpc_port if transport == "grpc" else r.http_port
    payloads = r.payloads["json" if transport == "http-json" else "protobuf"]
    return [sys.executable, "-m", "tests.benchmarks.processor.loadgen", "--transport", transport,
            "--target", f"127.0.0.1:{target}", "--payloads", str(payloads), "--counters", str(counters),
            "--rate", str(rate), "--concurrency", str(concurrency), "--max-seconds", str(max_s)]


def _drain(sink: Counters, expected: int) -> int:
    """Wait until the sink holds ``expected`` spans (or stops making progress); its final count."""
    deadline = time.monotonic() + _DRAIN_TIMEOUT_S
    last, last_change = sink.read()["spans"], time.monotonic()
    while last < expected and time.monotonic() < deadline and time.monotonic() - last_change < _DRAIN_STALL_S:
        time.sleep(0.05)
        now = sink.read()["spans"]
        if now != last:
            last, last_change = now, time.monotonic()
    time.sleep(0.2)  # anything still in flight past the expected count (duplicates) shows up too
    return sink.read()["spans"]


def run_phase(r: _Round, transport: str, mode: str, settings: Settings) -> PhaseResult:
    """Run one load generator against the round's processor and measure one window."""
    rate = settings.rate if mode == "rate" else 0.0
    warmup = settings.rate_warmup_s if mode == "rate" else settings.saturation_warmup_s
    window = settings.rate_window_s if mode == "rate" else settings.saturation_window_s
    concurrency = settings.rate_concurrency if mode == "rate" else settings.saturation_concurrency
    counter_path = r.workdir / f"loadgen-{r.index}-{transport}-{mode}.cnt"
    sink_before = r.sink_counters.read()["spans"]
    accepted_before = scrape(r.metrics_port).get("accepted")
    load_before = loadavg()
    loadgen = Child(f"loadgen-{r.index}-{transport}-{mode}",
                    _loadgen_cmd(r, transport, rate, concurrency, counter_path, warmup + window + 60), r.workdir,
                    capture_stdout=True)
    summary: dict[str, Any] = {}
    try:
        line = loadgen.read_line(_START_TIMEOUT_S)
        if not line or '"ready"' not in line:
            raise RuntimeError(f"the load generator did not start: {loadgen.stderr_tail()}")
        counters = Counters(counter_path, LOADGEN_FIELDS, create=False)
        try:
            time.sleep(warmup)
            t0, p0, l0, s0 = time.monotonic(), sample(r.processor.pid), counters.read(), r.sink_counters.read()
            lg0, sk0 = sample(loadgen.pid, with_descendants=False), sample(r.sink.pid, with_descendants=False)
            rss: list[int] = [p0.rss_bytes]
            end = t0 + window
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(0.5, left))
                rss.append(sample(r.processor.pid, with_descendants=False).rss_bytes)
            t1, p1, l1, s1 = time.monotonic(), sample(r.processor.pid), counters.read(), r.sink_counters.read()
            lg1, sk1 = sample(loadgen.pid, with_descendants=False), sample(r.sink.pid, with_descendants=False)
            rss.append(p1.rss_bytes)
            gauge = scrape(r.metrics_port).get("rss")
        finally:
            counters.close()
    finally:
        out = loadgen.stop(45)
        for text in reversed(out.strip().splitlines()):
            with contextlib.suppress(ValueError):
                summary = json.loads(text)
                break
    if not summary:
        raise RuntimeError(f"the load generator printed no summary: {loadgen.stderr_tail()}")
    acked_total = int(summary["acked_spans"])
    delivered = _drain(r.sink_counters, sink_before + acked_total) - sink_before
    accepted_after = scrape(r.metrics_port).get("accepted")
    dt = t1 - t0
    acked = l1["acked_spans"] - l0["acked_spans"]
    ok_requests = l1["acked_requests"] - l0["acked_requests"]
    return PhaseResult(
        round=r.index, transport=transport, mode=mode, target_rate=rate, window_s=dt,
        acked_spans_per_s=acked / dt, delivered_spans_per_s=(s1["spans"] - s0["spans"]) / dt,
        refused_spans_per_s=(l1["refused_spans"] - l0["refused_spans"]) / dt, errors=int(summary["errors"]),
        cpu_pct=100 * (p1.cpu_s - p0.cpu_s) / dt,
        rss_mib_median=statistics.median(rss) / MIB, rss_mib_max=max(rss) / MIB,
        gauge_rss_mib=gauge / MIB if gauge is not None else None,
        loadgen_cpu_pct=100 * (lg1.cpu_s - lg0.cpu_s) / dt, sink_cpu_pct=100 * (sk1.cpu_s - sk0.cpu_s) / dt,
        mean_latency_ms=(l1["latency_us_total"] - l0["latency_us_total"]) / ok_requests / 1000 if ok_requests else None,
        acked_total=acked_total, delivered_total=delivered,
        processor_accepted_total=int(accepted_after - accepted_before)
        if accepted_after is not None and accepted_before is not None else None,
        refusals={str(k): int(v) for k, v in summary.get("refusals", {}).items()},
        load_before=load_before, load_after=loadavg(), exporter_compression=r.compression)


# --- the run -----------------------------------------------------------------------------------


def _run_floor(workdir: Path, seconds: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.processor.floor", "--payloads-dir", str(workdir),
                           "--seconds", str(seconds), "--rounds", "4"], cwd=REPO, env=_child_env(),
                          capture_output=True, text=True, timeout=120 + 10 * seconds, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the floor failed: {proc.stderr.strip()[-1500:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def machine_info() -> dict[str, str]:
    """CPU count and model, Python, and the versions of what the numbers depend on."""
    from importlib import metadata

    from google.protobuf.internal import api_implementation

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "-"

    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"nproc": str(os.cpu_count()), "cpu_model": model,
            "python": f"{platform.python_version()} ({platform.python_implementation()})",
            "linux": platform.release(), "grpcio": version("grpcio"),
            "protobuf": f"{version('protobuf')} ({api_implementation.Type()})", "aiohttp": version("aiohttp"),
            "driftline": version("driftline")}


@contextlib.contextmanager
def _round(index: int, workdir: Path, payloads: dict[str, Path], compression: str,
           config_text: list[str]) -> Iterator[_Round]:
    grpc_port, http_port, metrics_port, sink_port = free_ports(4)
    config = workdir / f"processor-{index}-{compression}.yaml"
    config.write_text(forward_config(grpc_port, http_port, metrics_port, sink_port, compression))
    if not config_text:
        config_text.append(config.read_text())
    sink_path = workdir / f"sink-{index}.cnt"
    sink = _start_sink(sink_port, sink_path, workdir, index)
    processor: Child | None = None
    counters: Counters | None = None
    try:
        counters = Counters(sink_path, SINK_FIELDS, create=False)
        processor = _start_processor(config, [grpc_port, http_port, metrics_port], workdir, index)
        yield _Round(index, workdir, payloads, processor, sink, counters, grpc_port, http_port, metrics_port,
                     compression)
    finally:
        if processor is not None:
            processor.stop()
        sink.stop(5)
        if counters is not None:
            counters.close()


def measure(settings: Settings, log: list[str] | None = None) -> ProcessorRun:
    """Run every round; raise :class:`ServiceUnavailable` if the processor cannot be started at all."""
    started = time.monotonic()
    phases: list[PhaseResult] = []
    floors: list[dict[str, Any]] = []
    config_text: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="driftline-procbench-") as tmp:
        workdir = Path(tmp)
        payloads = write_payloads(workdir)
        payload_bytes = {media: statistics.mean(len(b) for b in _bodies(path)) for media, path in payloads.items()}
        for index in range(settings.rounds):
            floors.append(_run_floor(workdir, settings.floor_seconds))
            shift = index % len(settings.transports)
            order = settings.transports[shift:] + settings.transports[:shift]
            runs = [(settings.exporter_compression, [(m, t) for m in ("rate", "saturation") for t in order])]
            if settings.gzip_variant and settings.exporter_compression != "gzip" and "grpc" in settings.transports:
                runs.append(("gzip", [("rate", "grpc")]))
            for compression, plan in runs:
                with _round(index, workdir, payloads, compression, config_text) as r:
                    for mode, transport in plan:
                        result = run_phase(r, transport, mode, settings)
                        phases.append(result)
                        _progress(result, log)
                        time.sleep(0.5)
                    tail = r.processor.stderr_tail(400)
                errors = [line for line in tail.splitlines() if " ERROR " in line or "Traceback" in line]
                if errors:
                    notes.append(f"round {index} (exporter compression {compression}): the processor logged "
                                 f"{len(errors)} error line(s), e.g. {errors[0][:300]}")
    return ProcessorRun(settings=settings, phases=phases, floor=floors, machine=machine_info(),
                        config_yaml=config_text[0] if config_text else "", payload_bytes=payload_bytes,
                        elapsed_s=time.monotonic() - started, notes=notes)


def _bodies(path: Path) -> list[bytes]:
    from .common import read_payloads

    return read_payloads(path)


def _progress(p: PhaseResult, log: list[str] | None) -> None:
    line = (f"round {p.round} {p.transport:13} {p.mode:10} {p.exporter_compression:4} "
            f"acked {p.acked_spans_per_s:9,.0f}/s delivered "
            f"{p.delivered_spans_per_s:9,.0f}/s cpu {p.cpu_pct:5.1f}% ({p.cpu_pct_per_10k:5.1f}%/10k) "
            f"rss {p.rss_mib_median:6.1f} MiB lost {p.lost} refused {p.refused_spans_per_s:,.0f}/s "
            f"loadgen {p.loadgen_cpu_pct:.0f}% sink {p.sink_cpu_pct:.0f}% load {p.load_before}")
    print(line, file=sys.stderr, flush=True)
    if log is not None:
        log.append(line)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the report section (Markdown) and optionally write the raw results as JSON."""
    parser = argparse.ArgumentParser(description="Driftline processor throughput benchmark")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (fresh sink + processor each)")
    parser.add_argument("--transports", default=None, help="comma-separated: grpc,http-protobuf,http-json")
    parser.add_argument("--window", type=float, default=None, help="seconds per measured window (both modes)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of warm-up before each window")
    parser.add_argument("--compression", choices=("none", "gzip"), default=None, help="the otlp exporter's")
    parser.add_argument("--smoke", action="store_true", help="a ~10 s run of everything (numbers meaningless)")
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    args = parser.parse_args(argv)
    settings = Settings.smoke_settings() if args.smoke else Settings()
    if args.rounds:
        settings.rounds = args.rounds
    if args.transports:
        settings.transports = tuple(t.strip() for t in args.transports.split(",") if t.strip())
    if args.window:
        settings.rate_window_s = settings.saturation_window_s = args.window
    if args.warmup is not None:
        settings.rate_warmup_s = settings.saturation_warmup_s = args.warmup
    if args.compression:
        settings.exporter_compression = args.compression
    try:
        run = measure(settings)
    except ServiceUnavailable as error:
        print(f"processor benchmark: the processor does not run: {error}", file=sys.stderr)
        return 3
    if args.json:
        args.json.write_text(json.dumps(run.to_json(), indent=1))
    from .section import render_section

    print("\n".join(render_section(run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
