"""How problems name keys and quote values: ``exporters.otlp/jaeger.timeout: "5 s" is not ...``."""

from __future__ import annotations

import json


def join(path: str, key: object) -> str:
    """The dotted path of ``key`` under ``path`` (component ids keep their ``/``)."""
    return f"{path}.{key}" if path else str(key)


def show(value: object) -> str:
    """A value as a problem message quotes it: strings in double quotes, YAML spellings otherwise."""
    if isinstance(value, str):
        return json.dumps(str(value), ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)
