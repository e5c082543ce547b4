"""Driftline instrumentation: OpenTelemetry spans and metrics for AI libraries.

Provider instrumentors live in sub-packages (``driftline.instrumentation.openai``,
``driftline.instrumentation.anthropic``); this package exposes the pieces every user touches.
Exports are resolved lazily (PEP 562) so that zero-code activation, which imports
``driftline.instrumentation.auto`` at interpreter start, does not pay for them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~10 ms at interpreter start
if TYPE_CHECKING:
    from driftline.instrumentation._core.scoped import span_attributes

__all__ = ["span_attributes"]


def __getattr__(name: str) -> object:
    if name == "span_attributes":
        from driftline.instrumentation._core.scoped import span_attributes

        return span_attributes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
