"""One measuring process for the ML section: uninstrumented vs driftline vs the floor, interleaved.

``python -m tests.benchmarks.ml.worker --rounds N --calls C --warmup W`` prints one JSON object.

Cases (:mod:`.workload`): three fitted scikit-learn models, each on a single row and a 1,000-row
batch, and a trivial ``@tool`` function. For a prediction case driftline is switched on and off
with ``SklearnInstrumentor().instrument()`` / ``uninstrument()`` around its blocks (which puts the
original methods back, so the uninstrumented and floor blocks run scikit-learn untouched); for
the tool case the contenders are the plain function, the ``@tool``-decorated one and the floor.

Before timing, one call per case and contender keeps its spans: driftline and the floor must each
produce exactly one span, with the same attribute keys and values (prediction id aside, row
sample drawn from the same seed), and the uninstrumented call none.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

UNINSTRUMENTED = "uninstrumented"
DRIFTLINE = "driftline"
FLOOR = "floor"
CONTENDERS = (DRIFTLINE, FLOOR)
TOOL_CALLS_FACTOR = 10
"""The tool case runs this many times more calls per block (one call is a few µs)."""
_CHECK_SEED = 1234
_VOLATILE = frozenset({"ml.prediction.id"})
"""Attributes whose values differ between any two calls."""


class CheckFailed(Exception):
    """A contender does not record what it should; the message says how."""


@dataclass
class Case:
    """One workload: the uninstrumented call, and how driftline and the floor make the same call."""

    key: str
    title: str
    calls_factor: int
    plain: Callable[[], Any]
    floor: Callable[[], Any]
    driftline: Callable[[], Any]
    enable: Callable[[], None] = field(default=lambda: None)
    disable: Callable[[], None] = field(default=lambda: None)
    info: dict[str, Any] = field(default_factory=dict)
    seed: Callable[[int], None] = field(default=lambda _s: None)
    """Seeds driftline's and the floor's row samplers alike (for the check)."""

    def call_for(self, who: str) -> Callable[[], Any]:
        """The callable timed for contender ``who``."""
        return {UNINSTRUMENTED: self.plain, DRIFTLINE: self.driftline, FLOOR: self.floor}[who]


def _time_calls(call: Callable[[], Any], n: int) -> list[float]:
    """Wall time of each of ``n`` calls, in microseconds."""
    clock = time.perf_counter_ns
    out: list[float] = []
    append = out.append
    for _ in range(n):
        t0 = clock()
        call()
        append((clock() - t0) / 1000.0)
    return out


def build_cases(telemetry: Any, models: Any) -> list[Case]:
    """The prediction cases and the tool case, with their floors."""
    from driftline.instrumentation import tool
    from driftline.instrumentation.ml import _tabular
    from driftline.instrumentation.sklearn import SklearnInstrumentor
    from driftline.instrumentation.sklearn._patching import identity

    from .floor import FloorPredictor, FloorTool
    from .workload import PREDICT_CASES, TOOL_CASE, add

    inst = SklearnInstrumentor()

    def enable() -> None:
        inst.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)

    cases: list[Case] = []
    for spec in PREDICT_CASES:
        model, x = spec.model(models), spec.inputs(models)
        ident = identity(model)  # what driftline would name it; the floor hard-codes the same
        floor = FloorPredictor(telemetry.tracer_provider, telemetry.meter_provider, model, spec.method,
                               name=str(ident.name), task=str(ident.task), frame=hasattr(x, "iloc"),
                               width=int(x.shape[1]))
        plain = spec.call(models)

        def floor_call(floor: FloorPredictor = floor, x: Any = x) -> Any:
            return floor(x)

        def seed(s: int, floor: FloorPredictor = floor) -> None:
            _tabular._rng.seed(s)
            floor.rng.seed(s)

        rows = spec.rows(models)
        cases.append(Case(spec.key, f"{ident.name}.{spec.method}, {rows:,} row{'s' if rows > 1 else ''}", 1,
                          plain, floor_call, plain, enable, inst.uninstrument,
                          {"model": ident.name, "method": spec.method, "rows": rows, "features": int(x.shape[1]),
                           "input": "DataFrame" if hasattr(x, "iloc") else "ndarray"}, seed))
    decorated = tool(add)
    floor_tool = FloorTool(telemetry.tracer_provider, add, "add", "Add two numbers.")
    cases.append(Case(TOOL_CASE, "`@tool` on a trivial sync function", TOOL_CALLS_FACTOR,
                      lambda: add(2, 3), lambda: floor_tool(2, 3), lambda: decorated(2, 3),
                      info={"function": "add(a, b) -> a + b"}))
    return cases


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b) and type(a) is type(b)


def check(cases: list[Case], telemetry: Any) -> dict[str, Any]:
    """One call per case and contender with spans kept: what each records; driftline's and the floor's must match."""
    exporter = telemetry.exporter
    report: dict[str, Any] = {}
    for case in cases:
        spans: dict[str, list[Any]] = {}
        for who in (UNINSTRUMENTED, DRIFTLINE, FLOOR):
            case.seed(_CHECK_SEED)
            exporter.captured = []
            if who == DRIFTLINE:
                case.enable()
            try:
                case.call_for(who)()
            finally:
                if who == DRIFTLINE:
                    case.disable()
            spans[who], exporter.captured = exporter.captured, None
        if spans[UNINSTRUMENTED]:
            raise CheckFailed(f"{case.key}: the uninstrumented call produced {len(spans[UNINSTRUMENTED])} span(s)")
        for who in CONTENDERS:
            if len(spans[who]) != 1:
                raise CheckFailed(f"{case.key}: {who} produced {len(spans[who])} spans, expected 1")
        dl, fl = spans[DRIFTLINE][0], spans[FLOOR][0]
        dl_attrs, fl_attrs = dict(dl.attributes or {}), dict(fl.attributes or {})
        if set(dl_attrs) != set(fl_attrs):
            only_dl, only_fl = sorted(set(dl_attrs) - set(fl_attrs)), sorted(set(fl_attrs) - set(dl_attrs))
            raise CheckFailed(f"{case.key}: attribute keys differ: driftline only {only_dl}, floor only {only_fl}")
        differing = sorted(k for k in dl_attrs if k not in _VOLATILE and not _same(dl_attrs[k], fl_attrs[k]))
        if differing:
            raise CheckFailed(f"{case.key}: attribute values differ: {differing[:5]}")
        if dl.name != fl.name or dl.kind != fl.kind:
            raise CheckFailed(f"{case.key}: span {dl.name!r}/{dl.kind} vs floor {fl.name!r}/{fl.kind}")
        report[case.key] = {
            "span_name": dl.name,
            "attributes": len(dl_attrs),
            "array_values": sum(len(v) for v in dl_attrs.values() if isinstance(v, tuple)),
            "same_keys_and_values": True,
            "scope": dl.instrumentation_scope.name if dl.instrumentation_scope else None,
        }
    return report


Medians = dict[str, dict[str, list[float]]]
"""contender → case → one median per round (µs per call)."""


def measure(cases: list[Case], rounds: int, calls: int, warmup: int) -> tuple[Medians, Medians]:
    """Per-round median per-call time (µs) of each contender and of its paired uninstrumented block.

    Every round, for each case (rotating order) and each contender (alternating order), an
    uninstrumented block and the contender's block run back to back, which one first alternating
    too; the pair's difference is that round's overhead. Driftline is switched on only around its
    own blocks (untimed). After the warm-up the heap is frozen (``gc.freeze``) so a collection in
    one block does not rescan scikit-learn's long-lived objects; collections still run while timing.
    """
    instrumented: Medians = {c: {case.key: [] for case in cases} for c in CONTENDERS}
    paired: Medians = {c: {case.key: [] for case in cases} for c in CONTENDERS}
    for case in cases:
        for who in (UNINSTRUMENTED, *CONTENDERS):
            if who == DRIFTLINE:
                case.enable()
            _time_calls(case.call_for(who), warmup * case.calls_factor)
            if who == DRIFTLINE:
                case.disable()
    gc.collect()
    gc.freeze()
    flip = False
    for r in range(rounds):
        k = r % len(cases)
        contenders = CONTENDERS if r % 2 == 0 else CONTENDERS[::-1]
        for case in cases[k:] + cases[:k]:
            n = calls * case.calls_factor
            for contender in contenders:
                flip = not flip
                for who in ((UNINSTRUMENTED, contender) if flip else (contender, UNINSTRUMENTED)):
                    if who == DRIFTLINE:
                        case.enable()
                    times = _time_calls(case.call_for(who), n)
                    if who == DRIFTLINE:
                        case.disable()
                    side = paired if who == UNINSTRUMENTED else instrumented
                    side[contender][case.key].append(statistics.median(times))
    gc.unfreeze()
    return instrumented, paired


def _versions() -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {}
    for name in ("driftline", "scikit-learn", "numpy", "pandas", "opentelemetry-sdk", "opentelemetry-api"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _threads() -> str:
    try:
        from threadpoolctl import threadpool_info

        return ", ".join(sorted({f"{i.get('internal_api')}={i.get('num_threads')}" for i in threadpool_info()}))
    except Exception:
        return "?"


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, check, measure, print JSON (or ``{"error": ...}`` and exit 2)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--calls", type=int, default=10, help="calls per contender, case and round (x10 for the tool)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls per contender and case")
    args = parser.parse_args(argv)
    # instrument() re-creates instruments every time; the SDK's notices about it are not results.
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    started = time.perf_counter()
    try:
        from .workload import BATCH, FEATURES, MODEL_DESCRIPTIONS, fit_models, make_telemetry

        telemetry = make_telemetry()
        models = fit_models()
        cases = build_cases(telemetry, models)
        checks = check(cases, telemetry)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 2
    medians, paired = measure(cases, args.rounds, args.calls, args.warmup)
    out = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "rounds": args.rounds,
        "calls": args.calls,
        "warmup": args.warmup,
        "tool_calls_factor": TOOL_CALLS_FACTOR,
        "features": FEATURES,
        "batch": BATCH,
        "models": MODEL_DESCRIPTIONS,
        "cases": [{"key": c.key, "title": c.title, **c.info} for c in cases],
        "medians_us": medians,
        "paired_uninstrumented_us": paired,
        "checks": checks,
        "spans_exported": telemetry.exporter.exported,
        "threads": _threads(),
        "versions": _versions(),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
