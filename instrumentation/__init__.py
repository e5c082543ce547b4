"""Driftline instrumentation: OpenTelemetry spans and metrics for AI libraries.

Provider instrumentors live in sub-packages (``driftline.instrumentation.openai``,
``driftline.instrumentation.anthropic``); this package exposes the pieces every user touches:
:func:`span_attributes`, and the ``@tool`` / ``@agent`` / ``@workflow`` decorators with their
:class:`tool_call` / :func:`set_tool_call_id` helpers (``driftline.instrumentation.agents``).
Exports are resolved lazily (PEP 562) so that zero-code activation, which imports
``driftline.instrumentation.auto`` at interpreter start, does not pay for them.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs ~10 ms at interpreter start
if TYPE_CHECKING:
    from driftline.instrumentation._core.scoped import span_attributes
    from driftline.instrumentation.agents import agent, set_tool_call_id, tool, tool_call, workflow

__all__ = ["agent", "set_tool_call_id", "span_attributes", "tool", "tool_call", "workflow"]

_AGENTS = frozenset({"agent", "set_tool_call_id", "tool", "tool_call", "workflow"})


def __getattr__(name: str) -> object:
    if name == "span_attributes":
        from driftline.instrumentation._core.scoped import span_attributes

        return span_attributes
    if name in _AGENTS:
        from driftline.instrumentation import agents

        return getattr(agents, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
