"""Typed reading of one mapping of settings, collecting problems instead of stopping at the first.

Every reader takes the key and its default, records a problem (path, value, fix) when the value
is wrong, and returns the default so reading can go on. ``finish()`` then reports the keys nobody
read: unknown keys are errors, with the closest known key suggested.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from typing import TypeVar

from driftline.processors.config._path import join, show
from driftline.processors.config._report import Report
from driftline.processors.config.durations import EXAMPLES, nanoseconds_to_seconds, parse_duration
from driftline.processors.config.expand import EnvValue

_T = TypeVar("_T", bound=str)


def typed(value: object) -> object:
    """The value as a number/boolean setting sees it (a whole ``${env:...}`` reads as YAML)."""
    return value.typed if isinstance(value, EnvValue) else value


class Section:
    """The settings mapping at ``path``; remembers which keys were read."""

    def __init__(self, data: Mapping[object, object], path: str, report: Report) -> None:
        self.path = path
        self.report = report
        self._data: dict[str, object] = {}
        for key, value in data.items():
            if isinstance(key, str):
                self._data[key] = value
            else:
                report.problem(join(path, show(key)), "keys must be strings; quote it")
        self._read: list[str] = []

    @classmethod
    def of(cls, value: object, path: str, report: Report, what: str = "settings") -> Section | None:
        """A section for ``value`` if it is a mapping (``null`` reads as empty), else a problem and None."""
        value = typed(value)
        if value is None:
            return cls({}, path, report)
        if isinstance(value, dict):
            return cls(value, path, report)
        report.problem(path, f"expected a mapping of {what}, got {show(value)}")
        return None

    # --- keys ----------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every key present, in file order (reading them is the caller's business)."""
        return list(self._data)

    def has(self, key: str) -> bool:
        """True when ``key`` is present (even as ``null``); marks it read."""
        self._mark(key)
        return key in self._data

    def raw(self, key: str) -> object:
        """The value of ``key`` as written (``None`` when absent); marks it read."""
        self._mark(key)
        return self._data.get(key)

    def key_path(self, key: str) -> str:
        """The dotted path of ``key`` in this section."""
        return join(self.path, key)

    def missing(self, key: str, fix: str) -> None:
        """Report a required ``key`` that is absent."""
        self.report.problem(self.key_path(key), f"missing; {fix}")

    # --- scalar readers ------------------------------------------------------------------------

    def text(self, key: str, default: str | None = None) -> str | None:
        """A string setting; numbers and booleans are not silently turned into strings."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, str):
            return str(value)
        self._wrong(key, value, "is not a string; put it in quotes if it is meant as text")
        return default

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        """A whole-number setting (counts, sizes in bytes or MiB)."""
        value = typed(self.raw(key))
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._wrong(key, value, "is not a whole number; use e.g. 1000")
            return default
        if minimum is not None and value < minimum:
            self.report.problem(self.key_path(key), f"must be at least {minimum} (got {value})")
            return default
        return value

    def number(self, key: str, default: float, *, minimum: float | None = None,
               maximum: float | None = None) -> float:
        """A decimal setting (factors, ratios)."""
        value = typed(self.raw(key))
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._wrong(key, value, "is not a number; use e.g. 1.5")
            return default
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = (f"between {minimum:g} and {maximum:g}" if minimum is not None and maximum is not None
                      else f"at least {minimum:g}" if minimum is not None else f"at most {maximum:g}")
            self.report.problem(self.key_path(key), f"must be {bounds} (got {value:g})")
            return default
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """A boolean setting."""
        value = typed(self.raw(key))
        if value is None:
            return default
        if not isinstance(value, bool):
            self._wrong(key, value, "is not a boolean; use true or false")
            return default
        return value

    def duration(self, key: str, default: float, *, positive: bool = False) -> float:
        """A duration in seconds, written the Collector's way (see :mod:`.durations`)."""
        raw = self.raw(key)
        value = typed(raw)
        if value is None:
            return default
        fix = f"is not a duration; use e.g. {EXAMPLES}"
        try:
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise ValueError
            if isinstance(value, int):
                seconds = nanoseconds_to_seconds(value)
                if value:
                    self.report.warn(self.key_path(key),
                                     f"{value} has no unit, so it is read as {value} nanoseconds (as the "
                                     f"Collector does); write {value}s for seconds or {value}ms for milliseconds")
            else:
                seconds = parse_duration(value)
        except ValueError:
            self._wrong(key, raw if isinstance(raw, str) else value, fix)
            return default
        if seconds < 0 or (positive and seconds == 0):
            self.report.problem(self.key_path(key),
                                f"must be {'greater than zero' if positive else 'zero or more'} (got {show(raw)})")
            return default
        return seconds

    def choice(self, key: str, default: _T, choices: tuple[_T, ...]) -> _T:
        """One of a fixed set of words."""
        value = self.raw(key)
        if value is None:
            return default
        for option in choices:
            if value == option:
                return option
        self._wrong(key, value, f"is not supported; use {_one_of(choices)}")
        return default

    def file(self, key: str) -> str | None:
        """The path of a file that must exist now (certificates, keys, CAs)."""
        path = self.text(key)
        if path is None:
            return None
        if not path:
            self.report.problem(self.key_path(key), "is empty; give the path of the file or remove the key")
        elif not os.path.isfile(path):
            where = "" if os.path.isabs(path) else f" (relative to the working directory {os.getcwd()})"
            self.report.problem(self.key_path(key), f"file {show(path)} does not exist{where}; fix the path")
        return path

    # --- structured readers --------------------------------------------------------------------

    def section(self, key: str, what: str = "settings") -> Section | None:
        """The nested mapping at ``key``: None when absent, empty when ``null``."""
        if not self.has(key):
            return None
        return Section.of(self._data[key], self.key_path(key), self.report, what)

    def strings(self, key: str, what: str = "names to values") -> dict[str, str]:
        """A mapping of strings to strings (headers, labels)."""
        sub = self.section(key, what)
        if sub is None:
            return {}
        result: dict[str, str] = {}
        for name in sub.names():
            text = sub.text(name)
            if text is not None:
                result[name] = text
        return result

    # --- the end -------------------------------------------------------------------------------

    def finish(self, unsupported: Iterable[str] = (), hints: Mapping[str, str] | None = None) -> None:
        """Report every key that was never read.

        ``unsupported`` are Collector keys driftline knows but does not implement; ``hints`` maps a
        key to a specific fix. Anything else is unknown, with the closest known key suggested.
        """
        unsupported = set(unsupported)
        hints = hints or {}
        known = [key for key in dict.fromkeys(self._read) if key not in hints]
        for key in self._data:
            if key in self._read:
                continue
            where = self.key_path(key)
            if key in hints:
                self.report.problem(where, hints[key])
            elif key in unsupported:
                self.report.problem(where, "is a Collector setting driftline does not support; remove it")
            else:
                close = difflib.get_close_matches(key, known, n=1)
                suggestion = f"did you mean {close[0]}? " if close else ""
                self.report.problem(where, f"unknown key; {suggestion}known keys here: {', '.join(known)}")

    def _mark(self, key: str) -> None:
        if key not in self._read:
            self._read.append(key)

    def _wrong(self, key: str, value: object, message: str) -> None:
        self.report.problem(self.key_path(key), f"{show(value)} {message}")


def _one_of(choices: Iterable[str]) -> str:
    options = list(choices)
    return " or ".join(options) if len(options) <= 2 else f"one of {', '.join(options)}"
