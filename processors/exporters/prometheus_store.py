"""The ``prometheus`` exporter's memory: the latest value of every series, ready to be scraped.

OTLP points become Prometheus series as the OpenTelemetry specification "Prometheus and OpenMetrics
Compatibility" says (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/):

* monotonic Sum → counter (``_total``); non-monotonic Sum and Gauge → gauge; Histogram → histogram
  (``_bucket{le}`` cumulative, ``+Inf``, ``_sum``, ``_count``); Summary → summary (``{quantile}``,
  ``_sum``, ``_count``). ExponentialHistogram points are **skipped**, counted as send-failed with
  reason ``unsupported`` (a classic histogram would need hundreds of ``le`` buckets per series);
* labels are the point's attributes (:func:`~.prometheus_naming.merge_labels`), then ``const_labels``,
  then ``job`` (``service.namespace/service.name``) and ``instance`` (``service.instance.id``) from the
  resource; the other resource attributes go to one ``target_info`` series per resource;
* cumulative points replace the series' value (an older point than the one held is ignored); delta
  sums and delta histograms are added to it, so Prometheus sees cumulative series, as the Collector's
  ``prometheus`` exporter does;
* a series not updated for ``expiration`` seconds is removed; at most ``max_series`` series are held,
  points of new series beyond that are dropped (reason ``series_limit``); a name already used by
  another type is dropped (reason ``conflict``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString as _float_to_go

from driftline.processors.exporters.prometheus_naming import label_name, merge_labels, metric_name
from driftline.semconv import names

__all__ = ["CONFLICT", "DEFAULT_MAX_SERIES", "SERIES_LIMIT", "UNSUPPORTED", "MetricStore", "UpdateResult"]

DEFAULT_MAX_SERIES = 10_000
"""Series held at most per exporter: bounded memory whatever the senders' label cardinality."""

UNSUPPORTED, CONFLICT, SERIES_LIMIT = "unsupported", "conflict", "series_limit"

_DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_IDENTIFYING = frozenset({names.SERVICE_NAME, names.SERVICE_NAMESPACE, names.SERVICE_INSTANCE_ID})
_SWEEP_INTERVAL = 1.0

Labels = tuple[tuple[str, str], ...]


@dataclass
class _Series:
    value: float = 0.0
    bounds: tuple[float, ...] = ()
    buckets: list[float] = field(default_factory=list)  # per bucket, not cumulative; last is +Inf
    count: float = 0.0
    total: float = 0.0
    quantiles: tuple[tuple[float, float], ...] = ()
    time: int = -1  # time_unix_nano of the last point applied
    seen: float = 0.0  # monotonic time of the last update


@dataclass
class _Family:
    kind: str  # counter, gauge, histogram, summary
    help: str
    series: dict[Labels, _Series] = field(default_factory=dict)


@dataclass
class UpdateResult:
    """What one request did: points stored, and points dropped by reason."""

    stored: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, points: int = 1) -> None:
        """Count ``points`` dropped for ``reason``."""
        self.dropped[reason] = self.dropped.get(reason, 0) + points


class MetricStore:
    """The series of one ``prometheus`` exporter. Not thread-safe: used on the event loop, where both
    :meth:`update` and the scrape (:meth:`collect`) run."""

    def __init__(self, *, namespace: str = "", const_labels: Mapping[str, str] | None = None,
                 expiration: float = 300.0, max_series: int = DEFAULT_MAX_SERIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._namespace = namespace
        self._const = tuple((label_name(k), v) for k, v in sorted((const_labels or {}).items()))
        self._expiration = expiration
        self._max_series = max_series
        self._clock = clock
        self._families: dict[str, _Family] = {}
        self._series = 0
        self._last_sweep = clock()

    @property
    def series_count(self) -> int:
        """Series held now (``target_info`` included)."""
        return self._series

    # --- updates ----------------------------------------------------------------------------------

    def update(self, request: Any) -> UpdateResult:
        """Apply every point of an ``ExportMetricsServiceRequest``."""
        now = self._clock()
        if now - self._last_sweep >= _SWEEP_INTERVAL:
            self.expire()
        result = UpdateResult()
        for resource_metrics in request.resource_metrics:
            attributes = [(kv.key, _text(kv.value)) for kv in resource_metrics.resource.attributes]
            identity = _identity(dict(attributes))
            info = [(k, v) for k, v in attributes if k not in _IDENTIFYING]
            if info:
                labels = _labels(merge_labels(info), self._const, identity)
                series = self._series_for(names.PROMETHEUS_TARGET_INFO, "gauge", "Target metadata", labels, result)
                if series is not None:
                    _set(series, 1.0, 0)
                    series.seen = now
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    self._metric(metric, identity, now, result)
        return result

    def _metric(self, metric: Any, identity: Labels, now: float, result: UpdateResult) -> None:
        kind = metric.WhichOneof("data")
        if kind is None:
            return
        data = getattr(metric, kind)
        points = data.data_points
        if kind == "exponential_histogram":
            result.drop(UNSUPPORTED, len(points))
            return
        help_text = metric.description or metric.name
        if kind == "sum":
            prom = "counter" if data.is_monotonic else "gauge"
        elif kind == "gauge":
            prom = "gauge"
        else:
            prom = kind  # histogram, summary
        name = metric_name(metric.name, metric.unit, namespace=self._namespace, gauge=prom == "gauge",
                           counter=prom == "counter")
        delta = kind in ("sum", "histogram") and data.aggregation_temporality == _DELTA
        for point in points:
            if point.flags & _NO_RECORDED_VALUE:
                result.stored += 1  # a staleness marker: nothing to add
                continue
            labels = _labels(merge_labels((kv.key, _text(kv.value)) for kv in point.attributes), self._const,
                             identity)
            series = self._series_for(name, prom, help_text, labels, result)
            if series is None:
                continue
            if kind in ("sum", "gauge"):
                value = float(point.as_double if point.WhichOneof("value") == "as_double" else point.as_int)
                (_add if delta else _set)(series, value, int(point.time_unix_nano))
            elif kind == "histogram":
                _histogram(series, point, delta)
            else:
                _summary(series, point)
            series.seen = now
            result.stored += 1

    def _series_for(self, name: str, kind: str, help_text: str, labels: Labels,
                    result: UpdateResult) -> _Series | None:
        """The series to update, created if new; ``None`` (counted) for a type conflict or the series limit."""
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = _Family(kind, help_text)
        elif family.kind != kind:
            result.drop(CONFLICT)
            return None
        series = family.series.get(labels)
        if series is None:
            if self._series >= self._max_series:
                result.drop(SERIES_LIMIT)
                if not family.series:
                    del self._families[name]
                return None
            series = family.series[labels] = _Series()
            self._series += 1
        return series

    def expire(self) -> int:
        """Remove series not updated for ``expiration`` seconds; how many were removed."""
        now = self._clock()
        self._last_sweep = now
        if self._expiration <= 0:
            return 0
        cutoff = now - self._expiration
        removed = 0
        for name in list(self._families):
            family = self._families[name]
            stale = [labels for labels, series in family.series.items() if series.seen < cutoff]
            for labels in stale:
                del family.series[labels]
            removed += len(stale)
            if not family.series:
                del self._families[name]
        self._series -= removed
        return removed

    # --- scrape -----------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The families for a scrape, sorted by name (prometheus-client's custom-collector interface)."""
        self.expire()
        for name in sorted(self._families):
            family = self._families[name]
            metric = Metric(name, family.help, family.kind)
            for labels, series in family.series.items():
                _samples(metric, name, family.kind, dict(labels), series)
            yield metric


def _samples(metric: Metric, name: str, kind: str, labels: dict[str, str], series: _Series) -> None:
    if kind == "counter":
        metric.add_sample(name + "_total", labels, series.value)
    elif kind == "gauge":
        metric.add_sample(name, labels, series.value)
    elif kind == "histogram":
        cumulative = 0.0
        for bound, count in zip(series.bounds, series.buckets, strict=False):
            cumulative += count
            metric.add_sample(name + "_bucket", {**labels, "le": _go(bound)}, cumulative)
        metric.add_sample(name + "_bucket", {**labels, "le": "+Inf"}, series.count)
        metric.add_sample(name + "_sum", labels, series.total)
        metric.add_sample(name + "_count", labels, series.count)
    else:
        for quantile, value in series.quantiles:
            metric.add_sample(name, {**labels, "quantile": _go(quantile)}, value)
        metric.add_sample(name + "_sum", labels, series.total)
        metric.add_sample(name + "_count", labels, series.count)


def _set(series: _Series, value: float, stamp: int) -> None:
    if stamp < series.time:
        return  # older than what is held: out of order
    series.value, series.time = value, stamp


def _add(series: _Series, value: float, stamp: int) -> None:
    if stamp <= series.time:
        return  # the same delta again, or out of order
    series.value += value
    series.time = stamp


def _histogram(series: _Series, point: Any, delta: bool) -> None:
    stamp = int(point.time_unix_nano)
    bounds = tuple(point.explicit_bounds)
    counts = [float(c) for c in point.bucket_counts] or [float(point.count)]
    counts += [0.0] * (len(bounds) + 1 - len(counts))
    if delta and series.time >= 0 and series.bounds == bounds:
        if stamp <= series.time:
            return
        series.buckets = [a + b for a, b in zip(series.buckets, counts, strict=False)]
        series.count += float(point.count)
        series.total += float(point.sum)
    else:
        if not delta and stamp < series.time:
            return
        # Cumulative, the first delta, or new bucket bounds (the old accumulation cannot carry over).
        series.bounds, series.buckets = bounds, counts
        series.count, series.total = float(point.count), float(point.sum)
    series.time = stamp


def _summary(series: _Series, point: Any) -> None:
    stamp = int(point.time_unix_nano)
    if stamp < series.time:
        return
    series.quantiles = tuple((float(q.quantile), float(q.value)) for q in point.quantile_values)
    series.count, series.total, series.time = float(point.count), float(point.sum), stamp


def _identity(attributes: Mapping[str, str]) -> Labels:
    """``job`` and ``instance`` from the resource (specification: "Resource Attributes")."""
    service = attributes.get(names.SERVICE_NAME)
    namespace = attributes.get(names.SERVICE_NAMESPACE)
    labels: list[tuple[str, str]] = []
    if service is not None:
        labels.append((names.PROMETHEUS_LABEL_JOB, f"{namespace}/{service}" if namespace else service))
    instance = attributes.get(names.SERVICE_INSTANCE_ID)
    if instance is not None:
        labels.append((names.PROMETHEUS_LABEL_INSTANCE, instance))
    return tuple(labels)


def _labels(point: Mapping[str, str], const: Labels, identity: Labels) -> Labels:
    merged = dict(point)
    merged.update(const)
    merged.update(identity)
    return tuple(sorted(merged.items()))


def _text(value: Any) -> str:
    """An attribute value as a label value: strings as they are, other scalars as text, the rest as JSON."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return str(value.string_value)
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    if which == "double_value":
        return _go(value.double_value)
    if which == "bytes_value":
        return bytes(value.bytes_value).hex()
    if which == "array_value":
        return json.dumps([_text(item) for item in value.array_value.values], separators=(",", ":"))
    if which == "kvlist_value":
        return json.dumps({kv.key: _text(kv.value) for kv in value.kvlist_value.values}, separators=(",", ":"))
    return ""


def _go(value: float) -> str:
    """A float as Prometheus writes it (``1.0``, ``+Inf``), for ``le`` and ``quantile`` labels."""
    return str(_float_to_go(value))  # type: ignore[no-untyped-call]
