"""Benchmarks: driftline's per-call overhead against a hand-written floor and peer instrumentations,
and the start-up cost of zero-code activation. Entry point: ``python -m tests.benchmarks.run``
(``make bench``), which writes ``docs/performance.md``.

Modules here that run inside the peers' virtualenvs (:mod:`.harness`, :mod:`.worker`) import only
the standard library, ``openai`` and the OpenTelemetry SDK at module level.
"""
