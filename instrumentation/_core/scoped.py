"""Custom span attributes: scoped (context manager) and static (``DRIFTLINE_SPAN_ATTRIBUTES``).

Scoped attributes live in a :class:`contextvars.ContextVar`, so they follow the code that set
them across ``await`` and into tasks created inside the block (asyncio copies the context), and
never leak between threads or concurrent tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry.util.types import AttributeValue

_log = logging.getLogger("driftline.instrumentation")

_EMPTY: Mapping[str, AttributeValue] = MappingProxyType({})
_SCOPED: ContextVar[Mapping[str, AttributeValue]] = ContextVar("driftline_span_attributes", default=_EMPTY)

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

    __slots__ = ("_attrs", "_tokens")

    def __init__(self, attributes: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        merged: dict[Any, Any] = dict(attributes) if attributes else {}
        merged.update(kwargs)
        self._attrs = clean_attributes(merged)
        self._tokens: list[Token[Mapping[str, AttributeValue]]] = []

    @property
    def attributes(self) -> Mapping[str, AttributeValue]:
        """The validated attributes this block adds."""
        return MappingProxyType(self._attrs)

    def __enter__(self) -> span_attributes:
        parent = _SCOPED.get()
        combined = {**parent, **self._attrs} if parent else dict(self._attrs)
        self._tokens.append(_SCOPED.set(MappingProxyType(combined)))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _SCOPED.reset(self._tokens.pop())

    async def __aenter__(self) -> span_attributes:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def current_scoped_attributes() -> Mapping[str, AttributeValue]:
    """The scoped attributes in effect here (empty mapping when none)."""
    return _SCOPED.get()
