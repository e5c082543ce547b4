"""Mapping for the OpenAI Responses API (``responses.create``, plain and streamed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.reading import raw_response_body
from driftline.semconv import names

from ._common import (
    field,
    output_type,
    parse_arguments,
    sampling_attributes,
    server_of,
    text_parts,
)

_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Responses ``input`` (string or list of items) in the conventions' input-messages schema."""
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[dict[str, Any]] = []
    for item in value or ():
        kind = field(item, "type")
        if kind == "function_call_output":
            out.append({"role": "tool", "parts": [{"type": "tool_call_response", "id": field(item, "call_id"),
                                                   "response": field(item, "output")}]})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [{
                "type": "tool_call", "id": field(item, "call_id"), "name": field(item, "name"),
                "arguments": parse_arguments(field(item, "arguments"))}]})
        elif kind in (None, "message"):
            role = field(item, "role") or "user"
            out.append({"role": "system" if role == "developer" else role,
                        "parts": text_parts(field(item, "content"))})
    return out


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Responses ``tools`` (flat function definitions or built-in tools)."""
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        kind = field(tool, "type") or "unknown"
        entry: dict[str, Any] = {"type": kind}
        if field(tool, "name"):
            entry["name"] = field(tool, "name")
        if field(tool, "description"):
            entry["description"] = field(tool, "description")
        if field(tool, "parameters") is not None:
            entry["parameters"] = field(tool, "parameters")
        out.append(entry)
    return out


def apply_response(inv: LLMInvocation, response: Any, capture: bool) -> None:
    """Fill response fields from a ``Response`` object (also used for terminal stream events)."""
    inv.response_id = field(response, "id") or inv.response_id
    inv.response_model = field(response, "model") or inv.response_model
    usage = field(response, "usage")
    if usage is not None:
        if isinstance(field(usage, "input_tokens"), int):
            inv.input_tokens = field(usage, "input_tokens")
        if isinstance(field(usage, "output_tokens"), int):
            inv.output_tokens = field(usage, "output_tokens")
        cached = field(field(usage, "input_tokens_details"), "cached_tokens")
        if isinstance(cached, int):
            inv.cache_read_tokens = cached
        reasoning = field(field(usage, "output_tokens_details"), "reasoning_tokens")
        if isinstance(reasoning, int) and reasoning:
            inv.reasoning_tokens = reasoning
    parts: list[dict[str, Any]] = []
    tool_calls = 0
    length = 0
    for item in field(response, "output") or ():
        kind = field(item, "type")
        if kind == "message":
            for content in field(item, "content") or ():
                ctype = field(content, "type")
                text = field(content, "text") if ctype == "output_text" else field(content, "refusal")
                if isinstance(text, str):
                    length += len(text)
                    if capture:
                        parts.append({"type": "text", "content": text})
        elif kind == "function_call":
            tool_calls += 1
            if capture:
                parts.append({"type": "tool_call", "id": field(item, "call_id"), "name": field(item, "name"),
                              "arguments": parse_arguments(field(item, "arguments"))})
    status = field(response, "status")
    if status == "incomplete":
        reason = field(field(response, "incomplete_details"), "reason")
        finish = "length" if reason in (None, "max_output_tokens") else str(reason)
    elif status == "failed":
        finish = "error"
    else:
        finish = "tool_calls" if tool_calls else "stop"
    inv.finish_reasons = [finish]
    inv.tool_call_count = tool_calls
    inv.output_length = length
    if capture:
        inv.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": finish}]


class ResponsesMapping:
    """Responses API request/response/stream translation."""

    name = "openai.responses"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                capture: bool) -> LLMInvocation | None:
        """Build the invocation from ``responses.create(**kwargs)``."""
        host, port = server_of(instance)
        model = kwargs.get("model")
        attrs = sampling_attributes(kwargs, max_tokens_keys=("max_output_tokens",))
        text = kwargs.get("text")
        out_type = output_type(field(text, "format")) if text is not None else None
        if out_type:
            attrs[names.GEN_AI_OUTPUT_TYPE] = out_type
        conversation = kwargs.get("conversation")
        conversation_id = conversation if isinstance(conversation, str) else field(conversation, "id")
        if isinstance(conversation_id, str):
            attrs[names.GEN_AI_CONVERSATION_ID] = conversation_id
        stream = kwargs.get("stream") is True
        if stream:
            attrs[names.GEN_AI_REQUEST_STREAM] = True
        inv = LLMInvocation(operation=names.OPERATION_CHAT, provider=names.PROVIDER_OPENAI,
                            request_model=model if isinstance(model, str) else None,
                            server_address=host, server_port=port, stream=stream, request_attributes=attrs)
        if capture:
            inv.input_messages = input_messages(kwargs.get("input"))
            instructions = kwargs.get("instructions")
            if isinstance(instructions, str) and instructions:
                inv.system_instructions = [{"type": "text", "content": instructions}]
            tools = kwargs.get("tools")
            if isinstance(tools, (list, tuple)) and tools:
                inv.tool_definitions = tool_definitions(tools)
        return inv

    def response(self, inv: LLMInvocation, result: Any, capture: bool) -> None:
        """Fill response fields from a ``Response``."""
        apply_response(inv, raw_response_body(result, inv.stream), capture)

    def is_stream(self, result: Any) -> bool:
        """Streams of Responses events."""
        return hasattr(result, "__next__") or hasattr(result, "__anext__")

    def accumulator(self, inv: LLMInvocation, capture: bool) -> ResponsesStreamAccumulator:
        """Accumulator for Responses event streams."""
        return ResponsesStreamAccumulator(inv, capture)


class ResponsesStreamAccumulator:
    """The terminal event carries the whole response; deltas only count output length until then."""

    __slots__ = ("_capture", "_done", "_inv", "_length", "_text")

    def __init__(self, inv: LLMInvocation, capture: bool) -> None:
        self._inv = inv
        self._capture = capture
        self._done = False
        self._length = 0
        self._text: list[str] = []

    def on_chunk(self, event: Any) -> None:
        """Hot path: one call per streamed event."""
        kind = field(event, "type")
        if kind == "response.output_text.delta":
            delta = field(event, "delta") or ""
            self._length += len(delta)
            if self._capture:
                self._text.append(delta)
        elif kind in _TERMINAL_EVENTS:
            apply_response(self._inv, field(event, "response"), self._capture)
            self._done = True
        elif kind == "response.created":
            response = field(event, "response")
            self._inv.response_id = field(response, "id")
            self._inv.response_model = field(response, "model")

    def finish(self) -> None:
        """If the stream ended before a terminal event, keep what the deltas told."""
        if self._done:
            return
        inv = self._inv
        inv.output_length = self._length
        if self._capture and self._text:
            inv.output_messages = [{"role": "assistant", "parts": [{"type": "text", "content": "".join(self._text)}],
                                    "finish_reason": "error"}]
