"""Mapping for OpenAI Chat Completions (``chat.completions.create`` / ``.parse``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.reading import as_attributes, raw_response_body
from driftline.semconv import names

from ._common import (
    field,
    output_type,
    parse_arguments,
    sampling_attributes,
    server_of,
    text_parts,
)


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Chat history in the conventions' input-messages schema."""
    out: list[dict[str, Any]] = []
    for msg in messages or ():
        role = field(msg, "role") or "user"
        if role == "tool":
            out.append({"role": "tool", "parts": [{
                "type": "tool_call_response", "id": field(msg, "tool_call_id"),
                "response": _flatten(field(msg, "content"))}]})
            continue
        parts = text_parts(field(msg, "content"))
        for call in field(msg, "tool_calls") or ():
            fn = field(call, "function")
            parts.append({"type": "tool_call", "id": field(call, "id"), "name": field(fn, "name"),
                          "arguments": parse_arguments(field(fn, "arguments"))})
        entry: dict[str, Any] = {"role": "system" if role == "developer" else role, "parts": parts}
        name = field(msg, "name")
        if name:
            entry["name"] = name
        out.append(entry)
    return out


def _flatten(content: Any) -> Any:
    if isinstance(content, (list, tuple)):
        return "".join(str(field(p, "text") or "") for p in content)
    return content


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """``tools`` in the conventions' definition schema."""
    out: list[dict[str, Any]] = []
    for tool in tools or ():
        fn = field(tool, "function")
        if fn is not None:
            out.append({"type": "function", "name": field(fn, "name"),
                        "description": field(fn, "description"), "parameters": field(fn, "parameters")})
        else:
            out.append({"type": field(tool, "type") or "unknown", "name": field(tool, "name")})
    return out


def apply_usage(inv: LLMInvocation, usage: Any) -> None:
    """Copy Chat Completions ``usage`` into the invocation."""
    if usage is None:
        return
    prompt = field(usage, "prompt_tokens")
    completion = field(usage, "completion_tokens")
    if isinstance(prompt, int):
        inv.input_tokens = prompt
    if isinstance(completion, int):
        inv.output_tokens = completion
    cached = field(field(usage, "prompt_tokens_details"), "cached_tokens")
    if isinstance(cached, int):
        inv.cache_read_tokens = cached
    reasoning = field(field(usage, "completion_tokens_details"), "reasoning_tokens")
    if isinstance(reasoning, int) and reasoning:
        inv.reasoning_tokens = reasoning


class ChatMapping:
    """Chat Completions request/response/stream translation."""

    name = "openai.chat"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                capture: bool) -> LLMInvocation | None:
        """Build the invocation from ``create(**kwargs)``."""
        host, port = server_of(instance)
        model = kwargs.get("model")
        attrs = sampling_attributes(kwargs, max_tokens_keys=("max_completion_tokens", "max_tokens"))
        n = kwargs.get("n")
        if isinstance(n, int) and n != 1:
            attrs[names.GEN_AI_REQUEST_CHOICE_COUNT] = n
        out_type = output_type(kwargs.get("response_format"))
        if out_type:
            attrs[names.GEN_AI_OUTPUT_TYPE] = out_type
        stream = kwargs.get("stream") is True
        if stream:
            attrs[names.GEN_AI_REQUEST_STREAM] = True
        inv = LLMInvocation(operation=names.OPERATION_CHAT, provider=names.PROVIDER_OPENAI,
                            request_model=model if isinstance(model, str) else None,
                            server_address=host, server_port=port, stream=stream, request_attributes=attrs)
        if capture:
            inv.input_messages = input_messages(kwargs.get("messages"))
            tools = kwargs.get("tools")
            if isinstance(tools, (list, tuple)) and tools:
                inv.tool_definitions = tool_definitions(tools)
        return inv

    def response(self, inv: LLMInvocation, result: Any, capture: bool) -> None:
        """Fill response fields from a ``ChatCompletion``."""
        result = raw_response_body(result, inv.stream)
        inv.response_id = field(result, "id")
        inv.response_model = field(result, "model")
        apply_usage(inv, field(result, "usage"))
        choices = field(result, "choices")
        if not choices:
            return
        reasons: list[str] = []
        tool_calls = 0
        length = 0
        outputs: list[dict[str, Any]] = []
        for choice in choices:
            reason = field(choice, "finish_reason") or "error"
            reasons.append(str(reason))
            message = field(choice, "message")
            content = field(message, "content")
            calls = field(message, "tool_calls") or ()
            tool_calls += len(calls)
            if isinstance(content, str):
                length += len(content)
            if capture:
                parts = text_parts(content)
                refusal = field(message, "refusal")
                if refusal:
                    parts.append({"type": "text", "content": refusal})
                for call in calls:
                    fn = field(call, "function")
                    parts.append({"type": "tool_call", "id": field(call, "id"), "name": field(fn, "name"),
                                  "arguments": parse_arguments(field(fn, "arguments"))})
                outputs.append({"role": "assistant", "parts": parts, "finish_reason": str(reason)})
        inv.finish_reasons = reasons
        inv.tool_call_count = tool_calls
        inv.output_length = length
        if capture:
            inv.output_messages = outputs

    def is_stream(self, result: Any) -> bool:
        """Chat streams are iterables of chunks (``Stream``/``AsyncStream``)."""
        return hasattr(result, "__next__") or hasattr(result, "__anext__")

    def accumulator(self, inv: LLMInvocation, capture: bool) -> ChatStreamAccumulator:
        """Accumulator for ``ChatCompletionChunk`` streams."""
        return ChatStreamAccumulator(inv, capture)


class _Choice:
    __slots__ = ("finish_reason", "text", "tool_calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None


class ChatStreamAccumulator:
    """Folds ``ChatCompletionChunk`` deltas into response fields (text kept only when capturing)."""

    __slots__ = ("_capture", "_choices", "_inv", "_length")

    def __init__(self, inv: LLMInvocation, capture: bool) -> None:
        self._inv = inv
        self._capture = capture
        self._choices: dict[int, _Choice] = {}
        self._length = 0

    def on_chunk(self, chunk: Any) -> None:
        """Hot path: one call per streamed chunk.

        SDK chunks are pydantic models, read with plain ``getattr`` (the generic :func:`field`
        costs more than the rest of this method); a mapping chunk is viewed as attributes first.
        """
        if type(chunk) is dict or (not hasattr(chunk, "choices") and isinstance(chunk, Mapping)):
            chunk = as_attributes(chunk)
        inv = self._inv
        if inv.response_id is None:
            inv.response_id = getattr(chunk, "id", None)
            inv.response_model = getattr(chunk, "model", None)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            apply_usage(inv, usage)
        choices = getattr(chunk, "choices", None)
        if not choices:
            return
        for c in choices:
            index = getattr(c, "index", 0) or 0
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice()
            delta = getattr(c, "delta", None)
            text = getattr(delta, "content", None)
            if text:
                self._length += len(text)
                if self._capture:
                    choice.text.append(text)
            calls = getattr(delta, "tool_calls", None)
            if calls:
                self._tool_call_deltas(choice, calls)
            reason = getattr(c, "finish_reason", None)
            if reason:
                choice.finish_reason = str(reason)

    def _tool_call_deltas(self, choice: _Choice, calls: Any) -> None:
        for call in calls:
            call_index = getattr(call, "index", 0) or 0
            slot = choice.tool_calls.get(call_index)
            if slot is None:
                slot = choice.tool_calls[call_index] = {"id": None, "name": None, "arguments": []}
            call_id = getattr(call, "id", None)
            if call_id:
                slot["id"] = call_id
            fn = getattr(call, "function", None)
            name = getattr(fn, "name", None)
            if name:
                slot["name"] = name
            arguments = getattr(fn, "arguments", None)
            if self._capture and arguments:
                slot["arguments"].append(arguments)

    def finish(self) -> None:
        """Copy accumulated values into the invocation."""
        inv = self._inv
        if not self._choices:
            return
        ordered = [self._choices[i] for i in sorted(self._choices)]
        inv.finish_reasons = [c.finish_reason for c in ordered if c.finish_reason]
        inv.tool_call_count = sum(len(c.tool_calls) for c in ordered)
        inv.output_length = self._length
        if self._capture:
            outputs = []
            for c in ordered:
                parts: list[dict[str, Any]] = []
                if c.text:
                    parts.append({"type": "text", "content": "".join(c.text)})
                for i in sorted(c.tool_calls):
                    slot = c.tool_calls[i]
                    parts.append({"type": "tool_call", "id": slot["id"], "name": slot["name"],
                                  "arguments": parse_arguments("".join(slot["arguments"]))})
                outputs.append({"role": "assistant", "parts": parts,
                                "finish_reason": c.finish_reason or "error"})
            inv.output_messages = outputs
