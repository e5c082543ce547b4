"""ML capture settings, read from the environment once per recorder (never on the call path)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from driftline.instrumentation._core.config import Settings, _warn_once, load_settings, parse_bool
from driftline.semconv import names

DEFAULT_MAX_ROWS = 32
"""Rows recorded per call unless ``DRIFTLINE_ML_MAX_ROWS`` says otherwise."""

DEFAULT_FEATURE_ATTRIBUTES_MAX = 32
"""Largest feature count that still gets one readable attribute per feature."""

DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT = 128
"""The OTel SDK's default ``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT``."""


def _parse_int(env: Mapping[str, str], variable: str, default: int, minimum: int) -> int:
    raw = env.get(variable)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        _warn_once(variable, raw, "driftline: %s=%r is not an integer >= %d; using %d", variable, raw, minimum,
                   default)
        return default
    return value


@dataclass(frozen=True)
class MLSettings:
    """What the ML recorder needs from the environment."""

    capture_features: bool = True
    exclude_features: frozenset[str] = frozenset()
    max_rows: int = DEFAULT_MAX_ROWS
    feature_attributes_max: int = DEFAULT_FEATURE_ATTRIBUTES_MAX
    span_attribute_limit: int = DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT
    content: Settings = field(default_factory=Settings)
    """The shared content settings: redaction and size budget for string features, static attributes."""


def load_ml_settings(environ: Mapping[str, str] | None = None) -> MLSettings:
    """Read :class:`MLSettings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    limit_var = (names.ENV_OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT if env.get(names.ENV_OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT)
                 else names.ENV_OTEL_ATTRIBUTE_COUNT_LIMIT)
    exclude = env.get(names.ENV_ML_EXCLUDE_FEATURES, "")
    return MLSettings(
        capture_features=parse_bool(env.get(names.ENV_ML_CAPTURE_FEATURES), True, names.ENV_ML_CAPTURE_FEATURES),
        exclude_features=frozenset(item.strip() for item in exclude.split(",") if item.strip()),
        max_rows=_parse_int(env, names.ENV_ML_MAX_ROWS, DEFAULT_MAX_ROWS, 1),
        feature_attributes_max=_parse_int(env, names.ENV_ML_FEATURE_ATTRIBUTES_MAX,
                                          DEFAULT_FEATURE_ATTRIBUTES_MAX, 0),
        span_attribute_limit=_parse_int(env, limit_var, DEFAULT_SPAN_ATTRIBUTE_COUNT_LIMIT, 1),
        content=load_settings(env),
    )
