"""Renders the "Classic ML predictions and the tool decorator" section of ``docs/performance.md``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..stats import Overhead, Ratio, overhead, quantile, ratio

if TYPE_CHECKING:
    from .run_ml import MLRun

HEADING = "## Classic ML predictions and the tool decorator"

FLOOR_TARGET = 1.3
"""Issue target: driftline's overhead at most 1.3× the hand-written floor's."""


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _us(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.1f}"


def _ov(ov: Overhead) -> str:
    return f"**{_us(ov.median)}** [{_us(ov.ci[0])}, {_us(ov.ci[1])}]"


def _ratio(r: Ratio) -> str:
    if not math.isfinite(r.value):
        return "n/a (floor ≤ 0: noise)"
    return f"{r.value:.2f}× [{r.ci[0]:.2f}, {r.ci[1]:.2f}]"


def verdict(r: Ratio, target: float = FLOOR_TARGET) -> str:
    """``met``/``missed`` by the point estimate, saying when the bootstrap interval straddles the target."""
    if not math.isfinite(r.value):
        return "undecided (noise)"
    if r.value <= target:
        return "**met**" if r.ci[1] <= target else f"**met** (point estimate; interval reaches {r.ci[1]:.2f}×)"
    return "**missed**" if r.ci[0] > target else f"**missed** (point estimate; interval reaches {r.ci[0]:.2f}×)"


def overheads(data: dict[str, Any], contender: str, case: str) -> Overhead:
    """``contender``'s overhead on ``case`` over its paired uninstrumented blocks."""
    paired = data["paired_uninstrumented_us"]
    medians = data["medians_us"]
    return overhead(paired[contender][case], medians[contender][case])


def render_section(run: MLRun) -> list[str]:
    """The section's Markdown lines (starting with :data:`HEADING`)."""
    lines = [HEADING, ""]
    d = run.data
    if d is None:
        return [*lines, f"Not measured: {run.error}", ""]
    if run.settings.smoke:
        lines += ["*Smoke run: a few rounds; these numbers only prove the pipeline works.*", ""]
    cases = d["cases"]
    results = []
    for case in cases:
        dl, fl = overheads(d, "driftline", case["key"]), overheads(d, "floor", case["key"])
        results.append((case, dl, fl, ratio(dl, fl, paired=True)))
    met = sum(1 for *_, r in results if math.isfinite(r.value) and r.value <= FLOOR_TARGET)
    lines += [
        f"Per-call cost of driftline's scikit-learn prediction spans (`SklearnInstrumentor`) and of the `@tool` "
        f"decorator, against the same call uninstrumented and against a hand-written floor that records the same "
        f"span attributes and metric (see *Method*). One worker process, {d['rounds']} interleaved rounds, "
        f"{run.elapsed_s:.0f} s in all; 1-minute load average {_load(run)}. Target from the issue: driftline's "
        f"overhead ≤ {FLOOR_TARGET}× the floor's — met in {met} of {len(results)} cases by the point estimate.",
        "",
    ]
    lines += _summary(results)
    rows = []
    for case, dl, fl, r in results:
        # A share of a sub-µs call (the trivial tool) says nothing; show it only for real work.
        share = f"{100.0 * dl.median / dl.baseline:.0f} %" if dl.baseline >= 1.0 else "—"
        rows.append([case["title"], _us(dl.baseline), _ov(dl), _us(dl.p90), _ov(fl), _ratio(r), verdict(r), share])
    lines += ["### Per-call overhead (µs)", "",
              "Overhead = contender's block median − the paired uninstrumented block median; median over rounds "
              "[bootstrap 95 % interval]; p90 over rounds. *× floor* is the ratio of median overheads [bootstrap "
              "95 % interval, rounds resampled jointly]. *Share* = driftline's overhead as a share of the "
              "uninstrumented call.", "",
              *_table(["Case", "Uninstrumented", "driftline overhead", "driftline p90", "floor overhead",
                       "driftline × floor", f"≤ {FLOOR_TARGET}×", "Share"], rows), ""]
    lines += _records(d, results)
    lines += _method(run, d)
    return lines


def _load(run: MLRun) -> str:
    if run.load_before is None or run.load_after is None:
        return "n/a"
    return f"{run.load_before:.2f} before → {run.load_after:.2f} after"


def _summary(results: list[tuple[dict[str, Any], Overhead, Overhead, Ratio]]) -> list[str]:
    out = []
    for case, dl, fl, r in results:
        out.append(f"- **{case['title']}**: driftline adds {_us(dl.median)} µs to a {_us(dl.baseline)} µs call, the "
                   f"floor {_us(fl.median)} µs: {_ratio(r)}, target {verdict(r)}; driftline's own machinery costs "
                   f"{_us(dl.median - fl.median)} µs over the floor.")
    return [*out, ""]


def _records(d: dict[str, Any], results: list[tuple[dict[str, Any], Overhead, Overhead, Ratio]]) -> list[str]:
    checks = d["checks"]
    rows = []
    for case, *_ in results:
        c = checks[case["key"]]
        inputs = (f"{case['input']} {case['rows']:,}×{case['features']}" if "rows" in case else "`add(2, 3)`")
        rows.append([str(case["title"]), inputs, f"`{c['span_name']}`", str(c["attributes"]), str(c["array_values"]),
                     "yes" if c["same_keys_and_values"] else "**no**"])
    return ["### What each call records", "",
            "Checked before timing, per case: driftline and the floor each produce one span; same name, kind, "
            "attribute keys and values (prediction id aside; the 32-row sample drawn from the same seed); "
            "the uninstrumented call produces none. *Array values*: elements of all array attributes "
            "(features of the recorded rows, predictions, scores, row indices).", "",
            *_table(["Case", "Input", "Span", "Attributes", "Array values", "Floor records the same"], rows), ""]


def _method(run: MLRun, d: dict[str, Any]) -> list[str]:
    models = d["models"]
    cases = d["cases"]
    paired = d["paired_uninstrumented_us"]
    spreads = []
    for case in cases:
        blocks = [*paired["driftline"][case["key"]], *paired["floor"][case["key"]]]
        spreads.append(f"{case['key']} {_us(quantile(blocks, 0.1))}–{_us(quantile(blocks, 0.9))}")
    versions = d["versions"]
    env = ", ".join(f"`{k}={v}`" for k, v in run.env.items())
    m = run.machine
    return [
        "### Method", "",
        f"- **Models** (`tests/benchmarks/ml/workload.py`), fitted once per run on 2,000 synthetic rows of "
        f"{d['features']} standard-normal features with a binary label: "
        + "; ".join(f"{name}: {text}" for name, text in models.items())
        + f". Called on fresh rows: a single row and a {d['batch']:,}-row batch (numpy arrays for the first two, "
        "DataFrames for the Pipeline). `predict_proba` for the logistic regression (scores, labels and the derived "
        "class are recorded), `predict` for the others. driftline's defaults: up to 32 rows recorded (a uniform "
        "sample above that), one `ml.feature.<name>` attribute per feature, features captured.",
        "- **Tool**: `def add(a, b): return a + b` with a one-line docstring; uninstrumented = the plain function, "
        "driftline = `tool(add)`, content capture off (so no arguments or result on the span).",
        "- **Telemetry pipeline** (the same for driftline and the floor): SDK `TracerProvider` (also the global one, "
        "which `@tool` uses) → `SimpleSpanProcessor` → an exporter that counts and drops spans; SDK "
        "`MeterProvider` with an `InMemoryMetricReader` never read while timing. Synchronous export: its cost "
        "lands on the calling thread for both, and no background thread competes for the two cores.",
        "- **Floor** (`tests/benchmarks/ml/floor.py`): a hand-written wrapper specialised to one model and method. "
        "Built once: span name, model identity (name, framework, task, method), the `ml.feature.<name>` keys, "
        "class labels, histogram attributes. Per call: the model method looked up on the model as user code does "
        "(`getattr(model, method)(x)`: a Pipeline's `available_if` check runs for every contender); a prediction id "
        "of 128 random bits as 32 hex digits from a private `random.Random` (`getrandbits`, the cheapest source, as "
        "driftline draws it; `uuid4().hex` costs a few µs more); batch size and feature "
        "count from `shape`; above 32 rows `sorted(random.sample(range(n), 32))` and one numpy fancy index "
        "(`to_numpy()` first for a DataFrame); one attribute per feature from `rows.T.tolist()`; "
        "`start_span(INTERNAL, attributes=…)`, made current around the model call; outputs of the sampled rows "
        "only (`predict`: `astype(float64).tolist()`; `predict_proba`: `ravel().tolist()` scores, argmax "
        "through the precomputed classes, labels, score type); `set_attributes`, `end()`, and the same "
        "`ml.inference.duration` histogram point with the span's context. For `@tool`: the four static attributes "
        "built once; per call `start_span`, attach, call, detach, `end()`. No patching, caller inspection, fault "
        "isolation, suppression or sampling checks, content policy, generic input readers or prediction-id "
        "bookkeeping.",
        f"- **Interleaving.** One process, {d['rounds']} rounds. A block is {d['calls']} calls of one case by one "
        f"contender ({int(d['calls']) * int(d['tool_calls_factor'])} for the tool), each timed on its own with "
        "`perf_counter_ns`; the block keeps the median. In every round, for each case (rotating order) and "
        "contender (alternating order), an uninstrumented block and the contender's block run back to back, "
        "which goes first alternating. driftline's scikit-learn instrumentation is switched on with "
        "`SklearnInstrumentor().instrument()` just before its block and off with `uninstrument()` after (untimed), "
        "which restores the original methods, so the uninstrumented and floor blocks run unpatched scikit-learn. "
        f"{d['warmup']} warm-up calls per case and contender, then `gc.freeze()`.",
        f"- **Environment.** The worker runs with {env} and no other `OTEL_*`/`DRIFTLINE_*` variables; native "
        f"thread pools as seen by threadpoolctl: {d['threads']}. One thread per call keeps OpenMP/BLAS workers "
        "from competing with the timing loop on two cores.",
        f"- **Noise.** Uninstrumented block medians, p10–p90 per case (µs): {'; '.join(spreads)}.",
        f"- **Machine.** {m.get('cpus', '?')} CPUs ({m.get('cpu_model', '?')}), Linux {m.get('kernel', '?')}, "
        f"Python {d['python']} ({d['implementation']}); "
        + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
    ]
