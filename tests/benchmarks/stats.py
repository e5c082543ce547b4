"""Robust summaries of interleaved rounds: paired per-round differences, quantiles, bootstrap intervals.

The overhead of a contender in round ``r`` is its median per-call time in that round minus the
uninstrumented median of the same round (same process, a few milliseconds apart), so slow phases of
a noisy machine mostly cancel. Across rounds we report the median and the 90th percentile of those
differences, and a percentile-bootstrap 95 % interval of the median (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13) so a reader can tell a real gap from noise.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

BOOTSTRAP_RESAMPLES = 2000
_SEED = 20_251_123


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) with linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _interval(estimates: list[float]) -> tuple[float, float]:
    return quantile(estimates, 0.025), quantile(estimates, 0.975)


@dataclass(frozen=True)
class Overhead:
    """One contender's cost over the uninstrumented call, in µs per call."""

    baseline: float
    """Median of the uninstrumented per-round medians."""
    instrumented: float
    """Median of the instrumented per-round medians."""
    median: float
    """Median over rounds of (instrumented − uninstrumented)."""
    p90: float
    """90th percentile over rounds of the same differences."""
    ci: tuple[float, float]
    """Bootstrap 95 % interval of :attr:`median`."""
    diffs: tuple[float, ...]
    """The per-round differences."""


def overhead(baseline: Sequence[float], instrumented: Sequence[float], rng: random.Random | None = None) -> Overhead:
    """Summarise paired per-round medians (same rounds, same order)."""
    if len(baseline) != len(instrumented) or not baseline:
        raise ValueError("need the same, non-zero number of rounds for both")
    diffs = [i - b for i, b in zip(instrumented, baseline, strict=True)]
    rng = rng or random.Random(_SEED)
    n = len(diffs)
    boot = [statistics.median(rng.choices(diffs, k=n)) for _ in range(BOOTSTRAP_RESAMPLES)]
    return Overhead(statistics.median(baseline), statistics.median(instrumented), statistics.median(diffs),
                    quantile(diffs, 0.9), _interval(boot), tuple(diffs))


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two median overheads, with a bootstrap 95 % interval."""

    value: float
    ci: tuple[float, float]


def ratio(num: Overhead, den: Overhead, *, paired: bool, rng: random.Random | None = None) -> Ratio:
    """Ratio of median overheads; ``paired`` resamples the same rounds for both (same process)."""
    rng = rng or random.Random(_SEED)
    a, b = num.diffs, den.diffs
    estimates: list[float] = []
    draw: Callable[[], tuple[list[float], list[float]]]
    if paired:
        if len(a) != len(b):
            raise ValueError("paired ratio needs the same rounds")
        idx = range(len(a))

        def draw() -> tuple[list[float], list[float]]:
            picks = rng.choices(idx, k=len(a))
            return [a[i] for i in picks], [b[i] for i in picks]
    else:
        def draw() -> tuple[list[float], list[float]]:
            return rng.choices(a, k=len(a)), rng.choices(b, k=len(b))
    for _ in range(BOOTSTRAP_RESAMPLES):
        x, y = draw()
        d = statistics.median(y)
        if d > 0:
            estimates.append(statistics.median(x) / d)
    value = num.median / den.median if den.median > 0 else float("inf")
    ci = _interval(estimates) if estimates else (float("nan"), float("nan"))
    return Ratio(value, ci)
