"""Renders the "Processor throughput" section of ``docs/performance.md`` from a :class:`ProcessorRun`."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .run_processor import PhaseResult, ProcessorRun

HEADING = "## Processor throughput"

CPU_TARGET_PCT = 10.0
"""Issue target: ≤ 10 % of one core per 10k spans/s, forward-only."""
COLLECTOR_CPU_CEILING_PCT = 20.0
"""The Go Collector's testbed ceiling for the same load (for scale)."""
THROUGHPUT_TARGET = 100_000.0
"""Issue target: ≥ 100k spans/s per processor process."""
RSS_TARGET_MIB = 150.0
"""Issue target: RSS ≤ 150 MiB (at the fixed 10k spans/s)."""

_SATURATION_NOTE = ("At saturation the load generator and the sink compete with the processor for the same cores: "
                    "while the processor stays below 100 % of one core, the machine or the sink set the pace, so "
                    "the saturation figures are lower bounds for one processor process.")

_FLOOR_OF = {"grpc": "protobuf", "http-protobuf": "protobuf", "http-json": "json"}


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _n(x: float, digits: int = 0) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}f}"


def _spread(values: Sequence[float], digits: int = 0, unit: str = "") -> str:
    """``median [min–max]`` (just the value when there is one round)."""
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{_n(med, digits)}{unit}"
    return f"{_n(med, digits)}{unit} [{_n(min(values), digits)}–{_n(max(values), digits)}]"


def _floor_for(run: ProcessorRun, phase: PhaseResult, key: str) -> float:
    return float(run.floor[phase.round][_FLOOR_OF[phase.transport]][key])


def _paired(run: ProcessorRun, phases: list[PhaseResult], value: Callable[[PhaseResult], float], key: str,
            *, invert: bool = False) -> list[float]:
    """Per round ``value(phase) / floor`` (or ``floor / value``), the floor being the same round's."""
    out = []
    for p in phases:
        floor, v = _floor_for(run, p, key), value(p)
        if invert:
            out.append(floor / v if v > 0 else float("inf"))
        else:
            out.append(v / floor if floor > 0 else float("inf"))
    return out


def _verdict(values: Sequence[float], ok: Callable[[float], bool]) -> str:
    if not values:
        return "not measured"
    med_ok = ok(statistics.median(values))
    all_ok = all(ok(v) for v in values)
    none_ok = not any(ok(v) for v in values)
    if med_ok:
        return "**met**" if all_ok else "**met** (median; not in every round)"
    return "**missed**" if none_ok else "**missed** (median; met in some rounds)"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def render_section(run: ProcessorRun) -> list[str]:
    """The section's Markdown lines (starting with :data:`HEADING`)."""
    s = run.settings
    transports = [t for t in s.transports if run.select(t, "rate") or run.select(t, "saturation")]
    from .run_processor import TRANSPORT_LABELS

    lines = [HEADING, ""]
    if s.smoke:
        lines += ["*Smoke run: windows of about a second; these numbers only prove the pipeline works.*", ""]
    sat = {t: run.select(t, "saturation") for t in transports}
    rate = {t: run.select(t, "rate") for t in transports}
    lost_total = sum(p.lost for p in run.phases)
    acked_total = sum(p.acked_total for p in run.phases)
    lines += [
        f"One `driftline processor` process forwarding realistic GenAI spans ({_pb_size(run)} per "
        f"512-span request) from a load generator in another process to a counting OTLP/gRPC sink in a third, "
        f"all on loopback, {s.rounds} interleaved round(s), {run.elapsed_s:.0f} s in all. Medians over rounds, "
        "[min–max]. *Floor*: protobuf parse + serialize of the same payload in one process, measured in the "
        f"same run (before each round). Every span acknowledged to the load generator reached the sink: "
        f"{acked_total:,} acknowledged, {lost_total:,} lost" + (" (**spans were lost**)" if lost_total else "")
        + ".",
        "",
    ]
    lines += _summary(run, transports, sat, rate, TRANSPORT_LABELS)
    lines += _targets(run, transports, sat, rate, TRANSPORT_LABELS)
    lines += _results(run, transports, sat, rate, TRANSPORT_LABELS)
    lines += _phases(run, TRANSPORT_LABELS)
    lines += _method(run)
    if run.notes:
        lines += ["Notes from this run:", "", *[f"- {n}" for n in run.notes], ""]
    return lines


def _summary(run: ProcessorRun, transports: list[str], sat: dict[str, list[PhaseResult]],
             rate: dict[str, list[PhaseResult]], labels: dict[str, str]) -> list[str]:
    """One sentence per ingestion: CPU at the fixed rate against the floor, throughput at saturation."""
    parts: list[str] = []
    for t in transports:
        if not rate[t] or not sat[t]:
            continue
        cpu = _median([p.cpu_pct_per_10k for p in rate[t]])
        floor_cpu = _median([_floor_for(run, p, "cpu_pct_per_10k") for p in rate[t]])
        thr = _median([p.throughput for p in sat[t]])
        sat_cpu = _median([p.cpu_pct for p in sat[t]])
        others = _median([p.loadgen_cpu_pct + p.sink_cpu_pct for p in sat[t]])
        text = (f"**{labels[t]}**: {cpu:.1f} % of one core per 10k spans/s "
                f"({cpu / floor_cpu:.1f}× the floor's {floor_cpu:.1f} %); {thr:,.0f} spans/s at saturation, "
                f"where the processor used {sat_cpu:.0f} % of a core and the load generator and sink together "
                f"{others:.0f} %.")
        if floor_cpu > CPU_TARGET_PCT:
            text += (f" Decoding this encoding alone (the floor) already costs more than the {CPU_TARGET_PCT:.0f} % "
                     "target, so no processor built on it can meet the target for it.")
        parts.append(text)
    gz = run.select("grpc", "rate", "gzip") if run.settings.exporter_compression != "gzip" else []
    if gz:
        extra = _median([p.cpu_pct_per_10k for p in gz]) - _median([p.cpu_pct_per_10k for p in rate.get("grpc", [])])
        parts.append(f"**OTLP/gRPC, exporter `compression: gzip`** (the Collector's default; its testbed, and the "
                     f"rows here, use `none`): {_spread([p.cpu_pct_per_10k for p in gz], 1, ' %')} of one core per "
                     f"10k spans/s, RSS {_spread([p.rss_mib_max for p in gz], 0, ' MiB')}; compressing each "
                     f"forwarded request costs about {extra:.1f} points more.")
    return [*(f"- {p}" for p in parts), ""] if parts else []


def _pb_size(run: ProcessorRun) -> str:
    pb = run.payload_bytes.get("protobuf", 0)
    js = run.payload_bytes.get("json", 0)
    return f"{pb / 1024:,.0f} KiB as protobuf, {js / 1024:,.0f} KiB as OTLP/JSON"


def _targets(run: ProcessorRun, transports: list[str], sat: dict[str, list[PhaseResult]],
             rate: dict[str, list[PhaseResult]], labels: dict[str, str]) -> list[str]:
    rows: list[list[str]] = []
    for t in transports:
        cpu = [p.cpu_pct_per_10k for p in rate[t]]
        thr = [p.throughput for p in sat[t]]
        rss = [p.rss_mib_max for p in rate[t]]
        rss_sat = [p.rss_mib_max for p in sat[t]]
        rows.append([labels[t],
                     f"{_spread(cpu, 1, ' %')}", _verdict(cpu, lambda v: v <= CPU_TARGET_PCT),
                     _spread(thr), _verdict(thr, lambda v: v >= THROUGHPUT_TARGET),
                     _spread(rss, 0, " MiB"), _verdict(rss, lambda v: v <= RSS_TARGET_MIB),
                     _spread(rss_sat, 0, " MiB")])
    return ["### Targets", "",
            f"From the issue: ≤ {CPU_TARGET_PCT:.0f} % of one core per 10k spans/s forward-only (the Go Collector's "
            f"testbed ceiling is {COLLECTOR_CPU_CEILING_PCT:.0f} %), ≥ {THROUGHPUT_TARGET:,.0f} spans/s per process, "
            f"RSS ≤ {RSS_TARGET_MIB:.0f} MiB. CPU and RSS at the fixed {run.settings.rate:,.0f} spans/s (RSS: the "
            "highest VmRSS sampled in the window); throughput at saturation (spans/s both acknowledged and "
            "delivered to the sink, whichever is lower). The last column, for information, is the highest RSS "
            "at saturation, where the exporter's sending queue (sized in requests, not bytes) fills up; the "
            "forward-only configuration has no `memory_limiter`.", "",
            *_table(["Ingestion", "CPU per 10k spans/s", f"≤ {CPU_TARGET_PCT:.0f} %", "Spans/s at saturation",
                     f"≥ {THROUGHPUT_TARGET / 1000:.0f}k", "RSS at 10k spans/s", f"≤ {RSS_TARGET_MIB:.0f} MiB",
                     "RSS at saturation"],
                    rows), ""]


def _results(run: ProcessorRun, transports: list[str], sat: dict[str, list[PhaseResult]],
             rate: dict[str, list[PhaseResult]], labels: dict[str, str]) -> list[str]:
    rows: list[list[str]] = []
    for t in transports:
        r, s = rate[t], sat[t]
        rows.append([
            labels[t],
            _spread([p.throughput for p in s]),
            _spread([p.cpu_pct for p in s], 0, " %"),
            _spread(_paired(run, s, lambda p: p.throughput, "spans_per_s", invert=True), 1, "×"),
            _spread([p.acked_spans_per_s for p in r]),
            _spread([p.cpu_pct for p in r], 1, " %"),
            _spread(_paired(run, r, lambda p: p.cpu_pct_per_10k, "cpu_pct_per_10k"), 1, "×"),
            _spread([p.rss_mib_median for p in r], 0),
            _spread([p.gauge_rss_mib for p in r if p.gauge_rss_mib is not None], 0),
        ])
    floor_rows: list[list[str]] = []
    from .floor import FLOORS

    for kind, label in FLOORS.items():
        if not any(_FLOOR_OF[t] == kind for t in transports):
            continue
        rates = [float(f[kind]["spans_per_s"]) for f in run.floor]
        cpu = [float(f[kind]["cpu_pct_per_10k"]) for f in run.floor]
        floor_rows.append([f"floor: {label}", _spread(rates), "100 % (one core)", "1×", "—",
                           _spread(cpu, 1, " %"), "1×", "—", "—"])
    return ["### Results", "",
            "*Saturation*: spans/s acknowledged and delivered to the sink (the lower of the two) while the load "
            "generator keeps "
            f"{run.settings.saturation_concurrency} requests in flight; *÷ floor* is how many times slower than "
            "the floor that is (same round's floor). *At 10k spans/s*: the processor's CPU over the window as % "
            "of one core, that ÷ the floor's CPU for the same span rate, and RSS in MiB (VmRSS median over the "
            "window; the processor's own `driftline_process_memory_rss` gauge at the window's end).", "",
            *_table(["Ingestion", "Saturation spans/s", "CPU at saturation", "÷ floor (throughput)",
                     "Spans/s at fixed rate", "CPU at 10k spans/s", "÷ floor (CPU)", "VmRSS (MiB)",
                     "RSS gauge (MiB)"], [*rows, *floor_rows]), ""]


def _phases(run: ProcessorRun, labels: dict[str, str]) -> list[str]:
    rows: list[list[str]] = []
    modes = {"rate": f"{run.settings.rate / 1000:,.0f}k/s", "saturation": "saturation"}
    s = run.settings
    variants = [(m, t, s.exporter_compression) for m in ("rate", "saturation") for t in s.transports]
    variants += [("rate", "grpc", "gzip")] if s.exporter_compression != "gzip" else []
    for mode, t, compression in variants:
        ps = run.select(t, mode, compression)
        if ps:
            refusals: dict[str, int] = {}
            for p in ps:
                for code, n in p.refusals.items():
                    refusals[code] = refusals.get(code, 0) + n
            rows.append([labels[t] + (f", exporter {compression}" if compression != s.exporter_compression else ""),
                         modes[mode], _spread([p.acked_spans_per_s for p in ps]),
                         _spread([p.delivered_spans_per_s for p in ps]),
                         _spread([p.cpu_pct for p in ps], 1), _spread([p.loadgen_cpu_pct for p in ps], 0),
                         _spread([p.sink_cpu_pct for p in ps], 0),
                         _spread([p.mean_latency_ms for p in ps if p.mean_latency_ms is not None], 1),
                         _spread([p.rss_mib_max for p in ps], 0),
                         f"{sum(p.lost for p in ps):,}",
                         ", ".join(f"{c} ×{n}" for c, n in sorted(refusals.items())) or "0",
                         str(sum(p.errors for p in ps))])
    loads = [x for p in run.phases for x in (p.load_before, p.load_after) if x is not None]
    load_text = f"{min(loads):.2f}–{max(loads):.2f}" if loads else "n/a"
    return ["### Every phase", "",
            "CPU columns are % of one core over the measured window (the machine has "
            f"{run.machine.get('nproc', '?')}); the load generator and the sink share the cores with the "
            "processor. Latency is the mean time from sending a request to its acknowledgement. "
            f"1-minute load average around the phases: {load_text}. {_SATURATION_NOTE}", "",
            *_table(["Ingestion", "Load", "Acked spans/s", "Delivered spans/s", "Processor CPU %", "Load gen CPU %",
                     "Sink CPU %", "Latency (ms)", "VmRSS max (MiB)", "Lost spans", "Refused requests",
                     "Transport errors"], rows), ""]


def _method(run: ProcessorRun) -> list[str]:
    s = run.settings
    m = run.machine
    return [
        "### Method", "",
        "- **Payload.** `tests.benchmarks.bench_otlp_json.genai_request()`: 512 spans built by the OpenTelemetry "
        "SDK (per trace: an HTTP server span wrapping an OpenAI chat with message content captured, an Anthropic "
        "chat and an embeddings call; one chat in ten failing with an exception event), four batches with "
        "different seeds, encoded once before the run and sent as they are.",
        f"- **Load generator** (`tests/benchmarks/processor/loadgen.py`, its own process): gRPC over one channel "
        "calling `TraceService/Export` as a raw-bytes `unary_unary`; HTTP with one keep-alive `http.client` "
        f"connection per thread. Fixed rate: {s.rate:,.0f} spans/s paced on a schedule, {s.rate_concurrency} "
        f"threads; saturation: {s.saturation_concurrency} requests always in flight. Refused requests are "
        "counted and retried after 20 ms.",
        "- **Processor.** `python -m driftline.processors --config FILE` (the CLI), fresh in every round, with "
        "the forward-only configuration below; spans are acknowledged after the exporter's queue has them, "
        "so the sink's count is checked once that queue has drained after each phase.",
        "- **Sink** (`tests/benchmarks/processor/sink.py`, its own process): a grpcio server with a raw-bytes "
        "`Export` handler that parses each request with protobuf only to count its spans and answers with an "
        "empty response.",
        f"- **Rounds.** {s.rounds} round(s); each runs the floor, then the fixed-rate phases, then the saturation "
        "phases, one transport at a time, the transport order rotating between rounds"
        + (", then a second fresh processor whose exporter uses `compression: gzip` for one OTLP/gRPC fixed-rate "
           "phase" if s.gzip_variant and s.exporter_compression != "gzip" else "") + ". Warm-up "
        f"{s.rate_warmup_s:g} s / {s.saturation_warmup_s:g} s, measured window {s.rate_window_s:g} s / "
        f"{s.saturation_window_s:g} s (fixed rate / saturation).",
        "- **Measures.** CPU: utime + stime from `/proc/<pid>/stat` at the window's ends (all threads and any "
        "child processes). RSS: `VmRSS` from `/proc/<pid>/status` every 0.5 s, and the processor's gauge. "
        "Counts: shared counter files written by the load generator and the sink, read by the orchestrator.",
        f"- **Floor** (`tests/benchmarks/processor/floor.py`): `ExportTraceServiceRequest.FromString` then "
        "`SerializeToString` on the same four bodies in a loop, in one process (for OTLP/JSON ingestion: "
        "driftline's OTLP/JSON decoder then `SerializeToString`); CPU per 10k spans/s = CPU seconds per span × "
        f"10,000 as % of one core. {s.floor_seconds:g} s per floor per round.",
        "",
        f"Machine: {m.get('nproc', '?')} CPUs (`nproc`), {m.get('cpu_model', '?')}; Linux {m.get('linux', '?')}; "
        f"Python {m.get('python', '?')}; grpcio {m.get('grpcio', '?')}, protobuf {m.get('protobuf', '?')}, "
        f"aiohttp {m.get('aiohttp', '?')}.",
        "",
        "The processor's configuration:",
        "",
        "```yaml",
        run.config_yaml.rstrip(),
        "```",
        "",
        "Reproduce: `python -m tests.benchmarks.run --processor` (this section only) or "
        "`python -m tests.benchmarks.processor.run_processor --rounds N --json FILE`.",
        "",
    ]
