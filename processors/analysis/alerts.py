"""Alert rules over the engine's readings: windows (``for``), baseline-relative thresholds, severity,
de-duplication and hysteresis, like Prometheus alerting rules but evaluated inside the processor.

A rule (the ``alerts.rules`` list of the ``driftline`` processor)::

    - name: feature-drift            # required, unique
      metric: drift.detected         # drift.detected (0/1), drift.score, quality.value or performance.value
      model: "*"                     # glob on the model name; also service, version, signal, method, segment,
                                     # check (quality check such as truncation_rate, or performance metric)
      signal: "feature.*"
      above: 0.5                     # value > 0.5 ... or below: x ... or above_baseline: 1.2 (value >
                                     # 1.2 × the series' baseline: the median of its first 5 values)
      for: 5m                        # the condition must hold this long before the alert fires
      clear_for: 10m                 # ... and be false this long before it resolves (default: for)
      severity: warning              # info | warning | critical
      repeat_interval: 4h            # a firing alert is notified again after this long (default 4h)

Each series (rule × label set) moves inactive → pending → firing → resolved. An alert names the
model, version, signal, segment, statistic, value and threshold, and example trace ids of spans that
contributed. :data:`BUILTIN_RULES` apply when no rules are configured.
"""

from __future__ import annotations

import fnmatch
import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from driftline.processors.config.durations import parse_duration
from driftline.semconv import names

__all__ = ["BUILTIN_RULES", "Alert", "AlertEvaluator", "AlertInput", "Rule", "parse_rules"]

_SEVERITIES = ("info", "warning", "critical")
_METRICS = (names.ALERT_METRIC_DRIFT_DETECTED, names.ALERT_METRIC_DRIFT_SCORE, names.ALERT_METRIC_QUALITY_VALUE,
            names.ALERT_METRIC_PERFORMANCE_VALUE)
_MATCHERS = ("service", "model", "version", "signal", "method", "segment", "check")
"""``check``: the quality check (quality.value) or performance metric (performance.value) watched."""
_BASELINE_VALUES = 5
_DEFAULT_REPEAT_S = 4 * 3600.0
_MAX_SERIES = 10_000


@dataclass(frozen=True)
class Rule:
    """One alert rule (see the module docstring for the YAML form)."""

    name: str
    metric: str
    above: float | None = None
    below: float | None = None
    above_baseline: float | None = None
    for_s: float = 300.0
    clear_for_s: float = 300.0
    severity: str = "warning"
    repeat_interval_s: float = _DEFAULT_REPEAT_S
    match: Mapping[str, str] = field(default_factory=dict)
    """Globs on the labels (service, model, version, signal, method, segment); absent = any."""

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a series with ``labels`` is watched by this rule."""
        return all(fnmatch.fnmatchcase(labels.get(key, ""), pattern) for key, pattern in self.match.items())


BUILTIN_RULES: tuple[Rule, ...] = (
    Rule("drift-detected", names.ALERT_METRIC_DRIFT_DETECTED, above=0.5, for_s=300.0, clear_for_s=600.0,
         severity="warning"),
)
"""Used when the configuration has no rules: any signal whose drift stays flagged for 5 minutes."""


def _duration(raw: object, where: str, default: float) -> float:
    if raw is None:
        return default
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    try:
        return parse_duration(str(raw))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def parse_rules(raw: Sequence[Mapping[str, Any]] | None) -> tuple[Rule, ...]:
    """Rules from the ``alerts.rules`` list; errors name the rule and key and say what to write."""
    if not raw:
        return BUILTIN_RULES
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        where = f"alerts.rules[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where}: expected a mapping with at least name, metric and above/below")
        known = {"name", "metric", "above", "below", "above_baseline", "for", "clear_for", "severity",
                 "repeat_interval", *_MATCHERS}
        unknown = set(entry) - known
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
        name = str(entry.get("name") or "")
        if not name or name in seen:
            raise ValueError(f"{where}.name: give every rule a unique name")
        seen.add(name)
        metric = str(entry.get("metric", names.ALERT_METRIC_DRIFT_DETECTED))
        if metric not in _METRICS:
            raise ValueError(f"{where}.metric: {metric!r} is not one of {', '.join(_METRICS)}")
        conditions = [key for key in ("above", "below", "above_baseline") if entry.get(key) is not None]
        if len(conditions) != 1:
            raise ValueError(f"{where}: give exactly one of above, below, above_baseline")
        severity = str(entry.get("severity", "warning"))
        if severity not in _SEVERITIES:
            raise ValueError(f"{where}.severity: {severity!r} is not one of {', '.join(_SEVERITIES)}")
        for_s = _duration(entry.get("for"), f"{where}.for", 300.0)
        rules.append(Rule(
            name=name, metric=metric,
            above=float(entry["above"]) if entry.get("above") is not None else None,
            below=float(entry["below"]) if entry.get("below") is not None else None,
            above_baseline=float(entry["above_baseline"]) if entry.get("above_baseline") is not None else None,
            for_s=for_s, clear_for_s=_duration(entry.get("clear_for"), f"{where}.clear_for", for_s),
            severity=severity,
            repeat_interval_s=_duration(entry.get("repeat_interval"), f"{where}.repeat_interval", _DEFAULT_REPEAT_S),
            match={key: str(entry[key]) for key in _MATCHERS if entry.get(key) is not None},
        ))
    return tuple(rules)


@dataclass(frozen=True)
class AlertInput:
    """One series value the rules look at: a metric, its labels, the value and what produced it."""

    metric: str
    labels: Mapping[str, str]
    value: float
    statistic_threshold: float = math.nan
    """The statistic's own decision threshold (drift score), reported with the alert."""
    trace_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alert:
    """A state change of one series: ``firing`` (also re-sent every repeat interval) or ``resolved``."""

    rule: str
    severity: str
    state: str
    metric: str
    labels: Mapping[str, str]
    value: float
    threshold: float
    statistic_threshold: float
    trace_ids: tuple[str, ...]
    since: float
    """When the condition started to hold (firing) or stopped holding (resolved), on the evaluator's clock."""

    def summary(self) -> str:
        """One line for logs and notifications (no span content, only identifiers and numbers)."""
        labels = self.labels
        return (f"{self.state} {self.severity} alert {self.rule}: model={labels.get('model', '')} "
                f"version={labels.get('version', '')} signal={labels.get('signal', '')} "
                f"segment={labels.get('segment', '') or '(all)'} method={labels.get('method', '')} "
                f"{self.metric}={self.value:.4g} threshold={self.threshold:.4g} "
                f"traces={','.join(self.trace_ids) or '-'}")


@dataclass
class _Series:
    pending_since: float | None = None
    clear_since: float | None = None
    firing: bool = False
    last_sent: float = -math.inf
    history: list[float] = field(default_factory=list)


class AlertEvaluator:
    """Evaluates rules over successive snapshots of :class:`AlertInput`; returns the alerts to deliver."""

    def __init__(self, rules: Iterable[Rule] = BUILTIN_RULES, now: Callable[[], float] = time.monotonic) -> None:
        self.rules = tuple(rules)
        self._now = now
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], _Series] = {}
        self.dropped_series = 0

    def evaluate(self, inputs: Iterable[AlertInput]) -> list[Alert]:
        """One evaluation round over every current series value."""
        now = self._now()
        out: list[Alert] = []
        for item in inputs:
            for rule in self.rules:
                if rule.metric != item.metric or not rule.matches(item.labels):
                    continue
                alert = self._step(rule, item, now)
                if alert is not None:
                    out.append(alert)
        return out

    def _step(self, rule: Rule, item: AlertInput, now: float) -> Alert | None:
        key = (rule.name, tuple(sorted(item.labels.items())))
        series = self._series.get(key)
        if series is None:
            if len(self._series) >= _MAX_SERIES:
                self.dropped_series += 1
                return None
            series = self._series[key] = _Series()
        threshold = self._threshold(rule, series, item.value)
        if threshold is None:
            return None
        holds = item.value < threshold if rule.below is not None else item.value > threshold
        if holds:
            series.clear_since = None
            if series.pending_since is None:
                series.pending_since = now
            if not series.firing and now - series.pending_since >= rule.for_s:
                series.firing = True
                series.last_sent = now
                return self._alert(rule, item, names.ALERT_STATE_FIRING, threshold, series.pending_since)
            if series.firing and now - series.last_sent >= rule.repeat_interval_s:
                series.last_sent = now
                return self._alert(rule, item, names.ALERT_STATE_FIRING, threshold, series.pending_since)
            return None
        if not series.firing:
            series.pending_since = None  # a pending condition that breaks starts over
            return None
        if series.clear_since is None:
            series.clear_since = now
        if now - series.clear_since >= rule.clear_for_s:
            series.firing = False
            series.pending_since = None
            since, series.clear_since = series.clear_since, None
            return self._alert(rule, item, names.ALERT_STATE_RESOLVED, threshold, since)
        return None

    @staticmethod
    def _threshold(rule: Rule, series: _Series, value: float) -> float | None:
        if rule.above is not None:
            return rule.above
        if rule.below is not None:
            return rule.below
        assert rule.above_baseline is not None
        if len(series.history) < _BASELINE_VALUES:
            if not math.isnan(value):
                series.history.append(value)
            return None  # the baseline is still forming: nothing to compare with
        return rule.above_baseline * statistics.median(series.history)

    @staticmethod
    def _alert(rule: Rule, item: AlertInput, state: str, threshold: float, since: float) -> Alert:
        return Alert(rule.name, rule.severity, state, item.metric, dict(item.labels), item.value, threshold,
                     item.statistic_threshold, item.trace_ids, since)
