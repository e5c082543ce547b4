"""Mapping for Anthropic Messages (``messages.create``, ``stream=True`` and ``messages.stream()``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.reading import field, raw_response_body, server_of
from driftline.semconv import names

# Anthropic stop reasons → the finish_reason vocabulary of the conventions' output-message schema.
# gen_ai.response.finish_reasons keeps the provider's own value; only output messages normalise.
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call",
           "refusal": "content_filter", "model_context_window_exceeded": "length", "pause_turn": "stop"}


_USAGE_KEYS = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")


def _reiterable(value: Any) -> Any:
    """``value`` unless it is a one-shot iterator (a generator, ``iter(list)``).

    The SDK accepts any ``Iterable`` for ``messages``, ``system``, ``tools`` and block lists and
    iterates it once to build the request body; if driftline iterated a generator first, the SDK
    would send it empty. Such values are left out of captured content instead.
    """
    return None if isinstance(value, Iterator) else value


def _items(value: Any) -> list[Any] | None:
    """A re-iterable collection argument (list, tuple, any ``Iterable`` but a one-shot iterator)
    as a list; None for strings, mappings, iterators and non-collections."""
    value = _reiterable(value)
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        return None
    return list(value)


def _request_body(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The request fields as sent: ``extra_body`` overrides the keyword arguments (as in the SDK).

    anthropic 2.x dropped ``temperature``, ``top_p`` and ``top_k`` from ``messages.create()``'s
    signature; callers who still need them pass them in ``extra_body``, so they are read there too.
    ``stream`` is never taken from ``extra_body``: the SDK decides how to read the response from
    the keyword argument alone.
    """
    extra = kwargs.get("extra_body")
    if not isinstance(extra, Mapping) or not extra:
        return kwargs
    return {**kwargs, **{k: v for k, v in extra.items() if k != "stream"}}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in _items(content) or ():
        kind = field(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": field(block, "text") or ""})
        elif kind == "tool_use":
            parts.append({"type": "tool_call", "id": field(block, "id"), "name": field(block, "name"),
                          "arguments": field(block, "input")})
        elif kind == "tool_result":
            result = field(block, "content")
            if not isinstance(result, str):
                blocks = _items(result)
                result = None if blocks is None else "".join(str(field(b, "text") or "") for b in blocks)
            parts.append({"type": "tool_call_response", "id": field(block, "tool_use_id"), "response": result})
        elif kind == "image":
            source = field(block, "source")
            if field(source, "type") == "url":
                parts.append({"type": "uri", "modality": "image", "uri": field(source, "url")})
            else:
                parts.append({"type": "blob", "modality": "image", "mime_type": field(source, "media_type")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": field(block, "thinking") or ""})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Anthropic ``messages`` in the conventions' input schema (tool results become role ``tool``)."""
    out: list[dict[str, Any]] = []
    for msg in _reiterable(messages) or ():
        parts = _parts(field(msg, "content"))
        role = field(msg, "role") or "user"
        if role == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
            role = "tool"
        out.append({"role": role, "parts": parts})
    return out


def apply_usage(inv: LLMInvocation, usage: Any) -> None:
    """Anthropic usage; gen_ai.usage.input_tokens includes cache reads and writes, as the
    conventions ask (Anthropic's own ``input_tokens`` excludes them)."""
    if usage is None:
        return
    base = field(usage, "input_tokens")
    read = field(usage, "cache_read_input_tokens")
    created = field(usage, "cache_creation_input_tokens")
    if isinstance(read, int):
        inv.cache_read_tokens = read
    if isinstance(created, int):
        inv.cache_creation_tokens = created
    if isinstance(base, int):
        inv.input_tokens = base + (read if isinstance(read, int) else 0) + (
            created if isinstance(created, int) else 0)
    out = field(usage, "output_tokens")
    if isinstance(out, int):
        inv.output_tokens = out


class MessagesMapping:
    """Messages request/response/stream translation."""

    name = "anthropic.messages"

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                capture: bool) -> LLMInvocation | None:
        """Build the invocation from ``messages.create(**kwargs)`` / ``messages.stream(**kwargs)``."""
        host, port = server_of(instance)
        stream = kwargs.get("stream") is True
        kwargs = _request_body(kwargs)
        model = kwargs.get("model")
        attrs: dict[str, Any] = {}
        for key, attr in (("temperature", names.GEN_AI_REQUEST_TEMPERATURE),
                          ("top_p", names.GEN_AI_REQUEST_TOP_P),
                          ("top_k", names.GEN_AI_REQUEST_TOP_K)):
            value = kwargs.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attrs[attr] = float(value)
        max_tokens = kwargs.get("max_tokens")
        if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
            attrs[names.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
        stops = _items(kwargs.get("stop_sequences"))
        if stops and all(isinstance(s, str) for s in stops):
            attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stops)
        if stream:
            attrs[names.GEN_AI_REQUEST_STREAM] = True
        inv = LLMInvocation(operation=names.OPERATION_CHAT, provider=names.PROVIDER_ANTHROPIC,
                            request_model=model if isinstance(model, str) else None,
                            server_address=host, server_port=port, stream=stream, request_attributes=attrs)
        if capture:
            inv.input_messages = input_messages(kwargs.get("messages"))
            system = kwargs.get("system")
            if isinstance(system, str):
                if system:
                    inv.system_instructions = [{"type": "text", "content": system}]
            elif blocks := _items(system):
                inv.system_instructions = _parts(blocks)
            if tools := _items(kwargs.get("tools")):
                inv.tool_definitions = [
                    {"type": "function" if field(t, "input_schema") is not None else str(field(t, "type")),
                     "name": field(t, "name"), "description": field(t, "description"),
                     "parameters": field(t, "input_schema")} for t in tools]
        return inv

    def response(self, inv: LLMInvocation, result: Any, capture: bool) -> None:
        """Fill response fields from a ``Message``."""
        if not inv.stream:
            result = raw_response_body(result)
        inv.response_id = field(result, "id")
        inv.response_model = field(result, "model")
        apply_usage(inv, field(result, "usage"))
        stop = field(result, "stop_reason")
        if stop:
            inv.finish_reasons = [str(stop)]
        content = field(result, "content")
        if not isinstance(content, list):
            return  # not a Message (an unread streaming-response wrapper): nothing is known
        inv.tool_call_count = sum(1 for b in content if field(b, "type") == "tool_use")
        inv.output_length = sum(len(field(b, "text") or "") for b in content if field(b, "type") == "text")
        if capture:
            inv.output_messages = [{"role": "assistant", "parts": _parts(content),
                                    "finish_reason": _FINISH.get(str(stop), str(stop or "error"))}]

    def is_stream(self, result: Any) -> bool:
        """Raw event streams (``Stream``/``AsyncStream``)."""
        return hasattr(result, "__next__") or hasattr(result, "__anext__")

    def accumulator(self, inv: LLMInvocation, capture: bool) -> MessagesStreamAccumulator:
        """Accumulator for raw Messages stream events."""
        return MessagesStreamAccumulator(inv, capture)


class MessagesStreamAccumulator:
    """Folds raw ``RawMessageStreamEvent`` objects into response fields."""

    __slots__ = ("_blocks", "_capture", "_inv", "_length", "_stop", "_tools", "_usage")

    def __init__(self, inv: LLMInvocation, capture: bool) -> None:
        self._inv = inv
        self._capture = capture
        self._blocks: dict[int, dict[str, Any]] = {}
        self._length = 0
        self._tools = 0
        self._stop: str | None = None
        # Usage fields as last reported: message_start gives the input side, message_delta the
        # cumulative counts, where a field may be null; a null must not erase an earlier value.
        self._usage: dict[str, int] = {}

    def on_chunk(self, event: Any) -> None:
        """Hot path: one call per stream event."""
        kind = field(event, "type")
        if kind == "content_block_delta":
            delta = field(event, "delta")
            dtype = field(delta, "type")
            if dtype == "text_delta":
                text = field(delta, "text") or ""
                self._length += len(text)
                if self._capture:
                    self._block(event)["text"].append(text)
            elif dtype == "input_json_delta" and self._capture:
                self._block(event)["json"].append(field(delta, "partial_json") or "")
            elif dtype == "thinking_delta" and self._capture:
                self._block(event)["text"].append(field(delta, "thinking") or "")
        elif kind == "content_block_start":
            block = field(event, "content_block")
            btype = field(block, "type")
            if btype == "tool_use":
                self._tools += 1
            if self._capture:
                slot = self._block(event)
                slot["type"] = btype
                slot["id"] = field(block, "id")
                slot["name"] = field(block, "name")
        elif kind == "message_start":
            message = field(event, "message")
            self._inv.response_id = field(message, "id")
            self._inv.response_model = field(message, "model")
            self._merge_usage(field(message, "usage"))
        elif kind == "message_delta":
            stop = field(field(event, "delta"), "stop_reason")
            if stop:
                self._stop = str(stop)
            self._merge_usage(field(event, "usage"))

    def _merge_usage(self, usage: Any) -> None:
        if usage is None:
            return
        for key in _USAGE_KEYS:
            value = field(usage, key)
            if isinstance(value, int) and not isinstance(value, bool):
                self._usage[key] = value

    def _block(self, event: Any) -> dict[str, Any]:
        index = field(event, "index") or 0
        slot = self._blocks.get(index)
        if slot is None:
            slot = self._blocks[index] = {"type": "text", "text": [], "json": [], "id": None, "name": None}
        return slot

    def finish(self) -> None:
        """Copy accumulated values into the invocation."""
        inv = self._inv
        inv.output_length = self._length
        inv.tool_call_count = self._tools
        apply_usage(inv, self._usage or None)
        if self._stop:
            inv.finish_reasons = [self._stop]
        if self._capture:
            parts: list[dict[str, Any]] = []
            for i in sorted(self._blocks):
                slot = self._blocks[i]
                if slot["type"] == "tool_use":
                    raw = "".join(slot["json"])
                    try:
                        args: Any = json.loads(raw) if raw else {}
                    except ValueError:
                        args = raw
                    parts.append({"type": "tool_call", "id": slot["id"], "name": slot["name"], "arguments": args})
                elif slot["type"] == "text":
                    parts.append({"type": "text", "content": "".join(slot["text"])})
                elif slot["type"] == "thinking":
                    parts.append({"type": "reasoning", "content": "".join(slot["text"])})
                elif slot["type"] is not None:
                    parts.append({"type": str(slot["type"])})
            inv.output_messages = [{"role": "assistant", "parts": parts,
                                    "finish_reason": _FINISH.get(self._stop or "", self._stop or "error")}]
