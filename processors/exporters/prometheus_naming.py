"""OTLP metric and attribute names as Prometheus names, per the OpenTelemetry specification
"Prometheus and OpenMetrics Compatibility" (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/),
section "OTLP Metric points to Prometheus":

* characters outside ``[a-zA-Z0-9_:]`` (labels: ``[a-zA-Z0-9_]``) become ``_``, runs of ``_`` collapse to
  one, and a leading digit gets a ``_`` prefix (labels: ``key_``);
* the unit becomes a suffix when it maps to a Prometheus unit (``s`` → ``_seconds``, ``By`` → ``_bytes``,
  ``m/s`` → ``_meters_per_second``); annotations in braces (``{token}``) are dropped; the suffix is not
  repeated if the name already ends with it;
* a gauge with unit ``1`` gets ``_ratio``; a monotonic sum gets ``_total`` (added by the exposition);
* attribute keys that collide after sanitising are merged, their values joined with ``;`` in the
  order of the original keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["label_name", "metric_name", "unit_suffix"]

_INVALID_METRIC = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")
_UNDERSCORES = re.compile(r"__+")

# The specification's unit table (its "Units" and "Per units" lists).
_UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def _clean(text: str, invalid: re.Pattern[str]) -> str:
    return _UNDERSCORES.sub("_", invalid.sub("_", text))


def unit_suffix(unit: str, *, gauge: bool) -> str:
    """The name suffix for an OTLP ``unit`` (without the leading ``_``), ``""`` when none applies."""
    unit = re.sub(r"\{[^}]*\}", "", unit).strip()
    if not unit:
        return ""
    if unit == "1":
        return "ratio" if gauge else ""
    main, slash, per = unit.partition("/")
    words: list[str] = []
    if main:
        words.append(_UNITS.get(main, main))
    if slash and per:
        words.extend(("per", _PER_UNITS.get(per, _UNITS.get(per, per))))
    return _clean("_".join(words), _INVALID_METRIC).strip("_")


def metric_name(name: str, unit: str, *, namespace: str = "", gauge: bool = False, counter: bool = False) -> str:
    """The Prometheus family name of an OTLP metric (for a counter without ``_total``, which the exposition
    adds to its samples). ``namespace`` is prefixed with ``_`` when set."""
    base = _clean(name, _INVALID_METRIC)
    if counter and base.endswith("_total"):
        base = base[:-len("_total")]
    suffix = unit_suffix(unit, gauge=gauge)
    if suffix and not base.endswith("_" + suffix) and base != suffix:
        base = f"{base}_{suffix}"
    if namespace:
        base = f"{_clean(namespace, _INVALID_METRIC)}_{base}"
    base = _UNDERSCORES.sub("_", base)
    if base[:1].isdigit():
        base = "_" + base
    return base


def label_name(key: str) -> str:
    """A Prometheus label name for an attribute key: ``http.method`` → ``http_method``, ``2xx`` → ``key_2xx``."""
    label = _clean(key, _INVALID_LABEL)
    if label[:1].isdigit():
        label = "key_" + label
    return label or "key_"


def merge_labels(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Attributes (key, text value) as labels; keys that sanitise to one label join their values with ``;``
    in the lexicographical order of the original keys, as the specification requires."""
    merged: dict[str, list[tuple[str, str]]] = {}
    for key, value in pairs:
        merged.setdefault(label_name(key), []).append((key, value))
    return {label: ";".join(value for _, value in sorted(values)) for label, values in merged.items()}
