"""Renders ``docs/performance.md`` from one benchmark run (the whole file; no hand edits)."""

from __future__ import annotations

import datetime as dt
import math
import platform
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .harness import PIPELINE_DESCRIPTION, REQUEST, STREAM_CHUNKS
from .stats import Overhead, Ratio, overhead, quantile, ratio

if TYPE_CHECKING:
    from .ml.run_ml import MLRun
    from .peers import Peer
    from .processor.run_processor import ProcessorRun
    from .startup import StartupResult

FLOOR_TARGET = 1.3
"""Issue target: driftline's overhead at most 1.3× the floor's."""
PEER_TARGET = 0.5
"""Issue target: driftline's overhead at most half the best peer's."""

UNINSTRUMENTED = "uninstrumented"
DRIFTLINE = "driftline"
FLOOR = "floor (span+metrics)"
FLOOR_SPAN = "floor (span only)"
VARIANT_TITLES = {"nonstream": "non-streamed", "stream": f"streamed ({STREAM_CHUNKS} chunks consumed)"}


@dataclass
class WorkerResult:
    """One worker process's JSON (``data``), or why there is none (``error``)."""

    label: str
    data: dict[str, Any] | None
    error: str | None
    content_off: dict[str, str]
    installed: dict[str, str] = field(default_factory=dict)

    def overhead(self, contender: str, variant: str) -> Overhead:
        """``contender``'s overhead over the uninstrumented call of the same process."""
        assert self.data is not None
        return overhead(self.data["paired_uninstrumented_us"][contender][variant],
                        self.data["medians_us"][contender][variant])


@dataclass
class BenchRun:
    """Everything one ``run`` measured."""

    quick: bool
    rounds: int
    calls: int
    startup_runs: int
    driftline: WorkerResult
    peers: list[tuple[Peer, WorkerResult]]
    startup: StartupResult | None
    startup_error: str | None
    elapsed_s: float
    log: list[str]
    processor: ProcessorRun | None = None
    """The processor throughput benchmark (full runs and ``--processor``), if it ran."""
    processor_error: str | None = None
    """Why the processor throughput benchmark did not run, if it did not."""
    ml: MLRun | None = None
    """The scikit-learn prediction and ``@tool`` overhead benchmark (full runs and ``--ml``), if it ran."""


def _cmd(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout.rstrip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _us(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def _ci(ci: tuple[float, float]) -> str:
    return f"[{_us(ci[0])}, {_us(ci[1])}]"


def _ratio(r: Ratio) -> str:
    if not math.isfinite(r.value):
        return "n/a (denominator ≤ 0: noise)"
    return f"{r.value:.2f}× [{r.ci[0]:.2f}, {r.ci[1]:.2f}]"


def _verdict(r: Ratio, target: float) -> str:
    if not math.isfinite(r.value):
        return "undecided (noise)"
    if r.value <= target:
        return "**met**" if r.ci[1] <= target else f"**met** (point estimate; the interval reaches {r.ci[1]:.2f}×)"
    return "**missed**" if r.ci[0] > target else f"**missed** (point estimate; the interval reaches {r.ci[0]:.2f}×)"


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _measured_peers(run: BenchRun) -> list[tuple[Peer, WorkerResult]]:
    return [(p, r) for p, r in run.peers if r.data is not None]


def _best_peer(run: BenchRun, variant: str) -> tuple[Peer, Overhead] | None:
    best: tuple[Peer, Overhead] | None = None
    for peer, result in _measured_peers(run):
        ov = result.overhead(peer.key, variant)
        if best is None or ov.median < best[1].median:
            best = (peer, ov)
    return best


def _machine(run: BenchRun) -> list[str]:
    data = run.driftline.data or {}
    loads = [f"{r.data['load_before']:.2f}→{r.data['load_after']:.2f}" for r in
             [run.driftline, *(r for _, r in run.peers)] if r.data and r.data.get("load_before") is not None]
    return [
        "## Machine",
        "",
        f"- CPUs (`nproc`): {_cmd(['nproc'])}; model: {_cpu_model()}",
        f"- Python {data.get('python', platform.python_version())} ({data.get('implementation', '?')}), "
        f"Linux {platform.release()}",
        f"- 1-minute load average before→after each worker: {', '.join(loads) or 'n/a'} "
        "(other work on the VM shows up here; see *Noise*)",
        "- `free -g`:",
        "",
        "```",
        _cmd(["free", "-g"]),
        "```",
        "",
    ]


def _versions(run: BenchRun) -> list[str]:
    rows: list[list[str]] = []
    d = run.driftline.data
    if d:
        v = d["versions"]
        rows.append(["driftline (this tree)", f"driftline {v.get('driftline', '?')}", v.get("openai", "?"),
                     v.get("opentelemetry-sdk", "?"), f"{d['http']} {v.get(d['http'], '?')}",
                     "`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=NO_CONTENT` (the default)", "—"])
    for peer, result in run.peers:
        inst = result.installed
        extra = ", ".join(f"{name} {inst.get(name, '?')}" for name in peer.extra_distributions)
        http = (result.data or {}).get("http") or ("httpx2" if inst.get("httpx2", "-") != "-" else "httpx")
        rows.append([peer.label, f"{peer.distribution} {inst.get(peer.distribution, '?')}"
                     + (f" ({extra})" if extra else ""), inst.get("openai", "?"), inst.get("opentelemetry-sdk", "?"),
                     f"{http} {inst.get(http, '?')}", peer.content_note, peer.pin_note or "—"])
    return ["## Versions", "",
            "Each peer runs in its own virtualenv with the newest `openai` its `[instruments]` extra allows.", "",
            *_table(["Contender", "Package", "openai", "opentelemetry-sdk", "HTTP library", "Content capture off by",
                     "Extra pins"], rows), ""]


def _method(run: BenchRun) -> list[str]:
    req = ", ".join(REQUEST)
    return [
        "## Method",
        "",
        f"- **Workload.** `client.chat.completions.create(...)` with {req} (a system and a user message), "
        "non-streamed, and the same with "
        f"`stream=True, stream_options={{\"include_usage\": true}}` with all {STREAM_CHUNKS} chunks consumed "
        "(role, content deltas, finish, usage). Content capture is off for every contender.",
        "- **Transport.** No sockets: the SDK gets `http_client=httpx2.Client(transport=httpx2.MockTransport(h))` "
        "(`httpx` for an SDK built on it) where `h` returns a canned, realistic chat-completion JSON, or an SSE "
        "body one event per read. The transport, the SDK's request building and response parsing are the "
        "common baseline every contender pays; only the instrumentation differs.",
        f"- **Telemetry pipeline** (the same for all): {PIPELINE_DESCRIPTION}. No `LoggerProvider` is configured "
        "(events, if a contender emits any with content off, go to the API's no-op logger).",
        "- **Floor.** A hand-written function around the same call (`tests/benchmarks/floor.py`): starts a CLIENT "
        "span with the request attributes driftline sets, makes it current, calls the SDK, sets the same response "
        "attributes, ends the span and records the same histograms (duration and two token-usage points, plus "
        "time-to-first-chunk when streaming) with the span's context. No patching, no fault isolation, no "
        "suppression checks, and a plain generator instead of a transparent stream proxy. *Floor (span only)* is "
        "the same without metrics. The worker checks that the floor's span attribute keys equal driftline's.",
        f"- **Interleaving.** One process per environment, {run.rounds} rounds each. A *block* is {run.calls} "
        "calls of one variant by one contender, each call timed on its own with `perf_counter_ns`; the block "
        "keeps the median. In every round, for each contender and variant, an uninstrumented block and the "
        "contender's block run back to back (which goes first alternates), so the two sides of a pair are a few "
        "ms apart. Driftline and the peers are switched with `instrument(tracer_provider=…, meter_provider=…)` / "
        "`uninstrument()` between blocks (untimed); the contender order rotates every round and the variant "
        "order alternates. Warm-up calls precede the rounds; then the heap is frozen (`gc.freeze()`) so a "
        "collection in one block does not rescan openai's ~100k long-lived objects.",
        "- **Overhead** = contender's block median − its paired uninstrumented block median. Tables give the "
        "median and the 90th percentile of that difference over rounds, and a bootstrap 95 % interval of the "
        "median; *Uninstrumented* / *Instrumented* are medians of the block medians. Ratios are ratios of median "
        "overheads, with bootstrap intervals (resampling rounds jointly within a process, independently across "
        "processes).",
        "- **Checks before timing**, per contender: one call per variant must produce a span (and the "
        "uninstrumented call none), the caller must see every chunk, and `uninstrument()` must restore every "
        "patched `openai`/`httpx` attribute. A peer whose `uninstrument()` leaves patches behind is switched by "
        "swapping its own wrappers in and out instead (see *Switched by*).",
        "",
    ]


def _overhead_tables(run: BenchRun) -> list[str]:
    out: list[str] = []
    d = run.driftline
    for variant, title in VARIANT_TITLES.items():
        rows: list[list[str]] = []
        floor_ov = d.overhead(FLOOR, variant) if d.data else None
        entries: list[tuple[str, str, Overhead]] = []
        if d.data:
            for name in (DRIFTLINE, FLOOR, FLOOR_SPAN):
                entries.append((name if name != DRIFTLINE else "**driftline**", "driftline", d.overhead(name, variant)))
        for peer, result in _measured_peers(run):
            entries.append((peer.key, peer.key, result.overhead(peer.key, variant)))
        for name, process, ov in entries:
            vs_floor = f"{ov.median / floor_ov.median:.2f}×" if floor_ov and floor_ov.median > 0 else "—"
            rows.append([name, process, _us(ov.baseline), _us(ov.instrumented), f"**{_us(ov.median)}**",
                         _us(ov.p90), _ci(ov.ci), vs_floor])
        out += [f"### Per-call overhead, {title} (µs)", "",
                *_table(["Contender", "Process", "Uninstrumented", "Instrumented", "Overhead (median)",
                         "Overhead p90", "95 % CI of median", "× floor"], rows), ""]
    return out


def _ratios(run: BenchRun) -> tuple[list[str], list[str]]:
    """The targets table, and one interpretation paragraph per variant."""
    d = run.driftline
    if not d.data:
        return [], []
    rows: list[list[str]] = []
    text: list[str] = []
    for variant, title in VARIANT_TITLES.items():
        dl, fl, fs = (d.overhead(n, variant) for n in (DRIFTLINE, FLOOR, FLOOR_SPAN))
        r_floor = ratio(dl, fl, paired=True)
        r_span = ratio(dl, fs, paired=True)
        best = _best_peer(run, variant)
        r_peer = ratio(dl, best[1], paired=False) if best else None
        rows.append([title, _ratio(r_floor), _verdict(r_floor, FLOOR_TARGET), _ratio(r_span),
                     best[0].key if best else "—", _ratio(r_peer) if r_peer else "—",
                     _verdict(r_peer, PEER_TARGET) if r_peer else "not measured"])
        share = 100.0 * dl.median / dl.baseline if dl.baseline else 0.0
        straddles = r_floor.ci[0] <= FLOOR_TARGET < r_floor.ci[1]
        points = "four histogram points (duration, time to first chunk, 2× token usage)" if variant == "stream" \
            else "three histogram points (duration, 2× token usage)"
        para = (f"**{title.capitalize()}.** Driftline adds {_us(dl.median)} µs per call ({share:.0f} % of the "
                f"{_us(dl.baseline)} µs the SDK itself takes through the mock transport). The floor with the same "
                f"span and metrics adds {_us(fl.median)} µs (span alone {_us(fs.median)} µs, so the {points} "
                f"cost about {_us(fl.median - fs.median)} µs), which puts driftline at "
                f"{_ratio(r_floor)} the floor: the ≤ {FLOOR_TARGET}× target is "
                f"{'met' if r_floor.value <= FLOOR_TARGET else 'missed'}"
                f"{' by the point estimate, but its interval straddles the target' if straddles else ''}"
                f". Driftline's own machinery (patching, mapping, fault isolation, stream proxy) costs "
                f"{_us(dl.median - fl.median)} µs over the floor.")
        if best and r_peer:
            para += (f" The cheapest peer, {best[0].key}, adds {_us(best[1].median)} µs in its own process; driftline "
                     f"is {_ratio(r_peer)} that: the ≤ {PEER_TARGET}× target is "
                     f"{'met' if r_peer.value <= PEER_TARGET else 'missed'}.")
            if r_peer.value > PEER_TARGET:
                floor_vs_peer = fl.median / best[1].median if best[1].median > 0 else float("inf")
                para += (f" For scale: the floor itself is {floor_vs_peer:.2f}× that peer, so no instrumentation that "
                         f"records what driftline records can reach {PEER_TARGET}× of it on this workload"
                         f"{_peer_records(run, best[0], variant)}.")
        text.append(para)
    table = ["## Targets", "",
             f"Targets from the issue: driftline's overhead ≤ {FLOOR_TARGET}× the floor's, and ≤ {PEER_TARGET}× the "
             "best peer's. Ratios of median overheads, [bootstrap 95 % interval].", "",
             *_table(["Variant", "driftline / floor (span+metrics)", f"≤ {FLOOR_TARGET}×",
                      "driftline / floor (span only)", "Best peer", "driftline / best peer", f"≤ {PEER_TARGET}×"],
                     rows), ""]
    return table, text


def _peer_records(run: BenchRun, peer: Peer, variant: str) -> str:
    """What ``peer`` records next to driftline, for one variant (span attributes, metric instruments)."""
    result = dict((p.key, r) for p, r in run.peers)[peer.key]
    d = run.driftline.data
    if result.data is None or d is None:
        return ""
    peer_attrs = len(result.data["checks"][peer.key][variant]["attributes"])
    own_attrs = len(d["checks"][DRIFTLINE][variant]["attributes"])
    peer_metrics = len({m for names in result.data.get("metrics", {}).values() for m in names})
    own_metrics = len(d.get("metrics", {}).get("driftline.instrumentation.openai", []))
    return (f" (it records {peer_attrs} span attributes and {peer_metrics} metric instruments here, driftline "
            f"{own_attrs} and {own_metrics})")


def _records(run: BenchRun) -> list[str]:
    rows: list[list[str]] = []
    results: list[tuple[str, WorkerResult, str]] = []
    if run.driftline.data:
        results += [(n, run.driftline, n) for n in (DRIFTLINE, FLOOR, FLOOR_SPAN)]
    results += [(p.key, r, p.key) for p, r in _measured_peers(run)]
    for name, result, key in results:
        assert result.data is not None
        check = result.data["checks"][key]
        notes = result.data.get("notes", {})
        metrics = result.data.get("metrics", {})
        if name == DRIFTLINE:
            metric_names = metrics.get("driftline.instrumentation.openai", [])
        elif name in (FLOOR, FLOOR_SPAN):
            metric_names = metrics.get("driftline.benchmarks.floor", []) if name == FLOOR else []
        else:
            metric_names = sorted({m for names in metrics.values() for m in names})
        patched = len(notes.get("patched", [])) if name not in (FLOOR, FLOOR_SPAN) else 0
        toggle = notes.get("toggle", "—") if name not in (FLOOR, FLOOR_SPAN) else "called directly"
        rows.append([name, f"{check['nonstream']['spans']} / {check['stream']['spans']}",
                     f"{len(check['nonstream']['attributes'])} / {len(check['stream']['attributes'])}",
                     ", ".join(f"`{m}`" for m in metric_names) or "none",
                     "yes" if check["nonstream"]["content_on_span"] or check["stream"]["content_on_span"] else "no",
                     str(patched), toggle])
    return ["## What each contender records", "",
            "Spans per call and span attributes (non-streamed / streamed), metric instruments written, whether any "
            "span attribute holds prompt or completion text (it must not: capture is off), how many SDK "
            "methods its `instrument()` changes (as looked up through the class hierarchy of openai's clients, "
            "resources and streams, every `openai.resources` module imported), and how the worker switched it.", "",
            *_table(["Contender", "Spans", "Span attributes", "Metrics", "Content on span", "Methods changed",
                     "Switched by"], rows), ""]


def _not_measured(run: BenchRun) -> list[str]:
    failed = [(p, r) for p, r in run.peers if r.data is None]
    if not failed and not run.quick:
        return []
    lines = ["## Not measured", ""]
    if run.quick:
        lines.append("- Peers, start-up, processor throughput and the ML/tool overhead: not measured in `--quick` "
                     "mode (run `make bench` for the full report).")
    for peer, result in failed:
        lines.append(f"- {peer.label}: not measured: {result.error}")
    return [*lines, ""]


def _startup(run: BenchRun) -> list[str]:
    out = ["## Start-up cost of zero-code activation", ""]
    s = run.startup
    if s is None:
        return [*out, f"Not measured: {run.startup_error}.", ""]
    from .startup import VARIANTS

    med = {v.label: s.median(v.label) for v in VARIANTS}
    rows = []
    for i, v in enumerate(VARIANTS):
        added = f"+{med[v.label] - med[VARIANTS[i - 1].label]:.1f}" if v.auto else "—"
        rows.append([v.label, f"{med[v.label]:.1f}", f"{s.p90(v.label):.1f}", added])
    versions = ", ".join(f"{k} {v}" for k, v in s.versions.items())
    out += [f"Scratch virtualenv `.bench/auto` with the wheel built from this tree installed with "
            f"`[auto,openai]` ({versions}). Each command was run {s.runs} times, interleaved with the others "
            "(rotating order, after two untimed runs each); wall time of the whole interpreter process, ms. "
            "Activation was checked first: with the variable set, `import openai` leaves `Completions.create` "
            f"wrapped (`{s.activation_check}`).", "",
            *_table(["Command", "Median (ms)", "p90 (ms)", "Added by activation (ms)"], rows), "",
            "With the variable unset, the `.pth` line costs one environment lookup (not measurable here). "
            "Set, `pass` pays for registering a post-import hook (driftline's activation module and a small "
            "meta-path finder; wrapt, OpenTelemetry and typing are not imported); "
            "`import openai` additionally pays for instrumenting openai when it is imported (importing wrapt, "
            "the OpenTelemetry API and instrumentation base classes, and driftline's recorder). The SDK and exporter "
            "are configured lazily on the first span, so neither line includes them.", ""]
    if s.imports_ms:
        out += ["Where activation's time goes at `python -c pass` (top-level imports that only appear with the "
                "variable set; cumulative ms, median of five `python -X importtime` runs):", "",
                *_table(["Import", "Cumulative (ms)"], ([f"`{name}`", f"{ms:.1f}"] for name, ms in s.imports_ms)),
                ""]
    return out


def render(run: BenchRun) -> str:
    """The whole Markdown document."""
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    mode = "`--quick` smoke run (few rounds, driftline and floor only)" if run.quick else "full run"
    lines = [
        "# Performance",
        "",
        f"<!-- Generated by `python -m tests.benchmarks.run` ({'--quick' if run.quick else 'make bench'}); "
        "do not edit by hand. -->",
        "",
        f"Generated {now} by `python -m tests.benchmarks.run` ({mode}) in {run.elapsed_s:.0f} s. "
        "Per-call cost of driftline's OpenAI instrumentation against the uninstrumented SDK call, a hand-written "
        "floor and peer instrumentations, the start-up cost of `DRIFTLINE_AUTO_INSTRUMENT=true`, the OTLP "
        "processor's throughput, and the per-call cost of scikit-learn prediction spans and `@tool`.",
        "",
    ]
    if run.driftline.data is None:
        lines += [f"**Driftline could not be measured:** {run.driftline.error}", ""]
        return "\n".join(lines)
    targets, paragraphs = _ratios(run)
    lines += ["## Summary", ""]
    if run.quick:
        lines += ["*Quick mode: far too few rounds for stable numbers; this file only proves the pipeline works.*",
                  ""]
    lines += [*[p + "\n" for p in paragraphs]]
    lines += targets
    lines += ["## Results", "", *_overhead_tables(run)]
    lines += _records(run)
    lines += _startup(run)
    lines += processor_section(run.processor, run.processor_error)
    lines += ml_section(run.ml)
    lines += _not_measured(run)
    lines += _noise(run)
    lines += _method(run)
    lines += _machine(run)
    lines += _versions(run)
    lines += ["## Reproduce", "",
              "`make bench` (full run; creates `.bench/<peer>` virtualenvs on first use, reuses them after; "
              "`rm -r .bench` to refresh). `python -m tests.benchmarks.run --quick --out /tmp/p.md` for a smoke run; "
              "`python -m tests.benchmarks.run --profile` prints where driftline's per-call time goes; "
              "`python -m tests.benchmarks.run --processor` re-measures only the processor throughput section, "
              "`python -m tests.benchmarks.run --ml` only the ML/tool overhead section.", ""]
    return "\n".join(lines).rstrip() + "\n"


def _noise(run: BenchRun) -> list[str]:
    spreads = []
    for result in [run.driftline, *(r for _, r in run.peers)]:
        if result.data is None:
            continue
        blocks = [x for per_contender in result.data["paired_uninstrumented_us"].values()
                  for x in per_contender["nonstream"]]
        spreads.append(f"{result.label} {_us(quantile(blocks, 0.1))}–{_us(quantile(blocks, 0.9))}")
    return ["## Noise", "",
            "This is a 2-vCPU VM shared with other work. Uninstrumented non-streamed block medians, p10–p90 per "
            f"process (µs): {'; '.join(spreads)}. The per-round differences spread as widely (the p90 column). "
            "Pairing each instrumented block with an uninstrumented block run right next to it cancels much of "
            "this; the bootstrap intervals show how much is left. Treat differences inside the intervals as noise. "
            "Against a real network call (hundreds of ms), every overhead here is below 0.1 %.", ""]


def processor_section(processor: ProcessorRun | None, error: str | None) -> list[str]:
    """The "Processor throughput" section: the measurement, or why there is none (nothing if neither)."""
    from .processor.section import HEADING, render_section

    if processor is not None:
        return render_section(processor)
    if error:
        return [HEADING, "", f"Not measured: {error}", ""]
    return []


def splice_section(text: str, heading: str, section: list[str]) -> str:
    """``text`` (a whole ``docs/performance.md``) with the section under ``heading`` replaced by ``section``.

    Without one, the section goes before ``## Not measured`` / ``## Noise`` / ``## Method``, whichever
    comes first, or at the end. The rest of the document is kept as it is.
    """
    lines = text.rstrip("\n").split("\n")
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    else:
        start = end = next((i for i, line in enumerate(lines)
                            if line in ("## Not measured", "## Noise", "## Method")), len(lines))
        if start == len(lines):
            section = ["", *section]
    return "\n".join([*lines[:start], *section, *lines[end:]]).rstrip() + "\n"


def splice_processor_section(text: str, section: list[str]) -> str:
    """``text`` with its processor section replaced by ``section`` (see :func:`splice_section`)."""
    from .processor.section import HEADING

    return splice_section(text, HEADING, section)


def ml_section(ml: MLRun | None) -> list[str]:
    """The ML/tool overhead section: the measurement, or why there is none (nothing if it did not run)."""
    if ml is None:
        return []
    from .ml.section import render_section

    return render_section(ml)


def splice_ml_section(text: str, section: list[str]) -> str:
    """``text`` with its ML/tool section replaced by ``section`` (see :func:`splice_section`)."""
    from .ml.section import HEADING

    return splice_section(text, HEADING, section)
