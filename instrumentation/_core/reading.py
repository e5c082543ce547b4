"""Tolerant readers for SDK objects: pydantic models, TypedDict requests and plain dicts alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for SDK models, None when absent."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def server_of(instance: Any) -> tuple[str | None, int | None]:
    """(host, port) of the SDK client behind a resource object, from its ``base_url``."""
    client = getattr(instance, "_client", None)
    url = getattr(client, "base_url", None)
    if url is None:
        return None, None
    host = getattr(url, "host", None) or None
    port = getattr(url, "port", None)
    if port is None:
        scheme = getattr(url, "scheme", "https")
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    return host, port
