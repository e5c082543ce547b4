"""Decoding ``ml.*`` span attributes back into rows: the reference for every consumer (the processor).

Pure Python, no OpenTelemetry import: it takes the span's attributes as a mapping (an SDK span's
``attributes``, or OTLP ``KeyValue`` pairs already turned into Python values; array values may be
tuples or lists, a missing element ``None`` or, in numeric arrays, NaN).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftline.semconv import names

from ._encoding import FEATURE_PREFIX

Value = float | str | None
"""One decoded cell: a number, a string, or None for missing."""


@dataclass(frozen=True)
class DecodedSpan:
    """What an ``ml.*`` span says, per recorded row.

    For a prediction span, ``rows[i]`` is the 0-based position in the batch of recorded row ``i``
    and ``features[name][i]``, ``predictions[i]``, ``scores[i]`` are that row's values; a row is
    joined with its label on ``(prediction_id, rows[i])``. For a feedback span, ``labels[i]`` is the
    label of batch row ``rows[i]``.
    """

    operation: str | None
    model_name: str | None
    model_version: str | None
    prediction_id: str | None
    batch_size: int | None
    rows: list[int]
    feature_names: list[str] = field(default_factory=list)
    """Feature names in column order (packed: numeric ones, then categorical ones)."""
    features: dict[str, list[Value]] = field(default_factory=dict)
    numeric_features: frozenset[str] = frozenset()
    predictions: list[Value | tuple[Value, ...]] = field(default_factory=list)
    """One value per row, or a tuple per row when ``ml.prediction.dimension`` > 1."""
    scores: list[tuple[Value, ...]] = field(default_factory=list)
    score_labels: list[str] = field(default_factory=list)
    score_type: str | None = None
    labels: list[Value] = field(default_factory=list)


def _cell(v: Any) -> Value:
    if v is None:
        return None
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return None if math.isnan(v) else float(v)
    return str(v)


def _cells(values: Sequence[Any] | None) -> list[Value]:
    return [_cell(v) for v in values] if values is not None else []


def _chunks(values: list[Value], width: int) -> list[tuple[Value, ...]]:
    return [tuple(values[i:i + width]) for i in range(0, len(values), width)] if width > 0 else []


def decode_span_attributes(attrs: Mapping[str, Any]) -> DecodedSpan:
    """Decode one prediction or feedback span's attributes (see docs/ml.md, "Decoding").

    Rows: ``ml.batch.row_indices`` when present, else ``0 .. ml.batch.recorded_rows - 1``.
    Features: ``ml.features.encoding`` = ``attributes`` → every key ``ml.feature.<name>`` is one
    feature's column; ``packed`` → ``ml.features.{numeric,categorical}.values`` are row-major over
    the matching ``.names``. Predictions and scores are row-major with ``ml.prediction.dimension``
    (default 1) and ``len(ml.prediction.score_labels)`` values per row. NaN and null decode to None.
    """
    operation = attrs.get(names.ML_OPERATION_NAME)
    base: dict[str, Any] = {
        "operation": operation,
        "model_name": attrs.get(names.ML_MODEL_NAME),
        "model_version": attrs.get(names.ML_MODEL_VERSION),
        "prediction_id": attrs.get(names.ML_PREDICTION_ID),
    }
    if operation == names.ML_OPERATION_FEEDBACK:
        return DecodedSpan(**base, batch_size=None, rows=[int(r) for r in attrs.get(names.ML_FEEDBACK_ROWS, ())],
                           labels=_cells(attrs.get(names.ML_FEEDBACK_LABELS)))
    batch = attrs.get(names.ML_BATCH_SIZE)
    recorded = int(attrs.get(names.ML_BATCH_RECORDED_ROWS, 0))
    indices = attrs.get(names.ML_BATCH_ROW_INDICES)
    rows = [int(i) for i in indices] if indices is not None else list(range(recorded))

    feature_names: list[str] = []
    features: dict[str, list[Value]] = {}
    numeric: set[str] = set()
    encoding = attrs.get(names.ML_FEATURES_ENCODING)
    if encoding == names.ML_FEATURES_ENCODING_ATTRIBUTES:
        for key, value in attrs.items():
            if key.startswith(FEATURE_PREFIX):
                name = key[len(FEATURE_PREFIX):]
                feature_names.append(name)
                features[name] = _cells(value)
                if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                    numeric.add(name)
    elif encoding == names.ML_FEATURES_ENCODING_PACKED:
        for names_key, values_key, is_numeric in (
                (names.ML_FEATURES_NUMERIC_NAMES, names.ML_FEATURES_NUMERIC_VALUES, True),
                (names.ML_FEATURES_CATEGORICAL_NAMES, names.ML_FEATURES_CATEGORICAL_VALUES, False)):
            block_names = [str(n) for n in attrs.get(names_key, ())]
            values = _cells(attrs.get(values_key))
            width = len(block_names)
            for j, name in enumerate(block_names):
                feature_names.append(name)
                features[name] = values[j::width]
                if is_numeric:
                    numeric.add(name)

    dimension = int(attrs.get(names.ML_PREDICTION_DIMENSION, 1))
    raw_predictions = _cells(attrs.get(names.ML_PREDICTION_VALUES))
    predictions: list[Value | tuple[Value, ...]] = (
        list(_chunks(raw_predictions, dimension)) if dimension > 1 else list(raw_predictions))
    score_labels = [str(s) for s in attrs.get(names.ML_PREDICTION_SCORE_LABELS, ())]
    raw_scores = _cells(attrs.get(names.ML_PREDICTION_SCORES))
    width = len(score_labels) or (len(raw_scores) // len(rows) if rows else 0)
    return DecodedSpan(
        **base, batch_size=int(batch) if batch is not None else None, rows=rows,
        feature_names=feature_names, features=features, numeric_features=frozenset(numeric),
        predictions=predictions, scores=_chunks(raw_scores, width), score_labels=score_labels,
        score_type=attrs.get(names.ML_PREDICTION_SCORE_TYPE))
