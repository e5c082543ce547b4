"""Fault isolation: driftline's own errors are logged once per step, counted, and swallowed.

The application's exceptions are never caught here; only exceptions raised by driftline's own
recording code pass through :func:`report_fault`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

_log = logging.getLogger("driftline.instrumentation")
_lock = threading.Lock()
_reported: set[str] = set()
_counts: dict[str, int] = {}
_listeners: list[Callable[[str], None]] = []


def report_fault(step: str) -> None:
    """Record that internal step ``step`` raised; call from inside an ``except`` block.

    Logs the traceback the first time a step fails (later failures of the same step are only
    counted, so a broken mapping cannot flood the application's logs) and notifies listeners
    (the metrics module counts them as ``driftline.instrumentation.errors``).
    """
    with _lock:
        _counts[step] = _counts.get(step, 0) + 1
        first = step not in _reported
        _reported.add(step)
    if first:
        _log.warning("driftline: internal error in %s (recording skipped, application unaffected)",
                     step, exc_info=True)
    for listener in list(_listeners):
        try:
            listener(step)
        except Exception:  # pragma: no cover - a listener must never break the caller
            pass


def fault_counts() -> dict[str, int]:
    """A snapshot of internal fault counts per step (for tests and diagnostics)."""
    with _lock:
        return dict(_counts)


def reset_faults() -> None:
    """Forget counted faults and which steps were already logged."""
    with _lock:
        _counts.clear()
        _reported.clear()


def add_fault_listener(listener: Callable[[str], None]) -> None:
    """Call ``listener(step)`` on every reported fault."""
    _listeners.append(listener)
