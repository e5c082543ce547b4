"""Seeded synthetic streams of the drift benchmark, how they travel to the peers, and how alarms are counted.

Every stream starts with :data:`CHANGE` in-control values (the reference / warm-up every contender
learns from); drift scenarios change at that position and run :data:`HORIZON` values past it, null
streams never change. Stream ``rep`` of a scenario is drawn from ``numpy.random.default_rng([SEED,
scenario index, rep])``, so every contender sees exactly the same values and a rerun reproduces them.

Streams are written as ``.npy`` arrays of shape ``(reps, signals, length)`` (``signals`` > 1 only for
the 50-signal family) plus a ``manifest.json``; numeric streams are float64, categorical ones int8
codes into ``labels``, indicator streams int8 0/1 (1 = ``"error"``).

Imports only numpy and the standard library: peer runners import this module inside their own
virtualenvs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

SEED = 20_240_613
CHANGE = 2_000
"""Reference / warm-up length; drift starts at this position (0-based index of the first changed value)."""
HORIZON = 10_000
"""Values watched after the change: no detection within them is a miss."""
WINDOW = 500
"""Tumbling window of the window-based contenders (driftline's default, and Evidently's current window)."""
RAMP = 2_000
"""Length of the gradual and incremental ramps."""
NULL_LENGTH = 1_000_000
"""Values watched after the reference in a full-run null stream."""
FAMILY = 50
"""Signals of the family scenario (drift in the first one only)."""

CATEGORIES = ("a", "b", "c", "d")
CATEGORY_PROBS = (0.4, 0.3, 0.2, 0.1)
NEW_CATEGORY = "new"
CATEGORY_LABELS = (*CATEGORIES, NEW_CATEGORY)
INDICATOR_LABELS = ("ok", "error")
"""Code 0 is ``"ok"``, code 1 ``"error"``."""
BERNOULLI_P0 = 0.02

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class Scenario:
    """One kind of stream."""

    key: str
    title: str
    kind: str
    """``numeric``, ``categorical`` or ``indicator``."""
    draw: Callable[[np.random.Generator, int], Array]
    """``(rng, length) -> values`` of one signal."""
    null: bool = False
    """A null stream: no change; every alarm after the reference is false."""
    signals: int = 1
    target: int | None = None
    """Issue target for the median detection delay, if any."""

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels of the codes of a categorical or indicator stream."""
        if self.kind == "categorical":
            return CATEGORY_LABELS
        if self.kind == "indicator":
            return INDICATOR_LABELS
        return ()


# -- generators ---------------------------------------------------------------------------------------------


def _after(length: int) -> npt.NDArray[np.bool_]:
    return np.arange(length) >= CHANGE


def _ramp(length: int) -> npt.NDArray[np.float64]:
    """0 before the change, rising linearly to 1 over :data:`RAMP` values, then 1."""
    return np.clip((np.arange(length) - CHANGE + 1) / RAMP, 0.0, 1.0)


def _shift(delta: float) -> Callable[[np.random.Generator, int], Array]:
    def draw(rng: np.random.Generator, length: int) -> Array:
        return rng.standard_normal(length) + delta * _after(length)
    return draw


def _scale(factor: float) -> Callable[[np.random.Generator, int], Array]:
    def draw(rng: np.random.Generator, length: int) -> Array:
        return rng.standard_normal(length) * np.where(_after(length), factor, 1.0)
    return draw


def _shape(name: str) -> Callable[[np.random.Generator, int], Array]:
    """N(0, 1) until the change, then the same mean and variance in another shape."""
    def draw(rng: np.random.Generator, length: int) -> Array:
        x = rng.standard_normal(length)
        n = length - CHANGE
        if name == "exponential":
            x[CHANGE:] = rng.standard_exponential(n) - 1.0
        else:
            x[CHANGE:] = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), n)
        return x
    return draw


def _gradual(rng: np.random.Generator, length: int) -> Array:
    """Mixture of N(0, 1) and N(1, 1), the new component's probability ramping 0 → 1."""
    return rng.standard_normal(length) + (rng.random(length) < _ramp(length))


def _incremental(rng: np.random.Generator, length: int) -> Array:
    """N(μ_t, 1) with μ moving linearly 0 → 1 σ over the ramp."""
    return rng.standard_normal(length) + _ramp(length)


def _ar1(phi: float) -> Callable[[np.random.Generator, int], Array]:
    """Stationary AR(1) with unit marginal variance."""
    def draw(rng: np.random.Generator, length: int) -> Array:
        noise = rng.standard_normal(length) * math.sqrt(1.0 - phi * phi)
        noise[0] = rng.standard_normal()
        try:
            from scipy.signal import lfilter
        except ImportError:  # pragma: no cover - scipy is in every environment the benchmark uses
            out = np.empty(length)
            prev = 0.0
            for i, e in enumerate(noise.tolist()):
                prev = phi * prev + e
                out[i] = prev
            return out
        return np.asarray(lfilter([1.0], [1.0, -phi], noise), dtype=np.float64)
    return draw


def _categorical(new_share: float) -> Callable[[np.random.Generator, int], Array]:
    """Four categories; after the change a fifth, never seen, takes ``new_share`` of the values."""
    def draw(rng: np.random.Generator, length: int) -> Array:
        codes = rng.choice(len(CATEGORIES), size=length, p=CATEGORY_PROBS).astype(np.int8)
        new = (rng.random(length) < new_share) & _after(length)
        codes[new] = len(CATEGORIES)
        return codes
    return draw


def _bernoulli(p1: float) -> Callable[[np.random.Generator, int], Array]:
    def draw(rng: np.random.Generator, length: int) -> Array:
        p = np.where(_after(length), p1, BERNOULLI_P0)
        return (rng.random(length) < p).astype(np.int8)
    return draw


def _family(rng: np.random.Generator, length: int) -> Array:
    """One row per signal: all N(0, 1), the first shifting by 0.5 σ at the change."""
    x = rng.standard_normal((FAMILY, length))
    x[0, CHANGE:] += 0.5
    return x


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("shift_1", "mean shift +1 σ", "numeric", _shift(1.0), target=50),
    Scenario("shift_0.5", "mean shift +0.5 σ", "numeric", _shift(0.5), target=150),
    Scenario("shift_0.25", "mean shift +0.25 σ", "numeric", _shift(0.25), target=400),
    Scenario("scale_1.5", "scale σ × 1.5", "numeric", _scale(1.5)),
    Scenario("shape_exp", "shape: normal → standardised exponential", "numeric", _shape("exponential")),
    Scenario("shape_uniform", "shape: normal → standardised uniform", "numeric", _shape("uniform")),
    Scenario("gradual", "gradual: mixture N(0,1)/N(1,1), p 0 → 1 over 2,000", "numeric", _gradual),
    Scenario("incremental", "incremental: mean 0 → 1 σ over 2,000", "numeric", _incremental),
    Scenario("new_cat_1", "new category at 1 %", "categorical", _categorical(0.01)),
    Scenario("new_cat_5", "new category at 5 %", "categorical", _categorical(0.05), target=500),
    Scenario("bernoulli_0.04", "error rate 0.02 → 0.04", "indicator", _bernoulli(0.04)),
    Scenario("bernoulli_0.06", "error rate 0.02 → 0.06", "indicator", _bernoulli(0.06)),
    Scenario("family", "50 signals, +0.5 σ in one", "numeric", _family, signals=FAMILY),
)
"""Drift scenarios (change at :data:`CHANGE`)."""

NULLS: tuple[Scenario, ...] = (
    Scenario("null_normal", "iid N(0, 1)", "numeric", _shift(0.0), null=True),
    Scenario("null_ar1", "AR(1), φ = 0.5", "numeric", _ar1(0.5), null=True),
    Scenario("null_bernoulli", "indicator, rate 0.02", "indicator", _bernoulli(BERNOULLI_P0), null=True),
    Scenario("null_categorical", "4 categories (0.4/0.3/0.2/0.1)", "categorical", _categorical(0.0), null=True),
)
"""Null streams: no change at all."""

ALL: tuple[Scenario, ...] = SCENARIOS + NULLS


def by_key(key: str) -> Scenario:
    """The scenario or null stream called ``key``."""
    for scenario in ALL:
        if scenario.key == key:
            return scenario
    raise KeyError(key)


def generate(scenario: Scenario, rep: int, length: int) -> Array:
    """Repetition ``rep`` of ``scenario``: shape ``(signals, length)``."""
    rng = np.random.default_rng([SEED, ALL.index(scenario), rep])
    values = scenario.draw(rng, length)
    return values.reshape(scenario.signals, length)


@dataclass(frozen=True)
class Plan:
    """How many repetitions and how long the null streams are."""

    reps: int
    family_reps: int
    null_reps: int
    null_length: int

    def reps_of(self, scenario: Scenario) -> int:
        """Repetitions of ``scenario``."""
        if scenario.null:
            return self.null_reps
        return self.family_reps if scenario.signals > 1 else self.reps

    def length_of(self, scenario: Scenario) -> int:
        """Total values per signal (reference included)."""
        return CHANGE + (self.null_length if scenario.null else HORIZON)


def write_streams(directory: Path, plan: Plan, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Draw every stream of ``plan`` into ``directory``; return (and write) the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    entries = []
    for scenario in ALL:
        if keys is not None and scenario.key not in keys:
            continue
        reps, length = plan.reps_of(scenario), plan.length_of(scenario)
        dtype = np.float64 if scenario.kind == "numeric" else np.int8
        path = directory / f"{scenario.key}.npy"
        out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(reps, scenario.signals, length))
        for rep in range(reps):
            out[rep] = generate(scenario, rep, length)
        out.flush()
        del out
        entries.append({"key": scenario.key, "kind": scenario.kind, "file": path.name, "null": scenario.null,
                        "reps": reps, "signals": scenario.signals, "length": length,
                        "labels": list(scenario.labels)})
    manifest = {"seed": SEED, "change": CHANGE, "horizon": HORIZON, "window": WINDOW, "streams": entries}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def load(directory: Path, entry: dict[str, Any]) -> Array:
    """A scenario's streams, memory-mapped: shape ``(reps, signals, length)``."""
    return np.load(directory / entry["file"], mmap_mode="r")


def unseen_indicator(codes: Array) -> npt.NDArray[np.float64]:
    """1.0 where a code was not seen in the reference (the first :data:`CHANGE` values), else 0.0."""
    seen = np.unique(codes[:CHANGE])
    return (~np.isin(codes, seen)).astype(np.float64)


def windows(values: Array) -> Iterator[tuple[int, Array]]:
    """Tumbling windows of :data:`WINDOW` values after the reference: ``(position of the last value, values)``."""
    for end in range(CHANGE + WINDOW, len(values) + 1, WINDOW):
        yield end, values[end - WINDOW:end]


def summarise(positions: Sequence[int]) -> list[int]:
    """``[alarms at or before the change, alarms after it, position of the first after it or -1]``.

    Positions count values seen when the alarm was raised (the alarming value included), so a
    detection at position ``p`` has delay ``p - CHANGE``.
    """
    pre = sum(1 for p in positions if p <= CHANGE)
    post = [p for p in positions if p > CHANGE]
    return [pre, len(post), min(post) if post else -1]
