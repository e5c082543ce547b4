"""The demo's HTML report: one self-contained file with inline SVG charts (no JavaScript, no dependencies).

``run.py`` gathers the data (the processor's saved drift state, ``/metrics`` scrapes taken between
traffic batches, the spans it stored and the alerts its webhook received) and calls
:func:`render_report`. The charts:

* :class:`Histogram` — a signal's reference distribution next to its last closed window, over the
  reference's own bins (read from the engine state: ``reference`` and ``last_window`` counts);
* :class:`LineChart` — values over the traffic (drift score with its threshold), a shaded second phase;
* :class:`BarChart` — one bar per traffic batch (a quality measure such as the truncated share).
"""

from __future__ import annotations

import html
import itertools
import json
import math
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AlertRow", "BarChart", "Histogram", "LineChart", "ReportData", "Series", "histogram_from_state",
           "load_drift_state", "render_report"]

REFERENCE_COLOR = "#9aa0a6"
_FONT = "font-family='system-ui, sans-serif'"
_MISSING_BUCKETS = ("__other__", "__unseen__", "__missing__")


# --- data --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Histogram:
    """Reference vs last-window counts of one signal over the reference's buckets."""

    title: str
    bins: Sequence[str]
    reference: Sequence[int]
    current: Sequence[int]
    color: str
    caption: str = ""


@dataclass(frozen=True)
class Series:
    """One line: ``(x, y)`` points (``y`` None = no value yet: a gap); dashed for thresholds."""

    name: str
    points: Sequence[tuple[float, float | None]]
    color: str
    dashed: bool = False


@dataclass(frozen=True)
class LineChart:
    """Lines over the traffic; ``shade_from``: x where the shaded (second) phase starts."""

    title: str
    series: Sequence[Series]
    x_label: str
    y_label: str
    shade_from: float | None = None
    shade_label: str = ""
    caption: str = ""


@dataclass(frozen=True)
class BarChart:
    """One bar per category (e.g. per traffic batch), values in [0, 1] shown as percentages."""

    title: str
    labels: Sequence[str]
    values: Sequence[float | None]
    colors: Sequence[str]
    x_label: str
    y_label: str
    reference: float | None = None
    reference_label: str = ""
    legend: Sequence[tuple[str, str]] = ()
    """``(name, colour)`` boxes explaining the bar colours."""
    caption: str = ""


@dataclass(frozen=True)
class AlertRow:
    """One alert as the webhook received it, plus when (in traffic calls) it arrived."""

    rule: str
    state: str
    severity: str
    model: str
    signal: str
    segment: str
    condition: str
    statistic: str
    trace_ids: Sequence[str]
    arrived: str = ""


@dataclass(frozen=True)
class ReportData:
    """Everything :func:`render_report` puts on the page."""

    title: str
    summary: Sequence[str]
    alerts: Sequence[AlertRow]
    histograms: Sequence[Histogram]
    lines: Sequence[LineChart]
    bars: Sequence[BarChart]
    config: str
    footer: Sequence[str] = field(default_factory=tuple)


# --- reading the processor's saved state ---------------------------------------------------------------

def load_drift_state(path: Path) -> dict[str, Any]:
    """The drift engine state(s) the processor saved (SQLite table ``drift_state``, JSON column ``state``:
    the engine's ``to_state()``, alone or under ``"engine"`` next to other analyses), merged into one
    ``{"monitors": [...]}`` (one row per pipeline)."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT state FROM drift_state ORDER BY name").fetchall()
    finally:
        db.close()
    monitors: list[dict[str, Any]] = []
    for (text,) in rows:
        saved = json.loads(text)
        engine = saved.get("engine", saved) if isinstance(saved, dict) else {}
        monitors += engine.get("monitors", [])
    return {"monitors": monitors}


def _monitor(state: Mapping[str, Any], model: str, signal: str, segment: str) -> Mapping[str, Any] | None:
    for entry in state.get("monitors", []):
        if entry["model"] == model and entry["signal"] == signal and entry["segment"] == segment:
            return dict(entry["state"])
    return None


def _number(value: float) -> str:
    magnitude = abs(value)
    return f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"


def histogram_from_state(state: Mapping[str, Any], *, model: str, signal: str, segment: str, title: str,
                         color: str, caption: str = "") -> Histogram | None:
    """A :class:`Histogram` of one monitor's reference and last closed window; None until both exist.

    Numeric profiles: the bins ``(-inf, e1], (e1, e2], ..., (em, +inf)`` of the reference's quantile
    edges (the NaN slot only when used). Categorical: the reference's top categories, then other,
    unseen and missing (only those used)."""
    monitor = _monitor(state, model, signal, segment)
    if monitor is None or monitor.get("reference") is None or monitor.get("last_window") is None:
        return None
    reference, window = monitor["reference"], monitor["last_window"]
    if reference["kind"] == "numeric":
        edges = [float(e) for e in reference["edges"]]
        if edges:
            bins = ([f"≤{_number(edges[0])}"] + [f"{_number(a)}–{_number(b)}" for a, b in itertools.pairwise(edges)]
                    + [f">{_number(edges[-1])}"])
        else:
            bins = ["all"]
        bins.append("missing")
    else:
        bins = [*reference["categories"], *(b.strip("_") for b in _MISSING_BUCKETS)]
    ref_counts = [int(c) for c in reference["counts"]]
    cur_counts = [int(c) for c in window["counts"]]
    keep = [i for i in range(len(bins)) if ref_counts[i] or cur_counts[i] or
            (reference["kind"] == "numeric" and i < len(bins) - 1)]
    return Histogram(title, [bins[i] for i in keep], [ref_counts[i] for i in keep], [cur_counts[i] for i in keep],
                     color, caption)


# --- SVG ---------------------------------------------------------------------------------------------

def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def _fmt_tick(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:g}" if value >= 1 or value == 0 else f"{value:.2g}"


class _Canvas:
    """An SVG with a plot area, axes and a legend."""

    def __init__(self, title: str, width: int = 640, height: int = 300, bottom: int = 46) -> None:
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 58, 16, 48, bottom
        self.title = title
        self.parts: list[str] = []
        self.legend: list[tuple[str, str, bool, bool]] = []

    @property
    def plot_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_h(self) -> float:
        return float(self.height - self.top - self.bottom)

    def y_axis(self, ticks: Sequence[float], label: str, percent: bool = False) -> None:
        top = ticks[-1]
        for tick in ticks:
            y = self.top + self.plot_h * (1 - tick / top)
            self.parts.append(f"<line x1='{self.left}' y1='{y:.1f}' x2='{self.width - self.right}' y2='{y:.1f}' "
                              f"stroke='#e8eaed'/>")
            self.parts.append(f"<text x='{self.left - 6}' y='{y + 3.5:.1f}' text-anchor='end' font-size='10' "
                              f"fill='#5f6368'>{_fmt_tick(tick, percent)}</text>")
        mid = self.top + self.plot_h / 2
        self.parts.append(f"<text x='14' y='{mid:.1f}' font-size='11' fill='#3c4043' text-anchor='middle' "
                          f"transform='rotate(-90 14 {mid:.1f})'>{html.escape(label)}</text>")
        self.parts.append(f"<line x1='{self.left}' y1='{self.top + self.plot_h:.1f}' x2='{self.width - self.right}' "
                          f"y2='{self.top + self.plot_h:.1f}' stroke='#5f6368'/>")

    def x_label(self, label: str) -> None:
        self.parts.append(f"<text x='{self.left + self.plot_w / 2:.1f}' y='{self.height - 6}' font-size='11' "
                          f"fill='#3c4043' text-anchor='middle'>{html.escape(label)}</text>")

    def add_legend(self, name: str, color: str, dashed: bool = False, box: bool = False) -> None:
        self.legend.append((name, color, dashed, box))

    def svg(self) -> str:
        x = float(self.left)
        legend: list[str] = []
        for name, color, dashed, box in self.legend:
            if box:
                legend.append(f"<rect x='{x:.1f}' y='29' width='12' height='10' fill='{color}'/>")
            else:
                dash = " stroke-dasharray='5 3'" if dashed else ""
                legend.append(f"<line x1='{x:.1f}' y1='34' x2='{x + 14:.1f}' y2='34' stroke='{color}' "
                              f"stroke-width='2'{dash}/>")
            legend.append(f"<text x='{x + 18:.1f}' y='38' font-size='11' fill='#3c4043'>{html.escape(name)}</text>")
            x += 30 + 6.2 * len(name)
        return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{self.width}' height='{self.height}' "
                f"viewBox='0 0 {self.width} {self.height}' role='img' aria-label='{html.escape(self.title)}' {_FONT}>"
                f"<title>{html.escape(self.title)}</title>"
                f"<rect width='100%' height='100%' fill='white'/>"
                f"<text x='{self.left}' y='18' font-size='13' font-weight='600' fill='#202124'>"
                f"{html.escape(self.title)}</text>" + "".join(legend) + "".join(self.parts) + "</svg>")


def histogram_svg(chart: Histogram) -> str:
    """Grouped bars: the reference's share of values per bin (grey) next to the last window's (colour)."""
    ref_total = sum(chart.reference) or 1
    cur_total = sum(chart.current) or 1
    ref = [c / ref_total for c in chart.reference]
    cur = [c / cur_total for c in chart.current]
    canvas = _Canvas(chart.title, width=560, height=300, bottom=64)
    ticks = _ticks(max([*ref, *cur, 0.01]))
    canvas.y_axis(ticks, "share of values", percent=True)
    group = canvas.plot_w / max(1, len(chart.bins))
    bar = group * 0.38
    scale = canvas.plot_h / ticks[-1]
    base = canvas.top + canvas.plot_h
    for i, label in enumerate(chart.bins):
        x0 = canvas.left + i * group + group * 0.12
        for j, (share, color, count) in enumerate(((ref[i], REFERENCE_COLOR, chart.reference[i]),
                                                   (cur[i], chart.color, chart.current[i]))):
            h = share * scale
            canvas.parts.append(f"<rect x='{x0 + j * bar:.1f}' y='{base - h:.1f}' width='{bar:.1f}' "
                                f"height='{h:.1f}' fill='{color}'><title>{html.escape(label)}: {count} values "
                                f"({share * 100:.1f}%)</title></rect>")
        cx = canvas.left + (i + 0.5) * group
        canvas.parts.append(f"<text x='{cx:.1f}' y='{base + 12:.1f}' font-size='9.5' fill='#5f6368' "
                            f"text-anchor='end' transform='rotate(-35 {cx:.1f} {base + 12:.1f})'>"
                            f"{html.escape(label)}</text>")
    canvas.add_legend(f"reference (n={sum(chart.reference)})", REFERENCE_COLOR, box=True)
    canvas.add_legend(f"last window (n={sum(chart.current)})", chart.color, box=True)
    return canvas.svg()


def line_svg(chart: LineChart) -> str:
    """Polylines over x (gaps where a value is missing), dots on the points, thresholds dashed."""
    xs = [x for s in chart.series for x, _ in s.points]
    ys = [y for s in chart.series for _, y in s.points if y is not None and math.isfinite(y)]
    canvas = _Canvas(chart.title)
    ticks = _ticks(max([*ys, 1e-3]) * 1.05)
    canvas.y_axis(ticks, chart.y_label)
    x_max = max([*xs, 1.0])

    def px(x: float) -> float:
        return canvas.left + canvas.plot_w * x / x_max

    def py(y: float) -> float:
        return canvas.top + canvas.plot_h * (1 - y / ticks[-1])

    if chart.shade_from is not None:
        x0 = px(chart.shade_from)
        canvas.parts.insert(0, f"<rect x='{x0:.1f}' y='{canvas.top}' width='{canvas.left + canvas.plot_w - x0:.1f}' "
                               f"height='{canvas.plot_h:.1f}' fill='#fef7e0'/>")
        canvas.parts.append(f"<text x='{x0 + 4:.1f}' y='{canvas.top + 12}' font-size='10' fill='#b06000'>"
                            f"{html.escape(chart.shade_label)}</text>")
    for tick in _ticks(x_max, 6):
        if tick <= x_max:
            canvas.parts.append(f"<text x='{px(tick):.1f}' y='{canvas.top + canvas.plot_h + 14:.1f}' font-size='10' "
                                f"fill='#5f6368' text-anchor='middle'>{tick:g}</text>")
    for series in chart.series:
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in series.points:
            if y is None or not math.isfinite(y):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((px(x), py(y)))
        dash = " stroke-dasharray='5 3'" if series.dashed else ""
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                canvas.parts.append(f"<polyline points='{points}' fill='none' stroke='{series.color}' "
                                    f"stroke-width='{1.5 if series.dashed else 2}'{dash}/>")
            if not series.dashed:
                canvas.parts += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.8' fill='{series.color}'/>" for x, y in run]
        canvas.add_legend(series.name, series.color, series.dashed)
    canvas.x_label(chart.x_label)
    return canvas.svg()


def bar_svg(chart: BarChart) -> str:
    """One bar per label, values as percentages, an optional dashed reference level."""
    present = [v for v in chart.values if v is not None]
    canvas = _Canvas(chart.title)
    ticks = _ticks(max([*present, chart.reference or 0.0, 0.01]) * 1.05)
    canvas.y_axis(ticks, chart.y_label, percent=True)
    slot = canvas.plot_w / max(1, len(chart.labels))
    base = canvas.top + canvas.plot_h
    scale = canvas.plot_h / ticks[-1]
    for i, (label, value, color) in enumerate(zip(chart.labels, chart.values, chart.colors, strict=True)):
        x = canvas.left + i * slot + slot * 0.15
        if value is not None:
            h = value * scale
            canvas.parts.append(f"<rect x='{x:.1f}' y='{base - h:.1f}' width='{slot * 0.7:.1f}' height='{h:.1f}' "
                                f"fill='{color}'><title>{html.escape(label)}: {value * 100:.1f}%</title></rect>")
            canvas.parts.append(f"<text x='{x + slot * 0.35:.1f}' y='{base - h - 3:.1f}' font-size='9' "
                                f"fill='#3c4043' text-anchor='middle'>{value * 100:.0f}%</text>")
        canvas.parts.append(f"<text x='{x + slot * 0.35:.1f}' y='{base + 13:.1f}' font-size='10' fill='#5f6368' "
                            f"text-anchor='middle'>{html.escape(label)}</text>")
    if chart.reference is not None:
        y = base - chart.reference * scale
        canvas.parts.append(f"<line x1='{canvas.left}' y1='{y:.1f}' x2='{canvas.left + canvas.plot_w:.1f}' "
                            f"y2='{y:.1f}' stroke='#5f6368' stroke-dasharray='5 3'/>")
        canvas.add_legend(chart.reference_label, "#5f6368", dashed=True)
    for name, color in chart.legend:
        canvas.add_legend(name, color, box=True)
    canvas.x_label(chart.x_label)
    return canvas.svg()


# --- the page ----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;color:#202124;max-width:1180px;margin:24px auto;padding:0 16px;line-height:1.45}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #e8eaed}
.lead{color:#3c4043}figure{display:inline-block;margin:8px 12px 8px 0;vertical-align:top}
figcaption{font-size:12px;color:#5f6368;max-width:620px}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #e8eaed;padding:4px 8px;text-align:left;
vertical-align:top}th{background:#f8f9fa}code,.trace{font-family:ui-monospace,monospace;font-size:12px}
.firing{color:#c5221f;font-weight:600}.resolved{color:#188038;font-weight:600}
pre{background:#f8f9fa;padding:10px;font-size:12px;overflow:auto}footer{color:#5f6368;font-size:12px;margin-top:24px}
"""


def _figure(svg: str, caption: str) -> str:
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{svg}{cap}</figure>"


def _alerts_table(alerts: Sequence[AlertRow]) -> str:
    if not alerts:
        return "<p>No alert was received.</p>"
    head = ("<tr><th>state</th><th>rule</th><th>severity</th><th>model</th><th>signal</th><th>segment</th>"
            "<th>condition</th><th>statistic</th><th>arrived</th><th>example trace ids</th></tr>")
    rows = []
    for a in alerts:
        traces = "<br>".join(f"<span class='trace'>{html.escape(t)}</span>" for t in a.trace_ids) or "-"
        rows.append(f"<tr class='alert'><td class='{html.escape(a.state)}'>{html.escape(a.state)}</td>"
                    f"<td>{html.escape(a.rule)}</td><td>{html.escape(a.severity)}</td><td>{html.escape(a.model)}</td>"
                    f"<td><code>{html.escape(a.signal)}</code></td><td>{html.escape(a.segment or '(all)')}</td>"
                    f"<td>{html.escape(a.condition)}</td><td>{html.escape(a.statistic)}</td>"
                    f"<td>{html.escape(a.arrived)}</td><td>{traces}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render_report(data: ReportData) -> str:
    """The whole page as one HTML string (inline CSS and SVG only)."""
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in data.summary)
    histograms = "".join(_figure(histogram_svg(h), h.caption) for h in data.histograms)
    lines = "".join(_figure(line_svg(c), c.caption) for c in data.lines)
    bars = "".join(_figure(bar_svg(c), c.caption) for c in data.bars)
    footer = "".join(f"<div>{html.escape(line)}</div>" for line in data.footer)
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>"
            f"<style>{_CSS}</style></head><body>\n<h1>{html.escape(data.title)}</h1>\n<ul class='lead'>{summary}</ul>\n"
            f"<h2>Alerts (received by the demo's webhook)</h2>\n{_alerts_table(data.alerts)}\n"
            f"<h2>What drifted: reference vs last window</h2>\n{histograms}\n"
            f"<h2>Drift score over time</h2>\n{lines}\n"
            f"<h2>Quality over time</h2>\n{bars}\n"
            f"<h2>Processor configuration</h2>\n<pre>{html.escape(data.config)}</pre>\n"
            f"<footer>{footer}</footer>\n</body></html>\n")
