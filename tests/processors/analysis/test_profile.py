"""``NumericProfile`` and ``CategoricalProfile``: bucket assignment, merge, smoothing, state, memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from driftline.processors.analysis.profile import (
    MISSING,
    OTHER,
    UNSEEN,
    CategoricalProfile,
    NumericProfile,
    category_hash,
    profile_from_state,
)


def json_round_trip(state: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(state, allow_nan=False))
    return loaded


# -- NumericProfile: bins -------------------------------------------------------------------------


def test_edges_are_the_reference_deciles() -> None:
    profile = NumericProfile.from_reference(np.arange(1000))
    assert profile.edges.dtype == np.float64
    assert profile.edges.tolist() == [99.0, 199.0, 299.0, 399.0, 499.0, 599.0, 699.0, 799.0, 899.0]
    assert profile.counts.dtype == np.int64
    assert profile.counts.tolist() == [100] * 10 + [0]
    assert profile.total == 1000


def test_a_value_on_an_edge_falls_in_the_lower_bin() -> None:
    window = NumericProfile.from_reference(np.arange(1000)).empty_like()
    window.update_many(np.array([99.0, np.nextafter(99.0, np.inf), 899.0, 899.5, 0.0]))
    assert window.counts.tolist() == [2, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0]


def test_open_outer_bins_catch_values_far_outside_the_reference() -> None:
    window = NumericProfile.from_reference(np.arange(1000)).empty_like()
    window.update_many(np.array([-1e300, -np.inf, -5.0, 1e300, np.inf, 12_345.0]))
    assert window.counts[0] == 3
    assert window.counts[-2] == 3
    assert window.total == 6


def test_nan_is_counted_in_the_last_slot() -> None:
    window = NumericProfile.from_reference(np.arange(1000)).empty_like()
    window.update_many(np.array([np.nan, 5.0, np.nan]))
    assert window.counts[-1] == 2
    assert window.counts[0] == 1
    assert window.total == 3
    assert (window.moments.count, window.moments.nan_count) == (1, 2)
    assert window.sketch.count == 1


def test_three_distinct_integers_give_one_bin_each() -> None:
    profile = NumericProfile.from_reference(np.array([1, 2, 3] * 300), bins=10)
    assert profile.edges.tolist() == [1.0, 2.0, 3.0]
    assert profile.counts.tolist() == [300, 300, 300, 0, 0]
    window = profile.empty_like()
    window.update_many(np.array([2, 2, 4]))
    assert window.counts.tolist() == [0, 2, 0, 1, 0]


def test_skewed_discrete_reference_has_fewer_but_valid_bins() -> None:
    tokens = np.random.default_rng(10).poisson(1.5, size=10_000)
    profile = NumericProfile.from_reference(tokens, bins=10)
    assert 1 <= profile.edges.size < 9
    assert np.all(np.diff(profile.edges) > 0)
    assert np.all(np.isin(profile.edges, tokens))  # edges are observed values
    assert profile.counts[: profile.edges.size].min() > 0  # no empty-width interior bin
    assert profile.total == tokens.size


@pytest.mark.parametrize(
    ("reference", "bins", "edges"),
    [
        (np.full(100, 5.0), 10, [5.0]),
        (np.array([np.nan, np.nan]), 10, []),
        (np.array([]), 10, []),
        (np.arange(10.0), 1, []),
        (np.array([1.0, 2.0, np.inf, -np.inf, 3.0, 4.0]), 2, [2.0]),
    ],
)
def test_degenerate_references(reference: np.ndarray, bins: int, edges: list[float]) -> None:
    profile = NumericProfile.from_reference(reference, bins=bins)
    assert profile.edges.tolist() == edges
    assert profile.counts.size == len(edges) + 2
    assert profile.total == reference.size


def test_edges_stay_fixed_when_the_current_window_shifts() -> None:
    profile = NumericProfile.from_reference(np.arange(1000))
    window = profile.empty_like()
    window.update_many(np.arange(5000, 6000))
    assert np.array_equal(window.edges, profile.edges)
    assert window.counts.tolist() == [0] * 9 + [1000, 0]


def test_edges_and_counts_are_read_only() -> None:
    profile = NumericProfile.from_reference(np.arange(100))
    with pytest.raises(ValueError, match="read-only"):
        profile.edges[0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        profile.counts[0] = 1
    profile.update_many(np.array([0.0]))
    assert profile.counts[0] == 11


def test_from_edges_validates() -> None:
    profile = NumericProfile.from_edges([0.0, 1.5])
    assert profile.counts.tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="strictly increasing"):
        NumericProfile.from_edges([1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        NumericProfile.from_edges([0.0, np.inf])
    with pytest.raises(ValueError, match="bins"):
        NumericProfile.from_reference(np.arange(10), bins=0)


# -- NumericProfile: merge, smoothing, state, memory ---------------------------------------------


def test_numeric_merge_equals_the_concatenation() -> None:
    rng = np.random.default_rng(11)
    reference = NumericProfile.from_reference(rng.normal(size=5000))
    windows = [rng.normal(0.3, 1.2, size=n) for n in (10_000, 1, 0, 3333)]
    windows[0][::97] = np.nan
    parts = []
    for values in windows:
        part = reference.empty_like()
        part.update_many(values)
        parts.append(part)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    whole = np.concatenate(windows)
    expected = reference.empty_like()
    expected.update_many(whole)
    assert np.array_equal(merged.counts, expected.counts)
    clean = whole[~np.isnan(whole)]
    assert merged.moments.count == clean.size
    assert merged.moments.nan_count == whole.size - clean.size
    assert merged.moments.mean == pytest.approx(np.mean(clean), rel=1e-12)
    assert merged.moments.variance == pytest.approx(np.var(clean, ddof=1), rel=1e-12)
    assert merged.sketch.count == clean.size
    assert parts[0].total == windows[0].size  # inputs are unchanged


def test_numeric_merge_refuses_different_edges() -> None:
    a = NumericProfile.from_reference(np.arange(1000))
    b = NumericProfile.from_reference(np.arange(1000) * 2)
    with pytest.raises(ValueError, match="edges differ"):
        a.merge(b)


def test_smoothing_formula() -> None:
    profile = NumericProfile.from_edges([0.0])
    profile.update_many(np.array([-1.0, -2.0, -3.0, 1.0]))
    assert profile.counts.tolist() == [3, 1, 0]
    # p_i = (c_i + a) / (n + a·K) with n = 4, K = 3
    assert profile.probabilities().tolist() == pytest.approx([3.5 / 5.5, 1.5 / 5.5, 0.5 / 5.5], rel=1e-15)
    assert profile.probabilities(1.0).tolist() == pytest.approx([4 / 7, 2 / 7, 1 / 7], rel=1e-15)
    assert profile.probabilities(0.0).tolist() == [0.75, 0.25, 0.0]
    assert profile.probabilities().sum() == pytest.approx(1.0, rel=1e-15)
    assert np.all(np.isnan(profile.empty_like().probabilities(0.0)))
    assert profile.empty_like().probabilities().tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="smoothing"):
        profile.probabilities(-0.1)


def test_numeric_state_round_trip() -> None:
    rng = np.random.default_rng(12)
    profile = NumericProfile.from_reference(rng.lognormal(size=20_000), bins=8)
    profile.update_many(np.array([np.nan, np.inf]))
    state = json_round_trip(profile.to_state())
    restored = profile_from_state(state)
    assert isinstance(restored, NumericProfile)
    assert np.array_equal(restored.edges, profile.edges)
    assert np.array_equal(restored.counts, profile.counts)
    assert restored.moments.to_state() == profile.moments.to_state()
    qs = np.linspace(0, 1, 21)
    assert np.array_equal(restored.sketch.quantiles(qs), profile.sketch.quantiles(qs))
    assert restored.to_state() == profile.to_state()
    rebuilt = NumericProfile.from_edges(state["edges"])  # type: ignore[arg-type]
    assert np.array_equal(rebuilt.edges, profile.edges)


def test_numeric_profile_memory_after_a_million_values() -> None:
    rng = np.random.default_rng(13)
    profile = NumericProfile.from_reference(rng.normal(size=10_000))
    window = profile.empty_like()
    for _ in range(100):
        window.update_many(rng.normal(size=10_000))
    profile.update_many(rng.normal(size=1_000_000))
    assert window.total == 1_000_000
    assert window.nbytes <= 8192
    assert profile.nbytes <= 8192
    assert len(json.dumps(window.to_state())) <= 3 * 8192


# -- CategoricalProfile -------------------------------------------------------------------------


def reference_categories() -> list[str | None]:
    return ["b"] * 5 + ["a"] * 5 + ["c"] * 3 + ["d"] + [None, None]


def test_top_k_with_deterministic_ties_and_reference_counts() -> None:
    profile = CategoricalProfile.from_reference(reference_categories(), top_k=2)
    assert profile.labels == ("a", "b", OTHER, UNSEEN, MISSING)
    assert (OTHER, UNSEEN, MISSING) == ("__other__", "__unseen__", "__missing__")
    assert profile.counts.tolist() == [5, 5, 4, 0, 2]
    assert profile.total == 16
    assert not profile.overflowed
    assert profile.known_hashes.tolist() == sorted([category_hash("c"), category_hash("d")])


def test_categorical_assignment_and_unseen_detection() -> None:
    window = CategoricalProfile.from_reference(reference_categories(), top_k=2).empty_like()
    window.update_many(["a", "c", "d", "gpt-5", None, "b", "b"])
    assert window.counts.tolist() == [1, 2, 2, 1, 1]
    window.update_many(["gpt-5", "gpt-5"])  # second time through the cache
    assert window.counts[window.labels.index(UNSEEN)] == 3


def test_top_k_larger_than_the_reference() -> None:
    profile = CategoricalProfile.from_reference(["x", "y", "x"], top_k=20)
    assert profile.labels == ("x", "y", OTHER, UNSEEN, MISSING)
    assert profile.counts.tolist() == [2, 1, 0, 0, 0]
    window = profile.empty_like()
    window.update_many(["z", 7])  # type: ignore[list-item]
    assert window.counts.tolist() == [0, 0, 0, 2, 0]


def test_overflowing_reference_counts_misses_as_other() -> None:
    # 50 categories with distinct frequencies: c00 is the most frequent, c49 the least.
    reference = [f"c{i:02d}" for i in range(50) for _ in range(60 - i)]
    profile = CategoricalProfile.from_reference(reference, top_k=2, max_known=10)
    assert profile.labels[:2] == ("c00", "c01")
    assert profile.overflowed
    assert profile.known_hashes.size == 10
    window = profile.empty_like()
    window.update_many(["c00", "c05", "c40", "brand-new"])
    assert window.counts.tolist() == [1, 0, 3, 0, 0]


def test_category_hash_is_stable() -> None:
    # Known value: `printf gpt-4o | b2sum -l 64` prints fce0337aabbb9e63.
    assert category_hash("gpt-4o") == 0xFCE0337AABBB9E63
    assert category_hash("") == 0xE4A6A0577479B2B4
    code = "from driftline.processors.analysis.profile import category_hash; print(category_hash('gpt-4o'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    output = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(output.stdout) == category_hash("gpt-4o")


def test_cache_stays_bounded_and_correct() -> None:
    profile = CategoricalProfile.from_reference(["a", "b"], top_k=1)
    window = profile.empty_like()
    fresh = [f"new-{i}" for i in range(10_000)]
    window.update_many([*fresh, "a", "b"])
    window.update_many([*fresh[:10], "b"])
    assert window.counts.tolist() == [1, 2, 10_010, 0]
    assert len(window._cache) <= 4096


def test_categorical_merge_and_mismatch() -> None:
    profile = CategoricalProfile.from_reference(reference_categories(), top_k=2)
    first, second = profile.empty_like(), profile.empty_like()
    first.update_many(["a", "zzz"])
    second.update_many(["a", None, "c"])
    merged = first.merge(second)
    assert merged.counts.tolist() == [2, 0, 1, 1, 1]
    assert first.counts.tolist() == [1, 0, 0, 1, 0]
    with pytest.raises(ValueError, match="labels differ"):
        merged.merge(CategoricalProfile.from_reference(reference_categories(), top_k=3))
    with pytest.raises(ValueError, match="known"):
        merged.merge(CategoricalProfile.from_reference(["b"] * 5 + ["a"] * 5 + ["e"], top_k=2))


def test_categorical_smoothing() -> None:
    profile = CategoricalProfile.from_reference(reference_categories(), top_k=2)
    # counts [5, 5, 4, 0, 2], n = 16, K = 5
    expected = [5.5 / 18.5, 5.5 / 18.5, 4.5 / 18.5, 0.5 / 18.5, 2.5 / 18.5]
    assert profile.probabilities().tolist() == pytest.approx(expected, rel=1e-15)
    assert profile.probabilities(0.0)[3] == 0.0


def test_categorical_state_round_trip() -> None:
    profile = CategoricalProfile.from_reference(reference_categories() + ["é"] * 7, top_k=2)
    state = json_round_trip(profile.to_state())
    restored = profile_from_state(state)
    assert isinstance(restored, CategoricalProfile)
    assert restored.labels == profile.labels == ("é", "a", OTHER, UNSEEN, MISSING)
    assert np.array_equal(restored.counts, profile.counts)
    assert np.array_equal(restored.known_hashes, profile.known_hashes)
    window = restored.empty_like()
    window.update_many(["b", "unknown"])
    assert window.counts.tolist() == [0, 0, 1, 1, 0]


def test_categorical_memory_is_bounded() -> None:
    reference = [f"user-{i}" for i in range(20_000)]
    profile = CategoricalProfile.from_reference(reference)
    assert profile.known_hashes.size == 512
    assert profile.nbytes <= 8192


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        profile_from_state({"kind": "histogram"})
