"""Embedding drift on seeded vectors: quiet on the same distribution, a centroid shift and a spread
change at the same mean both caught (the latter by MMD), bounded memory, state round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.processors.analysis.embedding import EmbeddingMonitor, EmbeddingSettings, mmd2_unbiased
from driftline.semconv import names

WIDTH = 384


def _vectors(rng: np.random.Generator, n: int, shift: float = 0.0, spread: float = 1.0) -> np.ndarray:
    base = rng.normal(size=(n, WIDTH)) * spread
    base[:, :8] += shift  # a move along a few directions of the embedding space
    return base


def test_same_distribution_stays_quiet() -> None:
    rng = np.random.default_rng(1)
    monitor = EmbeddingMonitor()
    events = monitor.update_many(_vectors(rng, 1000 + 20 * 200).tolist())
    assert len(events) == 20
    assert sum(e.flagged for e in events) <= 1
    assert not monitor.detected
    assert monitor.reference is not None
    assert monitor.reference.shape == (1000, 64)  # projected: memory bounded by reference_size x dims


def test_centroid_shift_is_detected() -> None:
    rng = np.random.default_rng(2)
    monitor = EmbeddingMonitor()
    monitor.update_many(_vectors(rng, 1000).tolist())
    events = monitor.update_many(_vectors(rng, 400, shift=0.5).tolist())
    assert [e.flagged for e in events] == [True, True]
    assert events[0].scores[names.DRIFT_METHOD_CENTROID] > events[0].threshold
    assert monitor.detected


def test_spread_change_at_equal_mean_is_caught_by_mmd() -> None:
    rng = np.random.default_rng(3)
    monitor = EmbeddingMonitor()
    monitor.update_many(_vectors(rng, 1000).tolist())
    events = monitor.update_many(_vectors(rng, 400, spread=1.3).tolist())
    assert all(e.flagged for e in events)
    assert all(e.scores[names.DRIFT_METHOD_MMD] > 1 - 0.005 for e in events)   # p < alpha / 2


def test_mmd_is_zero_in_expectation_and_positive_for_different_samples() -> None:
    rng = np.random.default_rng(4)
    x, y, z = rng.normal(size=(200, 5)), rng.normal(size=(200, 5)), rng.normal(loc=1.0, size=(200, 5))

    def mmd(a: np.ndarray, b: np.ndarray) -> float:
        pooled = np.concatenate([a, b])
        d2 = ((pooled[:, None, :] - pooled[None, :, :]) ** 2).sum(-1)
        return mmd2_unbiased(np.exp(-d2 / np.median(d2[np.triu_indices(len(pooled), 1)])), len(a))

    assert abs(mmd(x, y)) < 0.01
    assert mmd(x, z) > 0.1


def test_vectors_of_another_width_are_counted_not_mixed_and_state_round_trips() -> None:
    rng = np.random.default_rng(5)
    settings = EmbeddingSettings(reference_size=300, window=100)
    monitor = EmbeddingMonitor(settings)
    monitor.update_many([*_vectors(rng, 350).tolist(), [0.0, 1.0]])
    assert monitor.mismatched == 1
    restored = EmbeddingMonitor.from_state(json.loads(json.dumps(monitor.to_state())), settings)
    later = _vectors(rng, 250, shift=0.6).tolist()
    got = [(e.flagged, round(e.score, 12)) for e in restored.update_many(later)]
    want = [(e.flagged, round(e.score, 12)) for e in monitor.update_many(later)]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want])
    assert [g[0] for g in got] == [w[0] for w in want]
    assert len(got) == 3  # 50 vectors were waiting in the window before the round trip
    assert got[1][0]
    assert got[2][0]


def test_engine_tracks_prompt_embeddings_carried_on_llm_spans() -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from driftline.processors.analysis.engine import DriftEngine
    from driftline.processors.analysis.signals import FAMILY_LLM, ModelKey, SignalKey

    rng = np.random.default_rng(6)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({names.SERVICE_NAME: "chat"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    vectors = np.concatenate([_vectors(rng, 300)[:, :32], _vectors(rng, 200, shift=1.0)[:, :32]])
    for vector in vectors:
        span = tracer.start_span("chat gpt-4o", attributes={
            names.GEN_AI_OPERATION_NAME: names.OPERATION_CHAT, names.GEN_AI_REQUEST_MODEL: "gpt-4o",
            names.DRIFTLINE_EMBEDDING: vector.tolist()})
        span.end()
    engine = DriftEngine(embeddings=EmbeddingSettings(reference_size=200, window=100))
    events = engine.observe(encode_spans(exporter.get_finished_spans()).resource_spans)
    key = SignalKey(ModelKey("chat", "gpt-4o", "", FAMILY_LLM), names.DRIFTLINE_EMBEDDING)
    flags = [e.flagged for k, e in events if k == key]
    assert flags[:1] == [False]      # window 300..400 is the reference's distribution
    assert flags[-2:] == [True, True]
    assert engine.drifted(key.model) == [names.DRIFTLINE_EMBEDDING]
    readings = {r.method: r for r in engine.readings() if r.key == key}
    assert readings[names.DRIFT_METHOD_CENTROID].detected
