"""Turning a :class:`~._tabular.Table` and model outputs into ``ml.*`` span attributes.

Two feature encodings, chosen per call:

* ``attributes`` — one ``ml.feature.<name>`` array per feature: readable in Jaeger, used while the
  feature count is at most ``DRIFTLINE_ML_FEATURE_ATTRIBUTES_MAX`` *and* fits under the span's
  attribute count limit next to everything else on the span;
* ``packed`` — four attributes whatever the feature count: numeric and categorical names, and
  their values row-major. A 500-feature model loses nothing under the default 128-attribute limit.

The two never share a key (``ml.feature.`` vs ``ml.features.``), so a decoder cannot confuse them.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core.content import ContentScrubber
from driftline.semconv import names

from ._settings import MLSettings
from ._tabular import Output, Table

FEATURE_PREFIX = names.ML_FEATURE_TEMPLATE.removesuffix("<name>")
"""``ml.feature.``: the per-feature attribute key is this prefix followed by the feature name."""


_KEYS: dict[int, tuple[list[str], list[str]]] = {}
"""Per shared names list (by id, held so its id cannot be reused): its ``ml.feature.<name>`` keys."""
_CACHED_KEYS = 64
"""Small: lists built per call (dict inputs) pass through without piling up tracked objects."""


def feature_keys(names_: list[str]) -> list[str]:
    """``ml.feature.<name>`` for each name; built once per names list (the readers share their lists)."""
    entry = _KEYS.get(id(names_))
    if entry is not None and entry[0] is names_ and len(entry[1]) == len(names_):
        return entry[1]
    keys = [FEATURE_PREFIX + name for name in names_]
    if len(_KEYS) >= _CACHED_KEYS:
        _KEYS.clear()
    _KEYS[id(names_)] = (names_, keys)
    return keys


def _strings(values: list[Any], scrubber: ContentScrubber) -> list[str | None]:
    # Bounded by recorded rows x categorical features; strings may be personal data, so each one
    # goes through the content policy (redaction, size budget).
    return [None if v is None else scrubber.text(v if isinstance(v, str) else str(v)) for v in values]


def _drop_columns(names_: list[str], flat: list[Any], rows: int, keep: list[int]) -> tuple[list[str], list[Any]]:
    width = len(names_)
    columns = [flat[j::width] for j in keep]
    return [names_[j] for j in keep], [v for row in zip(*columns, strict=True) for v in row] if columns else []


def exclude(table: Table, excluded: frozenset[str]) -> Table:
    """``table`` without the columns named in ``excluded`` (``DRIFTLINE_ML_EXCLUDE_FEATURES``)."""
    if not excluded or not excluded.intersection(table.names):
        return table
    keep_num = [j for j, n in enumerate(table.numeric_names) if n not in excluded]
    keep_cat = [j for j, n in enumerate(table.categorical_names) if n not in excluded]
    num_names, numeric = _drop_columns(table.numeric_names, table.numeric, table.rows, keep_num)
    cat_names, categorical = _drop_columns(table.categorical_names, table.categorical, table.rows, keep_cat)
    return Table(table.rows, [n for n in table.names if n not in excluded], num_names, numeric, cat_names,
                 categorical)


def feature_attributes(table: Table, settings: MLSettings, scrubber: ContentScrubber | None,
                       room: int) -> dict[str, AttributeValue]:
    """The feature attributes of one call; ``room`` is how many attributes the span can still take.

    ``scrubber`` may be None only for a table without categorical features (no text to police).
    """
    table = exclude(table, settings.exclude_features)
    attrs: dict[str, AttributeValue] = {}
    count = len(table.names)
    if count <= settings.feature_attributes_max and count <= room and not table.categorical_names:
        # All numeric (the common case): numeric_names are the names, in column order.
        attrs[names.ML_FEATURES_ENCODING] = names.ML_FEATURES_ENCODING_ATTRIBUTES
        # Lists, not tuples: the SDK copies every array value into a tuple anyway, and checks a
        # list against collections.abc.Sequence faster than a tuple (per array and element).
        attrs.update(zip(feature_keys(table.numeric_names), table.numeric_columns(), strict=True))
        return attrs
    if scrubber is None:
        scrubber = ContentScrubber(settings.content)
    categorical = _strings(table.categorical, scrubber)
    if count <= settings.feature_attributes_max and count <= room:
        attrs[names.ML_FEATURES_ENCODING] = names.ML_FEATURES_ENCODING_ATTRIBUTES
        n_num, n_cat = len(table.numeric_names), len(table.categorical_names)
        position = {name: j for j, name in enumerate(table.numeric_names)}
        cat_position = {name: j for j, name in enumerate(table.categorical_names)}
        for name in table.names:  # column order, so Jaeger lists them as the model sees them
            if name in position:
                attrs[FEATURE_PREFIX + name] = tuple(table.numeric[position[name]::n_num])
            else:
                # The SDK accepts None elements (exported as empty values): that is "missing".
                attrs[FEATURE_PREFIX + name] = tuple(categorical[cat_position[name]::n_cat])
        return attrs
    attrs[names.ML_FEATURES_ENCODING] = names.ML_FEATURES_ENCODING_PACKED
    if table.numeric_names:
        attrs[names.ML_FEATURES_NUMERIC_NAMES] = tuple(table.numeric_names)
        attrs[names.ML_FEATURES_NUMERIC_VALUES] = tuple(table.numeric)
    if table.categorical_names:
        attrs[names.ML_FEATURES_CATEGORICAL_NAMES] = tuple(table.categorical_names)
        attrs[names.ML_FEATURES_CATEGORICAL_VALUES] = tuple(categorical)
    return attrs


def output_values(output: Output, scrubber: ContentScrubber | None) -> AttributeValue:
    """An output's values as one homogeneous attribute array (double[] or string[] with nulls).

    ``scrubber`` may be None for numeric outputs only.
    """
    if output.numeric:
        return output.values
    if scrubber is None:
        raise ValueError("text outputs need a content scrubber")
    return tuple(_strings(output.values, scrubber))
