"""One measuring process: the uninstrumented SDK against one or more instrumented contenders, in
interleaved rounds, printing JSON on stdout.

``python -m tests.benchmarks.worker --driftline`` (in driftline's virtualenv) times uninstrumented,
driftline, floor (span+metrics) and floor (span only); ``--peer module:Class --name KEY`` (in a
peer's virtualenv) times uninstrumented and that peer. Instrumentors are switched with
``instrument()`` / ``uninstrument()`` between blocks, so every contender runs in the same warmed-up
process, on the same client objects and transport. A block is ``--calls`` calls of one variant,
each timed on its own, summarised by its median; every round pairs each contender's block with an
uninstrumented block run right next to it (see :func:`measure`).

Before timing, one call per contender and variant checks that it does record (spans per call,
span attribute keys, chunks seen by the caller), and snapshots of the SDK's methods taken around
``instrument()``/``uninstrument()`` check that switching off leaves nothing behind.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import inspect
import json
import logging
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from .harness import (
    STREAM_CHUNKS,
    VARIANTS,
    Contender,
    Pipeline,
    http_module,
    make_clients,
    make_pipeline,
    sdk_create,
    time_calls,
)

UNINSTRUMENTED = "uninstrumented"


class CheckFailed(Exception):
    """A contender does not record (or does not switch off); the message says how."""


def _distribution_versions(names: list[str]) -> dict[str, str]:
    from importlib import metadata

    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _driftline_contenders(pipeline: Pipeline, clients: Any, base: Contender) -> tuple[list[Contender], dict[str, Any]]:
    from driftline.instrumentation.openai import OpenAIInstrumentor

    from .floor import FloorInstrumentation

    inst = OpenAIInstrumentor()
    json_client, sse_client = clients
    full = FloorInstrumentation(pipeline.tracer_provider, pipeline.meter_provider)
    span_only = FloorInstrumentation(pipeline.tracer_provider, None)

    def enable() -> None:
        inst.instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider)

    driftline, notes = _switchable("driftline", base, enable, inst.uninstrument)
    return [
        driftline,
        Contender("floor (span+metrics)", lambda **kw: full.create(json_client, **kw),
                  lambda **kw: full.create(sse_client, **kw)),
        Contender("floor (span only)", lambda **kw: span_only.create(json_client, **kw),
                  lambda **kw: span_only.create(sse_client, **kw)),
    ], notes


_PATCHABLE_ROOTS = ("openai", "httpx", "httpx2")


def _import_resources() -> None:
    """Import every ``openai.resources`` module (openai loads them lazily), so snapshots taken before
    and after ``instrument()`` see every method an instrumentor may patch."""
    import pkgutil

    import openai.resources

    for info in pkgutil.walk_packages(openai.resources.__path__, "openai.resources."):
        try:
            importlib.import_module(info.name)
        except ImportError:
            continue


Snapshot = dict[str, tuple[Any, str, Any]]
"""``"module.Class.attr"`` / ``"module:attr"`` → (owner, attribute name, value as looked up)."""


def _classes() -> list[type]:
    """The SDK classes a call goes through: clients, resources and streams (openai), and every
    class of the HTTP library."""
    from openai._base_client import BaseClient
    from openai._resource import AsyncAPIResource, SyncAPIResource
    from openai._streaming import AsyncStream, Stream

    roots = (BaseClient, SyncAPIResource, AsyncAPIResource, Stream, AsyncStream)
    seen: dict[int, type] = {}
    for mod_name, module in list(sys.modules.items()):
        root = mod_name.split(".", 1)[0]
        if module is None or root not in _PATCHABLE_ROOTS:
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and (issubclass(value, roots) if root == "openai"
                                            else value.__module__.startswith(root)):
                seen[id(value)] = value
    return list(seen.values())


def _snapshot() -> Snapshot:
    """What attribute lookups on the SDK's classes and module functions resolve to, by identity.

    Lookups follow the MRO (``inspect.getattr_static``), so a wrapper that shadows an inherited
    method shows up as a change, and putting the inherited function back counts as restored.
    Comparing snapshots tells what an instrumentor patched and whether ``uninstrument()`` undid it.
    """
    out: Snapshot = {}
    for cls in _classes():
        for attr in dir(cls):
            if not attr.startswith("__"):
                out[f"{cls.__module__}.{cls.__qualname__}.{attr}"] = (cls, attr, inspect.getattr_static(cls, attr))
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.split(".", 1)[0] not in _PATCHABLE_ROOTS:
            continue
        for attr, value in list(vars(module).items()):
            if inspect.isfunction(value) or isinstance(value, _wrapper_types()):
                out[f"{mod_name}:{attr}"] = (module, attr, value)
    return out


def _wrapper_types() -> tuple[type, ...]:
    try:
        import wrapt

        return (wrapt.ObjectProxy,)
    except ImportError:
        return ()


def _changed(before: Snapshot, after: Snapshot) -> list[str]:
    """Names that resolve to something else. Only names in both count: openai loads some modules
    lazily, and what they define is new, not patched."""
    return sorted(k for k in after.keys() & before.keys() if after[k][2] is not before[k][2])


def _switchable(name: str, base: Contender, instrument: Callable[[], None],
                uninstrument: Callable[[], None]) -> tuple[Contender, dict[str, Any]]:
    """An instrumented contender, switched by ``instrument()``/``uninstrument()`` when that restores
    the SDK, else by swapping the instrumentor's wrappers in and out (said in the returned notes)."""
    pristine = _snapshot()
    instrument()
    after = _snapshot()
    uninstrument()
    patched = _changed(pristine, after)
    left = _changed(pristine, _snapshot())
    notes: dict[str, Any] = {"patched": patched, "left_patched_by_uninstrument": left}
    if not left:
        notes["toggle"] = "instrument()/uninstrument()"
        return Contender(name, base.nonstream_create, base.stream_create, enable=instrument,
                         disable=uninstrument), notes
    # uninstrument() leaves patches behind (so instrument() again would wrap its own wrappers): put the
    # originals back by hand and, from then on, swap its wrappers in and out.
    swaps = [(*pristine[key][:2], pristine[key][2], after[key][2]) for key in patched]
    _apply(swaps, 2)
    notes["toggle"] = "wrapper swap (its uninstrument() leaves patches in place)"
    return Contender(name, base.nonstream_create, base.stream_create, enable=lambda: _apply(swaps, 3),
                     disable=lambda: _apply(swaps, 2)), notes


def _apply(swaps: list[tuple[Any, str, Any, Any]], index: int) -> None:
    """Set every swapped attribute to its original (``index=2``) or instrumented (``3``) value."""
    for swap in swaps:
        setattr(swap[0], swap[1], swap[index])


def _peer_contender(pipeline: Pipeline, base: Contender, target: str, name: str) -> tuple[Contender, dict[str, Any]]:
    """The peer named by ``module:Class`` as a contender."""
    module_name, _, class_name = target.partition(":")
    inst = getattr(importlib.import_module(module_name), class_name)()

    def instrument() -> None:
        inst.instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider)

    return _switchable(name, base, instrument, inst.uninstrument)


def _check(contenders: list[Contender], pipeline: Pipeline) -> dict[str, Any]:
    """One call per contender and variant with spans kept: what each records, and that it switches off."""
    report: dict[str, Any] = {}
    exporter = pipeline.exporter
    for contender in contenders:
        contender.enable()
        entry: dict[str, Any] = {}
        for variant in VARIANTS:
            exporter.captured = []
            result = contender.create_for(variant)(**variant.request)
            chunks = sum(1 for _ in result) if variant.name == "stream" else None
            spans = exporter.captured
            exporter.captured = None
            entry[variant.name] = {
                "spans": len(spans),
                "span_names": [s.name for s in spans],
                "scopes": sorted({s.instrumentation_scope.name for s in spans if s.instrumentation_scope}),
                "attributes": sorted({key for s in spans for key in (s.attributes or {})}),
                "content_on_span": any(_has_content(v) for s in spans for v in (s.attributes or {}).values()),
                "chunks": chunks,
            }
            if contender.name != UNINSTRUMENTED and not spans:
                raise CheckFailed(f"{contender.name}: an instrumented {variant.name} call produced no span")
            if chunks is not None and chunks != STREAM_CHUNKS:
                raise CheckFailed(f"{contender.name}: the caller saw {chunks} chunks, expected {STREAM_CHUNKS}")
        contender.disable()
        report[contender.name] = entry
    base = report[UNINSTRUMENTED]
    for variant in VARIANTS:
        if base[variant.name]["spans"]:
            raise CheckFailed(f"the uninstrumented {variant.name} call produced spans: {base[variant.name]}")
    return report


_CONTENT_MARKERS = ("science-fiction", "Le Guin", "concise assistant")
"""Words of the canned prompt and answer: found in a span attribute, content was captured."""


def _has_content(value: Any) -> bool:
    values = value if isinstance(value, (list, tuple)) else (value,)
    return any(isinstance(v, str) and any(m in v for m in _CONTENT_MARKERS) for v in values)


def _metric_names(pipeline: Pipeline) -> dict[str, list[str]]:
    """Metric names per instrumentation scope, read once after timing."""
    data = pipeline.reader.get_metrics_data()
    out: dict[str, set[str]] = {}
    if data is not None:
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                out.setdefault(sm.scope.name, set()).update(m.name for m in sm.metrics)
    return {scope: sorted(metric_names) for scope, metric_names in sorted(out.items())}


Medians = dict[str, dict[str, list[float]]]
"""contender → variant → one median per round (µs per call)."""


def measure(base: Contender, contenders: list[Contender], rounds: int, calls: int,
            warmup: int) -> tuple[Medians, Medians]:
    """Per-round median per-call time (µs) of each contender and of its paired uninstrumented block.

    Every round, for each contender (rotating order) and each variant (alternating order), an
    uninstrumented block and the contender's block run back to back, which one first alternating
    too; the pair's difference is that round's overhead. Pairs keep the two sides a few ms apart, so
    the bursts of load on a shared VM hit both alike.

    After the warm-up the heap is frozen (``gc.freeze``): the SDKs' ~100k long-lived objects then
    stay out of later collections, so a full collection landing in one block costs what that
    contender's own garbage costs, not tens of ms of scanning openai's models. Collections still
    run as usual during timing.
    """
    instrumented: Medians = {c.name: {v.name: [] for v in VARIANTS} for c in contenders}
    paired: Medians = {c.name: {v.name: [] for v in VARIANTS} for c in contenders}
    for contender in [base, *contenders]:
        contender.enable()
        for variant in VARIANTS:
            time_calls(variant.make(contender.create_for(variant)), warmup)
        contender.disable()
    gc.collect()
    gc.freeze()
    flip = False
    for r in range(rounds):
        k = r % len(contenders)
        variants = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
        for contender in contenders[k:] + contenders[:k]:
            for variant in variants:
                flip = not flip
                for who in ((base, contender) if flip else (contender, base)):
                    who.enable()
                    times = time_calls(variant.make(who.create_for(variant)), calls)
                    who.disable()
                    side = paired if who is base else instrumented
                    side[contender.name][variant.name].append(statistics.median(times))
    gc.unfreeze()
    return instrumented, paired


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, check, measure, print JSON (or ``{"error": ...}`` and exit 2)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--driftline", action="store_true", help="driftline + the two floors")
    who.add_argument("--peer", metavar="MODULE:CLASS", help="a peer's BaseInstrumentor")
    parser.add_argument("--name", default="peer", help="the peer's name in the output")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--calls", type=int, default=10, help="calls per contender, variant and round")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls per contender and variant")
    args = parser.parse_args(argv)
    # Re-creating instruments on every instrument() may log notices; they are not results.
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    started = time.perf_counter()
    pipeline = make_pipeline()
    clients = make_clients()
    json_create, sse_create = sdk_create(clients)
    base = Contender(UNINSTRUMENTED, json_create, sse_create)
    try:
        _import_resources()
        for variant in VARIANTS:  # load what the SDK imports lazily on first use, too
            variant.make(base.create_for(variant))()
        if args.driftline:
            extra, notes = _driftline_contenders(pipeline, clients, base)
        else:
            peer, notes = _peer_contender(pipeline, base, args.peer, args.name)
            extra = [peer]
        contenders = [base, *extra]
        checks = _check(contenders, pipeline)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 2
    medians, paired = measure(base, extra, args.rounds, args.calls, args.warmup)
    out = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "http": http_module().__name__,
        "rounds": args.rounds,
        "calls": args.calls,
        "stream_chunks": STREAM_CHUNKS,
        "medians_us": medians,
        "paired_uninstrumented_us": paired,
        "checks": checks,
        "notes": notes,
        "metrics": _metric_names(pipeline),
        "versions": _distribution_versions(["openai", "opentelemetry-sdk", "opentelemetry-api", "httpx", "httpx2",
                                            "pydantic", "wrapt", *(["driftline"] if args.driftline else [])]),
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
