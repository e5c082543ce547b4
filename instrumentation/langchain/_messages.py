"""LangChain's objects (messages, ``LLMResult``, LangSmith params) translated into an :class:`LLMInvocation`.

Everything here reads LangChain objects tolerantly (``field``), so a provider package that fills
``response_metadata`` differently loses an attribute, never the span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.reading import field
from driftline.semconv import names

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
          "developer": "system"}

# LangChain's own message ids (``lc_run--<uuid>``), not the provider's response id.
_LC_ID_PREFIXES = ("lc_run-", "run-")


def request_attributes(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """``gen_ai.request.*`` from the provider-neutral LangSmith params (``ls_temperature`` ...) in the
    run's metadata, completed by the invocation parameters every provider shares."""
    attrs: dict[str, AttributeValue] = {}
    temperature = metadata.get("ls_temperature")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        attrs[names.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    max_tokens = metadata.get("ls_max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[names.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = metadata.get("ls_stop") or params.get("stop")
    if isinstance(stop, str):
        attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    top_p = params.get("top_p")
    if isinstance(top_p, (int, float)) and not isinstance(top_p, bool):
        attrs[names.GEN_AI_REQUEST_TOP_P] = float(top_p)
    seed = params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        attrs[names.GEN_AI_REQUEST_SEED] = seed
    return attrs


def request_model(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    """The model asked for: the invocation parameters first (per-call overrides), then ``ls_model_name``."""
    for value in (params.get("model"), params.get("model_name"), metadata.get("ls_model_name")):
        if isinstance(value, str) and value:
            return value
    return None


def _role(message: Any) -> str:
    kind = str(field(message, "type") or "")
    if kind.endswith("MessageChunk"):  # AIMessageChunk -> ai
        kind = kind[: -len("MessageChunk")].lower()
    if kind == "chat":
        return str(field(message, "role") or "user")
    return _ROLES.get(kind, kind or "user")


def _content_parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content if isinstance(content, (list, tuple)) else [content]:
        if isinstance(block, str):
            parts.append({"type": "text", "content": block})
            continue
        kind = field(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": field(block, "text") or ""})
        elif kind in ("image_url", "image"):
            url = field(block, "image_url")
            url = field(url, "url") if url is not None and not isinstance(url, str) else url
            url = url or field(block, "url")
            if isinstance(url, str) and not url.startswith("data:"):
                parts.append({"type": "uri", "modality": "image", "uri": url})
            else:
                parts.append({"type": "blob", "modality": "image"})
        elif kind in ("tool_use", "tool_call", "function_call"):
            continue  # the message's tool_calls carry these, parsed
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def _tool_call_parts(message: Any) -> list[dict[str, Any]]:
    return [{"type": "tool_call", "id": field(call, "id"), "name": field(call, "name"),
             "arguments": field(call, "args")}
            for call in field(message, "tool_calls") or ()]


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """A list of LangChain ``BaseMessage`` in the conventions' input-messages schema."""
    out: list[dict[str, Any]] = []
    for message in messages or ():
        role = _role(message)
        if role == "tool":
            out.append({"role": "tool", "parts": [{
                "type": "tool_call_response", "id": field(message, "tool_call_id"),
                "response": field(message, "content")}]})
            continue
        entry: dict[str, Any] = {"role": role,
                                 "parts": _content_parts(field(message, "content")) + _tool_call_parts(message)}
        name = field(message, "name")
        if isinstance(name, str) and name:
            entry["name"] = name
        out.append(entry)
    return out


def tool_definitions(tools: Any) -> list[dict[str, Any]]:
    """Tools bound to the model (``bind_tools``), in the conventions' definition schema."""
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, (list, tuple)) else ():
        fn = field(tool, "function")
        source = fn if fn is not None else tool
        out.append({"type": "function", "name": field(source, "name"),
                    "description": field(source, "description"),
                    "parameters": field(source, "parameters") or field(source, "input_schema")})
    return out


def _finish_reason(generation: Any, message: Any) -> str | None:
    for source in (field(generation, "generation_info"), field(message, "response_metadata")):
        if source is None:
            continue
        for key in ("finish_reason", "stop_reason", "done_reason"):
            value = field(source, key)
            if isinstance(value, str) and value:
                return value
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _apply_usage(inv: LLMInvocation, message: Any, llm_output: Any) -> None:
    """Usage of the first generation that reports it (with ``n > 1`` every choice carries the same total)."""
    if inv.input_tokens is not None or inv.output_tokens is not None:
        return
    usage = field(message, "usage_metadata") if message is not None else None
    if usage:
        inv.input_tokens = _int(field(usage, "input_tokens"))
        inv.output_tokens = _int(field(usage, "output_tokens"))
        details = field(usage, "input_token_details")
        if details:
            inv.cache_read_tokens = _int(field(details, "cache_read")) or None
            inv.cache_creation_tokens = _int(field(details, "cache_creation")) or None
        out_details = field(usage, "output_token_details")
        if out_details:
            inv.reasoning_tokens = _int(field(out_details, "reasoning")) or None
        return
    # Older integrations report usage only in llm_output (OpenAI's names or Anthropic's).
    token_usage = (field(llm_output, "token_usage") or field(llm_output, "usage")) if llm_output else None
    if token_usage:
        inv.input_tokens = _int(field(token_usage, "prompt_tokens")) or _int(field(token_usage, "input_tokens"))
        inv.output_tokens = _int(field(token_usage, "completion_tokens")) or _int(
            field(token_usage, "output_tokens"))


def apply_result(inv: LLMInvocation, result: Any, capture: bool) -> None:
    """Fill the invocation's response fields from an ``LLMResult`` (chat or text generations)."""
    llm_output = field(result, "llm_output")
    reasons: list[str] = []
    outputs: list[dict[str, Any]] = []
    tool_calls = 0
    length = 0
    for generations in field(result, "generations") or ():
        for generation in generations or ():
            message = field(generation, "message")
            if message is None:  # text-completion model: a Generation with .text
                text = field(generation, "text")
                if isinstance(text, str):
                    length += len(text)
                parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
            else:
                metadata = field(message, "response_metadata") or {}
                if inv.response_model is None:
                    model = field(metadata, "model_name") or field(metadata, "model")
                    inv.response_model = model if isinstance(model, str) else None
                if inv.response_id is None:
                    inv.response_id = _response_id(metadata, message)
                _apply_usage(inv, message, llm_output)
                content = field(message, "content")
                if isinstance(content, str):
                    length += len(content)
                elif isinstance(content, (list, tuple)):
                    length += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
                calls = field(message, "tool_calls") or ()
                tool_calls += len(calls)
                parts = (_content_parts(content) + _tool_call_parts(message)) if capture else []
            reason = _finish_reason(generation, message)
            if reason:
                reasons.append(reason)
            if capture:
                outputs.append({"role": "assistant", "parts": parts, "finish_reason": reason or "stop"})
    if llm_output:
        _apply_usage(inv, None, llm_output)
    if inv.response_model is None and llm_output:
        model = field(llm_output, "model_name") or field(llm_output, "model")
        inv.response_model = model if isinstance(model, str) else None
    if reasons:
        inv.finish_reasons = reasons
    inv.tool_call_count = tool_calls
    inv.output_length = length
    if capture and outputs:
        inv.output_messages = outputs


def _response_id(metadata: Any, message: Any) -> str | None:
    value = field(metadata, "id")
    if isinstance(value, str) and value:
        return value
    value = field(message, "id")
    if isinstance(value, str) and value and not value.startswith(_LC_ID_PREFIXES):
        return value
    return None
