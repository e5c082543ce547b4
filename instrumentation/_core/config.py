"""Settings read from the environment once per ``instrument()`` (never on the call path)."""

from __future__ import annotations

import enum
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry.util.types import AttributeValue

from driftline.semconv import names

_log = logging.getLogger("driftline.instrumentation")

# Every instrumentor reads the same environment on instrument(); a bad value is reported once per
# process (per variable and value), not once per instrumentor or per re-instrumentation.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _warn_once(variable: str, raw: str, message: str, *args: object) -> None:
    with _warned_lock:
        if (variable, raw) in _warned:
            return
        _warned.add((variable, raw))
    _log.warning(message, *args)

DEFAULT_CONTENT_MAX_LENGTH = 8192
"""Characters kept per captured text part unless ``DRIFTLINE_CONTENT_MAX_LENGTH`` says otherwise."""


class CaptureMode(enum.Enum):
    """Where prompts and completions go, per ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_span(self) -> bool:
        """Content goes on the span as attributes."""
        return self in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def on_event(self) -> bool:
        """Content goes to a ``gen_ai.client.inference.operation.details`` log event."""
        return self in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def enabled(self) -> bool:
        """Any content is captured."""
        return self is not CaptureMode.NO_CONTENT


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_capture_mode(raw: str | None) -> CaptureMode:
    """Parse the upstream capture variable; ``true``/``false`` are accepted as older spellings."""
    if raw is None or not raw.strip():
        return CaptureMode.NO_CONTENT
    value = raw.strip().upper()
    if value in CaptureMode.__members__:
        return CaptureMode[value]
    if value.lower() in _TRUE:
        return CaptureMode.SPAN_ONLY
    if value.lower() in _FALSE:
        return CaptureMode.NO_CONTENT
    _warn_once(names.ENV_CAPTURE_MESSAGE_CONTENT, raw,
               "driftline: %s=%r is not one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT; "
               "capturing no content", names.ENV_CAPTURE_MESSAGE_CONTENT, raw)
    return CaptureMode.NO_CONTENT


def parse_bool(raw: str | None, default: bool, variable: str) -> bool:
    """Parse a boolean environment value, warning (not raising) on nonsense."""
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    _warn_once(variable, raw, "driftline: %s=%r is not a boolean (true/false); using %s", variable, raw, default)
    return default


def parse_max_length(raw: str | None) -> int:
    """Parse ``DRIFTLINE_CONTENT_MAX_LENGTH`` (characters per text part; 0 = unlimited)."""
    if raw is None or not raw.strip():
        return DEFAULT_CONTENT_MAX_LENGTH
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        _warn_once(names.ENV_CONTENT_MAX_LENGTH, raw, "driftline: %s=%r is not a non-negative integer; using %d",
                   names.ENV_CONTENT_MAX_LENGTH, raw, DEFAULT_CONTENT_MAX_LENGTH)
        return DEFAULT_CONTENT_MAX_LENGTH
    return value


def parse_static_attributes(raw: str | None) -> dict[str, AttributeValue]:
    """Parse ``DRIFTLINE_SPAN_ATTRIBUTES`` (``key=value,key2=value2``; values stay strings).

    Same shape as ``OTEL_RESOURCE_ATTRIBUTES``: percent-encoded values are decoded, blank items
    ignored, malformed items (no ``=`` or empty key) warned about once and skipped.
    """
    from urllib.parse import unquote

    result: dict[str, AttributeValue] = {}
    if not raw:
        return result
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            _warn_once(names.ENV_SPAN_ATTRIBUTES, item, "driftline: ignoring %s item %r (expected key=value)",
                       names.ENV_SPAN_ATTRIBUTES, item)
            continue
        result[key] = unquote(value.strip())
    return result


@dataclass(frozen=True)
class Settings:
    """Everything the recorder needs from the environment."""

    capture: CaptureMode = CaptureMode.NO_CONTENT
    max_length: int = DEFAULT_CONTENT_MAX_LENGTH
    redact: bool = True
    static_attributes: Mapping[str, AttributeValue] = field(default_factory=dict)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read :class:`Settings` from ``environ`` (default: ``os.environ``)."""
    env = os.environ if environ is None else environ
    return Settings(
        capture=parse_capture_mode(env.get(names.ENV_CAPTURE_MESSAGE_CONTENT)),
        max_length=parse_max_length(env.get(names.ENV_CONTENT_MAX_LENGTH)),
        redact=parse_bool(env.get(names.ENV_CONTENT_REDACT), True, names.ENV_CONTENT_REDACT),
        static_attributes=parse_static_attributes(env.get(names.ENV_SPAN_ATTRIBUTES)),
    )
