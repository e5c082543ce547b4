"""The typed record a provider mapping fills in: one per GenAI client call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue


@dataclass(slots=True, eq=False)
class LLMInvocation:
    """What one call asked for and what came back, in provider-neutral terms.

    Request fields are filled before the span starts (the conventions want them at start, for
    sampling decisions); response fields after. Content fields (``input_messages`` ...) are only
    filled when the content policy captures content, so they cost nothing by default.
    """

    operation: str
    provider: str
    request_model: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    stream: bool = False
    request_attributes: dict[str, AttributeValue] = field(default_factory=dict)

    # content (opt-in), already in the conventions' message schema
    input_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    tool_definitions: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None

    # response
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    tool_call_count: int | None = None
    output_length: int | None = None
    response_attributes: dict[str, AttributeValue] = field(default_factory=dict)

    # streams
    time_to_first_chunk: float | None = None
    chunk_count: int = 0
    stream_end_reason: str | None = None

    # life cycle (set by the recorder)
    span: Span | None = None
    context: Context | None = None
    start_perf: float = 0.0
    ended: bool = False
