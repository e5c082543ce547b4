"""Custom span attributes: scoped (context manager) and static (``DRIFTLINE_SPAN_ATTRIBUTES``).

Scoped attributes live in a :class:`contextvars.ContextVar`, so they follow the code that set
them across ``await`` and into tasks created inside the block (asyncio copies the context), and
never leak between threads or concurrent tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry.util.types import AttributeValue

_log = logging.getLogger("driftline.instrumentation")

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class _Frame:
    """One entered block: the attributes in effect inside it, the frame it was entered in, and
    the :class:`span_attributes` object that entered it."""

    attributes: Mapping[str, AttributeValue]
    parent: _Frame | None
    owner: object


# The frames form a per-context stack. A block's exit pops *its own* frame from the stack of the
# context it exits in, instead of resetting a Token: Tokens kept on the object would tie one
# span_attributes instance to one context, and an instance shared by threads or concurrent tasks
# (a module-level ``SEARCH = span_attributes(team="search")``) would raise "Token was created in a
# different Context" into the application on exit.
_SCOPED: ContextVar[_Frame | None] = ContextVar("driftline_span_attributes", default=None)

_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()

_PRIMITIVES = (str, bool, int, float)


def _warn_once(key: str, reason: str) -> None:
    with _warned_lock:
        if (key, reason) in _warned:
            return
        _warned.add((key, reason))
    _log.warning("driftline: span attribute %r ignored: %s", key, reason)


def _coerce(key: Any, value: Any) -> AttributeValue | None:
    """Return an OTel-valid attribute value, or None (after a one-time warning) if there is none."""
    if not isinstance(key, str) or not key.strip():
        _warn_once(repr(key), "keys must be non-empty strings")
        return None
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        items = list(value)
        if not items:
            return tuple[str, ...]()
        kind = type(items[0])
        if kind in _PRIMITIVES and all(type(v) is kind for v in items):
            return tuple(items)
        _warn_once(key, "sequences must hold values of one primitive type (str, bool, int or float)")
        return None
    _warn_once(key, f"values must be str, bool, int, float or a homogeneous sequence of them, "
                    f"not {type(value).__name__}")
    return None


def clean_attributes(attrs: Mapping[Any, Any]) -> dict[str, AttributeValue]:
    """Keep only valid attributes from ``attrs``; invalid ones are warned about once, never raised."""
    out: dict[str, AttributeValue] = {}
    for key, value in attrs.items():
        coerced = _coerce(key, value)
        if coerced is not None:
            out[key] = coerced
    return out


class span_attributes:
    """Attach attributes to every span driftline creates inside this block.

    >>> with span_attributes(tenant="acme", tier="gold"):
    ...     client.chat.completions.create(...)   # span carries tenant and tier

    Accepts a mapping, keyword arguments, or both (keywords win). Blocks nest: inner values
    override outer ones for the same key. Works with ``with`` and ``async with``, across threads
    and asyncio tasks. Invalid keys or values are dropped with a one-time warning.
    """

    __slots__ = ("_attrs",)

    def __init__(self, attributes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged: dict[Any, Any] = dict(attributes) if attributes else {}
        merged.update(kwargs)
        self._attrs = clean_attributes(merged)

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """The validated attributes this block adds."""
        return MappingProxyType(self._attrs)

    def __enter__(self) -> span_attributes:
        parent = _SCOPED.get()
        combined = {**parent.attributes, **self._attrs} if parent else dict(self._attrs)
        _SCOPED.set(_Frame(MappingProxyType(combined), parent, self))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        frame = _SCOPED.get()
        while frame is not None and frame.owner is not self:
            frame = frame.parent
        if frame is not None:
            # Back to what was in effect when this block was entered (as ContextVar.reset would,
            # also for blocks exited out of order). Not entered in this context: nothing to undo.
            _SCOPED.set(frame.parent)

    async def __aenter__(self) -> span_attributes:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def current_scoped_attributes() -> Mapping[str, AttributeValue]:
    """The scoped attributes in effect here (empty mapping when none)."""
    # Hot path: one ContextVar read per span.
    frame = _SCOPED.get()
    return frame.attributes if frame is not None else _EMPTY
