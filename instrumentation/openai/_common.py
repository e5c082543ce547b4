"""Helpers shared by the OpenAI mappings: reading SDK objects and request parameters safely."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core.reading import field, server_of
from driftline.semconv import names

__all__ = ["field", "media_part", "output_type", "parse_arguments", "sampling_attributes", "server_of",
           "text_parts"]


def sampling_attributes(kwargs: Mapping[str, Any], *, max_tokens_keys: tuple[str, ...]) -> dict[str, AttributeValue]:
    """The conventions' ``gen_ai.request.*`` attributes from common sampling parameters."""
    attrs: dict[str, AttributeValue] = {}
    for key, attr in (("temperature", names.GEN_AI_REQUEST_TEMPERATURE),
                      ("top_p", names.GEN_AI_REQUEST_TOP_P),
                      ("frequency_penalty", names.GEN_AI_REQUEST_FREQUENCY_PENALTY),
                      ("presence_penalty", names.GEN_AI_REQUEST_PRESENCE_PENALTY)):
        value = kwargs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attr] = float(value)
    for key in max_tokens_keys:
        value = kwargs.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            attrs[names.GEN_AI_REQUEST_MAX_TOKENS] = value
            break
    seed = kwargs.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        attrs[names.GEN_AI_REQUEST_SEED] = seed
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[names.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(stop)
    return attrs


def parse_arguments(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are valid JSON text, else unchanged."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def text_parts(content: Any) -> list[dict[str, Any]]:
    """Convert OpenAI message content (str or list of typed parts) to convention parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for part in content if isinstance(content, (list, tuple)) else [content]:
        kind = field(part, "type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": field(part, "text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "content": field(part, "refusal") or ""})
        elif kind in ("image_url", "input_image"):
            url = field(part, "image_url")
            url = field(url, "url") if not isinstance(url, str) else url
            parts.append(media_part("image", url))
        elif kind in ("input_audio", "audio"):
            parts.append({"type": "blob", "modality": "audio"})
        elif kind in ("file", "input_file"):
            parts.append({"type": "file", "modality": "file"})
        elif kind is not None:
            parts.append({"type": str(kind)})
    return parts


def media_part(modality: str, url: Any) -> dict[str, Any]:
    """A ``uri`` part for remote media; inline data URLs become ``blob`` parts without the bytes."""
    if isinstance(url, str) and url.startswith("data:"):
        mime = url[5:].split(";", 1)[0] or None
        part: dict[str, Any] = {"type": "blob", "modality": modality}
        if mime:
            part["mime_type"] = mime
        return part
    return {"type": "uri", "modality": modality, "uri": url}


def output_type(response_format: Any) -> str | None:
    """``gen_ai.output.type`` from a chat ``response_format`` or Responses ``text.format``."""
    if response_format is None:
        return None
    if isinstance(response_format, type):
        return names.OUTPUT_TYPE_JSON  # pydantic model passed to .parse()
    kind = field(response_format, "type")
    if kind in ("json_object", "json_schema"):
        return names.OUTPUT_TYPE_JSON
    if kind == "text":
        return names.OUTPUT_TYPE_TEXT
    return None
