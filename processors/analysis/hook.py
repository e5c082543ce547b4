"""The ``drift`` analysis hook: runs a :class:`~.engine.DriftEngine` in every ``driftline`` processor.

Options (the ``driftline`` processor's YAML mapping; all optional — ``driftline: {}`` runs drift
analysis with warm-up baselines on every model, LLM and agent it sees)::

    driftline:
      drift:   {warmup: 2000, window: 500, alpha: 0.01, statistic: psi, bins: 10, top_k: 20,
                raise_after: 2, clear_after: 3, change_detector: true}
      signals: {numeric_attributes: [...], categorical_attributes: [...], segments: [app.tier],
                embedding_attributes: [driftline.embedding], max_keys: 10000}
      embeddings: {dims: 64, reference_size: 1000, window: 200, alpha: 0.01, mmd_sample: 200}
      baselines: [./fraud-baseline.json]   # driftline baseline build ...: references from training data
      enrich: false            # true: flagged models' spans carry driftline.drift.detected/.signals
      state:  ./driftline-data/drift-state.sqlite   # absent: state in memory only
      save_interval: 60s
      alerts:                  # see driftline.processors.analysis.alerts for the rule keys
        rules: [{name: feature-drift, metric: drift.detected, signal: "feature.*", above: 0.5, for: 5m}]
        webhook: {url: "https://hooks.example/driftline", headers: {...}, timeout: 5s}
        otlp: {endpoint: "http://collector:4318", headers: {...}}   # alerts as OTLP log records
        evaluate_interval: 1s
      metrics_otlp: {endpoint: "http://collector:4318", interval: 15s}   # readings also pushed as OTLP

Readings are exported on the processor's ``/metrics`` as ``driftline_drift_score``,
``driftline_drift_threshold`` and ``driftline_drift_detected`` (one series per model, signal,
method and segment: bounded by the key cap). State is saved to SQLite on the interval and at
shutdown, and restored at start, so a restart does not reset baselines (the embedded default sets ``state``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from prometheus_client.core import CounterMetricFamily, Exemplar, GaugeMetricFamily
from prometheus_client.registry import Collector

from driftline.processors.config.durations import parse_duration
from driftline.processors.exporters.prometheus_naming import label_name, metric_name
from driftline.processors.otlp.values import attributes_dict
from driftline.processors.pipeline.analysis import register_hook
from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.telemetry import SelfTelemetry
from driftline.semconv import names

from .alerts import Alert, AlertEvaluator, AlertInput, parse_rules
from .baseline import Baseline
from .embedding import EmbeddingSettings
from .engine import DriftEngine
from .monitor import DriftSettings
from .notify import AlertDispatcher, OtlpLogSink, Sink, WebhookSink
from .otlp_metrics import MetricsPusher, drift_metrics_request
from .performance import PerformanceConfig, PerformanceTracker
from .quality import QualityConfig, QualityEngine, QualityFlag
from .signals import SignalConfig, model_key

__all__ = ["HOOK_NAME", "DriftHook"]

_log = logging.getLogger(__name__)

HOOK_NAME = "drift"
_DEFAULT_SAVE_INTERVAL_S = 60.0

_LABELS = (names.SERVICE_NAME, names.DRIFTLINE_MODEL_NAME, names.DRIFTLINE_MODEL_VERSION,
           names.DRIFTLINE_MODEL_FAMILY, names.DRIFTLINE_DRIFT_SIGNAL, names.DRIFTLINE_DRIFT_METHOD,
           names.DRIFTLINE_SEGMENT, names.DRIFTLINE_DRIFT_REFERENCE)
_LABEL_NAMES = [label_name(key) for key in _LABELS]


_C = TypeVar("_C")


def _section(cls: Callable[..., _C], options: Mapping[str, Any], key: str) -> _C:
    """The dataclass ``cls`` built from the option mapping ``key``; unknown keys are named in the error."""
    raw = dict(options.get(key) or {})
    allowed = set(getattr(cls, "__dataclass_fields__", ()))
    unknown = set(raw) - allowed
    if unknown:
        raise ValueError(f"driftline.{key}: unknown keys {sorted(unknown)}; known: {sorted(allowed)}")
    return cls(**raw)


def _settings(options: Mapping[str, Any]) -> tuple[DriftSettings, SignalConfig]:
    signals = dict(options.get("signals") or {})
    settings = _section(DriftSettings, options, "drift")
    config = SignalConfig(
        numeric_attributes=tuple(signals.get("numeric_attributes", ())),
        categorical_attributes=tuple(signals.get("categorical_attributes", ())),
        segments=tuple(signals.get("segments", ())),
        embedding_attributes=tuple(signals.get("embedding_attributes", SignalConfig.embedding_attributes)),
        signals=frozenset(signals["track"]) if signals.get("track") else None,
        max_keys=int(signals.get("max_keys", SignalConfig.max_keys)),
    )
    return settings, config


class _StateStore:
    """One SQLite row per engine (the pipeline's id): the engine's JSON state."""

    def __init__(self, path: Path, name: str) -> None:
        self._path = path
        self._name = name
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS drift_state (name TEXT PRIMARY KEY, saved REAL, state TEXT)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def load(self) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT state FROM drift_state WHERE name = ?", (self._name,)).fetchone()
        return json.loads(row[0]) if row else None

    def save(self, state: Mapping[str, Any]) -> None:
        text = json.dumps(state, separators=(",", ":"))  # NaN/Infinity tokens: json reads them back
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO drift_state (name, saved, state) VALUES (?, ?, ?)",
                       (self._name, time.time(), text))


class _DriftCollector(Collector):
    """Exposes the engine's latest readings at scrape time (no per-span metric work)."""

    def __init__(self, hook: DriftHook) -> None:
        self._hook = hook
        self._engine = hook.engine
        self._lock = hook._lock

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        """Every family from the hook's current readings (taken under the hook's lock)."""
        score = GaugeMetricFamily(metric_name(names.DRIFTLINE_DRIFT_SCORE, names.DRIFTLINE_DRIFT_SCORE_UNIT),
                                  "Latest drift statistic per model, signal, method and segment.", labels=_LABEL_NAMES)
        threshold = GaugeMetricFamily(
            metric_name(names.DRIFTLINE_DRIFT_THRESHOLD, names.DRIFTLINE_DRIFT_THRESHOLD_UNIT),
            "Decision threshold in force for the drift score (calibrated at the window size, floored by the "
            "minimum effect).", labels=_LABEL_NAMES)
        detected = GaugeMetricFamily(
            metric_name(names.DRIFTLINE_DRIFT_DETECTED_METRIC, names.DRIFTLINE_DRIFT_DETECTED_METRIC_UNIT),
            "1 while drift is flagged for the signal (after hysteresis), else 0.", labels=_LABEL_NAMES)
        alarms = CounterMetricFamily(
            metric_name(names.DRIFTLINE_DRIFT_ALARMS, names.DRIFTLINE_DRIFT_ALARMS_UNIT),
            "Flagged verdicts per model, signal, method and segment (exemplar: a flagged span's trace id).",
            labels=_LABEL_NAMES)
        model_labels = [label_name(k) for k in (names.SERVICE_NAME, names.DRIFTLINE_MODEL_NAME,
                                                names.DRIFTLINE_MODEL_VERSION, names.DRIFTLINE_SEGMENT,
                                                names.DRIFTLINE_PERFORMANCE_METRIC)]
        performance = GaugeMetricFamily(
            metric_name(names.DRIFTLINE_MODEL_PERFORMANCE, names.DRIFTLINE_MODEL_PERFORMANCE_UNIT),
            "Rolling model performance once labels arrived (feedback spans).", labels=model_labels)
        fairness = GaugeMetricFamily(
            metric_name(names.DRIFTLINE_FAIRNESS_GAP, names.DRIFTLINE_FAIRNESS_GAP_UNIT, gauge=True),
            "Largest gap of a rate between segments of one attribute.",
            labels=[label_name(k) for k in (names.SERVICE_NAME, names.DRIFTLINE_MODEL_NAME,
                                            names.DRIFTLINE_MODEL_VERSION, names.DRIFTLINE_FAIRNESS_ATTRIBUTE,
                                            names.DRIFTLINE_FAIRNESS_METRIC)])
        quality = GaugeMetricFamily(
            metric_name(names.DRIFTLINE_QUALITY_VALUE, names.DRIFTLINE_QUALITY_VALUE_UNIT),
            "Current value of a quality check per model (rates over the rolling window, latency, cost).",
            labels=[label_name(k) for k in (names.SERVICE_NAME, names.DRIFTLINE_MODEL_NAME,
                                            names.DRIFTLINE_MODEL_VERSION, names.DRIFTLINE_MODEL_FAMILY,
                                            names.DRIFTLINE_QUALITY_CHECK, names.ERROR_TYPE)])
        with self._lock:
            readings = self._engine.readings()
            counts = dict(self._engine.alarms)
            for q in self._hook.quality.readings():
                quality.add_metric([q.model.service, q.model.model, q.model.version, q.model.family, q.check,
                                    q.error_type], q.value)
            for p in self._hook.performance.readings():
                performance.add_metric([p.model.service, p.model.model, p.model.version, p.segment, p.metric],
                                       p.value)
            for f in self._hook.performance.fairness():
                fairness.add_metric([f.model.service, f.model.model, f.model.version, f.attribute, f.metric],
                                    f.value)
            sources = {key: monitor.reference_source for key, monitor in self._engine.monitors.items()}
        for (key, method), (count, trace_id, last_score) in counts.items():
            labels = [key.model.service, key.model.model, key.model.version, key.model.family, key.signal,
                      method, key.segment, sources.get(key, "")]
            exemplar = Exemplar({"trace_id": trace_id.hex()}, last_score) if trace_id else None
            alarms.add_metric(labels, count, exemplar=exemplar)
        for reading in readings:
            key = reading.key
            labels = [key.model.service, key.model.model, key.model.version, key.model.family, key.signal,
                      reading.method, key.segment, reading.reference]
            score.add_metric(labels, reading.score)
            if reading.threshold == reading.threshold:  # NaN: reported-only statistics have no threshold
                threshold.add_metric(labels, reading.threshold)
                detected.add_metric(labels, 1.0 if reading.detected else 0.0)
        yield score
        yield threshold
        yield detected
        yield alarms
        yield performance
        yield fairness
        yield quality


def _sinks(alerts: Mapping[str, Any]) -> list[Sink]:
    sinks: list[Sink] = []
    for key, make in (("webhook", WebhookSink), ("otlp", OtlpLogSink)):
        section = alerts.get(key)
        if not section:
            continue
        target = section.get("url" if key == "webhook" else "endpoint")
        if not target:
            raise ValueError(f"driftline.alerts.{key}: set {'url' if key == 'webhook' else 'endpoint'}")
        timeout = parse_duration(str(section["timeout"])) if section.get("timeout") is not None else 5.0
        sinks.append(make(str(target), {str(k): str(v) for k, v in (section.get("headers") or {}).items()}, timeout))
    return sinks


class DriftHook:
    """The ``drift`` hook: observing by default, enriching when ``enrich: true``."""

    name = HOOK_NAME

    def __init__(self, options: Mapping[str, Any]) -> None:
        settings, config = _settings(options)
        self.engine = DriftEngine(settings, config, embeddings=_section(EmbeddingSettings, options, "embeddings"))
        paths = options.get("baselines") or []
        for path in [paths] if isinstance(paths, str) else paths:
            baseline = Baseline.load(Path(str(path)))
            self.engine.baselines.append(baseline)
            _log.info("drift baseline %s: model %s version %s, %d signals", path, baseline.name,
                      baseline.version or "(any)", len(baseline.signals))
        self.performance = PerformanceTracker(_section(PerformanceConfig, options, "performance"))
        self.quality = QualityEngine(_section(QualityConfig, options, "quality"))
        self.enriches = bool(options.get("enrich", False))
        self._lock = threading.Lock()
        state = options.get("state")
        self._store = _StateStore(Path(str(state)), str(options.get("name", "traces"))) if state else None
        interval = options.get("save_interval")
        self._save_interval = (parse_duration(str(interval)) if interval is not None
                               else _DEFAULT_SAVE_INTERVAL_S)
        self._last_save = time.monotonic()
        alerts = dict(options.get("alerts") or {})
        self.alerts = AlertEvaluator(parse_rules(alerts.get("rules")))
        self.dispatcher = AlertDispatcher(_sinks(alerts))
        interval = alerts.get("evaluate_interval")
        self._evaluate_interval = parse_duration(str(interval)) if interval is not None else 1.0
        self._last_evaluation = -float("inf")
        self.fired: list[Alert] = []
        """Every alert state change so far (bounded: the latest 1000)."""
        self._started_ns = time.time_ns()
        self.pusher: MetricsPusher | None = None
        otlp = dict(options.get("metrics_otlp") or {})
        if otlp:
            if not otlp.get("endpoint"):
                raise ValueError("driftline.metrics_otlp: set endpoint (an OTLP/HTTP base URL)")
            self.pusher = MetricsPusher(self._metrics_request, str(otlp["endpoint"]),
                                        parse_duration(str(otlp.get("interval", "15s"))),
                                        {str(k): str(v) for k, v in (otlp.get("headers") or {}).items()})
        self._collector: _DriftCollector | None = None
        self._registry: Any = None
        if self._store is not None:
            saved = self._load_state()
            if saved is not None:
                restored = self.engine.restore(saved.get("engine", saved))
                if saved.get("quality") is not None:
                    self.quality = QualityEngine.from_state(saved["quality"], self.quality.config)
                if saved.get("performance") is not None:
                    self.performance = PerformanceTracker.from_state(saved["performance"], self.performance.config)
                _log.info("drift state restored: %d signal monitors", restored)

    def _load_state(self) -> dict[str, Any] | None:
        """The saved state, or None (logged) when it was written by an incompatible version."""
        assert self._store is not None
        saved = self._store.load()
        if saved is None:
            return None
        try:
            DriftEngine(self.engine.settings, SignalConfig()).restore(saved.get("engine", saved))
        except (ValueError, KeyError, TypeError) as exc:
            _log.warning("saved drift state ignored (written by another version: %s); baselines start over", exc)
            return None
        return saved

    def bind(self, telemetry: SelfTelemetry) -> None:
        """Register the readings on the processor's ``/metrics``."""
        self._collector = _DriftCollector(self)
        self._registry = telemetry.registry
        telemetry.registry.register(self._collector)

    def process(self, batch: TraceBatch) -> None:
        """Feed the batch's spans; when enriching, mark the spans of models with drift flagged."""
        with self._lock:
            observations = self.engine.extractor.extract(batch.request.resource_spans)
            self.engine.feed(observations)
            self.performance.observe(observations)
            flags = self.quality.observe(batch.request.resource_spans)
            if self.enriches and self._enrich(batch, flags):
                batch.mark_modified()
        now = time.monotonic()
        if now - self._last_evaluation >= self._evaluate_interval:
            self._last_evaluation = now
            self.evaluate_alerts()
        if self._store is not None and now - self._last_save >= self._save_interval:
            self.save()

    def evaluate_alerts(self) -> list[Alert]:
        """Run the alert rules over the current readings; log and dispatch the state changes."""
        with self._lock:
            inputs = self.engine.alert_inputs()
            for q in self.quality.readings():
                inputs.append(AlertInput(names.ALERT_METRIC_QUALITY_VALUE, {
                    "service": q.model.service, "model": q.model.model, "version": q.model.version,
                    "family": q.model.family, "check": q.check, "segment": "", "signal": q.error_type}, q.value))
            for p in self.performance.readings():
                inputs.append(AlertInput(names.ALERT_METRIC_PERFORMANCE_VALUE, {
                    "service": p.model.service, "model": p.model.model, "version": p.model.version,
                    "family": p.model.family, "check": p.metric, "segment": p.segment}, p.value))
        changes = self.alerts.evaluate(inputs)
        for alert in changes:
            _log.warning("%s", alert.summary())
        if changes:
            self.fired = (self.fired + changes)[-1000:]
            self.dispatcher.submit(changes)
        return changes

    def _enrich(self, batch: TraceBatch, flags: list[QualityFlag]) -> bool:
        changed = False
        by_span: dict[bytes, list[str]] = {}
        for flag in flags:
            listed = by_span.setdefault(flag.span_id, [])
            if flag.check not in listed:
                listed.append(flag.check)
        for rs in batch.request.resource_spans:
            service = str(attributes_dict(rs.resource.attributes).get(names.SERVICE_NAME, ""))
            for ss in rs.scope_spans:
                for span in ss.spans:
                    checks = by_span.get(bytes(span.span_id))
                    if checks:
                        added = span.attributes.add(key=names.DRIFTLINE_QUALITY_FLAGS)
                        for check in checks:
                            added.value.array_value.values.add().string_value = check
                        changed = True
                    key = model_key(attributes_dict(span.attributes), service)
                    if key is None:
                        continue
                    drifted = self.engine.drifted(key)
                    if not drifted:
                        continue
                    flag = span.attributes.add(key=names.DRIFTLINE_DRIFT_DETECTED)
                    flag.value.bool_value = True
                    signals = span.attributes.add(key=names.DRIFTLINE_DRIFT_SIGNALS)
                    for signal in drifted:
                        signals.value.array_value.values.add().string_value = signal
                    changed = True
        return changed

    def _metrics_request(self) -> Any:
        with self._lock:
            return drift_metrics_request(self.engine, self._started_ns)

    def save(self) -> None:
        """Write the engine's state to the SQLite store now."""
        if self._store is None:
            return
        with self._lock:
            state = {"engine": self.engine.to_state(), "performance": self.performance.to_state(),
                     "quality": self.quality.to_state()}
        self._store.save(state)
        self._last_save = time.monotonic()

    def close(self) -> None:
        """Deliver queued alerts, save the state and take the readings off ``/metrics``."""
        try:
            self.dispatcher.close()
            if self.pusher is not None:
                self.pusher.close()
            self.save()
        finally:
            if self._collector is not None and self._registry is not None:
                self._registry.unregister(self._collector)
                self._collector = None


register_hook(HOOK_NAME, DriftHook)
