"""Per-call overhead of driftline's scikit-learn prediction spans and of the ``@tool`` decorator.

``python -m tests.benchmarks.run --ml`` measures it (:mod:`.run_ml` starts :mod:`.worker` in its
own process) and splices the section rendered by :mod:`.section` into ``docs/performance.md``;
the full ``make bench`` run includes it. :mod:`.floor` is the hand-written comparison.
"""
