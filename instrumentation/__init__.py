"""Driftline instrumentation: OpenTelemetry spans and metrics for AI libraries.

Provider instrumentors live in sub-packages (``driftline.instrumentation.openai``,
``driftline.instrumentation.anthropic``); this package exposes the pieces every user touches.
"""

from driftline.instrumentation._core.scoped import span_attributes

__all__ = ["span_attributes"]
