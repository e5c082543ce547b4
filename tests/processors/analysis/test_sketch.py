"""``Moments`` (exact, mergeable) and ``QuantileSketch`` (KLL: rank error, merge, memory, state)."""

from __future__ import annotations

import json
import math

import numpy as np
import numpy.typing as npt
import pytest

from driftline.processors.analysis.sketch import DEFAULT_K, Moments, QuantileSketch

DECILES = np.arange(1, 10) / 10
EPSILON = 0.02  # the rank-error bound QuantileSketch documents for k = DEFAULT_K


def json_round_trip(state: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(state, allow_nan=False))
    return loaded


def rank_errors(
    estimates: npt.NDArray[np.float64], qs: npt.NDArray[np.float64], data_sorted: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distance from q to the interval of true normalised ranks that the estimate occupies."""
    n = data_sorted.size
    lo = np.searchsorted(data_sorted, estimates, side="left") / n
    hi = np.searchsorted(data_sorted, estimates, side="right") / n
    return np.maximum(np.maximum(lo - qs, qs - hi), 0.0)


# -- Moments ----------------------------------------------------------------------------------------


def test_moments_match_numpy_with_nans_in_batches() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=10_001)
    data[rng.choice(data.size, 37, replace=False)] = np.nan
    moments = Moments()
    for chunk in np.array_split(data, 13):
        moments.update_many(chunk)
    clean = data[~np.isnan(data)]
    assert moments.count == clean.size == 10_001 - 37
    assert moments.nan_count == 37
    assert moments.mean == pytest.approx(np.mean(clean), rel=1e-12)
    assert moments.variance == pytest.approx(np.var(clean, ddof=1), rel=1e-12)
    assert moments.std == pytest.approx(np.std(clean, ddof=1), rel=1e-12)
    assert moments.m2 == pytest.approx(np.sum((clean - clean.mean()) ** 2), rel=1e-12)
    assert moments.min == clean.min()
    assert moments.max == clean.max()


def test_moments_merge_equals_concatenation_and_leaves_inputs_alone() -> None:
    rng = np.random.default_rng(2)
    shards = [rng.exponential(5.0, size=n) for n in (1, 0, 1000, 7, 25_000)]
    parts = []
    for shard in shards:
        part = Moments()
        part.update_many(shard)
        parts.append(part)
    before = [part.to_state() for part in parts]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    whole = np.concatenate(shards)
    assert merged.count == whole.size
    assert merged.mean == pytest.approx(np.mean(whole), rel=1e-12)
    assert merged.variance == pytest.approx(np.var(whole, ddof=1), rel=1e-12)
    assert (merged.min, merged.max) == (whole.min(), whole.max())
    assert [part.to_state() for part in parts] == before


def test_moments_are_stable_for_a_large_offset() -> None:
    # The naive Σx² − n·mean² loses every digit here; the two-pass batch plus Chan's update does not.
    rng = np.random.default_rng(3)
    data = 1e9 + rng.normal(0.0, 1e-3, size=50_000)
    moments = Moments()
    for chunk in np.array_split(data, 50):
        moments.update_many(chunk)
    assert moments.variance == pytest.approx(np.var(data, ddof=1), rel=1e-6)


def test_moments_empty_and_single_value() -> None:
    moments = Moments()
    assert moments.count == 0
    assert math.isnan(moments.mean)
    assert math.isnan(moments.variance)
    assert math.isnan(moments.min)
    moments.update_many(np.array([np.nan]))
    assert (moments.count, moments.nan_count) == (0, 1)
    moments.update_many(np.array([4.5]))
    assert moments.mean == 4.5
    assert math.isnan(moments.variance)
    assert math.isnan(moments.std)
    moments.update_many(np.array([6.5]))
    assert moments.variance == 2.0


def test_moments_infinite_values_follow_numpy() -> None:
    moments = Moments()
    moments.update_many(np.array([1.0, np.inf]))
    assert moments.count == 2
    assert moments.mean == math.inf
    assert moments.max == math.inf
    assert math.isnan(moments.variance)


@pytest.mark.parametrize(
    "values",
    [np.array([]), np.array([np.nan]), np.array([0.1, 0.2, 1e-300, -7.25]), np.array([-np.inf, 2.0, np.nan])],
)
def test_moments_state_round_trip_is_exact(values: npt.NDArray[np.float64]) -> None:
    moments = Moments()
    moments.update_many(values)
    state = json_round_trip(moments.to_state())
    restored = Moments.from_state(state)
    assert restored.to_state() == moments.to_state()
    for name in ("count", "nan_count", "mean", "m2", "min", "max"):
        a, b = getattr(restored, name), getattr(moments, name)
        assert a == b or (math.isnan(a) and math.isnan(b)), name


# -- QuantileSketch -------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1_000_000, 1000, 100])
def test_deciles_of_a_million_normals_are_within_the_bound(batch: int) -> None:
    data = np.random.default_rng(4).normal(size=1_000_000)
    sketch = QuantileSketch()
    for start in range(0, data.size, batch):
        sketch.update_many(data[start : start + batch])
    truth = np.sort(data)
    assert sketch.count == data.size
    assert np.all(rank_errors(sketch.quantiles(DECILES), DECILES, truth) <= EPSILON)
    points = truth[(DECILES * data.size).astype(int)]
    true_cdf = np.searchsorted(truth, points, side="right") / data.size
    assert np.all(np.abs(sketch.cdf(points) - true_cdf) <= EPSILON)
    assert sketch.nbytes <= 4096


def test_memory_is_bounded_throughout_a_long_stream() -> None:
    rng = np.random.default_rng(5)
    sketch = QuantileSketch()
    largest = 0
    for _ in range(1000):
        sketch.update_many(rng.lognormal(size=1000))
        largest = max(largest, sketch.nbytes)
    assert sketch.count == 1_000_000
    assert largest <= 4096
    levels = len(sketch.to_state()["levels"])
    assert sketch.num_retained <= 3 * DEFAULT_K + 2 * levels


def test_merge_of_ten_shards_matches_the_concatenation() -> None:
    rng = np.random.default_rng(6)
    shards = [rng.normal(loc=i / 10, size=100_000) for i in range(10)]
    sketches = []
    for i, shard in enumerate(shards):
        sketch = QuantileSketch(seed=i)
        for chunk in np.array_split(shard, 20):
            sketch.update_many(chunk)
        sketches.append(sketch)
    merged = sketches[0]
    for sketch in sketches[1:]:
        merged = merged.merge(sketch)
    whole = np.concatenate(shards)
    single = QuantileSketch()
    single.update_many(whole)
    truth = np.sort(whole)
    assert merged.count == whole.size
    assert (merged.min, merged.max) == (whole.min(), whole.max())
    assert np.all(rank_errors(merged.quantiles(DECILES), DECILES, truth) <= EPSILON)
    grid = np.quantile(whole, DECILES)
    assert np.all(np.abs(merged.cdf(grid) - single.cdf(grid)) <= 2 * EPSILON)
    assert merged.nbytes <= 4096
    assert sketches[0].count == 100_000  # merge returns a new sketch


def test_state_round_trip_gives_identical_answers_and_future() -> None:
    rng = np.random.default_rng(7)
    sketch = QuantileSketch(seed=42)
    sketch.update_many(rng.gamma(2.0, size=123_457))
    sketch.update_many(np.array([np.inf, -np.inf]))
    restored = QuantileSketch.from_state(json_round_trip(sketch.to_state()))
    qs = np.linspace(0, 1, 101)
    assert np.array_equal(restored.quantiles(qs), sketch.quantiles(qs))
    grid = np.linspace(-1, 20, 50)
    assert np.array_equal(restored.cdf(grid), sketch.cdf(grid))
    more = rng.gamma(2.0, size=50_000)
    sketch.update_many(more)
    restored.update_many(more)
    assert restored.to_state() == sketch.to_state()


def test_same_input_gives_the_same_sketch() -> None:
    data = np.random.default_rng(8).uniform(size=30_000)
    a, b = QuantileSketch(seed=3), QuantileSketch(seed=3)
    for chunk in np.array_split(data, 30):
        a.update_many(chunk)
        b.update_many(chunk)
    assert a.to_state() == b.to_state()


def test_small_streams_are_exact() -> None:
    data = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 3.0])
    sketch = QuantileSketch()
    sketch.update_many(data)
    qs = np.array([0.0, 0.1, 0.5, 0.51, 0.9, 1.0])
    assert np.array_equal(sketch.quantiles(qs), np.quantile(data, qs, method="inverted_cdf"))
    assert np.array_equal(sketch.cdf(np.array([0.0, 1.0, 3.0, 4.5, 9.0])), np.array([0.0, 1 / 6, 4 / 6, 5 / 6, 1.0]))


def test_extremes_are_exact_and_nans_ignored() -> None:
    rng = np.random.default_rng(9)
    data = rng.normal(size=200_000)
    data[::1000] = np.nan
    sketch = QuantileSketch()
    sketch.update_many(data)
    clean = data[~np.isnan(data)]
    assert sketch.count == clean.size
    assert np.array_equal(sketch.quantiles([0.0, 1.0]), np.array([clean.min(), clean.max()]))
    assert sketch.cdf(np.array([clean.max()]))[0] == 1.0
    assert sketch.cdf(np.array([clean.min() - 1]))[0] == 0.0
    assert np.isnan(sketch.cdf(np.array([np.nan]))[0])


def test_empty_sketch_and_bad_arguments() -> None:
    sketch = QuantileSketch()
    assert np.all(np.isnan(sketch.quantiles([0.5])))
    assert np.all(np.isnan(sketch.cdf(np.array([0.0]))))
    sketch.update_many(np.array([1.0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sketch.quantiles([1.5])
    with pytest.raises(ValueError, match="k differs"):
        sketch.merge(QuantileSketch(k=64))
    with pytest.raises(ValueError, match="at least 8"):
        QuantileSketch(k=4)
    state = sketch.to_state()
    state["count"] = 2
    with pytest.raises(ValueError, match="weigh"):
        QuantileSketch.from_state(state)
