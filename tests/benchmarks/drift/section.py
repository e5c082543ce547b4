"""Renders the "Drift detection" section of ``docs/performance.md`` from a :class:`~.run_drift.DriftRun`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..stats import quantile
from . import streams
from .streams import CHANGE, HORIZON, WINDOW

if TYPE_CHECKING:
    from .run_drift import DriftRun

HEADING = "## Drift detection"

COLUMNS: tuple[tuple[str, str], ...] = (
    ("ours", "ours (any)"),
    ("ours_cusum", "ours: change detector"),
    ("ours_windows", "ours: windows"),
    ("adwin", "River ADWIN"),
    ("evidently", "Evidently"),
)
"""Contenders of the main tables: results key → column title."""

EXTRA: tuple[tuple[str, str], ...] = (
    ("ours_categorical", "ours (any), fed as categorical `error`/`ok`"),
    ("bernoulli_cusum", "`BernoulliCusum` alone (p0 from the reference)"),
)
"""Other feeds of the indicator streams."""

FALSE_ALARM_TARGET = 1.0
"""Issue target: at most one false alarm per 100,000 values, per signal and family-wise."""
STATE_TARGET = 8 * 1024
THROUGHPUT_TARGET = 1e6
_MISS = 1e18


@dataclass(frozen=True)
class Delay:
    """Detection delays of one contender on one scenario (first signal of every repetition)."""

    delays: tuple[float, ...]
    """Delay per repetition; :data:`_MISS` when nothing was detected within the horizon."""

    @property
    def reps(self) -> int:
        return len(self.delays)

    @property
    def misses(self) -> int:
        return sum(1 for d in self.delays if d >= _MISS)

    @property
    def miss_rate(self) -> float:
        return self.misses / self.reps if self.reps else math.nan

    def q(self, p: float) -> float:
        return quantile(self.delays, p) if self.delays else math.nan

    @property
    def median(self) -> float:
        return self.q(0.5)

    @property
    def p90(self) -> float:
        return self.q(0.9)


def delays(reps: Sequence[Sequence[Sequence[int]]]) -> Delay:
    """``reps`` as written by the runners: per repetition, per signal ``[pre, post, first_post]``."""
    out = []
    for rep in reps:
        first = rep[0][2]
        out.append(float(first - CHANGE) if first > 0 else _MISS)
    return Delay(tuple(out))


@dataclass(frozen=True)
class Rate:
    """False alarms over a number of monitored values."""

    alarms: int
    values: int

    @property
    def per_100k(self) -> float:
        return 1e5 * self.alarms / self.values if self.values else math.nan

    @property
    def upper_95(self) -> float:
        """One-sided 95 % Poisson upper bound per 100k (3 / n for no alarm; normal approximation above)."""
        if not self.values:
            return math.nan
        bound = 3.0 if self.alarms == 0 else self.alarms + 1.645 * math.sqrt(self.alarms) + 1.0
        return 1e5 * bound / self.values


def null_rate(reps: Sequence[Sequence[Sequence[int]]], length: int) -> Rate:
    """False alarms after the reference of a null stream's first signal, over ``length`` values per repetition."""
    return Rate(sum(rep[0][1] for rep in reps), length * len(reps))


def family_rate(reps: Sequence[Sequence[Sequence[int]]]) -> tuple[Rate, int]:
    """Alarms on the 49 undrifted signals per 100k time steps, and in how many repetitions any fired."""
    alarms = [sum(signal[1] for signal in rep[1:]) for rep in reps]
    return Rate(sum(alarms), HORIZON * len(reps)), sum(1 for a in alarms if a)


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _n(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    if x >= _MISS:
        return "miss"
    return f"{x:,.0f}"


def _delay_cell(d: Delay | None) -> str:
    if d is None or not d.reps:
        return "—"
    if d.misses == d.reps:
        return "miss (100 %)"
    # Quantiles that fall on (or interpolate towards) a miss exceed the horizon.
    med = "miss" if d.median > HORIZON else _n(d.median)
    p90 = f"> {HORIZON:,}" if d.p90 > HORIZON else _n(d.p90)
    cell = f"{med} / {p90}"
    if d.misses:
        cell += f" ({100.0 * d.miss_rate:.0f} % miss)"
    return cell


def _rate(r: Rate | None) -> str:
    if r is None or not r.values:
        return "—"
    if r.alarms == 0:
        return f"0 (< {r.upper_95:.2g})"
    return f"{r.per_100k:.3g} ({r.alarms:,})"


def _bytes(b: float | None) -> str:
    if b is None or not math.isfinite(b):
        return "—"
    return f"{b / 1024:.1f} KB" if b >= 1024 else f"{b:.0f} B"


def _rate_s(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.0f} k/s"
    return f"{x:.0f} /s"


def _verdict(ok: bool | None) -> str:
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**missed**"


class _Results:
    """All contenders' results merged: contender → scenario → repetitions."""

    def __init__(self, run: DriftRun) -> None:
        self.run = run
        self.by: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        if run.ours is not None:
            self.by.update(run.ours["results"])
        else:
            for key in ("ours", "ours_cusum", "ours_windows", *(k for k, _ in EXTRA)):
                self.errors[key] = run.ours_error or "not run"
        for peer in run.peers:
            if peer.data is not None:
                self.by.update(peer.data["results"])
            else:
                self.errors[peer.peer.key] = peer.error or "not run"
        if run.settings.ours_only:
            for peer_key in ("adwin", "evidently"):
                self.errors.setdefault(peer_key, "not run (`--ours-only`)")

    def delay(self, contender: str, scenario: str) -> Delay | None:
        reps = self.by.get(contender, {}).get(scenario)
        return None if reps is None else delays(reps)

    def null(self, contender: str, scenario: str) -> Rate | None:
        reps = self.by.get(contender, {}).get(scenario)
        return None if reps is None else null_rate(reps, self.run.settings.plan.null_length)

    def family(self, contender: str) -> tuple[Rate, int] | None:
        reps = self.by.get(contender, {}).get("family")
        return None if reps is None else family_rate(reps)

    def pre_change(self, contender: str) -> tuple[int, int]:
        """Drift streams in which ``contender`` alarmed during the reference, out of all."""
        hit = total = 0
        for scenario in streams.SCENARIOS:
            for rep in self.by.get(contender, {}).get(scenario.key, []):
                for signal in rep:
                    total += 1
                    hit += signal[0] > 0
        return hit, total


def _peer(run: DriftRun, key: str) -> Any:
    for peer in run.peers:
        if peer.peer.key == key:
            return peer
    return None


def render_section(run: DriftRun) -> list[str]:
    """The section's Markdown lines (starting with :data:`HEADING`)."""
    lines = [HEADING, ""]
    if run.ours is None:
        return [*lines, f"Not measured: driftline's monitor failed: {run.ours_error}", ""]
    res = _Results(run)
    plan = run.settings.plan
    if run.settings.quick:
        lines += ["*Quick run: a few repetitions and short null streams; these numbers only prove the pipeline "
                  "works.*", ""]
    peers_line = "; ".join(f"{p.peer.label}: " + (f"measured ({_versions(p.versions, p.peer.distributions[:1])})"
                                                  if p.data else f"not measured: {p.error}") for p in run.peers)
    lines += [
        f"Generated {run.started} by `python -m tests.benchmarks.run --drift` in {run.elapsed_s:.0f} s "
        f"(driftline {run.ours_s:.0f} s). Driftline's per-signal drift monitor (`SignalMonitor`, default "
        f"`DriftSettings`) against River's ADWIN and Evidently's per-column data drift test, on seeded synthetic "
        f"streams: {plan.reps} repetitions per drift scenario ({plan.family_reps} of the 50-signal family), "
        f"{plan.null_reps} null stream(s) of {plan.null_length:,} values per kind. "
        + (f"Peers: {peers_line}." if run.peers else "Peers not run.")
        + " Definitions and settings under *Method* below.",
        "",
    ]
    lines += _targets(run, res)
    lines += _delay_table(res)
    lines += _indicator_table(res)
    lines += _false_alarm_table(run, res)
    lines += _cost_table(run)
    lines += _evidently_notes(run)
    lines += _method(run, res)
    return lines


def _versions(versions: dict[str, str], names: Sequence[str]) -> str:
    return ", ".join(f"{name} {versions.get(name, '?')}" for name in names)


def _targets(run: DriftRun, res: _Results) -> list[str]:
    assert run.ours is not None
    rows = []
    for key in ("null_normal", "null_ar1", "null_bernoulli", "null_categorical"):
        rate = res.null("ours", key)
        scenario = streams.by_key(key)
        ok = None if rate is None else rate.per_100k <= FALSE_ALARM_TARGET
        rows.append([f"≤ {FALSE_ALARM_TARGET:g} false alarm / 100k values per signal: {scenario.title}",
                     f"{_rate(rate)} per 100k", _verdict(ok)])
    fam = res.family("ours")
    if fam is not None:
        rate, fired = fam
        iid = res.null("ours", "null_normal")
        extrapolated = f"; 50 × the iid null rate: {50 * iid.per_100k:.3g}" if iid is not None else ""
        rows.append([f"≤ {FALSE_ALARM_TARGET:g} false alarm / 100k time steps family-wise (50 signals)",
                     f"{_rate(rate)} per 100k on the 49 undrifted signals (any alarm in {fired} of "
                     f"{len(res.by['ours']['family'])} repetitions of {HORIZON:,} steps){extrapolated}",
                     _verdict(rate.per_100k <= FALSE_ALARM_TARGET)])
    for key, target in (("shift_1", 50), ("shift_0.5", 150), ("shift_0.25", 400), ("new_cat_5", 500)):
        d = res.delay("ours", key)
        scenario = streams.by_key(key)
        if d is None:
            rows.append([f"delay ≤ {target} at {scenario.title}", "—", "not measured"])
            continue
        ok = d.median <= target
        note = "" if d.p90 <= target else " (p90 above the target)"
        rows.append([f"median delay ≤ {target} values: {scenario.title}",
                     f"median / p90 {_delay_cell(d)}{note}", _verdict(ok)])
    states = run.ours["state_bytes"].get("null_normal", [])
    if states:
        est = max(s["estimate"] for s in states)
        js = max(s["json"] for s in states)
        rows.append([f"≤ {STATE_TARGET // 1024} KB state per numeric signal",
                     f"{_bytes(est)} in memory (profiles {_bytes(states[0]['profiles'])} + detector "
                     f"{_bytes(states[0]['detector'])} + bookkeeping); {_bytes(js)} as saved JSON state",
                     _verdict(est <= STATE_TARGET)])
    speed = run.ours["throughput"]["monitor"]["per_s"]
    rows.append([f"≥ {THROUGHPUT_TARGET / 1e6:g} M scalar updates/s vectorised",
                 f"{_rate_s(speed)} (`SignalMonitor.update_many`, {run.ours['throughput']['monitor']['values']:,.0f} "
                 f"values in one call; `CusumBank.update_many` alone "
                 f"{_rate_s(run.ours['throughput']['cusum_bank']['per_s'])})",
                 _verdict(speed >= THROUGHPUT_TARGET)])
    met = sum(1 for r in rows if r[2] == "**met**")
    return ["### Targets", "",
            f"Targets from the issue, for driftline's monitor with its defaults (*ours (any)*): {met} of {len(rows)} "
            "met. False-alarm cells: rate per 100k (alarms counted); with no alarm, the one-sided 95 % upper bound.",
            "", *_table(["Target", "Measured", "Verdict"], rows), ""]


def _delay_table(res: _Results) -> list[str]:
    header = ["Scenario", *(title for _, title in COLUMNS)]
    rows = []
    for scenario in streams.SCENARIOS:
        target = f" (target ≤ {scenario.target})" if scenario.target else ""
        title = f"{scenario.title}{target}"
        if scenario.kind == "indicator":
            title += ", ours fed numeric 0/1"
        rows.append([title, *(_delay_cell(res.delay(key, scenario.key)) if key not in res.errors else "not measured"
                              for key, _ in COLUMNS)])
    return ["### Detection delay", "",
            f"Values from the change to the first detection: median / p90 over repetitions (a repetition with no "
            f"detection within {HORIZON:,} values counts as a miss and as an infinite delay in the quantiles). "
            "Window-based detections land on window ends (multiples of 500 after the change).", "",
            *_table(header, rows), ""]


def _indicator_table(res: _Results) -> list[str]:
    keys = [s.key for s in streams.SCENARIOS if s.kind == "indicator"]
    header = ["Feed", *(streams.by_key(k).title for k in keys), "false alarms / 100k, rate-0.02 null"]
    rows = []
    for key, title in (COLUMNS[0], *EXTRA):
        if key in res.errors:
            continue
        rows.append([title, *(_delay_cell(res.delay(key, k)) for k in keys), _rate(res.null(key, "null_bernoulli"))])
    return ["### Error-rate streams, by how they are fed", "",
            "The processor tracks `tool.error` as a numeric 0/1 signal (first row: the monitor recognises a "
            "0/1 reference and runs a Bernoulli CUSUM on the rate, next to the windows) and `error.type` as a "
            "categorical one (second row: a Bernoulli CUSUM on the share of values other than the reference's "
            "most common one, plus one on never-seen categories, plus the windows). The last row is the "
            "Bernoulli chart alone (`BernoulliCusum.from_reference` on the first 2,000 indicators, watching a "
            "doubling of the rate) for comparison. Delay median / p90 as above.", "",
            *_table(header, rows), ""]


def _false_alarm_table(run: DriftRun, res: _Results) -> list[str]:
    header = ["Null stream", *(title for _, title in COLUMNS)]
    rows = []
    for scenario in streams.NULLS:
        rows.append([f"{scenario.title}, per signal",
                     *(_rate(res.null(key, scenario.key)) if key not in res.errors else "not measured"
                       for key, _ in COLUMNS)])
    fam_cells = []
    for key, _ in COLUMNS:
        fam = res.family(key) if key not in res.errors else None
        if fam is None:
            fam_cells.append("not measured" if key in res.errors else "—")
        else:
            rate, fired = fam
            fam_cells.append(f"{_rate(rate)}; {fired}/{len(res.by[key]['family'])} reps")
    rows.append(["family of 50 (49 undrifted signals), per 100k time steps", *fam_cells])
    hit, total = res.pre_change("adwin")
    adwin_note = (f" ADWIN also alarmed during the 2,000-value reference (it has no warm-up) in {hit} of "
                  f"{total:,} drift-scenario signals; those are not counted anywhere else." if total else "")
    plan = run.settings.plan
    return ["### False alarms", "",
            f"Alarms after the 2,000-value reference on streams with no change, per 100k values (alarms counted; "
            f"with none, the one-sided 95 % upper bound): {plan.null_reps} × {plan.null_length:,} values per null "
            f"kind. Family: alarms on the 49 signals that do not drift, per 100k time steps (each step is one "
            f"value of every signal), over {plan.family_reps} × {HORIZON:,} steps, and the repetitions in which any "
            f"fired. Categorical and indicator nulls are fed as in the scenarios (ADWIN: the unseen-category "
            f"indicator / the 0/1 indicator; Evidently: a categorical column).{adwin_note}", "",
            *_table(header, rows), ""]


def _cost_table(run: DriftRun) -> list[str]:
    assert run.ours is not None
    t = run.ours["throughput"]
    states = run.ours["state_bytes"]
    rows = []
    num = states.get("null_normal", [{}])[0]
    cat = states.get("null_categorical", [{}])[0]
    rows.append(["ours, numeric signal", f"{_bytes(num.get('estimate'))} in memory; JSON {_bytes(num.get('json'))}; "
                 f"pickle {_bytes(num.get('pickle'))}",
                 f"{_rate_s(t['monitor']['per_s'])} one call of {t['monitor']['values']:,.0f}; "
                 f"{_rate_s(t['monitor_chunks_1000']['per_s'])} in calls of 1,000; "
                 f"{_rate_s(t['monitor_drifting']['per_s'])} under a sustained +1 σ shift (an alarm every few "
                 "dozen values)"])
    rows.append(["ours, change detector alone (`CusumBank.update_many`)", "(included above)",
                 f"{_rate_s(t['cusum_bank']['per_s'])}"])
    rows.append(["ours, categorical signal", f"{_bytes(cat.get('estimate'))} in memory; JSON "
                 f"{_bytes(cat.get('json'))}; pickle {_bytes(cat.get('pickle'))}",
                 f"{_rate_s(t['monitor_categorical']['per_s'])} (list of strings)"])
    adwin = _peer(run, "adwin")
    if adwin is not None and adwin.data is not None:
        sb = adwin.data["state_bytes"].get("null_normal", {})
        rows.append(["River ADWIN", f"{_bytes(sb.get('median'))} pickled after {run.settings.plan.null_length:,} "
                     f"null values (max {_bytes(sb.get('max'))})",
                     f"{_rate_s(adwin.data['throughput'].get('null_normal', {}).get('per_s'))} (Python loop, one "
                     "`update` per value)"])
    elif adwin is not None:
        rows.append(["River ADWIN", f"not measured: {adwin.error}", "—"])
    ev = _peer(run, "evidently")
    if ev is not None and ev.data is not None:
        sb = ev.data["state_bytes"]
        et = ev.data["throughput"]
        rows.append(["Evidently", f"{_bytes(sb.get('null_normal'))} numeric, {_bytes(sb.get('null_categorical'))} "
                     "categorical: it keeps the raw reference (2,000) and current window (500) as pandas Series "
                     "(pickled)",
                     f"{_rate_s(et['stattest_per_s'])} through its stattest per window of {WINDOW}; "
                     f"{_rate_s(et['report_per_s'])} through `Report([ValueDrift])` per window"])
    elif ev is not None:
        rows.append(["Evidently", f"not measured: {ev.error}", "—"])
    return ["### State and throughput", "",
            "State per signal past the warm-up (ours: the reference and current profiles' `nbytes` plus the "
            "detector's arrays and numbers, no Python object headers; also its saved JSON state and the pickled "
            "monitor without the threshold cache all signals share). Throughput: median of "
            f"{run.settings.throughput_repeats} timings after the warm-up and the first windows (so the window "
            "threshold is already simulated and cached). The VM has 2 cores and other engineers' test runs were "
            f"going on (1-minute load {_load(run)}): throughput figures are noisy, read them as orders of magnitude.",
            "", *_table(["Contender", "State per signal", "Updates per second"], rows), ""]


def _load(run: DriftRun) -> str:
    if run.load_before is None or run.load_after is None:
        return "n/a"
    return f"{run.load_before:.2f} before → {run.load_after:.2f} after"


def _evidently_notes(run: DriftRun) -> list[str]:
    ev = _peer(run, "evidently")
    if ev is None or ev.data is None:
        return []
    rows = []
    for key, used in ev.data["methods"].items():
        rows.append([streams.by_key(key).title, "; ".join(f"{m} × {n:,}" for m, n in sorted(used.items()))])
    check = ev.data["report_check"]
    bad = check["disagreements"]
    agreement = (f"The first windows of every scenario were also run through `Report([ValueDrift(column=...)], "
                 f"include_tests=True)`: its test verdict agreed with the stattest's in {check['agree']} of "
                 f"{check['windows']} windows" + (f"; disagreements: {bad[:5]}" if bad else "") + ".")
    return ["### Evidently's choice of test", "",
            "Per window, `get_stattest(reference, current, column_type, None)` — what `ValueDrift` and "
            "`DataDriftPreset` call when no method is set — picks the test by column type and reference size "
            "(with more than 1,000 reference values: Wasserstein distance (normed) for numeric columns with more "
            "than 5 distinct values, Jensen-Shannon distance otherwise; K-S / chi-square / z-test only at ≤ 1,000); "
            f"windows per test below. {agreement}", "",
            *_table(["Stream", "Test (threshold) × windows"], rows), ""]


def _method(run: DriftRun, res: _Results) -> list[str]:
    assert run.ours is not None
    m = run.machine
    settings = run.ours["settings"]
    plan = run.settings.plan
    peer_lines = []
    for peer in run.peers:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(peer.versions.items()))
        pin = f" Pins: {peer.peer.pin_note}." if peer.peer.pin_note else ""
        status = f"{peer.elapsed_s:.0f} s" if peer.data else f"not measured: {peer.error}"
        peer_lines.append(f"  - {peer.peer.label} in `.bench/drift-{peer.peer.key}` ({status}): {versions}.{pin}")
    adwin = _peer(run, "adwin")
    adwin_params = adwin.data.get("parameters", {}) if adwin is not None and adwin.data else {}
    ours_settings = ", ".join(f"{k}={v}" for k, v in settings.items())
    return [
        "### Method", "",
        f"- **Streams** (`tests/benchmarks/drift/streams.py`): every stream starts with {CHANGE:,} in-control "
        f"values — the reference/warm-up every contender learns from — and changes at position {CHANGE:,} "
        f"(0-based index of the first changed value), then runs {HORIZON:,} values. Numeric in-control values are "
        "iid N(0, 1); mean shifts add 0.25/0.5/1; the scale change multiplies by 1.5; shape changes replace the "
        "values by Exp(1) − 1 or U(−√3, √3) (same mean and variance); gradual drift draws each value from N(1, 1) "
        "instead of N(0, 1) with probability ramping 0 → 1 over 2,000 values; incremental drift adds a mean "
        "moving linearly 0 → 1 over 2,000. Categorical: 4 categories with probabilities 0.4/0.3/0.2/0.1; after the "
        "change each value is replaced by a new category with probability 1 % or 5 %. Indicator: 1 (`error`) with "
        "probability 0.02, after the change 0.04 or 0.06. Family: 50 independent N(0, 1) signals, the first "
        "shifting by +0.5 σ. Null streams: iid N(0, 1), stationary AR(1) with φ = 0.5 and unit variance, the "
        "rate-0.02 indicator, and the categorical stream without change. Repetition `r` of stream kind `i` is "
        f"drawn from `numpy.random.default_rng([{streams.SEED}, i, r])`; every contender gets the same arrays "
        "(peers read them as `.npy` files).",
        f"- **Repetitions**: {plan.reps} per drift scenario, {plan.family_reps} of the family, {plan.null_reps} × "
        f"{plan.null_length:,} values per null kind.",
        "- **Positions and delay**: an alarm's position is the number of values seen when it was raised, the "
        f"alarming value included; delay = position − {CHANGE:,}. A detection is the first alarm after the change; "
        f"none within {HORIZON:,} values is a miss. A false alarm is any alarm after the reference on a null "
        "stream (or on an undrifted family signal).",
        "- **Ours**: `SignalMonitor(kind)` with the default `DriftSettings` (" + ours_settings + "), the whole "
        "stream in one `update_many` call (results do not depend on how the stream is chunked). *ours (any)*: "
        "rising edges of `detected` (the debounced state: window hysteresis up, or a change-detector alarm not yet "
        "cleared by a clean window). *ours: change detector*: every `cusum` event (numeric: `CusumBank` on the "
        "values; categorical: `BernoulliCusum` on \"never seen in the reference\"). *ours: windows*: rising edges "
        "of the window verdicts (`flagged`) through the same hysteresis, i.e. `detected` without the change "
        "detector. Numeric indicator streams are fed as 0.0/1.0; the other feeds are in the error-rate table.",
        "- **River ADWIN**: `river.drift.ADWIN()` with its defaults"
        + (f" ({', '.join(f'{k}={v}' for k, v in adwin_params.items())})" if adwin_params else "")
        + ", fed one value at a time from the first value on (no separate reference); every `drift_detected` is an "
        "alarm. Categorical streams are fed as the indicator of a category absent from the first 2,000 values, "
        "indicator streams as 0/1.",
        "- **Evidently**: tumbling windows of 500 after the reference, each tested against the 2,000 reference "
        "values with the default per-column test and threshold (see above); every drifted window is an alarm at "
        "the window's last value.",
        "- **Contenders run one after the other**, never two at once; peers in their own virtualenvs created with "
        "the same interpreter, with `OMP_NUM_THREADS=1` etc.:",
        *peer_lines,
        f"- **Machine**: {m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}), Linux {m.get('kernel', '?')}, "
        f"Python {m.get('python', '?')} ({m.get('implementation', '?')}); driftline "
        f"{run.ours['versions'].get('driftline', '?')}, numpy {run.ours['versions'].get('numpy', '?')}. "
        f"1-minute load {_load(run)}; other work shared the 2 cores, so only the throughput and run-time figures "
        "are affected by it (detection results are deterministic given the seeds).",
        "",
    ]
