"""The drift engine: signals extracted from span batches feed one :class:`SignalMonitor` per signal key.

Usable without the processor (feed it ``ExportTraceServiceRequest.resource_spans``); the analysis
hook (:mod:`.hook`) runs it inside a pipeline, exposes its readings as metrics and saves its state.
Monitors follow the extractor's keys, so their number is capped by ``SignalConfig.max_keys``.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.semconv import names

from .alerts import AlertInput
from .baseline import Baseline
from .calibration import ThresholdCache
from .embedding import EmbeddingMonitor, EmbeddingSettings
from .monitor import DriftEvent, DriftSettings, Kind, SignalMonitor
from .signals import ModelKey, Observations, SignalConfig, SignalExtractor, SignalKey

__all__ = ["DriftEngine", "DriftReading"]

_log = logging.getLogger(__name__)

_STATE_VERSION = 1
_RECENT_EVENTS = 1000
_DECIDING = {"psi": names.DRIFT_METHOD_PSI, "js_distance": names.DRIFT_METHOD_JS,
             "hellinger": names.DRIFT_METHOD_HELLINGER}
"""Method label of each deciding statistic (DriftSettings.statistic)."""


@dataclass(frozen=True)
class DriftReading:
    """The latest value of one (signal key, method): what the metrics export."""

    key: SignalKey
    method: str
    score: float
    threshold: float
    detected: bool
    reference: str


class DriftEngine:
    """Signal extraction plus a monitor per signal key; state saved and restored as JSON-able data."""

    def __init__(self, settings: DriftSettings | None = None, signals: SignalConfig | None = None,
                 thresholds: ThresholdCache | None = None, embeddings: EmbeddingSettings | None = None) -> None:
        self.settings = settings or DriftSettings()
        self.embedding_settings = embeddings or EmbeddingSettings()
        self.extractor = SignalExtractor(signals)
        self._thresholds = thresholds if thresholds is not None else ThresholdCache()  # an empty cache is falsy
        self._monitors: dict[SignalKey, SignalMonitor | EmbeddingMonitor] = {}
        self.recent: deque[tuple[SignalKey, DriftEvent]] = deque(maxlen=_RECENT_EVENTS)
        """The latest verdicts (windows closed and change alarms), oldest first."""
        self.spans = 0
        self.overflow = 0
        self._family: dict[ModelKey, set[str]] = {}
        """Per model, the scalar signals seen (bounded by the extractor's key cap)."""
        self.baselines: list[Baseline] = []
        """Reference profiles from baseline files; a new monitor of a matching model starts from them."""
        self.alarms: dict[tuple[SignalKey, str], tuple[int, bytes | None, float]] = {}
        """Per (signal key, method): flagged verdicts so far, the last one's trace id and score."""
        self.faults = 0
        """Signal updates that raised (the signal's monitor is dropped and starts over)."""
        self._last_fault_log = -float("inf")
        self.mismatched = 0
        """Values dropped because their signal had been numeric and turned categorical (or back)."""

    @property
    def monitors(self) -> Mapping[SignalKey, SignalMonitor | EmbeddingMonitor]:
        """The monitor of every signal key seen."""
        return self._monitors

    def observe(self, resource_spans: Iterable[Any]) -> list[tuple[SignalKey, DriftEvent]]:
        """Extract and feed one request's spans; return the verdicts they produced."""
        return self.feed(self.extractor.extract(resource_spans))

    def feed(self, observations: Observations) -> list[tuple[SignalKey, DriftEvent]]:
        """Feed values already extracted (by :attr:`extractor`); return the verdicts they produced."""
        self.spans += observations.spans
        self.overflow += observations.overflow
        # A model's signals share one false-alarm budget: count them (all-traffic keys) for new monitors.
        for key in (*observations.numeric, *observations.categorical):
            if key.segment == "":
                self._family.setdefault(key.model, set()).add(key.signal)
        events: list[tuple[SignalKey, DriftEvent]] = []
        for key, numbers in observations.numeric.items():
            self._isolated(key, events, lambda k=key, v=numbers: self._feed_scalar(  # type: ignore[misc]
                k, "numeric", np.asarray(v, dtype=np.float64), observations))
        for key, labels in observations.categorical.items():
            self._isolated(key, events, lambda k=key, v=labels: self._feed_scalar(  # type: ignore[misc]
                k, "categorical", v, observations))
        for key, vectors in observations.vectors.items():
            self._isolated(key, events, lambda k=key, v=vectors: self._feed_vectors(  # type: ignore[misc]
                k, v, observations))
        self.recent.extend(events)
        for key, event in events:
            if event.flagged:
                count, _, _ = self.alarms.get((key, event.method), (0, None, 0.0))
                self.alarms[(key, event.method)] = (count + 1, event.trace_id, event.score)
        return events

    def _isolated(self, key: SignalKey, events: list[tuple[SignalKey, DriftEvent]],
                  feed: Callable[[], list[DriftEvent]]) -> None:
        """Run one signal's update; a fault in it is counted and logged (once a minute) and the signal
        dropped, never allowed to cost the other signals of the batch their analysis."""
        try:
            events += [(key, event) for event in feed()]
        except Exception:
            self.faults += 1
            self._monitors.pop(key, None)  # start over from a fresh warm-up rather than fail again
            now = time.monotonic()
            if now - self._last_fault_log >= 60.0:
                self._last_fault_log = now
                _log.warning("drift analysis of signal %s of model %s failed; it starts over (logged once a "
                             "minute)", key.signal, key.model.model, exc_info=True)

    def _feed_scalar(self, key: SignalKey, kind: Kind, values: Any, observations: Observations) -> list[DriftEvent]:
        monitor = self._monitor(key, kind)
        if monitor is None:
            self.mismatched += len(values)
            return []
        return monitor.update_many(values, observations.trace_ids.get(key))

    def _feed_vectors(self, key: SignalKey, vectors: list[list[float]], observations: Observations) -> list[DriftEvent]:
        embedding = self._monitors.get(key)
        if embedding is None:
            embedding = self._monitors[key] = EmbeddingMonitor(self.embedding_settings)
        if not isinstance(embedding, EmbeddingMonitor):
            self.mismatched += len(vectors)
            return []
        return embedding.update_many(vectors, observations.trace_ids.get(key))

    def _monitor(self, key: SignalKey, kind: Kind) -> SignalMonitor | None:
        monitor = self._monitors.get(key)
        if monitor is None:
            monitor = self._monitors[key] = self._new_monitor(key, kind)
        return monitor if isinstance(monitor, SignalMonitor) and monitor.kind == kind else None

    def _new_monitor(self, key: SignalKey, kind: Kind) -> SignalMonitor:
        family = len(self._family.get(key.model, ())) or 1
        for baseline in self.baselines:
            signal = baseline.signals.get(key.signal)
            if signal is not None and signal.kind == kind and baseline.matches(key.model):
                # Every segment starts from the whole training distribution: "far from training".
                return SignalMonitor(kind, self.settings, self._thresholds, reference=baseline.monitor_reference(
                    key.signal), reference_sample=signal.sample, family_size=family)
        return SignalMonitor(kind, self.settings, self._thresholds, family_size=family)

    def drifted(self, model: ModelKey, segment: str = "") -> list[str]:
        """The signals of ``model`` (in ``segment``) flagged as drifted now, sorted."""
        return sorted(key.signal for key, monitor in self._monitors.items()
                      if key.model == model and key.segment == segment and monitor.detected)

    def readings(self) -> list[DriftReading]:
        """One reading per monitor and method it has a score for (ready monitors only)."""
        out: list[DriftReading] = []
        deciding = _DECIDING[self.settings.statistic]
        for key, monitor in self._monitors.items():
            if not monitor.ready:
                continue
            for method, score in monitor.scores.items():
                if method == deciding or method == names.DRIFT_METHOD_CENTROID:
                    threshold = monitor.threshold
                elif method == names.DRIFT_METHOD_CUSUM:
                    threshold = 1.0
                else:
                    threshold = float("nan")
                out.append(DriftReading(key, method, score, threshold, monitor.detected, monitor.reference_source))
        return out

    def alert_inputs(self, examples: int = 5) -> list[AlertInput]:
        """The series the alert rules watch: ``drift.detected`` per signal (labelled with the deciding
        method) and ``drift.score`` per signal and method, each with up to ``examples`` recent trace
        ids (hex) of flagged verdicts."""
        traces: dict[SignalKey, list[str]] = {}
        for key, event in reversed(self.recent):
            if event.flagged and event.trace_id:
                ids = traces.setdefault(key, [])
                hexed = event.trace_id.hex()
                if len(ids) < examples and hexed not in ids:
                    ids.append(hexed)
        deciding = _DECIDING[self.settings.statistic]
        out: list[AlertInput] = []
        for reading in self.readings():
            key = reading.key
            labels = {"service": key.model.service, "model": key.model.model, "version": key.model.version,
                      "family": key.model.family, "signal": key.signal, "segment": key.segment,
                      "method": reading.method}
            trace_ids = tuple(traces.get(key, ()))
            out.append(AlertInput(names.ALERT_METRIC_DRIFT_SCORE, labels, reading.score, reading.threshold, trace_ids))
            if reading.method in (deciding, names.DRIFT_METHOD_CENTROID):
                out.append(AlertInput(names.ALERT_METRIC_DRIFT_DETECTED, labels, 1.0 if reading.detected else 0.0,
                                      reading.threshold, trace_ids))
        return out

    def merge(self, other: DriftEngine) -> int:
        """Combine another shard's state into this engine (offline, e.g. from saved states).

        For a signal both have with the same frozen reference, the current windows add exactly
        (counts and moments); a signal only ``other`` has is taken over as it is. Sequential state
        (hysteresis, change detectors) is not mergeable and stays this engine's. Returns how many
        signals were merged or taken over.
        """
        merged = 0
        for key, theirs in other._monitors.items():
            mine = self._monitors.get(key)
            if mine is None:
                if self.extractor.admit(key):
                    self._monitors[key] = theirs
                    merged += 1
                continue
            if (isinstance(mine, SignalMonitor) and isinstance(theirs, SignalMonitor) and mine.ready and theirs.ready
                    and mine.reference is not None and theirs.reference is not None
                    and mine.reference.to_state() == theirs.reference.to_state()):
                mine.merge_windows(theirs)
                merged += 1
        for pair, (count, trace_id, score) in other.alarms.items():
            mine_count, mine_trace, mine_score = self.alarms.get(pair, (0, None, 0.0))
            self.alarms[pair] = (mine_count + count, mine_trace or trace_id, mine_score or score)
        return merged

    # -- state --------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Every monitor's state, keyed by its signal key's fields (JSON-able)."""
        return {
            "version": _STATE_VERSION,
            "monitors": [{"service": k.model.service, "model": k.model.model, "version": k.model.version,
                          "family": k.model.family, "signal": k.signal, "segment": k.segment,
                          "state": m.to_state()} for k, m in self._monitors.items()],
        }

    def restore(self, state: Mapping[str, Any]) -> int:
        """Load monitors saved by :meth:`to_state` (replacing those of the same keys); return how many.

        Keys count against the extractor's cap like keys seen in spans.
        """
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported drift engine state version {state.get('version')!r}")
        loaded = 0
        for entry in state.get("monitors", []):
            key = SignalKey(ModelKey(entry["service"], entry["model"], entry["version"], entry["family"]),
                            entry["signal"], entry["segment"])
            if not self.extractor.admit(key):
                continue
            saved = entry["state"]
            self._monitors[key] = (EmbeddingMonitor.from_state(saved, self.embedding_settings)
                                   if saved.get("kind") == EmbeddingMonitor.kind
                                   else SignalMonitor.from_state(saved, self.settings, self._thresholds))
            loaded += 1
        return loaded
