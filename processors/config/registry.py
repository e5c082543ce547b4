"""Which component types exist, which signals each handles, and how each reads its settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from driftline.processors.config._reader import Section
from driftline.processors.config.model import Signal

_C = TypeVar("_C", covariant=True)


@dataclass(frozen=True)
class ComponentType(Generic[_C]):
    """One component type: its settings reader and the pipeline signals it supports."""

    read: Callable[[Section], _C]
    signals: tuple[Signal, ...] = ("traces", "metrics")
