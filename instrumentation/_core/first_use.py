"""Callables to run once, when driftline starts its first span.

Kept in a module with no imports so zero-code activation can register here at interpreter start
without importing the recorder (or OpenTelemetry) before the application needs them.
"""

from __future__ import annotations

from collections.abc import Callable

hooks: list[Callable[[], None]] = []
"""Run (and cleared) by the recorder on the first span; auto-activation configures the SDK here."""


def run_hooks() -> None:
    """Run and forget the registered hooks, in order."""
    pending = list(hooks)
    hooks.clear()
    for hook in pending:
        hook()
