"""Prometheus alerting rules equivalent to driftline's alert rules, for teams that alert from Prometheus.

``python -m driftline.processors.analysis.promrules [CONFIG]`` prints the rule file for the alert
rules of CONFIG's ``driftline`` processor (the built-in rules without a CONFIG);
``deploy/compose/driftline-alerts.yml`` is this output for the built-in rules. The translation:

* the watched value → ``driftline_drift_detected`` (taking the max over methods, so a signal alerts
  once) or ``driftline_drift_score``; globs on labels → anchored RE2 matchers (``=~``);
* ``above``/``below`` → ``>``/``<``; ``above_baseline: F`` → ``> F * avg_over_time(...[1d] offset 1d)``
  (Prometheus has no "first values of the series", so yesterday's average stands in for the baseline);
* ``for`` → ``for``; ``clear_for`` → ``keep_firing_for`` (Prometheus ≥ 2.42); severity → a label;
  ``repeat_interval`` belongs to Alertmanager's routing, not to the rule, and is not emitted.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from driftline.processors.exporters.prometheus_naming import label_name, metric_name
from driftline.semconv import names

from .alerts import Rule, parse_rules

__all__ = ["glob_to_re2", "prometheus_rules", "render"]

_LABELS = {"service": names.SERVICE_NAME, "model": names.DRIFTLINE_MODEL_NAME,
           "version": names.DRIFTLINE_MODEL_VERSION, "signal": names.DRIFTLINE_DRIFT_SIGNAL,
           "method": names.DRIFTLINE_DRIFT_METHOD, "segment": names.DRIFTLINE_SEGMENT}
_SERIES = {names.ALERT_METRIC_DRIFT_DETECTED: (names.DRIFTLINE_DRIFT_DETECTED_METRIC,
                                               names.DRIFTLINE_DRIFT_DETECTED_METRIC_UNIT),
           names.ALERT_METRIC_DRIFT_SCORE: (names.DRIFTLINE_DRIFT_SCORE, names.DRIFTLINE_DRIFT_SCORE_UNIT),
           names.ALERT_METRIC_QUALITY_VALUE: (names.DRIFTLINE_QUALITY_VALUE, names.DRIFTLINE_QUALITY_VALUE_UNIT),
           names.ALERT_METRIC_PERFORMANCE_VALUE: (names.DRIFTLINE_MODEL_PERFORMANCE,
                                                  names.DRIFTLINE_MODEL_PERFORMANCE_UNIT)}
_CHECK_LABEL = {names.ALERT_METRIC_QUALITY_VALUE: names.DRIFTLINE_QUALITY_CHECK,
                names.ALERT_METRIC_PERFORMANCE_VALUE: names.DRIFTLINE_PERFORMANCE_METRIC}
"""The label a rule's ``check`` matcher selects on, per watched value."""
_RE2_SPECIAL = frozenset("\\.+^$|()[]{}")
_BY = ("service", "model", "version", "signal", "segment")


def glob_to_re2(pattern: str) -> str:
    """A shell glob (``*``, ``?``) as an RE2 regex; Prometheus anchors label regexes at both ends."""
    return "".join(".*" if c == "*" else "." if c == "?" else "\\" + c if c in _RE2_SPECIAL else c for c in pattern)


def _duration(seconds: float) -> str:
    whole = round(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def _rule(rule: Rule) -> dict[str, Any]:
    metric, unit = _SERIES[rule.metric]
    # A PromQL string literal takes Go escapes: the regex's backslashes are doubled inside it.
    labels = {**_LABELS, "check": _CHECK_LABEL.get(rule.metric, names.DRIFTLINE_QUALITY_CHECK)}
    selectors = ",".join(f'{label_name(labels[key])}=~"{glob_to_re2(pattern).replace(chr(92), chr(92) * 2)}"'
                         for key, pattern in sorted(rule.match.items()))
    series = metric_name(metric, unit) + (f"{{{selectors}}}" if selectors else "")
    if rule.metric == names.ALERT_METRIC_DRIFT_DETECTED:
        by = ", ".join(label_name(_LABELS[key]) for key in _BY)
        series = f"max by ({by}) ({series})"
    if rule.above is not None:
        expr = f"{series} > {rule.above:g}"
    elif rule.below is not None:
        expr = f"{series} < {rule.below:g}"
    else:
        expr = f"{series} > {rule.above_baseline:g} * avg_over_time({series}[1d] offset 1d)"
    model = label_name(names.DRIFTLINE_MODEL_NAME)
    signal = label_name(names.DRIFTLINE_DRIFT_SIGNAL)
    segment = label_name(names.DRIFTLINE_SEGMENT)
    out: dict[str, Any] = {
        "alert": rule.name,
        "expr": expr,
        "for": _duration(rule.for_s),
        "labels": {"severity": rule.severity},
        "annotations": {
            "summary": (f"{rule.metric} of {{{{ $labels.{signal} }}}} for model {{{{ $labels.{model} }}}} "
                        f"(segment '{{{{ $labels.{segment} }}}}') is {{{{ $value }}}}"),
            "description": "Generated from driftline alert rule " + rule.name + "; the processor's own alert "
                           "carries example trace ids.",
        },
    }
    if rule.clear_for_s > 0:
        out["keep_firing_for"] = _duration(rule.clear_for_s)
    return out


def prometheus_rules(rules: Sequence[Rule]) -> dict[str, Any]:
    """A Prometheus rule file (as data) with one alerting rule per driftline rule."""
    return {"groups": [{"name": "driftline", "rules": [_rule(rule) for rule in rules]}]}


def render(rules: Sequence[Rule]) -> str:
    """The rule file as YAML text, with a header saying where it comes from."""
    header = ("# Prometheus alerting rules equivalent to driftline's alert rules.\n"
              "# Generated by: python -m driftline.processors.analysis.promrules [processor-config.yaml]\n")
    return header + yaml.safe_dump(prometheus_rules(rules), sort_keys=False, width=120)


def _rules_of(config_path: Path) -> Sequence[Rule]:
    data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    processors: Mapping[str, Any] = data.get("processors") or {}
    for name, options in processors.items():
        if str(name).split("/")[0] == "driftline":
            return parse_rules(((options or {}).get("alerts") or {}).get("rules"))
    return parse_rules(None)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the rule file for CONFIG's alert rules (the built-in ones without an argument)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rules = _rules_of(Path(args[0])) if args else parse_rules(None)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"driftline: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(rules))
    return 0


if __name__ == "__main__":
    sys.exit(main())
