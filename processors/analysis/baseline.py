"""Baselines: a model's reference distributions, built offline from its training data or recorded spans.

A baseline file freezes, per signal, the reference the drift monitors compare live traffic with
(:class:`~.profile.NumericProfile` quantile bins or :class:`~.profile.CategoricalProfile` top-k
buckets) plus a bounded uniform sample of the reference values, which seeds the change detector.
Signals are named as the span extractor names them (:mod:`.signals`): feature columns
``feature.<column>``, the prediction column ``prediction``, the score column ``prediction.score``;
the target column is kept apart as the label distribution (``labels``, for performance checks).

Building from a table (CSV, optionally gzip-compressed, or Parquet) takes two streaming passes, so
a file larger than memory works and every count is exact:

1. **sample** — every column's non-missing values go through a seeded reservoir (Vitter's
   algorithm R, "Random sampling with a reservoir", ACM TOMS 1985) of ``sample`` values: a uniform
   sample of the whole column whatever its length. Categorical columns are also counted exactly,
   as long as they have at most ``max_distinct`` distinct values.
2. **count** — the numeric bin edges are the reservoir's quantiles (exactly
   :meth:`NumericProfile.from_reference`'s edges when the column fits in the sample); every row
   is then counted into ``NumericProfile.from_edges(edges)``, so bin counts, moments and the
   quantile sketch describe the whole dataset, not the sample. Categorical columns that
   overflowed ``max_distinct`` get their top-k from the reservoir and are counted exactly here.
   The pass is skipped when nothing needs it (only categorical columns, none overflowed).

One pass cannot give exact counts in bounded memory: the bins must be fixed before the first value
is counted, and quantiles of a stream are only known at its end. Memory is bounded by one chunk of
rows (~260k cells for CSV, 64k rows for Parquet) plus, per column, the reservoir (8 bytes × ``sample``
numeric; the strings categorical), the profile (< 8 KB) and for categorical columns the exact
tally (≤ ``max_distinct`` entries).

The file is versioned JSON (``"kind": "driftline-baseline", "version": 1``), see ``docs/baseline.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import heapq
import importlib
import io
import itertools
import json
import math
import operator
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from driftline.semconv import names

from .profile import CategoricalProfile, NumericProfile, category_hash, profile_from_state
from .sketch import DEFAULT_K

if TYPE_CHECKING:
    from .signals import ModelKey

__all__ = [
    "DEFAULT_BINS",
    "DEFAULT_MAX_DISTINCT",
    "DEFAULT_SAMPLE",
    "DEFAULT_TOP_K",
    "FORMAT_KIND",
    "FORMAT_VERSION",
    "LABELS",
    "Baseline",
    "BaselineError",
    "BaselineSignal",
    "BuildProgress",
    "build_from_spans",
    "build_from_table",
]

FORMAT_KIND = "driftline-baseline"
"""The ``"kind"`` field of every baseline file."""
FORMAT_VERSION = 1
"""The baseline file format this module writes and reads."""
LABELS = "labels"
"""Key of the label (target column) distribution in the file: kept apart from the monitored signals."""

DEFAULT_BINS = 10
DEFAULT_TOP_K = 20
DEFAULT_SAMPLE = 2000
"""Reservoir size per column: also the monitors' default warm-up, so the change detector's reference
is as large as the one it would have frozen from live traffic."""
DEFAULT_MAX_DISTINCT = 100_000
"""Distinct values per categorical column counted exactly; beyond, the top-k comes from the reservoir."""

_MAX_KNOWN = 512  # CategoricalProfile.from_reference's default: the same "other vs unseen" memory
_CHUNK_CELLS = 262_144  # CSV cells per chunk: bounds memory for wide and long files alike
_BUFFER = 1 << 20
_LISTED = 20  # names listed in an error message before "..."

Kind = Literal["numeric", "categorical"]
Values = npt.NDArray[np.float64] | list[str | None]


class BaselineError(ValueError):
    """A user error while building, saving or loading a baseline: a one-line message naming the fix."""


@dataclass(frozen=True)
class BuildProgress:
    """Where a build is: reported after every chunk and once more at the end of each pass (``done``)."""

    pass_number: int
    passes: int
    rows: int
    """Rows (spans, for ``build_from_spans``) read so far in this pass."""
    fraction: float
    """Share of the input read so far, 0..1 (by bytes for CSV and spans, by rows for Parquet)."""
    done: bool = False


ProgressCallback = Callable[[BuildProgress], None]


# --- the baseline ------------------------------------------------------------------------------------


@dataclass
class BaselineSignal:
    """One signal's reference: its profile and a uniform sample of its non-missing values.

    ``sample``: float64 array of finite values for numeric signals, a list of strings for categorical
    ones (at most the build's ``sample`` size). ``column``: the source column, when built from a table.
    """

    profile: NumericProfile | CategoricalProfile
    sample: npt.NDArray[np.float64] | list[str]
    column: str | None = None

    @property
    def kind(self) -> Kind:
        """``numeric`` or ``categorical``, from the profile."""
        return "numeric" if isinstance(self.profile, NumericProfile) else "categorical"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form stored in the file."""
        sample = self.sample.tolist() if isinstance(self.sample, np.ndarray) else list(self.sample)
        out: dict[str, Any] = {"profile": self.profile.to_state(), "sample": sample}
        if self.column is not None:
            out["column"] = self.column
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineSignal:
        """Rebuild a signal written by :meth:`to_dict` (``ValueError``/``KeyError``/``TypeError`` if malformed)."""
        profile = profile_from_state(dict(data["profile"]))
        raw = data["sample"]
        if not isinstance(raw, list):
            raise TypeError("sample must be a list")
        sample: npt.NDArray[np.float64] | list[str]
        if isinstance(profile, NumericProfile):
            sample = np.asarray(raw, dtype=np.float64)
        else:
            sample = [str(value) for value in raw]
        column = data.get("column")
        return cls(profile, sample, None if column is None else str(column))


@dataclass
class Baseline:
    """A model's reference distributions (see the module docstring); save with :meth:`save`, read with :meth:`load`.

    ``service`` / ``version`` empty mean "any" when matching spans (:meth:`matches`). ``signals`` maps
    signal names (``feature.<column>``, ``prediction``, ``prediction.score``, or LLM signal names from
    spans) to their reference; ``labels`` is the target column's distribution, if one was given.
    ``warnings`` (not saved) lists what the build had to guess or skip.
    """

    name: str
    version: str = ""
    service: str = ""
    signals: dict[str, BaselineSignal] = field(default_factory=dict)
    labels: BaselineSignal | None = None
    created: str = ""
    """When it was built: ISO 8601, UTC."""
    source: dict[str, Any] = field(default_factory=dict)
    """What it was built from: ``path``, ``format``, ``rows``, ``sha256`` of the file."""
    settings: dict[str, Any] = field(default_factory=dict)
    """The build settings: ``bins``, ``top_k``, ``sample``, ``seed``, ``max_distinct``."""
    warnings: list[str] = field(default_factory=list, compare=False)

    def monitor_reference(self, signal: str) -> NumericProfile | CategoricalProfile:
        """A fresh copy of ``signal``'s profile, to pass as ``SignalMonitor(reference=...)``.

        A copy, so monitors never share (or mutate) the baseline's profile. Raises ``KeyError``
        naming the signals the baseline has.
        """
        entry = self.signals.get(signal)
        if entry is None:
            raise KeyError(f"baseline of model {self.name!r} has no signal {signal!r}; "
                           f"it has: {_listing(self.signals)}")
        return profile_from_state(entry.profile.to_state())

    def matches(self, key: ModelKey) -> bool:
        """Whether spans of ``key`` are this baseline's model (empty service/version match any)."""
        return key.model == self.name and (not self.version or key.version == self.version) and \
            (not self.service or key.service == self.service)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document :meth:`save` writes."""
        return {
            "kind": FORMAT_KIND,
            "version": FORMAT_VERSION,
            "model": {"service": self.service, "name": self.name, "version": self.version},
            "created": self.created,
            "source": dict(self.source),
            "settings": dict(self.settings),
            "signals": {name: entry.to_dict() for name, entry in self.signals.items()},
            LABELS: None if self.labels is None else self.labels.to_dict(),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the baseline as JSON to ``path``, atomically (a reader never sees half a file)."""
        target = os.fspath(path)
        text = json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":")) + "\n"
        folder = os.path.dirname(os.path.abspath(target))
        try:
            handle, temporary = tempfile.mkstemp(prefix=".baseline-", suffix=".tmp", dir=folder)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(temporary, target)
            except BaseException:
                os.unlink(temporary)
                raise
        except OSError as error:
            raise BaselineError(f"cannot write {target}: {error.strerror or error}; "
                                "choose a writable path with -o") from None

    @classmethod
    def from_dict(cls, document: Any, origin: str = "baseline") -> Baseline:
        """Validate and rebuild a document written by :meth:`to_dict`; errors name ``origin``."""
        if not isinstance(document, dict) or document.get("kind") != FORMAT_KIND:
            kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
            raise BaselineError(f"{origin} is not a Driftline baseline (kind {kind!r}, expected {FORMAT_KIND!r}); "
                                "build one with: driftline baseline build DATA --model NAME -o FILE")
        version = document.get("version")
        if version != FORMAT_VERSION:
            raise BaselineError(f"{origin} is a baseline of format version {version!r}; this Driftline reads "
                                f"version {FORMAT_VERSION}: rebuild it with driftline baseline build")
        try:
            model = document["model"]
            signals = {str(name): BaselineSignal.from_dict(entry) for name, entry in document["signals"].items()}
            labels = document.get(LABELS)
            return cls(
                name=str(model["name"]),
                version=str(model.get("version") or ""),
                service=str(model.get("service") or ""),
                signals=signals,
                labels=None if labels is None else BaselineSignal.from_dict(labels),
                created=str(document.get("created", "")),
                source=dict(document.get("source") or {}),
                settings=dict(document.get("settings") or {}),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BaselineError(f"{origin} is a damaged baseline ({type(error).__name__}: {error}); "
                                "rebuild it with driftline baseline build") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Baseline:
        """Read a baseline file; :class:`BaselineError` naming the file if it is missing, not JSON or not a
        baseline of this format version."""
        origin = os.fspath(path)
        try:
            with open(origin, encoding="utf-8") as handle:
                document = json.load(handle)
        except OSError as error:
            raise _read_error(origin, error) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise BaselineError(f"{origin} is not a JSON baseline ({error}); "
                                "build one with driftline baseline build") from None
        return cls.from_dict(document, origin)


# --- per-signal builders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    bins: int
    top_k: int
    sample: int
    seed: int
    max_distinct: int
    sketch_k: int = DEFAULT_K

    def __post_init__(self) -> None:
        if self.bins < 1:
            raise BaselineError(f"--bins must be at least 1, got {self.bins}")
        if self.top_k < 0:
            raise BaselineError(f"--top-k must be 0 or more, got {self.top_k}")
        if self.sample < 1:
            raise BaselineError(f"--sample must be at least 1, got {self.sample}")
        if self.max_distinct < 1:
            raise BaselineError(f"max_distinct must be at least 1, got {self.max_distinct}")

    def to_dict(self) -> dict[str, Any]:
        return {"bins": self.bins, "top_k": self.top_k, "sample": self.sample, "seed": self.seed,
                "max_distinct": self.max_distinct}


class _Reservoir:
    """Vitter's algorithm R over a stream seen in batches: a uniform sample of ``capacity`` items.

    Item ``i`` (0-based) beyond the first ``capacity`` draws ``j`` uniform in ``[0, i]`` and replaces
    slot ``j`` if ``j < capacity``; each item of the stream ends up in the sample with probability
    ``capacity / n``. A batch draws all its ``j`` at once; when several items of one batch hit the
    same slot the last one wins, exactly as if they had been processed one by one.
    """

    def __init__(self, capacity: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.seen = 0
        self._rng = rng

    def admit(self, count: int) -> tuple[int, npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Plan a batch of ``count`` new items: how many fill free slots (the first ``fill`` items, appended),
        then the replacements as (slot, item index in the batch) arrays, at most one per slot."""
        fill = min(count, max(0, self.capacity - self.seen))
        rest = count - fill
        slots = items = np.empty(0, dtype=np.intp)
        if rest > 0:
            positions = self.seen + fill + np.arange(rest, dtype=np.int64)
            draws = self._rng.integers(0, positions + 1)
            hit = np.flatnonzero(draws < self.capacity)
            if hit.size:
                # the last item hitting a slot wins: unique over the reversed hits keeps the last
                reversed_slots = draws[hit][::-1]
                slots, first = np.unique(reversed_slots, return_index=True)
                items = (fill + hit[::-1][first]).astype(np.intp)
                slots = slots.astype(np.intp)
        self.seen += count
        return fill, slots, items


class _NumericBuilder:
    kind: Kind = "numeric"

    def __init__(self, settings: _Settings, rng: np.random.Generator, column: str | None) -> None:
        self.settings = settings
        self.column = column
        self._reservoir = _Reservoir(settings.sample, rng)
        self._sample = np.empty(0, dtype=np.float64)
        self.profile: NumericProfile | None = None
        self.present = 0
        """Finite values seen in the first pass."""

    def observe(self, values: Values) -> None:
        x = np.asarray(values, dtype=np.float64)
        finite = x[np.isfinite(x)]
        self.present += finite.size
        fill, slots, items = self._reservoir.admit(finite.size)
        if fill:
            self._sample = np.concatenate([self._sample, finite[:fill]])
        if slots.size:
            self._sample[slots] = finite[items]

    def freeze(self) -> bool:
        settings = self.settings
        # The same edge rule as NumericProfile.from_reference, applied to the uniform sample.
        edges = NumericProfile.from_reference(self._sample, settings.bins, sketch_k=settings.sketch_k).edges
        self.profile = NumericProfile.from_edges(edges, sketch_k=settings.sketch_k)
        return True

    def count(self, values: Values) -> None:
        assert self.profile is not None
        self.profile.update_many(np.asarray(values, dtype=np.float64))

    def result(self) -> BaselineSignal:
        assert self.profile is not None
        return BaselineSignal(self.profile, self._sample.copy(), self.column)


class _CategoricalBuilder:
    kind: Kind = "categorical"

    def __init__(self, settings: _Settings, rng: np.random.Generator, column: str | None) -> None:
        self.settings = settings
        self.column = column
        self._reservoir = _Reservoir(settings.sample, rng)
        self._sample: list[str] = []
        self._tally: Counter[str] | None = Counter()
        self._missing = 0
        self.profile: CategoricalProfile | None = None
        self.present = 0
        """Non-missing values seen in the first pass."""
        self.overflowed = False

    def observe(self, values: Values) -> None:
        present: list[str] = [value for value in values if value is not None]
        self._missing += len(values) - len(present)
        self.present += len(present)
        batch = Counter(present)
        if self._tally is not None:
            self._tally.update(batch)
            if len(self._tally) > self.settings.max_distinct:
                self._tally = None  # too many categories to count exactly: free the memory
                self.overflowed = True
        fill, slots, items = self._reservoir.admit(len(present))
        self._sample.extend(str(value) for value in present[:fill])
        for slot, item in zip(slots.tolist(), items.tolist(), strict=True):
            self._sample[slot] = str(present[item])

    def freeze(self) -> bool:
        settings = self.settings
        if self._tally is not None:
            self.profile = _categorical_from_counts(self._tally, self._missing, settings.top_k, _MAX_KNOWN)
            self._tally = None
            return False
        # Top-k from the sample; marked overflowed, so a category outside the sample's known set counts as
        # "other", not "unseen" (the reference had more categories than anything here remembers).
        ranked = CategoricalProfile.from_reference(self._sample, settings.top_k, _MAX_KNOWN)
        self.profile = CategoricalProfile(ranked.categories, ranked.known_hashes, overflowed=True)
        return True

    def count(self, values: Values) -> None:
        assert self.profile is not None
        self.profile.update_many(values)

    def result(self) -> BaselineSignal:
        assert self.profile is not None
        return BaselineSignal(self.profile, list(self._sample), self.column)


_Builder = _NumericBuilder | _CategoricalBuilder


def _categorical_from_counts(tally: Mapping[str, int], missing: int, top_k: int, max_known: int) -> CategoricalProfile:
    """:meth:`CategoricalProfile.from_reference` from exact counts instead of the values themselves.

    The same ranking (count descending, then the category string) and the same other/unseen memory,
    so a table and its values in memory give identical profiles.
    """
    ranked = heapq.nsmallest(top_k + max_known, tally.items(), key=lambda item: (-item[1], item[0]))
    top, rest = ranked[:top_k], ranked[top_k:]
    top_total = sum(count for _, count in top)
    counts = [count for _, count in top] + [sum(tally.values()) - top_total, 0, missing]
    return CategoricalProfile(
        [category for category, _ in top],
        [category_hash(category) for category, _ in rest],
        overflowed=len(tally) > len(ranked),
        counts=counts,
    )


class _Signals:
    """The builders of one baseline, by signal name, in first-seen order."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.builders: dict[str, _Builder] = {}
        self.conflicts: Counter[str] = Counter()
        self._second: set[str] = set()

    def add(self, signal: str, kind: Kind, column: str | None = None) -> _Builder:
        builder = self.builders.get(signal)
        if builder is None:
            # Each signal samples with its own generator, seeded by (seed, signal name): adding or
            # reordering columns does not change another column's sample.
            rng = np.random.default_rng([self.settings.seed, category_hash(signal)])
            cls = _NumericBuilder if kind == "numeric" else _CategoricalBuilder
            builder = self.builders[signal] = cls(self.settings, rng, column)
        return builder

    def observe(self, signal: str, kind: Kind, values: Values) -> None:
        builder = self.add(signal, kind)
        if builder.kind != kind:
            self.conflicts[signal] += len(values)  # first kind seen wins; see docs/baseline.md
            return
        builder.observe(values)

    def freeze(self) -> bool:
        """Fix every profile's buckets after the first pass; whether a second (counting) pass is needed."""
        self._second = {signal for signal, builder in self.builders.items() if builder.freeze()}
        return bool(self._second)

    def needs(self, signal: str) -> bool:
        """Whether ``signal`` is counted in the second pass."""
        return signal in self._second

    def count(self, signal: str, kind: Kind, values: Values) -> None:
        if signal in self._second and self.builders[signal].kind == kind:
            self.builders[signal].count(values)

    def warnings(self) -> list[str]:
        out = [f"{signal}: {count} values of the other kind than its first ones were skipped"
               for signal, count in self.conflicts.items()]
        for signal, builder in self.builders.items():
            if isinstance(builder, _CategoricalBuilder) and builder.overflowed:
                out.append(f"{signal}: more than {self.settings.max_distinct} distinct values; "
                           f"its top-{self.settings.top_k} comes from a sample of {self.settings.sample}")
        return out


# --- reading files -------------------------------------------------------------------------------------


class _CountingReader(io.RawIOBase):
    """A raw reader that counts (and optionally hashes) the bytes read from ``source``: progress and sha256
    come for free in the first pass."""

    def __init__(self, source: BinaryIO, digest: Any | None) -> None:
        super().__init__()
        self._source = source
        self._digest = digest
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        count = len(data)
        view[:count] = data
        self.position += count
        if self._digest is not None:
            self._digest.update(data)
        return count


@contextmanager
def _open_bytes(path: str, digest: Any | None = None) -> Iterator[tuple[BinaryIO, _CountingReader]]:
    """``path`` as a buffered binary stream (gunzipped if it starts with the gzip magic), and its byte counter."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise _read_error(path, error) from None
    with raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        counting = _CountingReader(raw, digest)
        stream: BinaryIO = io.BufferedReader(counting, _BUFFER)
        if gzipped:
            stream = gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[assignment]
        yield stream, counting


def _read_error(path: str, error: OSError) -> BaselineError:
    if isinstance(error, FileNotFoundError):
        return BaselineError(f"{path}: no such file; check the path")
    if isinstance(error, IsADirectoryError):
        return BaselineError(f"{path} is a folder; give a file")
    return BaselineError(f"{path}: cannot read it ({error.strerror or error})")


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError as error:
        raise _read_error(path, error) from None


@dataclass
class _Chunk:
    rows: int
    columns: dict[str, Values]
    invalid: dict[str, int]
    """Cells of numeric columns that did not parse as numbers (counted as missing)."""
    fraction: float


def _parse_numbers(cells: Sequence[str]) -> tuple[npt.NDArray[np.float64], int]:
    """CSV cells as floats (empty → NaN) and how many non-empty cells were not numbers (also NaN).

    Python's ``float`` is the parser (it reads ``1e3``, ``inf``, ``nan``, surrounding blanks); the
    common case, a column of numbers without gaps, runs in one C-level ``map``.
    """
    count = len(cells)
    try:
        return np.fromiter(map(float, cells), dtype=np.float64, count=count), 0
    except ValueError:
        pass  # an empty cell or a word
    try:
        return np.fromiter((float(cell) if cell else math.nan for cell in cells), dtype=np.float64, count=count), 0
    except ValueError:
        pass  # some cell is not a number: find which, one by one (rare, so the slow path is fine)
    out = np.empty(count, dtype=np.float64)
    bad = 0
    for i, cell in enumerate(cells):
        try:
            out[i] = float(cell) if cell else math.nan
        except ValueError:
            out[i] = math.nan
            bad += 1
    return out, bad


class _CsvSource:
    """A CSV file (UTF-8, optional BOM, optionally gzip-compressed) read in chunks of rows."""

    format = "csv"

    def __init__(self, path: str, delimiter: str | None, chunk_rows: int | None) -> None:
        self.path = path
        lowered = path.lower().removesuffix(".gz")
        self.delimiter = delimiter or ("\t" if lowered.endswith((".tsv", ".tab")) else ",")
        self.size = _file_size(path)
        self.ragged = 0
        self.columns: list[str] = []
        self.chunk_rows = 1
        batches = self._batches(None)
        header = next(batches, ([], 0))[0]
        batches.close()
        if not header or not header[0]:
            raise BaselineError(f"{path} is empty: a CSV baseline needs a header row and data rows")
        self.columns = header[0]
        self.chunk_rows = chunk_rows or max(1000, _CHUNK_CELLS // max(1, len(self.columns)))

    def _batches(self, digest: Any | None) -> Generator[tuple[list[list[str]], int], None, None]:
        """Lists of rows (the header alone first) and the bytes read so far; ragged rows repaired."""
        width = len(self.columns)
        with _open_bytes(self.path, digest) as (stream, counting):
            text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
            reader = csv.reader(text, delimiter=self.delimiter)
            try:
                header = next(reader, None)
                if header is None:
                    return
                yield [header], counting.position
                while True:
                    batch = list(itertools.islice(reader, self.chunk_rows))
                    if not batch:
                        return
                    if set(map(len, batch)) != {width}:
                        batch = self._repair(batch, width)
                        if not batch:
                            continue
                    yield batch, counting.position
            except UnicodeDecodeError as error:
                raise BaselineError(f"{self.path} is not UTF-8 text ({error.reason} near line "
                                    f"{reader.line_num + 1}); save the CSV as UTF-8") from None
            except csv.Error as error:
                raise BaselineError(f"{self.path} line {reader.line_num}: {error}; check the delimiter "
                                    "and quoting (--delimiter)") from None
            except (OSError, EOFError) as error:  # a truncated or corrupt gzip stream
                raise BaselineError(f"{self.path}: cannot read it ({error})") from None

    def _repair(self, batch: list[list[str]], width: int) -> list[list[str]]:
        """Drop blank lines; pad short rows with missing cells and cut long ones (counted in ``ragged``)."""
        out: list[list[str]] = []
        for row in batch:
            if len(row) != width:
                if not row:
                    continue
                self.ragged += 1
                row = (row + [""] * width)[:width]
            out.append(row)
        return out

    def detect(self, columns: Sequence[str]) -> dict[str, Kind]:
        """Numeric: every non-empty cell of the column's first chunk is a number (and there is one)."""
        batches = self._batches(None)
        next(batches, None)  # the header
        first = next(batches, ([], 0))[0]
        batches.close()
        kinds: dict[str, Kind] = {}
        for name in columns:
            cells = [row[self.columns.index(name)] for row in first]
            _, bad = _parse_numbers(cells)
            kinds[name] = "numeric" if bad == 0 and any(cells) else "categorical"
        return kinds

    def chunks(self, kinds: Mapping[str, Kind], digest: Any | None) -> Iterator[_Chunk]:
        self.ragged = 0
        getters = {name: operator.itemgetter(self.columns.index(name)) for name in kinds}
        batches = self._batches(digest)
        next(batches, None)  # the header
        for batch, position in batches:
            columns: dict[str, Values] = {}
            invalid: dict[str, int] = {}
            for name, kind in kinds.items():
                cells = list(map(getters[name], batch))
                if kind == "numeric":
                    columns[name], invalid[name] = _parse_numbers(cells)
                else:
                    columns[name] = [cell or None for cell in cells]
            yield _Chunk(len(batch), columns, invalid, min(1.0, position / self.size) if self.size else 1.0)

    def warnings(self) -> list[str]:
        if not self.ragged:
            return []
        return [f"{self.ragged} rows had a different number of fields than the header: missing fields were "
                "counted as missing, extra fields ignored (check --delimiter)"]


class _ParquetSource:
    """A Parquet file read by pyarrow, batch by batch (a row group at most in memory)."""

    format = "parquet"

    def __init__(self, path: str, chunk_rows: int | None) -> None:
        self.path = path
        _file_size(path)  # a missing file is reported as such, before anything about pyarrow
        try:
            self._pa: Any = importlib.import_module("pyarrow")
            parquet: Any = importlib.import_module("pyarrow.parquet")
        except ImportError:
            raise BaselineError(f"{path}: reading Parquet needs pyarrow; install it with pip install pyarrow "
                                "(or convert the file to CSV)") from None
        try:
            self._file = parquet.ParquetFile(path)
        except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
            raise BaselineError(f"{path} is not a readable Parquet file ({error})") from None
        schema = self._file.schema_arrow
        # pandas stores a non-default index as __index_level_N__: not a feature
        self.columns = [str(name) for name in schema.names if not str(name).startswith("__index_level_")]
        self._types = {str(f.name): f.type for f in schema}
        self.rows_total = int(self._file.metadata.num_rows)
        self.chunk_rows = chunk_rows or 65_536

    def _numeric_type(self, arrow_type: Any) -> bool:
        types = self._pa.types
        if types.is_dictionary(arrow_type):
            arrow_type = arrow_type.value_type
        return bool(types.is_integer(arrow_type) or types.is_floating(arrow_type) or
                    types.is_boolean(arrow_type) or types.is_decimal(arrow_type))

    def detect(self, columns: Sequence[str]) -> dict[str, Kind]:
        """Numeric: integer, floating, boolean and decimal columns; everything else categorical."""
        return {name: "numeric" if self._numeric_type(self._types[name]) else "categorical" for name in columns}

    def chunks(self, kinds: Mapping[str, Kind], digest: Any | None) -> Iterator[_Chunk]:
        if digest is not None:  # pyarrow reads the file itself: hash it in a separate sequential read
            _hash_file(self.path, digest)
        pa = self._pa
        read = 0
        try:
            for batch in self._file.iter_batches(batch_size=self.chunk_rows, columns=list(kinds)):
                columns: dict[str, Values] = {}
                for name, kind in kinds.items():
                    array = batch.column(name)
                    if pa.types.is_dictionary(array.type):
                        array = array.dictionary_decode()
                    if kind == "numeric":
                        columns[name] = np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False),
                                                   dtype=np.float64)
                    else:
                        columns[name] = [None if v is None else v if isinstance(v, str) else str(v)
                                         for v in array.to_pylist()]
                read += batch.num_rows
                yield _Chunk(batch.num_rows, columns, {},
                             read / self.rows_total if self.rows_total else 1.0)
        except (OSError, ValueError) as error:  # ArrowInvalid / ArrowNotImplementedError (a cast) / I/O
            raise BaselineError(f"{self.path}: cannot read it ({error})") from None

    def warnings(self) -> list[str]:
        return []


def _hash_file(path: str, digest: Any) -> None:
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_BUFFER), b""):
                digest.update(block)
    except OSError as error:
        raise _read_error(path, error) from None


_Source = _CsvSource | _ParquetSource


def _open_table(path: str, file_format: str | None, delimiter: str | None, chunk_rows: int | None) -> _Source:
    if file_format is None:
        lowered = path.lower()
        if lowered.endswith((".parquet", ".pq", ".parq")):
            file_format = "parquet"
        else:
            try:
                with open(path, "rb") as handle:
                    magic = handle.read(4)
            except OSError as error:
                raise _read_error(path, error) from None
            file_format = "parquet" if magic == b"PAR1" else "csv"
    if file_format == "parquet":
        return _ParquetSource(path, chunk_rows)
    if file_format == "csv":
        return _CsvSource(path, delimiter, chunk_rows)
    raise BaselineError(f"unknown format {file_format!r}; use csv or parquet")


# --- building ------------------------------------------------------------------------------------------


def _listing(items: Sequence[str] | Mapping[str, Any]) -> str:
    shown = [repr(item) for item in list(items)[:_LISTED]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "") if shown else "(none)"


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _report(progress: ProgressCallback | None, number: int, passes: int, rows: int, fraction: float,
            done: bool = False) -> None:
    if progress is not None:
        progress(BuildProgress(number, passes, rows, fraction, done))


def _plan(source: _Source, columns: Sequence[str] | None, exclude: Sequence[str], categorical: Sequence[str],
          target: str | None, prediction: str | None, score: str | None) -> tuple[list[tuple[str, str]], list[str]]:
    """(column, signal) pairs to build — ``LABELS`` for the target — and warnings."""
    available = source.columns
    known = set(available)
    duplicated = sorted({name for name in available if available.count(name) > 1 and name})
    if duplicated:
        raise BaselineError(f"{source.path}: column {duplicated[0]!r} appears more than once in the header; "
                            "rename the duplicates")
    for option, given in (("--columns", columns or ()), ("--exclude", exclude), ("--categorical", categorical),
                          ("--target", [target] if target else []),
                          ("--prediction", [prediction] if prediction else []), ("--score", [score] if score else [])):
        for name in given:
            if name not in known:
                raise BaselineError(f"{option}: {source.path} has no column {name!r}; its columns are: "
                                    f"{_listing(available)}")
    warnings: list[str] = []
    special = {name for name in (target, prediction, score) if name}
    if columns:
        features = [name for name in dict.fromkeys(columns) if name not in set(exclude)]
    else:
        unnamed = [i for i, name in enumerate(available) if not name]
        if unnamed:
            warnings.append(f"{len(unnamed)} column(s) without a name (a saved index?) were skipped")
        features = [name for name in available if name and name not in special and name not in set(exclude)]
    plan = [(name, names.SIGNAL_FEATURE_PREFIX + name) for name in features]
    if prediction:
        plan.append((prediction, names.SIGNAL_PREDICTION))
    if score:
        plan.append((score, names.SIGNAL_PREDICTION_SCORE))
    if target:
        plan.append((target, LABELS))
    if not plan:
        raise BaselineError(f"{source.path}: no column left to profile; check --columns and --exclude")
    return plan, warnings


def build_from_table(
    path: str | os.PathLike[str],
    *,
    model: str,
    version: str = "",
    service: str = "",
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    categorical: Sequence[str] = (),
    target: str | None = None,
    prediction: str | None = None,
    score: str | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    max_distinct: int = DEFAULT_MAX_DISTINCT,
    file_format: Literal["csv", "parquet"] | None = None,
    delimiter: str | None = None,
    chunk_rows: int | None = None,
    progress: ProgressCallback | None = None,
) -> Baseline:
    """Build a baseline from a training table (CSV or Parquet), in two streaming passes (module docstring).

    ``columns``: the feature columns (default: all but ``exclude`` and the target/prediction/score
    columns). ``categorical``: columns to treat as categorical even if numbers. CSV columns are numeric
    when every non-empty cell of the first chunk is a number; an empty cell is missing, and a later
    cell that is not a number counts as missing (with a warning). ``file_format`` defaults to the
    suffix or the Parquet magic bytes; ``delimiter`` to tab for ``.tsv``, else comma.
    Raises :class:`BaselineError` for user errors (unknown columns, empty file, a target without values).
    """
    settings = _Settings(bins, top_k, sample, seed, max_distinct)
    if not model:
        raise BaselineError("a baseline needs the model's name: --model NAME")
    origin = os.fspath(path)
    source = _open_table(origin, file_format, delimiter, chunk_rows)
    plan, warnings = _plan(source, columns, exclude, categorical, target, prediction, score)
    wanted = list(dict.fromkeys(column for column, _ in plan))
    kinds = source.detect(wanted)
    for name in categorical:
        if name in kinds:
            kinds[name] = "categorical"
    if score and kinds[score] != "numeric":
        raise BaselineError(f"--score: column {score!r} of {origin} is not numeric; give the column holding "
                            "the model's score (a number per row)")
    signals = _Signals(settings)
    for column, signal in plan:
        signals.add(signal, kinds[column], column)
    passes = 2 if "numeric" in kinds.values() else 1
    digest = hashlib.sha256()
    rows = 0
    invalid: Counter[str] = Counter()
    for chunk in source.chunks(kinds, digest):
        rows += chunk.rows
        invalid.update(chunk.invalid)
        for column, signal in plan:
            signals.observe(signal, kinds[column], chunk.columns[column])
        _report(progress, 1, passes, rows, chunk.fraction)
    if rows == 0:
        raise BaselineError(f"{origin} has no data rows; a baseline needs the training data")
    if target and signals.builders[LABELS].present == 0:
        raise BaselineError(f"--target: column {target!r} of {origin} has no values (every cell is empty); "
                            "give the column holding the labels, or leave out --target")
    if signals.freeze():
        passes = 2
        _report(progress, 1, passes, rows, 1.0, done=True)
        counted = 0
        second = [(column, signal) for column, signal in plan if signals.needs(signal)]
        for chunk in source.chunks({column: kinds[column] for column, _ in second}, None):
            counted += chunk.rows
            for column, signal in second:
                signals.count(signal, kinds[column], chunk.columns[column])
            _report(progress, 2, passes, counted, chunk.fraction)
        if counted != rows:
            raise BaselineError(f"{origin} changed while it was read ({rows} rows, then {counted}); "
                                "build from a file nothing is writing to")
        _report(progress, 2, passes, counted, 1.0, done=True)
    else:
        _report(progress, 1, passes, rows, 1.0, done=True)
    warnings.extend(source.warnings())
    warnings.extend(f"column {name!r}: {count} cells were not numbers and were counted as missing "
                    f"(use --categorical {name} if it is not numeric)" for name, count in invalid.items() if count)
    warnings.extend(signals.warnings())
    results = {signal: builder.result() for signal, builder in signals.builders.items()}
    labels = results.pop(LABELS, None)
    return Baseline(
        name=model, version=version, service=service, signals=results, labels=labels, created=_now(),
        source={"path": os.path.abspath(origin), "format": source.format, "rows": rows,
                "sha256": digest.hexdigest()},
        settings=settings.to_dict(), warnings=warnings)


def build_from_spans(
    path: str | os.PathLike[str],
    *,
    model: str,
    version: str | None = None,
    service: str | None = None,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    max_distinct: int = DEFAULT_MAX_DISTINCT,
    progress: ProgressCallback | None = None,
) -> Baseline:
    """Build a baseline from recorded spans: OTLP-JSON lines, as the processor's ``file`` exporter writes them.

    Every signal the processor would extract (:class:`~.signals.SignalExtractor`, unsegmented) for the
    models named ``model`` — of ``version`` and ``service`` when given — is profiled as a table
    column would be; feedback labels become the label distribution. Spans of several matching
    versions or services are combined (a warning says so). Lines holding metrics are skipped.
    """
    from .signals import Observations, SignalExtractor

    settings = _Settings(bins, top_k, sample, seed, max_distinct)
    if not model:
        raise BaselineError("a baseline needs the model's name: --model NAME")
    origin = os.fspath(path)
    size = _file_size(origin)

    def wanted(key: ModelKey) -> bool:
        return key.model == model and (version is None or key.version == version) and \
            (service is None or key.service == service)

    matched: set[ModelKey] = set()
    others: Counter[ModelKey] = Counter()
    signals = _Signals(settings)

    def feed(observations: Observations, first: bool) -> None:
        handle = signals.observe if first else signals.count
        for key, numbers in observations.numeric.items():
            if key.segment == "" and wanted(key.model):
                matched.add(key.model)
                handle(key.signal, "numeric", np.asarray(numbers, dtype=np.float64))
            elif first and len(others) < 1000:
                others[key.model] += 1
        for key, texts in observations.categorical.items():
            if key.segment == "" and wanted(key.model):
                matched.add(key.model)
                handle(key.signal, "categorical", texts)
            elif first and len(others) < 1000:
                others[key.model] += 1
        for feedback in observations.feedback:
            if wanted(feedback.model) and feedback.labels:
                kind, values = _label_values(feedback.labels, signals.builders.get(LABELS))
                handle(LABELS, kind, values)

    digest = hashlib.sha256()
    spans = 0
    for observations, fraction in _span_batches(origin, size, digest, SignalExtractor):
        spans += observations.spans
        feed(observations, True)
        _report(progress, 1, 2, spans, fraction)
    if not matched:
        found = sorted({_describe(key) for key in others})
        wanted_text = f"model {model!r}" + (f" version {version!r}" if version is not None else "") + \
            (f" of service {service!r}" if service is not None else "")
        raise BaselineError(f"{origin} has no spans of {wanted_text}; models found: {_listing(found)}")
    if signals.freeze():
        _report(progress, 1, 2, spans, 1.0, done=True)
        counted = 0
        for observations, fraction in _span_batches(origin, size, None, SignalExtractor):
            counted += observations.spans
            feed(observations, False)
            _report(progress, 2, 2, counted, fraction)
        _report(progress, 2, 2, counted, 1.0, done=True)
    else:
        _report(progress, 1, 1, spans, 1.0, done=True)
    warnings = signals.warnings()
    services = sorted({key.service for key in matched})
    versions = sorted({key.version for key in matched})
    if version is None and len(versions) > 1:
        warnings.append(f"spans of versions {', '.join(map(repr, versions))} were combined; "
                        "pass --version to keep one")
    if service is None and len(services) > 1:
        warnings.append(f"spans of services {', '.join(map(repr, services))} were combined; "
                        "pass --service to keep one")
    results = {signal: builder.result() for signal, builder in signals.builders.items()}
    labels = results.pop(LABELS, None)
    return Baseline(
        name=model,
        version=version if version is not None else (versions[0] if len(versions) == 1 else ""),
        service=service if service is not None else (services[0] if len(services) == 1 else ""),
        signals=results, labels=labels, created=_now(),
        source={"path": os.path.abspath(origin), "format": "otlp-json", "rows": spans, "sha256": digest.hexdigest()},
        settings=settings.to_dict(), warnings=warnings)


def _describe(key: ModelKey) -> str:
    return key.model + (f" v{key.version}" if key.version else "") + (f" ({key.service})" if key.service else "")


def _label_values(labels: Sequence[Any], existing: _Builder | None) -> tuple[Kind, Values]:
    """Feedback labels as a numeric or categorical batch: numbers stay numeric unless the labels began as text."""
    kind: Kind
    if existing is not None:
        kind = existing.kind
    else:
        first = next((label for label in labels if label is not None), None)
        kind = "numeric" if isinstance(first, (int, float)) and not isinstance(first, bool) else "categorical"
    if kind == "numeric":
        return kind, np.asarray([_as_float(label) for label in labels], dtype=np.float64)
    return kind, [None if label is None else str(label) for label in labels]


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _span_batches(path: str, size: int, digest: Any | None,
                  extractor: Callable[[], Any]) -> Iterator[tuple[Any, float]]:
    """Each line's extracted observations and the share of the file read."""
    from driftline.processors.otlp.json_codec import OTLPDecodeError, decode_trace_request

    with _open_bytes(path, digest) as (stream, counting):
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                try:
                    request = decode_trace_request(line)
                except OTLPDecodeError as error:
                    raise BaselineError(f"{path} line {number}: not an OTLP-JSON trace request ({error}); give "
                                        "a file written by the processor's file exporter") from None
                if not request.resource_spans:
                    continue  # a metrics line of the same exporter
                # A fresh extractor per line: its key cap is per batch, so other models' keys cannot
                # crowd out this model's signals in a long file.
                observations = extractor().extract(request.resource_spans)
                yield observations, min(1.0, counting.position / size) if size else 1.0
        except (OSError, EOFError) as error:
            raise BaselineError(f"{path}: cannot read it ({error})") from None
