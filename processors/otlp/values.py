"""OTLP ``AnyValue`` / ``KeyValue`` → plain Python values, for code that reads span attributes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["attributes_dict", "to_python"]


def to_python(value: Any) -> Any:
    """One ``AnyValue`` as Python: str, bool, int, float, bytes, a list (arrays), a dict (kvlists) or None."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        return value.double_value
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [to_python(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: to_python(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return bytes(value.bytes_value)
    return None  # an empty AnyValue: OTLP's "null" (e.g. a missing element of a string array)


def attributes_dict(items: Iterable[Any]) -> dict[str, Any]:
    """A ``repeated KeyValue`` as a dict (a repeated key keeps its last value, as the SDKs do)."""
    return {kv.key: to_python(kv.value) for kv in items}
