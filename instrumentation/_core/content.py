"""Content policy: what prompt/completion text may leave the process, and in which form.

Messages arrive from the provider mappings already in the GenAI conventions' message schema
(``{"role": ..., "parts": [{"type": "text", "content": ...}, {"type": "tool_call", ...}]}``).
Before serialisation every free-text value (a part's ``content``, tool-call ``arguments``,
tool ``response``) is redacted (:mod:`.pii`) unless redaction is off, then cut to the size budget
with a visible marker. Structural fields (role, type, ids, tool names) are left alone.
"""

from __future__ import annotations

import json
from typing import Any

from .config import Settings
from .pii import redact

TRUNCATION_MARKER = "…[truncated by driftline]"
"""Appended to every text cut to ``DRIFTLINE_CONTENT_MAX_LENGTH``."""

_FREE_TEXT_KEYS = frozenset({"content", "arguments", "response", "result"})


class ContentScrubber:
    """Applies redaction and the size budget to one invocation's content, counting what it did."""

    __slots__ = ("_max", "_redact", "redacted", "truncated")

    def __init__(self, settings: Settings) -> None:
        self._max = settings.max_length
        self._redact = settings.redact
        self.truncated = False
        self.redacted = 0

    def text(self, value: str) -> str:
        """Redact then truncate one text value."""
        if self._redact:
            value, n = redact(value)
            self.redacted += n
        if self._max and len(value) > self._max:
            self.truncated = True
            value = value[: self._max] + TRUNCATION_MARKER
        return value

    def scrub(self, value: Any, free_text: bool = False) -> Any:
        """Walk a JSON-able structure, policing free-text values (recursively under free-text keys)."""
        if isinstance(value, str):
            return self.text(value) if free_text else value
        if isinstance(value, dict):
            return {k: self.scrub(v, free_text or k in _FREE_TEXT_KEYS) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v, free_text) for v in value]
        return value


def to_json(value: Any) -> str:
    """Compact JSON; objects the encoder does not know are rendered with ``str()``."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
