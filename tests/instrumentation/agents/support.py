"""Readers over the agent, tool and workflow spans the ``telemetry`` fixture captured.

Not a ``test_*`` module on purpose: it holds no tests, only what several of them share.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace import ReadableSpan

from driftline.instrumentation.agents import SCOPE_NAME

if TYPE_CHECKING:
    from tests.conftest import Telemetry

CONTENT_ON = {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY"}
"""``telemetry(**CONTENT_ON)`` captures content on spans."""


def agent_spans(tel: Telemetry) -> list[ReadableSpan]:
    """Spans of the decorators' scope, in end order."""
    return [s for s in tel.spans() if s.instrumentation_scope and s.instrumentation_scope.name == SCOPE_NAME]


def only_agent_span(tel: Telemetry) -> ReadableSpan:
    """The one decorator span of the test (fails unless there is exactly one span in all)."""
    span = tel.only_span()
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == SCOPE_NAME
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict."""
    return dict(span.attributes or {})


def decoded(span: ReadableSpan, key: str) -> Any:
    """A JSON content attribute, decoded."""
    raw = attrs(span)[key]
    assert isinstance(raw, str)
    return json.loads(raw)


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent (None for a root)."""
    return int(span.parent.span_id) if span.parent is not None else None


def span_id(span: ReadableSpan) -> int:
    """``span``'s own id."""
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    """``span``'s trace id."""
    assert span.context is not None
    return int(span.context.trace_id)
