"""Tolerant readers for SDK objects: pydantic models, TypedDict requests and plain dicts alike."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

_MISSING = object()


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` for SDK models, None when absent.

    Hot path (every response and stream chunk): plain dicts and attribute access are tried
    before the comparatively slow ``Mapping`` ABC check.
    """
    if type(obj) is dict:
        return obj.get(key)
    value = getattr(obj, key, _MISSING)
    if value is not _MISSING:
        return value
    if isinstance(obj, Mapping):
        return obj.get(key)
    return None


def as_attributes(value: Any) -> Any:
    """A recursive attribute view of mappings (lists too), for hot paths written with ``getattr``."""
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): as_attributes(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_attributes(v) for v in value]
    return value


def server_of(instance: Any) -> tuple[str | None, int | None]:
    """(host, port) of the SDK client behind a resource object, from its ``base_url``.

    Cached per URL object (clients keep theirs), since parsing host and port costs more than the
    rest of the request mapping together.
    """
    client = getattr(instance, "_client", None)
    url = getattr(client, "base_url", None)
    if url is None:
        return None, None
    cached = _SERVERS.get(id(url))
    if cached is not None and cached[0] is url:
        return cached[1]
    host = getattr(url, "host", None) or None
    port = getattr(url, "port", None)
    if port is None:
        scheme = getattr(url, "scheme", "https")
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    if len(_SERVERS) > 256:
        _SERVERS.clear()
    _SERVERS[id(url)] = (url, (host, port))
    return host, port


# id(url) -> (url, (host, port)); holding the URL keeps its id from being reused while cached.
_SERVERS: dict[int, tuple[Any, tuple[str | None, int | None]]] = {}


_RAW_RESPONSES = frozenset({"APIResponse", "AsyncAPIResponse", "LegacyAPIResponse"})


def raw_response_body(result: Any, streamed: bool = False) -> Any:
    """The decoded JSON body behind ``.with_raw_response.create(...)``, else ``result`` unchanged.

    That surface (read for its headers, by frameworks among others) returns the SDK's HTTP
    response wrapper instead of the model, so without this the span would carry no response
    attributes. The already-read body is decoded rather than calling ``parse()``, which is a
    coroutine on async clients and must stay the application's to call. A streamed raw response,
    or one whose body was not read (``with_streaming_response``), is left alone.
    """
    if streamed or type(result).__name__ not in _RAW_RESPONSES:
        return result
    try:
        return result.http_response.json()
    except Exception:
        return result
