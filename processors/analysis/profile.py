"""Reference-vs-current distribution summaries of one signal: numeric bins or categorical buckets.

A profile is built once from a *reference* sample (``from_reference``), which fixes its buckets;
current windows then start from ``empty_like()`` and are filled with ``update_many``. Two
profiles with the same buckets merge exactly (counts add), so windows can be summarised per
shard or per minute and combined later, and distance measures (PSI, KL, χ², ...) always compare
like with like. Memory is bounded: a 10-bin numeric profile stays under 8 KB whatever the stream
length, a categorical one under ~5 KB at the defaults.

States from ``to_state()`` are JSON-able (a ``"kind"`` field says which class;
:func:`profile_from_state` dispatches on it), so a baseline can be saved and reloaded.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from driftline.processors.analysis.sketch import DEFAULT_K, Moments, QuantileSketch

__all__ = [
    "MISSING",
    "OTHER",
    "UNSEEN",
    "CategoricalProfile",
    "NumericProfile",
    "category_hash",
    "profile_from_state",
]

OTHER = "__other__"
"""Label of the bucket for categories seen in the reference but outside its top-k."""
UNSEEN = "__unseen__"
"""Label of the bucket for categories never seen in the reference (new categories)."""
MISSING = "__missing__"
"""Label of the bucket for missing values (``None``)."""

_STATE_VERSION = 1
_CACHE_LIMIT = 4096


def _smoothed(counts: npt.NDArray[np.int64], smoothing: float) -> npt.NDArray[np.float64]:
    """Additive smoothing ``p_i = (c_i + a) / (n + a·K)`` over all ``K`` buckets."""
    if not (math.isfinite(smoothing) and smoothing >= 0.0):
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing}")
    denominator = float(counts.sum()) + smoothing * counts.size
    if denominator == 0.0:
        return np.full(counts.size, np.nan)
    return (counts.astype(np.float64) + smoothing) / denominator


def _read_only(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view: npt.NDArray[Any] = array.view()
    view.flags.writeable = False
    return view


def _check_counts(counts: npt.ArrayLike, size: int, owner: str) -> npt.NDArray[np.int64]:
    array = np.array(counts, dtype=np.int64).ravel()
    if array.size != size:
        raise ValueError(f"{owner}: expected {size} counts, got {array.size}")
    if np.any(array < 0):
        raise ValueError(f"{owner}: counts must be non-negative")
    return array


class NumericProfile:
    """Histogram over fixed quantile bins of a reference, plus exact moments and a quantile sketch.

    Bins: the interior edges ``e_1 < ... < e_m`` are the reference's quantiles at
    ``q = 1/bins, ..., (bins−1)/bins`` (inverse-CDF definition, so every edge is an observed value)
    and the buckets are ``(−inf, e_1], (e_1, e_2], ..., (e_m, +inf)`` followed by a NaN slot: ``K =
    m + 2`` counts. The outer bins are open, so values far outside the reference range are still
    counted (in the first or last bin) rather than dropped. The quantile of level ``q`` is
    ``min{x : F_n(x) ≥ q}`` for the reference's empirical CDF ``F_n`` (Hyndman & Fan, "Sample
    quantiles in statistical packages", 1996, definition 1), so each bin holds ~1/bins of the
    reference mass — equal-frequency bins, which keep every bin's expected count large.

    Ties: for discrete data (token counts, ratings) several quantiles coincide; duplicates are
    dropped, so there are *fewer* bins, never a zero-width one. A value holding more than
    ``1/bins`` of the reference mass ends up as the right edge of its own bin ``(e_{i−1}, v]``.
    E.g. a reference of only {1, 2, 3} gives edges [1, 2, 3]. A reference with no finite value
    gives no edges: one bin ``(−inf, +inf)`` plus the NaN slot.

    The edges are fixed once built: current windows use :meth:`empty_like` (or :meth:`from_edges`
    for a saved baseline) and are never re-binned on their own quantiles, which would make every
    window look uniform and hide drift.

    Memory: ``16·bins + 56`` bytes of edges, counts and moments plus the sketch (≤ ~3.4 KB).
    """

    __slots__ = ("_counts", "_edges", "_moments", "_sketch")

    def __init__(
        self,
        edges: npt.ArrayLike,
        counts: npt.ArrayLike | None = None,
        moments: Moments | None = None,
        sketch: QuantileSketch | None = None,
    ) -> None:
        """Build a profile over ``edges`` (finite, strictly increasing; no defaults).

        ``counts`` default to zeros (``len(edges) + 2`` slots, the last for NaN); ``moments`` to an
        empty :class:`Moments`; ``sketch`` to an empty :class:`QuantileSketch` with ``k = DEFAULT_K``.
        """
        array = np.array(edges, dtype=np.float64).ravel()
        if not np.all(np.isfinite(array)):
            raise ValueError("NumericProfile: edges must be finite")
        if np.any(np.diff(array) <= 0.0):
            raise ValueError("NumericProfile: edges must be strictly increasing")
        array.flags.writeable = False
        self._edges: npt.NDArray[np.float64] = array
        size = array.size + 2
        self._counts = (
            np.zeros(size, dtype=np.int64) if counts is None else _check_counts(counts, size, "NumericProfile")
        )
        self._moments = Moments() if moments is None else moments
        self._sketch = QuantileSketch() if sketch is None else sketch

    @classmethod
    def from_reference(cls, values: npt.ArrayLike, bins: int = 10, *, sketch_k: int = DEFAULT_K) -> NumericProfile:
        """The profile of a reference sample, binned on its own quantiles (see the class docstring).

        ``bins`` (default 10) is the target number of equal-frequency bins; ties may give fewer.
        NaN and ±inf are ignored when choosing edges but counted like any other value.
        ``sketch_k`` is the accuracy parameter of the quantile sketch (default :data:`DEFAULT_K`).
        """
        if bins < 1:
            raise ValueError(f"NumericProfile.from_reference: bins must be >= 1, got {bins}")
        x = np.asarray(values, dtype=np.float64).ravel()
        finite = x[np.isfinite(x)]
        if finite.size and bins > 1:
            levels = np.arange(1, bins, dtype=np.float64) / bins
            edges = np.unique(np.quantile(finite, levels, method="inverted_cdf"))
        else:
            edges = np.empty(0, dtype=np.float64)
        profile = cls(edges, sketch=QuantileSketch(sketch_k))
        profile.update_many(x)
        return profile

    @classmethod
    def from_edges(cls, edges: npt.ArrayLike, *, sketch_k: int = DEFAULT_K) -> NumericProfile:
        """An empty profile over given interior edges (e.g. a saved baseline's ``edges``)."""
        return cls(edges, sketch=QuantileSketch(sketch_k))

    def update_many(self, values: npt.ArrayLike) -> None:
        """Count a batch of values into their bins (NaN into the last slot); update moments and sketch.

        A value equal to an edge ``e_i`` falls in ``(e_{i−1}, e_i]``: ``np.searchsorted(edges, x,
        side="left")`` is the index of the first edge ``≥ x``, which is exactly that bin.
        """
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size == 0:
            return
        index = np.searchsorted(self._edges, x, side="left")
        index[np.isnan(x)] = self._counts.size - 1
        self._counts += np.bincount(index, minlength=self._counts.size)
        self._moments.update_many(x)
        self._sketch.update_many(x)

    def empty_like(self) -> NumericProfile:
        """A profile with the same edges and sketch settings and nothing counted (for current windows)."""
        return NumericProfile(self._edges, sketch=QuantileSketch(self._sketch.k, self._sketch.seed))

    def merge(self, other: NumericProfile) -> NumericProfile:
        """A new profile of both inputs: counts and moments exact, sketch within its error bound.

        Raises ``ValueError`` unless both profiles have identical edges.
        """
        if not np.array_equal(self._edges, other._edges):
            raise ValueError(
                f"NumericProfile.merge: bin edges differ ({self._edges.size} vs {other._edges.size} edges); "
                "merge only profiles built from the same reference (use empty_like() or from_edges())"
            )
        return NumericProfile(
            self._edges,
            self._counts + other._counts,
            self._moments.merge(other._moments),
            self._sketch.merge(other._sketch),
        )

    def probabilities(self, smoothing: float = 0.5) -> npt.NDArray[np.float64]:
        """Smoothed bucket probabilities ``p_i = (c_i + a) / (n + a·K)``, NaN slot included.

        ``a = 0.5`` is the Jeffreys prior (Krichevsky–Trofimov estimator): no bucket gets
        probability 0, since PSI and KL are infinite on an empty bin, while a pseudo-count of the
        order of one observation keeps the divergence of rare bins on the scale of the data — a
        tiny epsilon instead (1e-6, as some tools use) makes ``ln(p/ε)`` dominate PSI. ``a = 0``
        gives raw frequencies; with nothing counted and ``a = 0`` the result is all NaN.
        """
        return _smoothed(self._counts, smoothing)

    @property
    def edges(self) -> npt.NDArray[np.float64]:
        """Interior bin edges (read-only float64 array, strictly increasing)."""
        return self._edges

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        """Read-only int64 counts: ``len(edges) + 1`` value bins, then the NaN slot."""
        return _read_only(self._counts)

    @property
    def moments(self) -> Moments:
        """Exact count, mean, variance, min and max of the non-NaN values."""
        return self._moments

    @property
    def sketch(self) -> QuantileSketch:
        """Quantile sketch of the non-NaN values."""
        return self._sketch

    @property
    def total(self) -> int:
        """Number of values counted, NaN included (the sum of ``counts``)."""
        return int(self._counts.sum())

    @property
    def nbytes(self) -> int:
        """Approximate state size in bytes: edges, counts, moments (6 × 8) and the sketch."""
        return int(self._edges.nbytes + self._counts.nbytes) + 48 + self._sketch.nbytes

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict (see :meth:`Moments.to_state` for non-finite floats); exact round trip."""
        return {
            "kind": "numeric",
            "version": _STATE_VERSION,
            "edges": self._edges.tolist(),
            "counts": self._counts.tolist(),
            "moments": self._moments.to_state(),
            "sketch": self._sketch.to_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NumericProfile:
        """Rebuild a profile written by :meth:`to_state`."""
        if state.get("kind") != "numeric":
            raise ValueError(f"NumericProfile state: expected kind 'numeric', got {state.get('kind')!r}")
        return cls(
            state["edges"],
            state["counts"],
            Moments.from_state(state["moments"]),
            QuantileSketch.from_state(state["sketch"]),
        )

    def __repr__(self) -> str:
        return f"NumericProfile(bins={self._edges.size + 1}, total={self.total}, moments={self._moments!r})"


def category_hash(value: str) -> int:
    """Stable 64-bit hash of a category: BLAKE2b (RFC 7693) of its UTF-8 bytes, 8-byte digest, big-endian.

    Unlike Python's ``hash`` it is not salted per process, so saved baselines stay valid. With
    ``m`` stored hashes, a new category collides with one of them with probability ``≈ m / 2**64``.
    """
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "big")


class CategoricalProfile:
    """Bucket counts of a categorical signal: the reference's top-k, then other, unseen, missing.

    Buckets (``labels``): the ``top_k`` most frequent reference categories (ties broken by the
    category string, so the choice is deterministic), then :data:`OTHER` (seen in the reference,
    not in the top-k), :data:`UNSEEN` (never seen in the reference — a new category) and
    :data:`MISSING` (``None``). Non-string values are counted under ``str(value)``.

    To tell "other" from "unseen" with bounded memory, the profile keeps the reference categories
    ranked after the top-k, at most ``max_known`` of them, as a sorted array of 64-bit
    :func:`category_hash` values (8 bytes each). Approximation: if the reference had more distinct
    categories than that (``overflowed``), a category missing from the array may be one of the
    dropped reference categories, so it is counted as "other", not "unseen" — new-category
    detection is given up for such high-cardinality signals, where new values are normal anyway.
    Hash collisions (probability ``≈ max_known / 2**64`` per new category) also count as "other".

    ``update_many`` resolves each distinct value once per batch, through a per-profile cache of
    value → bucket (cleared when it reaches 4096 entries; not part of the state or ``nbytes``).
    """

    __slots__ = ("_cache", "_categories", "_counts", "_index", "_known", "_overflowed")

    def __init__(
        self,
        categories: Sequence[str],
        known_hashes: npt.ArrayLike | None = None,
        overflowed: bool = False,
        counts: npt.ArrayLike | None = None,
    ) -> None:
        """Build a profile with explicit buckets.

        ``categories``: the top-k labels, distinct. ``known_hashes``: :func:`category_hash` values of
        the other reference categories (default none: every non-top-k value is "unseen").
        ``overflowed``: whether the reference had more categories than were kept (default False).
        ``counts``: ``len(categories) + 3`` counts (default zeros).
        """
        self._categories = tuple(categories)
        self._index = {category: i for i, category in enumerate(self._categories)}
        if len(self._index) != len(self._categories):
            raise ValueError("CategoricalProfile: categories must be distinct")
        known = np.unique(np.array([] if known_hashes is None else known_hashes, dtype=np.uint64).ravel())
        known.flags.writeable = False
        self._known: npt.NDArray[np.uint64] = known
        self._overflowed = bool(overflowed)
        size = len(self._categories) + 3
        self._counts = (
            np.zeros(size, dtype=np.int64) if counts is None else _check_counts(counts, size, "CategoricalProfile")
        )
        self._cache: dict[str, int] = {}

    @classmethod
    def from_reference(cls, values: Iterable[str | None], top_k: int = 20, max_known: int = 512) -> CategoricalProfile:
        """The profile of a reference sample.

        ``top_k`` (default 20): categories with their own bucket. ``max_known`` (default 512, 4 KB):
        further reference categories remembered as hashes, to tell "other" from "unseen".
        """
        if top_k < 0 or max_known < 0:
            raise ValueError("CategoricalProfile.from_reference: top_k and max_known must be >= 0")
        tally: Counter[str] = Counter()
        missing = 0
        for value, count in Counter(values).items():
            if value is None:
                missing += count
            else:
                tally[value if isinstance(value, str) else str(value)] += count
        ranked = heapq.nsmallest(top_k + max_known, tally.items(), key=lambda item: (-item[1], item[0]))
        top, rest = ranked[:top_k], ranked[top_k:]
        top_total = sum(count for _, count in top)
        counts = [count for _, count in top] + [sum(tally.values()) - top_total, 0, missing]
        return cls(
            [category for category, _ in top],
            [category_hash(category) for category, _ in rest],
            overflowed=len(tally) > len(ranked),
            counts=counts,
        )

    def _bucket(self, value: str | None) -> int:
        if value is None:
            return len(self._categories) + 2
        if not isinstance(value, str):
            value = str(value)
        bucket = self._cache.get(value)
        if bucket is not None:
            return bucket
        bucket = self._index.get(value)
        if bucket is None:
            other = len(self._categories)
            if self._overflowed:
                bucket = other
            else:
                digest = np.uint64(category_hash(value))
                position = int(np.searchsorted(self._known, digest))
                found = position < self._known.size and self._known[position] == digest
                bucket = other if found else other + 1
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[value] = bucket
        return bucket

    def bucket(self, value: str | None) -> int:
        """The index in :attr:`labels` of the bucket ``value`` falls in (cached per distinct value)."""
        return self._bucket(value)

    def update_many(self, values: Iterable[str | None]) -> None:
        """Count a batch of values into their buckets (``None`` → missing)."""
        added = [0] * self._counts.size
        for value, count in Counter(values).items():
            added[self._bucket(value)] += count
        self._counts += np.asarray(added, dtype=np.int64)

    def empty_like(self) -> CategoricalProfile:
        """A profile with the same buckets and nothing counted (for current windows)."""
        return CategoricalProfile(self._categories, self._known, self._overflowed)

    def merge(self, other: CategoricalProfile) -> CategoricalProfile:
        """A new profile of both inputs (counts add exactly).

        Raises ``ValueError`` unless both have the same labels and the same known-category set.
        """
        if self._categories != other._categories:
            raise ValueError(
                "CategoricalProfile.merge: labels differ; merge only profiles built from the same reference "
                "(use empty_like())"
            )
        if self._overflowed != other._overflowed or not np.array_equal(self._known, other._known):
            raise ValueError("CategoricalProfile.merge: the known reference categories differ")
        return CategoricalProfile(self._categories, self._known, self._overflowed, self._counts + other._counts)

    def probabilities(self, smoothing: float = 0.5) -> npt.NDArray[np.float64]:
        """Smoothed bucket probabilities ``p_i = (c_i + a) / (n + a·K)``; see :meth:`NumericProfile.probabilities`."""
        return _smoothed(self._counts, smoothing)

    @property
    def categories(self) -> tuple[str, ...]:
        """The top-k reference categories, most frequent first."""
        return self._categories

    @property
    def labels(self) -> tuple[str, ...]:
        """Bucket names: the top-k categories, then :data:`OTHER`, :data:`UNSEEN`, :data:`MISSING`."""
        return (*self._categories, OTHER, UNSEEN, MISSING)

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        """Read-only int64 counts, aligned with ``labels``."""
        return _read_only(self._counts)

    @property
    def known_hashes(self) -> npt.NDArray[np.uint64]:
        """Sorted hashes of the non-top-k reference categories kept (read-only)."""
        return self._known

    @property
    def overflowed(self) -> bool:
        """True when the reference had more categories than kept: misses count as other, not unseen."""
        return self._overflowed

    @property
    def total(self) -> int:
        """Number of values counted, missing included (the sum of ``counts``)."""
        return int(self._counts.sum())

    @property
    def nbytes(self) -> int:
        """Approximate state size in bytes: counts, known hashes and the UTF-8 category names."""
        names = sum(len(category.encode("utf-8")) for category in self._categories)
        return int(self._counts.nbytes + self._known.nbytes) + names

    def to_state(self) -> dict[str, Any]:
        """A JSON-able dict; hashes as 16-digit hex strings (JSON numbers lose precision past 2**53)."""
        return {
            "kind": "categorical",
            "version": _STATE_VERSION,
            "categories": list(self._categories),
            "known": [f"{int(h):016x}" for h in self._known.tolist()],
            "overflowed": self._overflowed,
            "counts": self._counts.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CategoricalProfile:
        """Rebuild a profile written by :meth:`to_state`."""
        if state.get("kind") != "categorical":
            raise ValueError(f"CategoricalProfile state: expected kind 'categorical', got {state.get('kind')!r}")
        return cls(
            [str(category) for category in state["categories"]],
            [int(h, 16) for h in state["known"]],
            bool(state["overflowed"]),
            state["counts"],
        )

    def __repr__(self) -> str:
        return f"CategoricalProfile(categories={len(self._categories)}, total={self.total})"


def profile_from_state(state: dict[str, Any]) -> NumericProfile | CategoricalProfile:
    """Rebuild a :class:`NumericProfile` or :class:`CategoricalProfile` from its state's ``"kind"``."""
    kind = state.get("kind")
    if kind == "numeric":
        return NumericProfile.from_state(state)
    if kind == "categorical":
        return CategoricalProfile.from_state(state)
    raise ValueError(f"profile_from_state: unknown kind {kind!r} (expected 'numeric' or 'categorical')")
