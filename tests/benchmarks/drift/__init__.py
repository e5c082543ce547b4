"""Drift-detection benchmark: driftline's :class:`~driftline.processors.analysis.monitor.SignalMonitor` against
River's ADWIN and Evidently's data drift test on seeded synthetic streams.

Entry points: ``python -m tests.benchmarks.run --drift`` (writes the "Drift detection" section of
``docs/performance.md``) or ``python -m tests.benchmarks.drift.run_drift``. :mod:`.streams` and the peer
runners under :mod:`.peers` import only the standard library, numpy and the peer's own package: they run
inside the peers' virtualenvs.
"""
