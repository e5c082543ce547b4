"""Baselines from real files: CSV (plain and gzip), Parquet and recorded OTLP-JSON spans, through the library and
the ``driftline baseline`` command run as a subprocess."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation.ml import _recorder as ml_recorder
from driftline.instrumentation.ml import observe_model
from driftline.processors.analysis import baseline as baseline_module
from driftline.processors.analysis.baseline import (
    FORMAT_KIND,
    FORMAT_VERSION,
    Baseline,
    BaselineError,
    BuildProgress,
    build_from_spans,
    build_from_table,
)
from driftline.processors.analysis.monitor import SignalMonitor
from driftline.processors.analysis.profile import CategoricalProfile, NumericProfile
from driftline.processors.cli import _ProgressBar
from driftline.processors.otlp.json_codec import encode_json
from driftline.semconv import names

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
AMOUNT = names.SIGNAL_FEATURE_PREFIX + "amount"
AGE = names.SIGNAL_FEATURE_PREFIX + "age"
COUNTRY = names.SIGNAL_FEATURE_PREFIX + "country"
COUNTRIES = ["US", "DE", "FR", "GB", "ES", "IT", "PL"]


def _frame(n: int, seed: int = 3) -> pd.DataFrame:
    """Numeric with gaps (age), a skewed numeric (amount), a categorical with gaps, label, prediction, score."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "amount": rng.lognormal(size=n),
        "age": rng.integers(18, 90, size=n).astype(float),
        "country": rng.choice(COUNTRIES, size=n, p=[0.35, 0.2, 0.15, 0.1, 0.1, 0.06, 0.04]).astype(object),
        "label": rng.choice(["fraud", "ok"], size=n, p=[0.1, 0.9]),
        "pred": rng.integers(0, 2, size=n),
        "score": rng.random(n),
    })
    frame.loc[frame.index[::7], "age"] = np.nan
    frame.loc[frame.index[::5], "country"] = None
    return frame


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)  # NaN / None → empty cells
    return path


def _country(frame: pd.DataFrame) -> list[str | None]:
    return [None if value is None or value != value else str(value) for value in frame["country"]]


def _assert_moments_match(profile: NumericProfile, values: npt.NDArray[np.float64]) -> None:
    finite = values[~np.isnan(values)]
    moments = profile.moments
    assert moments.count == finite.size
    assert moments.nan_count == values.size - finite.size
    assert moments.mean == pytest.approx(float(np.mean(finite)), rel=1e-12)
    assert moments.std == pytest.approx(float(np.std(finite, ddof=1)), rel=1e-10)
    assert (moments.min, moments.max) == (float(finite.min()), float(finite.max()))


def _assert_same_categorical(profile: Any, expected: CategoricalProfile) -> None:
    assert isinstance(profile, CategoricalProfile)
    assert profile.categories == expected.categories
    assert profile.counts.tolist() == expected.counts.tolist()
    assert profile.known_hashes.tolist() == expected.known_hashes.tolist()
    assert profile.overflowed == expected.overflowed


# --- tables ------------------------------------------------------------------------------------------


def test_csv_smaller_than_the_sample_gives_exactly_the_in_memory_profiles(tmp_path: Path) -> None:
    frame = _frame(300)
    path = _write_csv(frame, tmp_path / "train.csv")
    seen: list[BuildProgress] = []
    baseline = build_from_table(path, model="fraud", version="3", target="label", prediction="pred", score="score",
                                top_k=4, chunk_rows=7, progress=seen.append)  # many chunks on purpose

    assert list(baseline.signals) == [AMOUNT, AGE, COUNTRY, names.SIGNAL_PREDICTION, names.SIGNAL_PREDICTION_SCORE]
    for signal, column in ((AMOUNT, "amount"), (AGE, "age"), (names.SIGNAL_PREDICTION_SCORE, "score"),
                           (names.SIGNAL_PREDICTION, "pred")):
        values = frame[column].to_numpy(dtype=np.float64)
        profile = baseline.signals[signal].profile
        expected = NumericProfile.from_reference(values)
        assert isinstance(profile, NumericProfile)
        assert profile.edges.tolist() == expected.edges.tolist()  # exact: the reservoir holds every value
        assert profile.counts.tolist() == expected.counts.tolist()
        assert profile.total == len(frame)
        _assert_moments_match(profile, values)
        sample = baseline.signals[signal].sample
        assert sorted(np.asarray(sample).tolist()) == sorted(values[~np.isnan(values)].tolist())
    _assert_same_categorical(baseline.signals[COUNTRY].profile,
                             CategoricalProfile.from_reference(_country(frame), top_k=4))
    assert baseline.labels is not None
    assert baseline.labels.column == "label"
    _assert_same_categorical(baseline.labels.profile, CategoricalProfile.from_reference(frame["label"], top_k=4))
    assert baseline.source["rows"] == 300
    assert baseline.source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (baseline.name, baseline.version, baseline.service) == ("fraud", "3", "")
    assert not baseline.warnings
    # progress: both passes, rows growing, each pass closed with done at 100 %
    done = [p for p in seen if p.done]
    assert [(p.pass_number, p.rows, p.fraction) for p in done] == [(1, 300, 1.0), (2, 300, 1.0)]
    assert [p.rows for p in seen if p.pass_number == 1 and not p.done] == sorted(
        p.rows for p in seen if p.pass_number == 1 and not p.done)


def test_csv_larger_than_the_sample_has_sampled_edges_and_exact_counts(tmp_path: Path) -> None:
    n, sample, bins = 30_000, 600, 10
    frame = _frame(n, seed=11)
    path = _write_csv(frame, tmp_path / "train.csv")
    baseline = build_from_table(path, model="fraud", columns=["amount", "age", "country"], bins=bins, sample=sample,
                                top_k=3, chunk_rows=1000)
    for signal, column in ((AMOUNT, "amount"), (AGE, "age")):
        values = frame[column].to_numpy(dtype=np.float64)
        finite = np.sort(values[~np.isnan(values)])
        profile = baseline.signals[signal].profile
        assert isinstance(profile, NumericProfile)
        # Edges are the sample's quantiles: by the DKW inequality a 600-value sample's CDF is within 0.08 of
        # the data's everywhere with probability > 0.99 (and the seed is fixed).
        levels = np.arange(1, bins) / bins
        data_edges = np.unique(np.quantile(finite, levels, method="inverted_cdf"))
        assert abs(len(profile.edges) - len(data_edges)) <= 1
        for edge in profile.edges:
            cdf = np.searchsorted(finite, edge, side="right") / finite.size
            assert np.min(np.abs(levels - cdf)) < 0.08 or edge in data_edges
        # ... but the counts and moments are the whole column's
        assert profile.total == n
        assert profile.counts[-1] == np.isnan(values).sum()
        expected_counts = np.bincount(np.searchsorted(profile.edges, finite, side="left"),
                                      minlength=len(profile.edges) + 1)
        assert profile.counts[:-1].tolist() == expected_counts.tolist()
        _assert_moments_match(profile, values)
        drawn = np.asarray(baseline.signals[signal].sample)
        assert drawn.size == sample
        assert np.isin(drawn, finite).all()
    # categorical counts are exact (few distinct values): the same as in memory
    _assert_same_categorical(baseline.signals[COUNTRY].profile,
                             CategoricalProfile.from_reference(_country(frame), top_k=3))
    counts = baseline.signals[COUNTRY].profile.counts
    assert counts[-1] == frame["country"].isna().sum()
    assert int(counts.sum()) == n


def test_the_reservoir_is_a_uniform_sample_however_the_stream_is_chunked() -> None:
    n, k, runs = 1000, 100, 300
    hits = np.zeros(10, dtype=np.int64)
    for seed in range(runs):
        builder = baseline_module._NumericBuilder(baseline_module._Settings(10, 20, k, seed, 100_000),
                                                  np.random.default_rng(seed), None)
        stream = np.arange(n, dtype=np.float64)
        for start in range(0, n, 37 + seed % 50):  # uneven batches, smaller and larger than k
            builder.observe(stream[start:start + 37 + seed % 50])
        builder.freeze()
        sample = builder.result().sample
        assert len(set(np.asarray(sample).tolist())) == k
        hits += np.bincount((np.asarray(sample) // 100).astype(int), minlength=10)
    # each decile of the stream should hold k/10 of the sample: chi-square with 9 dof, 99.9th percentile 27.9
    expected = runs * k / 10
    chi2 = float(((hits - expected) ** 2 / expected).sum())
    assert chi2 < 27.9, hits

    # One batch much larger than the sample: items of a batch hitting the same slot must resolve as if
    # processed one by one (the last wins), or the sample leans to the start of the batch.
    drawn = []
    for seed in range(200):
        builder = baseline_module._NumericBuilder(baseline_module._Settings(10, 20, 10, seed, 100_000),
                                                  np.random.default_rng(seed), None)
        builder.observe(np.arange(10_000, dtype=np.float64))
        builder.freeze()
        drawn.extend(np.asarray(builder.result().sample).tolist())
    assert np.mean(drawn) == pytest.approx(5000, abs=300)  # sd of the mean of 2000 uniform draws: ~65


def test_categorical_beyond_the_distinct_bound_takes_top_k_from_the_sample(tmp_path: Path) -> None:
    n = 4000
    rng = np.random.default_rng(5)
    values = np.where(rng.random(n) < 0.3, "common", np.char.add("id", rng.integers(0, 10**6, n).astype(str)))
    path = tmp_path / "ids.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["user"])
        writer.writerows([[v] for v in values])
    baseline = build_from_table(path, model="m", top_k=3, max_distinct=50, sample=500, chunk_rows=256)
    profile = baseline.signals[names.SIGNAL_FEATURE_PREFIX + "user"].profile
    assert isinstance(profile, CategoricalProfile)
    assert profile.overflowed  # an id missing from the sample is "other", not "unseen"
    assert profile.categories[0] == "common"
    assert profile.total == n  # counted exactly in the second pass
    assert profile.counts[0] == int((values == "common").sum())
    assert any("distinct values" in warning for warning in baseline.warnings)


def test_gzip_csv_tsv_and_bad_cells(tmp_path: Path) -> None:
    frame = _frame(200)
    plain = _write_csv(frame, tmp_path / "train.csv")
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    tabbed = tmp_path / "train.tsv"
    frame.to_csv(tabbed, index=False, sep="\t")
    reference = build_from_table(plain, model="m")
    for other in (build_from_table(packed, model="m"), build_from_table(tabbed, model="m")):
        assert other.to_dict()["signals"] == reference.to_dict()["signals"]
    assert build_from_table(packed, model="m").source["sha256"] == hashlib.sha256(packed.read_bytes()).hexdigest()

    # A word in a numeric column after the first chunk is missing, with a warning; a short row is padded.
    lines = ["x,y"] + [f"{i},a" for i in range(50)] + ["oops,b", "7"]
    odd = tmp_path / "odd.csv"
    odd.write_text("\n".join(lines) + "\n")
    built = build_from_table(odd, model="m", chunk_rows=10)
    x = built.signals[names.SIGNAL_FEATURE_PREFIX + "x"].profile
    assert isinstance(x, NumericProfile)
    assert (x.total, x.moments.nan_count) == (52, 1)
    y = built.signals[names.SIGNAL_FEATURE_PREFIX + "y"].profile
    assert isinstance(y, CategoricalProfile)
    assert y.counts[-1] == 1
    assert any("'x': 1 cells were not numbers" in warning for warning in built.warnings)
    assert any("1 rows had a different number of fields" in warning for warning in built.warnings)
    # --categorical turns a numeric column into categories
    forced = build_from_table(odd, model="m", categorical=["x"])
    assert isinstance(forced.signals[names.SIGNAL_FEATURE_PREFIX + "x"].profile, CategoricalProfile)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"columns": ["amount", "nope"]}, "--columns: "),
    ({"exclude": ["nope"]}, "--exclude: "),
    ({"target": "nope"}, "--target: "),
    ({"score": "country"}, "--score: column 'country'"),
    ({"bins": 0}, "--bins must be at least 1"),
])
def test_table_user_errors(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    path = _write_csv(_frame(20), tmp_path / "train.csv")
    with pytest.raises(BaselineError) as caught:
        build_from_table(path, model="m", **kwargs)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_empty_inputs_and_a_target_without_values(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(BaselineError, match="is empty"):
        build_from_table(empty, model="m")
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    with pytest.raises(BaselineError, match="has no data rows"):
        build_from_table(header, model="m")
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("a,y\n1,\n2,\n")
    with pytest.raises(BaselineError, match=r"--target: column 'y' .* has no values"):
        build_from_table(unlabelled, model="m", target="y")
    with pytest.raises(BaselineError, match="no such file"):
        build_from_table(tmp_path / "missing.csv", model="m")


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow is not installed")
def test_parquet_by_row_groups_matches_the_csv_path(tmp_path: Path) -> None:
    frame = _frame(500)
    frame["flag"] = frame["pred"].astype(bool)
    frame["code"] = pd.Categorical(frame["label"])  # dictionary-encoded in Parquet
    parquet = tmp_path / "train.parquet"
    frame.to_parquet(parquet, row_group_size=64)
    baseline = build_from_table(parquet, model="m", target="label", score="score", chunk_rows=50)
    assert baseline.source["format"] == "parquet"
    assert baseline.source["rows"] == 500
    assert baseline.source["sha256"] == hashlib.sha256(parquet.read_bytes()).hexdigest()
    for signal, column in ((AMOUNT, "amount"), (AGE, "age")):
        values = frame[column].to_numpy(dtype=np.float64)
        profile = baseline.signals[signal].profile
        assert isinstance(profile, NumericProfile)
        assert profile.edges.tolist() == NumericProfile.from_reference(values).edges.tolist()
        assert profile.counts.tolist() == NumericProfile.from_reference(values).counts.tolist()
        _assert_moments_match(profile, values)
    _assert_same_categorical(baseline.signals[COUNTRY].profile, CategoricalProfile.from_reference(_country(frame)))
    flag = baseline.signals[names.SIGNAL_FEATURE_PREFIX + "flag"].profile
    assert isinstance(flag, NumericProfile)
    assert flag.moments.mean == pytest.approx(frame["pred"].mean())
    _assert_same_categorical(baseline.signals[names.SIGNAL_FEATURE_PREFIX + "code"].profile,
                             CategoricalProfile.from_reference(frame["label"]))


def test_parquet_without_pyarrow_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parquet = tmp_path / "train.parquet"
    parquet.write_bytes(b"PAR1" + b"\0" * 16 + b"PAR1")
    real = importlib.import_module

    def no_pyarrow(name: str, package: str | None = None) -> Any:
        if name.split(".")[0] == "pyarrow":
            raise ImportError(name)
        return real(name, package)

    monkeypatch.setattr(baseline_module.importlib, "import_module", no_pyarrow)
    with pytest.raises(BaselineError, match="pip install pyarrow"):
        build_from_table(parquet, model="m")


# --- save / load ---------------------------------------------------------------------------------------


def test_save_load_round_trip_and_monitor_reference(tmp_path: Path) -> None:
    frame = _frame(400)
    built = build_from_table(_write_csv(frame, tmp_path / "train.csv"), model="fraud", version="3",
                             service="checkout", target="label", score="score", sample=100)
    path = tmp_path / "baseline.json"
    built.save(path)
    document = json.loads(path.read_text())
    assert (document["kind"], document["version"]) == (FORMAT_KIND, FORMAT_VERSION)
    assert document["model"] == {"service": "checkout", "name": "fraud", "version": "3"}
    assert len(document["signals"][AMOUNT]["sample"]) == 100
    loaded = Baseline.load(path)
    assert loaded.to_dict() == built.to_dict()
    assert isinstance(loaded.signals[AMOUNT].sample, np.ndarray)

    reference = loaded.monitor_reference(AMOUNT)
    assert reference.to_state() == built.signals[AMOUNT].profile.to_state()
    assert reference is not loaded.signals[AMOUNT].profile
    monitor = SignalMonitor("numeric", reference=reference)
    assert monitor.ready
    assert monitor.reference_source == names.DRIFT_REFERENCE_BASELINE
    with pytest.raises(KeyError, match=r"has no signal 'feature\.nope'"):
        loaded.monitor_reference("feature.nope")


@pytest.mark.parametrize(("content", "message"), [
    ('{"kind": "something-else", "version": 1}', "is not a Driftline baseline"),
    (json.dumps({"kind": FORMAT_KIND, "version": 99}), "format version 99"),
    (json.dumps({"kind": FORMAT_KIND, "version": FORMAT_VERSION, "model": {"name": "m"},
                 "signals": {"x": {"profile": {"kind": "weird"}, "sample": []}}}), "damaged baseline"),
    ("not json", "is not a JSON baseline"),
])
def test_load_rejects_other_files_naming_them(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(BaselineError, match=message) as caught:
        Baseline.load(path)
    assert str(path) in str(caught.value)


# --- the command -------------------------------------------------------------------------------------


def _driftline(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "driftline.processors.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_build_show_and_user_errors(tmp_path: Path) -> None:
    frame = _frame(250)
    _write_csv(frame, tmp_path / "train.csv")
    built = _driftline("baseline", "build", "train.csv", "--model", "fraud", "--version", "3", "--exclude", "pred",
                       "--target", "label", "--score", "score", "--bins", "5", "--top-k", "3", "-o", "b.json",
                       cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert built.stdout == ""
    assert "250 rows of train.csv read in 2 passes" in built.stderr  # not a TTY: a summary, no bar
    assert "\r" not in built.stderr
    document = json.loads((tmp_path / "b.json").read_text())
    assert set(document["signals"]) == {AMOUNT, AGE, COUNTRY, names.SIGNAL_PREDICTION_SCORE}
    assert document["labels"]["column"] == "label"

    shown = _driftline("baseline", "show", "b.json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "model:   fraud version 3"
    amount = next(line for line in lines if line.startswith(AMOUNT)).split()
    assert amount[:4] == [AMOUNT, "numeric", "250", "5"]
    assert amount[4:6] == ["mean", f"{frame['amount'].mean():.4g}"]
    country = next(line for line in lines if line.startswith(COUNTRY))
    assert "categorical" in country
    assert "US " in country
    assert "__missing__ 20%" in country
    assert any(line.startswith("labels (label)") for line in lines)

    bad = _driftline("baseline", "build", "train.csv", "--model", "m", "--columns", "amount,agee", "-o", "c.json",
                     cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "driftline baseline build: --columns: train.csv has no column 'agee'; its columns are: 'amount', 'age', "
        "'country', 'label', 'pred', 'score'"]
    assert not (tmp_path / "c.json").exists()

    (tmp_path / "empty.csv").write_text("")
    empty = _driftline("baseline", "build", "empty.csv", "--model", "m", "-o", "c.json", cwd=tmp_path)
    assert empty.returncode == 2
    assert "Traceback" not in empty.stderr
    assert "is empty" in empty.stderr
    (tmp_path / "nolabels.csv").write_text("a,y\n1,\n")
    unlabelled = _driftline("baseline", "build", "nolabels.csv", "--model", "m", "--target", "y", "-o", "c.json",
                            cwd=tmp_path)
    assert unlabelled.returncode == 2
    assert "--target" in unlabelled.stderr
    assert "Traceback" not in unlabelled.stderr
    not_baseline = _driftline("baseline", "show", "train.csv", cwd=tmp_path)
    assert not_baseline.returncode == 2
    assert "train.csv is not a JSON baseline" in not_baseline.stderr


def test_progress_bar_draws_on_a_terminal_at_most_ten_times_a_second() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    now = [0.0]
    terminal = Terminal()
    bar = _ProgressBar(terminal, "rows", clock=lambda: now[0])
    for rows in range(1, 101):  # a hundred updates over 0.5 s (a fake clock): drawn at 0, 0.1, ... 0.5 s
        now[0] = rows * 0.005
        bar.update(BuildProgress(1, 2, rows, rows / 200))
    bar.update(BuildProgress(1, 2, 100, 1.0, done=True))  # the end of a pass is always drawn
    drawings = terminal.getvalue().split("\r")[1:]
    assert 5 <= len(drawings) <= 7
    assert drawings[0].startswith("pass 1/2 [")
    assert "  1 rows" in drawings[0]
    assert " 100%  100 rows" in drawings[-1]
    bar.clear()
    assert terminal.getvalue().endswith("\r\x1b[K")
    assert bar.passes == 2

    piped = io.StringIO()
    quiet = _ProgressBar(piped, "rows")
    quiet.update(BuildProgress(1, 1, 5, 0.5, done=True))
    quiet.clear()
    assert piped.getvalue() == ""


# --- recorded spans ----------------------------------------------------------------------------------


def _record_spans(path: Path, frame: pd.DataFrame) -> None:
    """Spans of two models made by observe_model on a real SDK, written as the file exporter writes them."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "risk"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    ml_recorder.configure(tracer_provider=provider)
    try:
        @observe_model(name="scorer", version="7", scores=lambda out: np.column_stack([1 - out, out]))
        def score(rows: pd.DataFrame) -> npt.NDArray[np.float64]:
            return np.asarray(1.0 / (1.0 + np.exp(-rows["amount"].to_numpy())))

        @observe_model(name="other", version="1")
        def other(rows: pd.DataFrame) -> npt.NDArray[np.float64]:
            return np.asarray(rows["amount"].to_numpy() * 0)

        for start in range(0, len(frame), 20):  # at most 32 rows are recorded per call
            score(frame.iloc[start:start + 20])
            other(frame.iloc[start:start + 5])
    finally:
        ml_recorder.configure()
        provider.shutdown()
    spans = exporter.get_finished_spans()
    with path.open("wb") as out:
        for start in range(0, len(spans), 9):
            out.write(encode_json(encode_spans(spans[start:start + 9])) + b"\n")
        out.write(b'{"resourceMetrics": []}\n')  # the same exporter's metrics lines are skipped


def test_from_spans_gives_the_profiles_of_the_recorded_values(tmp_path: Path) -> None:
    frame = _frame(300)[["amount", "age", "country"]].copy()
    spans = tmp_path / "spans.jsonl"
    _record_spans(spans, frame)
    baseline = build_from_spans(spans, model="scorer")
    assert (baseline.name, baseline.version, baseline.service) == ("scorer", "7", "risk")
    assert set(baseline.signals) == {AMOUNT, AGE, COUNTRY, names.SIGNAL_PREDICTION, names.SIGNAL_PREDICTION_SCORE}
    for signal, values in ((AMOUNT, frame["amount"].to_numpy()), (AGE, frame["age"].to_numpy()),
                           (names.SIGNAL_PREDICTION, 1.0 / (1.0 + np.exp(-frame["amount"].to_numpy())))):
        profile = baseline.signals[signal].profile
        expected = NumericProfile.from_reference(values)
        assert isinstance(profile, NumericProfile)
        assert profile.edges.tolist() == pytest.approx(expected.edges.tolist(), rel=1e-15)
        assert profile.counts.tolist() == expected.counts.tolist()
        _assert_moments_match(profile, np.asarray(values, dtype=np.float64))
    _assert_same_categorical(baseline.signals[COUNTRY].profile, CategoricalProfile.from_reference(_country(frame)))
    assert baseline.source["format"] == "otlp-json"
    assert baseline.source["sha256"] == hashlib.sha256(spans.read_bytes()).hexdigest()

    with pytest.raises(BaselineError, match=r"no spans of model 'scorer' version '8'.*'other v1 \(risk\)'"):
        build_from_spans(spans, model="scorer", version="8")
    # the command: same file, and a one-line error for a model that is not there
    made = _driftline("baseline", "from-spans", spans, "--model", "scorer", "--version", "7", "-o", "s.json",
                      cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert Baseline.load(tmp_path / "s.json").signals[AMOUNT].profile.to_state() == \
        baseline.signals[AMOUNT].profile.to_state()
    missing = _driftline("baseline", "from-spans", spans, "--model", "nobody", "-o", "s.json", cwd=tmp_path)
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "no spans of model 'nobody'" in missing.stderr


def test_from_spans_rejects_a_file_that_is_not_otlp_json(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    path.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc"}]}]}]}\n')
    with pytest.raises(BaselineError, match="line 1: not an OTLP-JSON trace request"):
        build_from_spans(path, model="m")
