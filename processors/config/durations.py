"""Durations in the Collector's (Go's) form: ``200ms``, ``5s``, ``1m30s``, ``1.5h``.

The Collector decodes a duration with Go's ``time.ParseDuration``: a sequence of decimal numbers,
each with an optional fraction and a unit (``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``),
optionally signed; ``0`` needs no unit. A bare YAML *integer* is not a string, so it skips that
parser and becomes a ``time.Duration`` directly: a count of **nanoseconds** (``timeout: 5`` is 5 ns).
Driftline does the same for compatibility, and the loader adds a warning so nobody gets 5 ns by
accident. Values are returned in seconds (float), computed from whole nanoseconds as Go does.

Reference: https://pkg.go.dev/time#ParseDuration
"""

from __future__ import annotations

import re
from decimal import Decimal

_NS_PER_UNIT = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign, as Go accepts
    "\u03bcs": 1_000,  # Greek small letter mu, as Go accepts
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TERM = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")
_MAX_NS = 2**63 - 1  # Go's time.Duration is an int64 count of nanoseconds

EXAMPLES = "200ms, 5s, 1m"
"""Shown in error messages as the forms to use."""


def parse_duration(text: str) -> float:
    """Parse a Go duration string into seconds; raise ``ValueError`` if it is not one."""
    body = text
    sign = 1
    if body[:1] in ("+", "-"):
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise ValueError(f"{text!r} is not a duration")
    nanoseconds = Decimal(0)
    position = 0
    while position < len(body):
        term = _TERM.match(body, position)
        if term is None:
            raise ValueError(f"{text!r} is not a duration")
        nanoseconds += Decimal(term.group(1)) * _NS_PER_UNIT[term.group(2)]
        position = term.end()
    whole = int(nanoseconds)  # Go truncates fractions of a nanosecond
    if whole > _MAX_NS:
        raise ValueError(f"{text!r} is longer than the longest duration (about 292 years)")
    return sign * whole / 1e9


def nanoseconds_to_seconds(value: int) -> float:
    """Seconds for a bare integer duration, which the Collector reads as nanoseconds."""
    if abs(value) > _MAX_NS:
        raise ValueError(f"{value} nanoseconds is longer than the longest duration")
    return value / 1e9
