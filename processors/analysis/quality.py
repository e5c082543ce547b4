"""Deterministic quality checks and cost of GenAI calls, computed from the spans the processor receives.

:class:`QualityEngine` is fed OTLP ``ResourceSpans`` (``observe``) and keeps, per (service, model)
— the :class:`~.signals.ModelKey` of :func:`~.signals.model_key` — the outcome of every check over
a rolling window of the last ``N`` calls (default 500) plus lifetime counters. Every check is a
fixed rule over one span's attributes (or, for agent loops and steps, over the spans of one
trace); none samples, learns a model or calls an LLM, so the same spans always give the same
verdicts.

A check is *evaluated* on a span only when the span carries the data it needs; a rate is
``failed / evaluated`` over the window's calls on which it was evaluated (so calls recorded
without content do not dilute the content checks). The checks, on LLM spans
(``gen_ai.operation.name`` ``chat`` or ``text_completion``):

``error``
    evaluated on every call; fails when ``error.type`` is set.
``truncated``
    evaluated when ``gen_ai.response.finish_reasons`` is non-empty; fails when any reason is
    ``length`` (OpenAI), ``max_tokens`` or ``model_context_window_exceeded`` (Anthropic).
``empty``
    evaluated on calls without ``error.type``: with captured content, fails when no output message
    has a tool call or non-blank text; otherwise, when ``driftline.response.output_length`` is
    present, fails when it is 0 and ``driftline.response.tool_call.count`` is 0 (or absent).
``refusal``
    evaluated on calls without ``error.type`` that have finish reasons or captured content;
    fails when a finish reason is ``content_filter`` or ``refusal``, or when an output message's
    text *begins* (after an optional apology or "As an AI" preamble, :data:`REFUSAL_OPENERS`) with
    one of :data:`REFUSAL_PHRASES` followed by one of :data:`REFUSAL_ACTIONS` (case-insensitive,
    curly apostrophes read as straight ones, first 500 characters).
``invalid_json``
    evaluated when ``gen_ai.output.type`` is ``json``, there is no ``error.type``, content was
    captured and not cut by the instrumentation's size budget (``driftline.content.truncated``);
    fails when the text of any output message without a tool call does not parse with
    :func:`json.loads` (a reply cut by ``max_tokens`` fails here too: it is not usable JSON).
``pii``
    evaluated when content was captured; fails when :func:`~driftline.instrumentation._core.pii.redact`
    finds PII in an output text part, or the text holds a ``[REDACTED:<kind>]`` marker (the
    instrumentation redacts before export by default, so the marker is the usual evidence).
``token_spike``
    evaluated when ``gen_ai.usage.output_tokens`` is present and the window already holds at least
    ``token_spike_warmup`` token counts of this model; fails when
    ``tokens > factor × max(1, p99)``, with ``p99`` the exact 0.99 quantile (inverted-CDF
    definition, numpy's ``method="inverted_cdf"``: the ``⌈0.99·n⌉``-th smallest) of the previous
    ``N`` token counts; the current call then joins the window.
``cost_unknown``
    evaluated when input or output tokens are present; fails when neither the response nor the
    request model has a price in the :class:`PriceTable`. Such calls are never priced at 0: they
    are counted, and excluded from the cost values.
``latency_slo``
    evaluated when ``QualityConfig.latency_slo_seconds`` is set; fails when the span's duration
    exceeds it.

On agent spans (keyed by ``gen_ai.agent.name``, as in :func:`~.signals.model_key`):

``tool_error``
    every ``execute_tool`` span; fails when ``error.type`` is set.
``agent_loop``
    every ``execute_tool`` span; the trace's tool calls are taken in start-time order. With
    ``gen_ai.tool.call.arguments`` captured, fails when this (tool name, canonical JSON arguments)
    pair has now been called ``≥ loop_repeats`` times (default 3) in the trace; without arguments,
    when this is at least the ``loop_repeats``-th consecutive argument-less call of the same tool.
``agent_too_many_steps``
    every ``invoke_agent`` span, when it arrives; its steps are the LLM (chat, text_completion,
    embeddings) and ``execute_tool`` spans whose nearest ``invoke_agent`` ancestor it is (as for
    the ``agent.steps`` drift signal); fails when ``steps > max_agent_steps`` (default 25).

Traces are remembered in a bounded LRU (``max_traces`` traces of at most ``max_trace_spans`` span
links and ``max_trace_signatures`` tool-call signatures each), so a loop or a long agent turn split
across export batches is still seen (a trace is remembered once it shows an agent or tool span, or
an LLM call with a parent: a standalone root call can be no agent's step). Steps that arrive after
their ``invoke_agent`` span still raise the flag (once per agent span) but do not revise the rate
entry made at its arrival.

Values for metrics (:meth:`QualityEngine.readings`): each check's rate; ``error_type_rate`` per
``error.type`` (``count(type) / evaluated``); ``latency_p50/p95/p99`` from a KLL
:class:`~.sketch.QuantileSketch` of span durations (rank error ≤ 2 %) over the last ``N`` to
``2N`` calls (two tumbling sketches of ``N`` durations, merged); ``cost_per_call``, the mean cost
of the priced calls in the window; ``cost_total``, the lifetime sum. Costs are exact decimals
(:class:`decimal.Decimal`) until they are read.

Models are capped (``max_models``): a span of a model beyond the cap still gets its stateless flags
but no statistics, and is counted in :attr:`QualityEngine.overflow`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from bisect import bisect_left, insort
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from driftline.instrumentation._core.pii import redact
from driftline.processors.otlp.values import attributes_dict
from driftline.semconv import names

from .signals import ModelKey, model_key
from .sketch import DEFAULT_K, QuantileSketch

__all__ = [
    "CHECKS",
    "DEFAULT_PRICES_PATH",
    "REFUSAL_ACTIONS",
    "REFUSAL_OPENERS",
    "REFUSAL_PHRASES",
    "ModelPrice",
    "PriceTable",
    "QualityConfig",
    "QualityEngine",
    "QualityFlag",
    "QualityReading",
    "QualityTotals",
    "default_prices",
    "flags_for_span",
    "is_refusal",
]

_STATE_VERSION = 1
_NANOS = 1e-9

CHECKS: tuple[str, ...] = (
    names.QUALITY_FLAG_ERROR,
    names.QUALITY_FLAG_TRUNCATED,
    names.QUALITY_FLAG_EMPTY,
    names.QUALITY_FLAG_REFUSAL,
    names.QUALITY_FLAG_INVALID_JSON,
    names.QUALITY_FLAG_PII,
    names.QUALITY_FLAG_TOKEN_SPIKE,
    names.QUALITY_FLAG_COST_UNKNOWN,
    names.QUALITY_FLAG_LATENCY_SLO,
    names.QUALITY_FLAG_TOOL_ERROR,
    names.QUALITY_FLAG_AGENT_LOOP,
    names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS,
)
"""Every check (its flag name), in the order of the window's bit masks."""

_RATE_OF: dict[str, str] = {
    names.QUALITY_FLAG_ERROR: names.QUALITY_CHECK_ERROR_RATE,
    names.QUALITY_FLAG_TRUNCATED: names.QUALITY_CHECK_TRUNCATION_RATE,
    names.QUALITY_FLAG_EMPTY: names.QUALITY_CHECK_EMPTY_RATE,
    names.QUALITY_FLAG_REFUSAL: names.QUALITY_CHECK_REFUSAL_RATE,
    names.QUALITY_FLAG_INVALID_JSON: names.QUALITY_CHECK_INVALID_JSON_RATE,
    names.QUALITY_FLAG_PII: names.QUALITY_CHECK_PII_RATE,
    names.QUALITY_FLAG_TOKEN_SPIKE: names.QUALITY_CHECK_TOKEN_SPIKE_RATE,
    names.QUALITY_FLAG_COST_UNKNOWN: names.QUALITY_CHECK_COST_UNKNOWN_RATE,
    names.QUALITY_FLAG_LATENCY_SLO: names.QUALITY_CHECK_LATENCY_SLO_RATE,
    names.QUALITY_FLAG_TOOL_ERROR: names.QUALITY_CHECK_TOOL_ERROR_RATE,
    names.QUALITY_FLAG_AGENT_LOOP: names.QUALITY_CHECK_AGENT_LOOP_RATE,
    names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS: names.QUALITY_CHECK_AGENT_TOO_MANY_STEPS_RATE,
}
_INDEX = {flag: i for i, flag in enumerate(CHECKS)}
_ERROR_INDEX = _INDEX[names.QUALITY_FLAG_ERROR]

_LLM_OPERATIONS = frozenset({names.OPERATION_CHAT, names.OPERATION_TEXT_COMPLETION})
# Steps of an agent turn, as the agent.steps drift signal counts them (signals._agent_steps).
_STEP_OPERATIONS = frozenset({names.OPERATION_CHAT, names.OPERATION_TEXT_COMPLETION, names.OPERATION_EMBEDDINGS,
                              names.OPERATION_EXECUTE_TOOL})
_AGENT_OPERATIONS = frozenset({names.OPERATION_EXECUTE_TOOL, names.OPERATION_INVOKE_AGENT})

# Provider vocabularies: OpenAI finish_reason, Anthropic stop_reason (kept verbatim on the span).
_TRUNCATION_REASONS = frozenset({"length", "max_tokens", "model_context_window_exceeded"})
_REFUSAL_REASONS = frozenset({"content_filter", "refusal"})
# The instrumentation's redaction marker (instrumentation/_core/pii.py), one kind per detector.
_REDACTION_MARKER = re.compile(r"\[REDACTED:(?:email|iban|card|ssn|phone)\]")
_OTHER_ERROR_TYPE = "_OTHER"
"""The ``error.type`` label of error types beyond ``max_error_types`` in ``error_type_rate``."""

# -- refusals ------------------------------------------------------------------------------------

REFUSAL_OPENERS: tuple[str, ...] = (
    "i'm sorry", "i am sorry", "i'm afraid", "i am afraid", "sorry", "unfortunately", "i apologize",
    "i apologise", "my apologies", "apologies", "as an ai language model", "as an ai assistant", "as an ai",
)
"""Preambles skipped (with the punctuation and an optional ``but`` after them) before the phrase test."""

REFUSAL_PHRASES: tuple[str, ...] = (
    "i can't", "i cannot", "i can not", "i won't", "i will not", "i'm unable to", "i am unable to",
    "i'm not able to", "i am not able to", "i'm not going to", "i am not going to", "i must decline to",
    "i have to decline to",
)
"""How a refusal begins; it must be followed (after an optional ``be able to``) by a :data:`REFUSAL_ACTIONS` word."""

REFUSAL_ACTIONS: tuple[str, ...] = (
    "help", "assist", "comply", "provide", "fulfil", "fulfill", "do that", "do this", "create", "generate",
    "write", "share", "support", "engage", "answer", "complete", "continue", "give", "produce", "discuss",
)
"""What a refusal declines to do (``help`` not followed by ``but``: "I can't help but notice" is no refusal)."""

_PHRASE_PATTERN = "|".join(re.escape(p) for p in sorted(REFUSAL_PHRASES, key=len, reverse=True))
_ACTION_PATTERN = "|".join(r"help(?! but\b)" if a == "help" else re.escape(a)
                           for a in sorted(REFUSAL_ACTIONS, key=len, reverse=True))
_REFUSAL = re.compile(rf"(?:{_PHRASE_PATTERN})(?: be able to)? (?:{_ACTION_PATTERN})\b")
_REFUSAL_SCAN = 500
_SPACES = re.compile(r"\s+")
# An opener, the punctuation after it and an optional "but" ("I'm sorry, but ...").
_OPENER = re.compile("(?:" + "|".join(re.escape(o) for o in REFUSAL_OPENERS) + r")[ ,.!;:\-–—]*(?:but )?")


def is_refusal(text: str) -> str | None:
    """The refusal phrase ``text`` begins with (see :data:`REFUSAL_PHRASES`), or None.

    The text is lower-cased, curly apostrophes straightened and white space collapsed; up to two
    :data:`REFUSAL_OPENERS` (each with trailing punctuation and an optional ``but``) are skipped.
    """
    normal = _SPACES.sub(" ", text[:_REFUSAL_SCAN].lower().replace("\u2019", "'").replace("\u2018", "'"))
    normal = normal.lstrip(" \"'*_>`")
    for _ in range(2):
        opener = _OPENER.match(normal)
        if opener is None:
            break
        normal = normal[opener.end():]
    match = _REFUSAL.match(normal)
    return match.group(0) if match else None


# -- prices --------------------------------------------------------------------------------------

DEFAULT_PRICES_PATH = Path(__file__).with_name("prices.yaml")
"""The price table shipped with driftline (package data)."""

# A dated (or "latest") variant of a listed model: gpt-4o-2024-08-06, claude-3-5-sonnet-20241022,
# gpt-3.5-turbo-0125, claude-sonnet-4-5@20250929 (Vertex AI), claude-3-5-sonnet-latest. Nothing
# else is accepted after a listed name, so o1-pro is never priced as o1 nor gpt-4o-audio as gpt-4o.
_DATED_SUFFIX = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)")
_LOOKUP_CACHE = 4096


def _decimal(value: Any, what: str) -> Decimal:
    """A price from YAML as an exact decimal (floats through their shortest repr: 0.15 → Decimal('0.15'))."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"price table: {what} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"price table: {what} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"price table: {what} must be a non-negative number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model in US dollars per token (the table's per-million prices divided by 10^6)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal
    cache_write_input: Decimal

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int = 0,
             cache_write_tokens: int = 0) -> Decimal:
        """Exact cost of one call.

        ``gen_ai.usage.input_tokens`` includes cache reads and writes (the conventions ask for it;
        the Anthropic instrumentation adds them), so::

            uncached = max(0, input − cache_read − cache_write)
            cost = uncached·p_in + cache_read·p_cached + cache_write·p_cache_write + output·p_out
        """
        uncached = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
        return (uncached * self.input + cache_read_tokens * self.cached_input
                + cache_write_tokens * self.cache_write_input + output_tokens * self.output)


class PriceTable:
    """A versioned table of per-model token prices (``prices.yaml``), looked up by provider and model.

    Lookup: the provider's table when ``gen_ai.provider.name`` is listed, else every provider's;
    the model name exactly, else the longest listed name that the model extends with only a date
    or ``latest`` suffix (``-YYYY-MM-DD``, ``-YYYYMMDD``, ``-MMDD``, ``@YYYYMMDD``, ``-latest``).
    """

    def __init__(self, version: str, updated: str, providers: Mapping[str, Mapping[str, ModelPrice]]) -> None:
        self.version = version
        self.updated = updated
        self._providers = {p: dict(models) for p, models in providers.items()}
        # Lookups repeat (a service calls few models) and a dated name scans every listed one: memoised.
        self._found: dict[tuple[str | None, str], tuple[str, ModelPrice] | None] = {}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PriceTable:
        """Build a table from parsed YAML (``version``, ``updated``, ``per_tokens``, ``providers``)."""
        version = data.get("version")
        if not isinstance(version, (str, int, float)) or isinstance(version, bool) or not str(version):
            raise ValueError("price table: 'version' is required")
        per_tokens = _decimal(data.get("per_tokens", 1_000_000), "per_tokens")
        if per_tokens == 0:
            raise ValueError("price table: per_tokens must be positive")
        providers_raw = data.get("providers")
        if not isinstance(providers_raw, Mapping):
            raise ValueError("price table: 'providers' must map provider names to model tables")
        providers: dict[str, dict[str, ModelPrice]] = {}
        for provider, models in providers_raw.items():
            if not isinstance(models, Mapping):
                raise ValueError(f"price table: provider {provider!r} must map model names to prices")
            table: dict[str, ModelPrice] = {}
            for model, price in models.items():
                if not isinstance(price, Mapping) or "input" not in price or "output" not in price:
                    raise ValueError(f"price table: {provider}/{model} needs 'input' and 'output'")
                unknown = set(price) - {"input", "output", "cached_input", "cache_write_input"}
                if unknown:
                    raise ValueError(f"price table: {provider}/{model} has unknown fields {sorted(unknown)}")
                where = f"{provider}/{model}"
                p_in = _decimal(price["input"], f"{where} input") / per_tokens
                table[str(model)] = ModelPrice(
                    input=p_in,
                    output=_decimal(price["output"], f"{where} output") / per_tokens,
                    cached_input=(_decimal(price["cached_input"], f"{where} cached_input") / per_tokens
                                  if "cached_input" in price else p_in),
                    cache_write_input=(_decimal(price["cache_write_input"], f"{where} cache_write_input") / per_tokens
                                       if "cache_write_input" in price else p_in),
                )
            providers[str(provider)] = table
        return cls(str(version), str(data.get("updated", "")), providers)

    @classmethod
    def load(cls, path: Path | str | None = None) -> PriceTable:
        """Read a price table YAML file (default: the one shipped with driftline)."""
        import yaml

        text = Path(path or DEFAULT_PRICES_PATH).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if not isinstance(data, Mapping):
            raise ValueError("price table: expected a mapping at the top level")
        return cls.from_mapping(data)

    def models(self, provider: str) -> Mapping[str, ModelPrice]:
        """The models listed for ``provider`` (empty when the provider is not listed)."""
        return self._providers.get(provider, {})

    def lookup(self, provider: str | None, model: str) -> tuple[str, ModelPrice] | None:
        """The listed model name and price for ``model``, or None when it has no price."""
        key = (provider, model)
        if key in self._found:
            return self._found[key]
        if len(self._found) >= _LOOKUP_CACHE:
            self._found.clear()
        found = self._found[key] = self._lookup(provider, model)
        return found

    def _lookup(self, provider: str | None, model: str) -> tuple[str, ModelPrice] | None:
        tables = ([self._providers[provider]] if provider in self._providers
                  else list(self._providers.values()))
        for table in tables:
            if model in table:
                return model, table[model]
        best: tuple[str, ModelPrice] | None = None
        for table in tables:
            for name, price in table.items():
                if (model.startswith(name) and _DATED_SUFFIX.fullmatch(model, len(name))
                        and (best is None or len(name) > len(best[0]))):
                    best = (name, price)
        return best


@cache
def default_prices() -> PriceTable:
    """The shipped price table, read once per process."""
    return PriceTable.load()


# -- one span ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Output:
    """One output message: its text parts joined, and whether it holds a tool call."""

    text: str
    tool_call: bool


def _output_messages(raw: Any) -> list[_Output] | None:
    """``gen_ai.output.messages`` (JSON, as the instrumentation writes it) as outputs; None when not captured.

    A value that does not parse (cut by an attribute length limit) counts as not captured.
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if not isinstance(raw, list):
        return None
    out: list[_Output] = []
    for message in raw:
        if not isinstance(message, Mapping):
            continue
        parts = message.get("parts")
        texts: list[str] = []
        tool_call = False
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, Mapping):
                continue
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("content"), str):
                texts.append(part["content"])
            elif kind == "tool_call":
                tool_call = True
        out.append(_Output("".join(texts), tool_call))
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _count(value: Any) -> int | None:
    """A token count attribute as an int (None when absent or not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


@dataclass(slots=True)
class _Assessment:
    """The stateless checks' outcome on one span: evaluated checks as a bit mask, failures with details."""

    bits: int = 0
    flags: list[tuple[str, str]] = field(default_factory=list)
    cost: Decimal | None = None
    error_type: str | None = None
    output_tokens: int | None = None

    def check(self, flag: str, failed: bool, detail: str) -> None:
        # bit 2i: check i evaluated; bit 2i+1: check i failed
        index = _INDEX[flag]
        self.bits |= 1 << (2 * index)
        if failed:
            self.bits |= 1 << (2 * index + 1)
            self.flags.append((flag, detail))


def _assess_llm(attrs: Mapping[str, Any], duration: float | None, prices: PriceTable,
                latency_slo: float | None) -> _Assessment:
    """Every stateless check on one LLM span (the module docstring has the definitions)."""
    a = _Assessment()
    error = attrs.get(names.ERROR_TYPE)
    failed = error is not None
    a.error_type = str(error) if failed else None
    # Details are formatted only for failures: most checks pass, and this runs on every span.
    a.check(names.QUALITY_FLAG_ERROR, failed, f"{names.ERROR_TYPE}={error}" if failed else "")

    reasons = [str(r) for r in _as_list(attrs.get(names.GEN_AI_RESPONSE_FINISH_REASONS))]
    if reasons:
        cut = next((r for r in reasons if r in _TRUNCATION_REASONS), None)
        a.check(names.QUALITY_FLAG_TRUNCATED, cut is not None, f"finish reason {cut}" if cut is not None else "")

    outputs = _output_messages(attrs.get(names.GEN_AI_OUTPUT_MESSAGES))
    if not failed:
        length = _count(attrs.get(names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH))
        if outputs is not None:
            # Whitespace-only text is empty; a reply that only calls tools is not.
            empty = not any(o.tool_call or o.text.strip() for o in outputs)
            a.check(names.QUALITY_FLAG_EMPTY, empty, "no text and no tool call in the output messages")
        elif length is not None:
            calls = _count(attrs.get(names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT)) or 0
            a.check(names.QUALITY_FLAG_EMPTY, length == 0 and calls == 0,
                    f"{names.DRIFTLINE_RESPONSE_OUTPUT_LENGTH}=0 and no tool call")

        if reasons or outputs is not None:
            by_reason = next((r for r in reasons if r in _REFUSAL_REASONS), None)
            phrase = None
            if by_reason is None:
                phrase = next((p for o in outputs or () if (p := is_refusal(o.text)) is not None), None)
            detail = f"finish reason {by_reason}" if by_reason is not None else f"refusal phrase {phrase!r}"
            a.check(names.QUALITY_FLAG_REFUSAL, by_reason is not None or phrase is not None, detail)

        if (attrs.get(names.GEN_AI_OUTPUT_TYPE) == names.OUTPUT_TYPE_JSON and outputs is not None
                and not attrs.get(names.DRIFTLINE_CONTENT_TRUNCATED)):
            texts = [o.text for o in outputs if not o.tool_call]
            if texts:
                problem = None
                for text in texts:
                    try:
                        json.loads(text)
                    except ValueError as exc:
                        problem = f"output is not JSON: {exc}"
                        break
                a.check(names.QUALITY_FLAG_INVALID_JSON, problem is not None, problem or "")

    if outputs is not None:
        found = 0
        for o in outputs:
            if o.text:
                found += redact(o.text)[1] + len(_REDACTION_MARKER.findall(o.text))
        a.check(names.QUALITY_FLAG_PII, found > 0, f"{found} PII item(s) in the output" if found else "")

    input_tokens = _count(attrs.get(names.GEN_AI_USAGE_INPUT_TOKENS))
    a.output_tokens = _count(attrs.get(names.GEN_AI_USAGE_OUTPUT_TOKENS))
    if input_tokens is not None or a.output_tokens is not None:
        provider = attrs.get(names.GEN_AI_PROVIDER_NAME)
        provider = str(provider) if provider is not None else None
        # The response model is what was served (often the dated variant); the request model is the fallback.
        candidates = [str(m) for m in (attrs.get(names.GEN_AI_RESPONSE_MODEL), attrs.get(names.GEN_AI_REQUEST_MODEL))
                      if m]
        price = next((found_price for m in candidates if (found_price := prices.lookup(provider, m)) is not None),
                     None)
        if price is None:
            a.check(names.QUALITY_FLAG_COST_UNKNOWN, True,
                    f"no price for {provider}/{'|'.join(candidates) or '?'} in price table {prices.version}")
        else:
            a.check(names.QUALITY_FLAG_COST_UNKNOWN, False, "")
            a.cost = price[1].cost(input_tokens or 0, a.output_tokens or 0,
                                   _count(attrs.get(names.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)) or 0,
                                   _count(attrs.get(names.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)) or 0)

    if latency_slo is not None and duration is not None:
        a.check(names.QUALITY_FLAG_LATENCY_SLO, duration > latency_slo,
                f"duration {duration:.3f}s > {latency_slo:g}s")
    return a


def _assess_tool(attrs: Mapping[str, Any]) -> _Assessment:
    a = _Assessment()
    error = attrs.get(names.ERROR_TYPE)
    failed = error is not None
    a.check(names.QUALITY_FLAG_TOOL_ERROR, failed, f"{names.ERROR_TYPE}={error}" if failed else "")
    return a


def flags_for_span(attrs: Mapping[str, Any], duration: float | None = None, *, prices: PriceTable | None = None,
                   latency_slo: float | None = None) -> list[str]:
    """The stateless checks one span fails, for span enrichment (``driftline.quality.flags``).

    ``attrs``: the span's attributes (SDK or OTLP-decoded); ``duration`` in seconds (only used by
    ``latency_slo``). Covers every check of the module docstring except those that need history:
    ``token_spike``, ``agent_loop`` and ``agent_too_many_steps`` (:class:`QualityEngine` adds them).
    """
    operation = attrs.get(names.GEN_AI_OPERATION_NAME)
    if operation in _LLM_OPERATIONS:
        assessment = _assess_llm(attrs, duration, prices or default_prices(), latency_slo)
    elif operation == names.OPERATION_EXECUTE_TOOL:
        assessment = _assess_tool(attrs)
    else:
        return []
    return [flag for flag, _ in assessment.flags]


# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QualityFlag:
    """One failed check on one span."""

    model: ModelKey
    check: str
    """The flag name (a value of ``driftline.quality.flags``)."""
    trace_id: bytes
    span_id: bytes
    detail: str


@dataclass(frozen=True, slots=True)
class QualityReading:
    """The current value of one check for one model: what ``driftline.quality.value`` exports."""

    model: ModelKey
    check: str
    """A value of ``driftline.quality.check``."""
    value: float
    count: int
    """How many values it summarises (calls evaluated in the window; lifetime priced calls for cost_total)."""
    error_type: str = ""
    """The ``error.type`` of an ``error_type_rate`` reading (empty otherwise)."""


@dataclass(frozen=True, slots=True)
class QualityTotals:
    """Lifetime counters of one model."""

    calls: int
    evaluated: Mapping[str, int]
    failed: Mapping[str, int]
    cost_usd: Decimal
    priced_calls: int


@dataclass(frozen=True)
class QualityConfig:
    """Window size, thresholds and memory bounds of :class:`QualityEngine` (defaults in parentheses)."""

    window: int = 500
    """Calls per model in the rolling window (500)."""
    max_models: int = 1000
    """Models (service, model, version, family) tracked at most (1000)."""
    token_spike_factor: float = 2.0
    """A call spikes when its output tokens exceed this × the window's p99 (2.0)."""
    token_spike_quantile: float = 0.99
    """The baseline quantile of output tokens (0.99)."""
    token_spike_warmup: int = 100
    """Token counts the window must hold before spikes are judged (100)."""
    loop_repeats: int = 3
    """Identical tool calls in one trace that make a loop (3)."""
    max_agent_steps: int = 25
    """Steps of one invoke_agent above which it is flagged (25)."""
    max_traces: int = 1000
    """Traces remembered for loop and step detection across batches (1000, least recently seen evicted)."""
    max_trace_spans: int = 256
    """Span links kept per remembered trace (256)."""
    max_trace_signatures: int = 256
    """Distinct tool-call signatures counted per remembered trace (256)."""
    latency_slo_seconds: float | None = None
    """Duration above which a call fails ``latency_slo`` (None: check off)."""
    max_error_types: int = 20
    """``error.type`` values reported per model in ``error_type_rate``; the rest as ``_OTHER`` (20)."""
    sketch_k: int = DEFAULT_K
    """Accuracy parameter of the latency sketches (see :class:`~.sketch.QuantileSketch`)."""

    def __post_init__(self) -> None:
        for name in ("window", "max_models", "loop_repeats", "max_traces", "max_trace_spans",
                     "max_trace_signatures", "max_error_types"):
            if getattr(self, name) < 1:
                raise ValueError(f"QualityConfig.{name} must be at least 1")
        if self.max_agent_steps < 0 or self.token_spike_warmup < 0:
            raise ValueError("QualityConfig: max_agent_steps and token_spike_warmup must be non-negative")
        if not 0.0 < self.token_spike_quantile <= 1.0 or not self.token_spike_factor > 0:
            raise ValueError("QualityConfig: token_spike_quantile must be in (0, 1], token_spike_factor positive")
        if self.latency_slo_seconds is not None and not self.latency_slo_seconds > 0:
            raise ValueError("QualityConfig.latency_slo_seconds must be positive")


# -- per-model state -----------------------------------------------------------------------------


class _RollingValues:
    """The last ``size`` values, in arrival order and sorted, for exact order statistics of a window."""

    __slots__ = ("_order", "_sorted", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._order)

    def push(self, value: float) -> None:
        if len(self._order) >= self.size:
            old = self._order.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
        self._order.append(value)
        insort(self._sorted, value)

    def quantile(self, q: float) -> float:
        """Inverted-CDF quantile: the ``⌈q·n⌉``-th smallest value (numpy ``method="inverted_cdf"``)."""
        n = len(self._sorted)
        return self._sorted[min(n - 1, max(0, math.ceil(q * n) - 1))]

    def values(self) -> list[float]:
        return list(self._order)


class _Stats:
    """One model's rolling window (one bit mask per call) and lifetime counters."""

    __slots__ = ("calls", "cost_n", "cost_sum", "costs", "error_counts", "errors", "evaluated", "failed", "k",
                 "latency", "latency_previous", "life_calls", "life_cost", "life_evaluated", "life_failed",
                 "life_priced", "pending", "tokens", "window")

    def __init__(self, window: int, k: int) -> None:
        self.window = window
        self.k = k
        self.calls: deque[int] = deque()
        self.evaluated = [0] * len(CHECKS)
        self.failed = [0] * len(CHECKS)
        self.errors: deque[str | None] = deque()
        self.error_counts: Counter[str] = Counter()
        self.costs: deque[Decimal | None] = deque()
        self.cost_sum = Decimal(0)
        self.cost_n = 0
        self.tokens = _RollingValues(window)
        self.latency = QuantileSketch(k)
        self.latency_previous: QuantileSketch | None = None
        self.pending: list[float] = []
        self.life_calls = 0
        self.life_evaluated = [0] * len(CHECKS)
        self.life_failed = [0] * len(CHECKS)
        self.life_cost = Decimal(0)
        self.life_priced = 0

    def record(self, bits: int, error_type: str | None, cost: Decimal | None, lifetime: bool = True) -> None:
        """Append one call to the window (evicting the oldest beyond ``window``)."""
        if len(self.calls) >= self.window:
            self._add(self.calls.popleft(), -1, self.evaluated, self.failed)
            old_error = self.errors.popleft()
            if old_error is not None:
                self.error_counts[old_error] -= 1
                if not self.error_counts[old_error]:
                    del self.error_counts[old_error]
            old_cost = self.costs.popleft()
            if old_cost is not None:
                self.cost_sum -= old_cost
                self.cost_n -= 1
        self.calls.append(bits)
        self._add(bits, 1, self.evaluated, self.failed)
        self.errors.append(error_type)
        if error_type is not None:
            self.error_counts[error_type] += 1
        self.costs.append(cost)
        if cost is not None:
            self.cost_sum += cost
            self.cost_n += 1
        if lifetime:
            self.life_calls += 1
            self._add(bits, 1, self.life_evaluated, self.life_failed)
            if cost is not None:
                self.life_cost += cost
                self.life_priced += 1

    @staticmethod
    def _add(bits: int, sign: int, evaluated: list[int], failed: list[int]) -> None:
        index = 0
        while bits:
            if bits & 1:
                evaluated[index] += sign
            if bits & 2:
                failed[index] += sign
            bits >>= 2
            index += 1

    def flush_latency(self) -> None:
        """Fold the batch's durations into the tumbling sketches (one ``update_many`` per chunk, not per call)."""
        if not self.pending:
            return
        values = np.asarray(self.pending, dtype=np.float64)
        self.pending.clear()
        start = 0
        while start < values.size:
            # Tumbling windows: the merged pair covers the last N to 2N durations. A sketch restored
            # from a state with a larger window may already hold more than N: it is rotated first.
            if self.latency.count >= self.window:
                self.latency_previous, self.latency = self.latency, QuantileSketch(self.k)
            chunk = values[start:start + self.window - self.latency.count]
            self.latency.update_many(chunk)
            start += chunk.size
        if self.latency.count >= self.window:
            self.latency_previous, self.latency = self.latency, QuantileSketch(self.k)

    def latency_sketch(self) -> QuantileSketch:
        return self.latency if self.latency_previous is None else self.latency_previous.merge(self.latency)

    def to_state(self) -> dict[str, Any]:
        return {
            "calls": list(self.calls),
            "errors": list(self.errors),
            "costs": [None if c is None else str(c) for c in self.costs],
            "tokens": self.tokens.values(),
            "latency": self.latency.to_state(),
            "latency_previous": None if self.latency_previous is None else self.latency_previous.to_state(),
            "life_calls": self.life_calls,
            "life_evaluated": list(self.life_evaluated),
            "life_failed": list(self.life_failed),
            "life_cost": str(self.life_cost),
            "life_priced": self.life_priced,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], window: int, k: int, remap: Sequence[int | None]) -> _Stats:
        stats = cls(window, k)
        calls, errors, costs = state["calls"], state["errors"], state["costs"]
        if not len(calls) == len(errors) == len(costs):
            raise ValueError("quality state: window columns differ in length")
        for bits, error, cost in zip(calls, errors, costs, strict=True):
            stats.record(_remap_bits(int(bits), remap), None if error is None else str(error),
                         None if cost is None else Decimal(str(cost)), lifetime=False)
        for value in state["tokens"]:
            stats.tokens.push(float(value))
        latency = QuantileSketch.from_state(state["latency"])
        previous = state.get("latency_previous")
        # Sketches merge only with their own k: a state written with another k restarts the latency window.
        if latency.k == k:
            stats.latency = latency
            stats.latency_previous = None if previous is None else QuantileSketch.from_state(previous)
        stats.life_calls = int(state["life_calls"])
        stats.life_evaluated = _remap_counts(state["life_evaluated"], remap)
        stats.life_failed = _remap_counts(state["life_failed"], remap)
        stats.life_cost = Decimal(str(state["life_cost"]))
        stats.life_priced = int(state["life_priced"])
        return stats


def _remap_bits(bits: int, remap: Sequence[int | None]) -> int:
    """Bit mask written with the saved check order → the current order (unknown checks dropped)."""
    out = 0
    for old, new in enumerate(remap):
        if new is not None:
            out |= ((bits >> (2 * old)) & 3) << (2 * new)
    return out


def _remap_counts(counts: Sequence[Any], remap: Sequence[int | None]) -> list[int]:
    out = [0] * len(CHECKS)
    for old, new in enumerate(remap):
        if new is not None and old < len(counts):
            out[new] = int(counts[old])
    return out


# -- per-trace state -----------------------------------------------------------------------------


def _signature(tool: str, arguments: Any) -> str:
    """A short digest of (tool, canonical arguments): JSON re-serialised with sorted keys when it parses."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, sort_keys=True, default=str)
    try:
        text = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        pass  # not JSON: compared verbatim
    # A digest keeps memory per signature constant, whatever the size of the arguments.
    return hashlib.blake2b(f"{tool}\0{text}".encode(), digest_size=8).hexdigest()


class _Trace:
    """What is remembered of one trace: span links (for agent steps) and tool-call repetition counts."""

    __slots__ = ("agents", "flagged", "parents", "run", "run_tool", "signatures", "steps")

    def __init__(self) -> None:
        self.parents: dict[bytes, bytes] = {}
        self.steps: set[bytes] = set()
        self.agents: dict[bytes, ModelKey] = {}
        self.flagged: set[bytes] = set()
        self.signatures: dict[str, int] = {}
        self.run_tool: str | None = None
        self.run = 0

    def tool_call(self, tool: str, arguments: Any, repeats: int, max_signatures: int) -> tuple[bool, str]:
        """Count one tool call; whether it completes (or continues) a loop, and why."""
        if arguments is not None:
            self.run_tool, self.run = None, 0
            signature = _signature(tool, arguments)
            count = self.signatures.get(signature)
            if count is None:
                if len(self.signatures) >= max_signatures:
                    return False, ""
                count = 0
            count += 1
            self.signatures[signature] = count
            return count >= repeats, f"tool {tool!r} called {count} times with the same arguments in one trace"
        # Arguments not captured: only consecutive calls of the same tool can be told apart.
        if self.run_tool == tool:
            self.run += 1
        else:
            self.run_tool, self.run = tool, 1
        return self.run >= repeats, f"tool {tool!r} called {self.run} times in a row (arguments not captured)"

    def steps_per_agent(self) -> dict[bytes, int]:
        """Per invoke_agent span: the step spans whose nearest invoke_agent ancestor it is."""
        counts = dict.fromkeys(self.agents, 0)
        for span_id in self.steps:
            node = self.parents.get(span_id, b"")
            for _ in range(64):  # bounded walk: a malformed parent chain cannot loop forever
                if node in counts:
                    counts[node] += 1
                    break
                if node not in self.parents:
                    break
                node = self.parents[node]
        return counts

    def to_state(self) -> dict[str, Any]:
        return {
            "parents": {k.hex(): v.hex() for k, v in self.parents.items()},
            "steps": sorted(s.hex() for s in self.steps),
            "agents": {k.hex(): _key_state(v) for k, v in self.agents.items()},
            "flagged": sorted(s.hex() for s in self.flagged),
            "signatures": dict(self.signatures),
            "run_tool": self.run_tool,
            "run": self.run,
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> _Trace:
        trace = cls()
        trace.parents = {bytes.fromhex(k): bytes.fromhex(v) for k, v in state["parents"].items()}
        trace.steps = {bytes.fromhex(s) for s in state["steps"]}
        trace.agents = {bytes.fromhex(k): _key_from_state(v) for k, v in state["agents"].items()}
        trace.flagged = {bytes.fromhex(s) for s in state["flagged"]}
        trace.signatures = {str(k): int(v) for k, v in state["signatures"].items()}
        trace.run_tool = state.get("run_tool")
        trace.run = int(state.get("run", 0))
        return trace


def _key_state(key: ModelKey) -> list[str]:
    return [key.service, key.model, key.version, key.family]


def _key_from_state(value: Sequence[Any]) -> ModelKey:
    service, model, version, family = (str(v) for v in value)
    return ModelKey(service, model, version, family)


@dataclass(slots=True)
class _SpanInfo:
    span_id: bytes
    parent_id: bytes
    start: int
    operation: Any
    attrs: Mapping[str, Any]
    service: str


def _duration(span: Any) -> float | None:
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not start or not end or end < start:
        return None
    return float((end - start) * _NANOS)


# -- the engine ----------------------------------------------------------------------------------


class QualityEngine:
    """Runs the quality checks on span batches and keeps per-model rolling and lifetime statistics."""

    def __init__(self, config: QualityConfig | None = None, prices: PriceTable | None = None) -> None:
        self.config = config or QualityConfig()
        self.prices = prices or default_prices()
        self._stats: dict[ModelKey, _Stats] = {}
        self._traces: OrderedDict[bytes, _Trace] = OrderedDict()
        self.spans = 0
        """Spans observed."""
        self.overflow = 0
        """Calls of models beyond ``max_models``: flagged but not counted in any statistic."""
        self.trace_overflow = 0
        """Span links not kept because their trace already held ``max_trace_spans``."""

    @property
    def models(self) -> list[ModelKey]:
        """The models tracked so far."""
        return list(self._stats)

    def observe(self, resource_spans: Iterable[Any]) -> list[QualityFlag]:
        """Check every span of one ExportTraceServiceRequest's ``resource_spans``; return the failures."""
        flags: list[QualityFlag] = []
        by_trace: dict[bytes, list[_SpanInfo]] = {}
        touched: set[ModelKey] = set()
        for rs in resource_spans:
            resource = attributes_dict(rs.resource.attributes)
            service = str(resource.get(names.SERVICE_NAME, ""))
            for ss in rs.scope_spans:
                for span in ss.spans:
                    self.spans += 1
                    attrs = attributes_dict(span.attributes)
                    operation = attrs.get(names.GEN_AI_OPERATION_NAME)
                    trace_id = bytes(span.trace_id)
                    # Span links of every span: intermediate spans (chains, workflows) connect steps to agents.
                    by_trace.setdefault(trace_id, []).append(_SpanInfo(
                        bytes(span.span_id), bytes(span.parent_span_id), int(span.start_time_unix_nano),
                        operation, attrs if operation in _AGENT_OPERATIONS else {}, service))
                    if operation in _LLM_OPERATIONS:
                        flags += self._llm_span(span, attrs, service, trace_id, touched)
        for trace_id, infos in by_trace.items():
            # A root LLM call is no agent's step: traces of standalone calls are not remembered.
            if any(info.operation in _AGENT_OPERATIONS or (info.operation in _STEP_OPERATIONS and info.parent_id)
                   for info in infos):
                flags += self._trace(trace_id, infos)
        for key in touched:
            self._stats[key].flush_latency()
        return flags

    def _admit(self, key: ModelKey) -> _Stats | None:
        stats = self._stats.get(key)
        if stats is None:
            if len(self._stats) >= self.config.max_models:
                self.overflow += 1
                return None
            stats = self._stats[key] = _Stats(self.config.window, self.config.sketch_k)
        return stats

    def _llm_span(self, span: Any, attrs: Mapping[str, Any], service: str, trace_id: bytes,
                  touched: set[ModelKey]) -> list[QualityFlag]:
        key = model_key(attrs, service)
        if key is None:
            return []
        cfg = self.config
        duration = _duration(span)
        a = _assess_llm(attrs, duration, self.prices, cfg.latency_slo_seconds)
        stats = self._admit(key)
        if stats is not None:
            if a.output_tokens is not None:
                tokens = stats.tokens
                if len(tokens) >= max(1, cfg.token_spike_warmup):
                    baseline = tokens.quantile(cfg.token_spike_quantile)
                    limit = cfg.token_spike_factor * max(1.0, baseline)
                    a.check(names.QUALITY_FLAG_TOKEN_SPIKE, a.output_tokens > limit,
                            f"{a.output_tokens} output tokens > {cfg.token_spike_factor:g} × p"
                            f"{cfg.token_spike_quantile * 100:g} {baseline:g} of the last {len(tokens)} calls")
                tokens.push(float(a.output_tokens))
            stats.record(a.bits, a.error_type, a.cost)
            if duration is not None:
                stats.pending.append(duration)
                touched.add(key)
        span_id = bytes(span.span_id)
        return [QualityFlag(key, flag, trace_id, span_id, detail) for flag, detail in a.flags]

    def _trace(self, trace_id: bytes, infos: list[_SpanInfo]) -> list[QualityFlag]:
        cfg = self.config
        trace = self._traces.get(trace_id)
        if trace is None:
            trace = self._traces[trace_id] = _Trace()
            if len(self._traces) > cfg.max_traces:
                self._traces.popitem(last=False)
        else:
            self._traces.move_to_end(trace_id)
        new: list[_SpanInfo] = []
        for info in infos:
            if info.span_id in trace.parents:
                continue  # seen before (a redelivered batch): counted once
            new.append(info)
            if len(trace.parents) >= cfg.max_trace_spans:
                self.trace_overflow += 1
                continue
            trace.parents[info.span_id] = info.parent_id
            if info.operation in _STEP_OPERATIONS:
                trace.steps.add(info.span_id)
        flags: list[QualityFlag] = []
        # Tool calls in start order: the order the agent made them, whatever order they were exported in.
        tools = sorted((i for i in new if i.operation == names.OPERATION_EXECUTE_TOOL),
                       key=lambda i: (i.start, i.span_id))
        for info in tools:
            key = model_key(info.attrs, info.service)
            if key is None:
                continue
            a = _assess_tool(info.attrs)
            tool = str(info.attrs.get(names.GEN_AI_TOOL_NAME, ""))
            looping, detail = trace.tool_call(tool, info.attrs.get(names.GEN_AI_TOOL_CALL_ARGUMENTS),
                                              cfg.loop_repeats, cfg.max_trace_signatures)
            a.check(names.QUALITY_FLAG_AGENT_LOOP, looping, detail)
            stats = self._admit(key)
            if stats is not None:
                stats.record(a.bits, None, None)
            flags += [QualityFlag(key, flag, trace_id, info.span_id, d) for flag, d in a.flags]
        arrived: set[bytes] = set()
        for info in new:
            if info.operation == names.OPERATION_INVOKE_AGENT:
                key = model_key(info.attrs, info.service)
                if key is not None:
                    trace.agents[info.span_id] = key
                    arrived.add(info.span_id)
        if trace.agents:
            steps = trace.steps_per_agent()
            for agent_id, key in trace.agents.items():
                count = steps.get(agent_id, 0)
                over = count > cfg.max_agent_steps
                if agent_id in arrived:
                    a = _Assessment()
                    a.check(names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS, over, "")
                    stats = self._admit(key)
                    if stats is not None:
                        stats.record(a.bits, None, None)
                if over and agent_id not in trace.flagged:
                    trace.flagged.add(agent_id)
                    flags.append(QualityFlag(key, names.QUALITY_FLAG_AGENT_TOO_MANY_STEPS, trace_id, agent_id,
                                             f"{count} steps > {cfg.max_agent_steps}"))
        return flags

    # -- reading -------------------------------------------------------------------------------

    def readings(self) -> list[QualityReading]:
        """The current value of every check with data, per model (see the module docstring)."""
        out: list[QualityReading] = []
        for key, stats in self._stats.items():
            for index, flag in enumerate(CHECKS):
                evaluated = stats.evaluated[index]
                if evaluated:
                    out.append(QualityReading(key, _RATE_OF[flag], stats.failed[index] / evaluated, evaluated))
            calls = stats.evaluated[_ERROR_INDEX]
            if calls and stats.error_counts:
                ranked = sorted(stats.error_counts.items(), key=lambda item: (-item[1], item[0]))
                kept, rest = ranked[:self.config.max_error_types], ranked[self.config.max_error_types:]
                if rest:
                    kept.append((_OTHER_ERROR_TYPE, sum(n for _, n in rest)))
                out += [QualityReading(key, names.QUALITY_CHECK_ERROR_TYPE_RATE, n / calls, calls, error_type)
                        for error_type, n in kept]
            sketch = stats.latency_sketch()
            if sketch.count:
                p50, p95, p99 = (float(v) for v in sketch.quantiles([0.5, 0.95, 0.99]))
                out += [QualityReading(key, names.QUALITY_CHECK_LATENCY_P50, p50, sketch.count),
                        QualityReading(key, names.QUALITY_CHECK_LATENCY_P95, p95, sketch.count),
                        QualityReading(key, names.QUALITY_CHECK_LATENCY_P99, p99, sketch.count)]
            if stats.cost_n:
                out.append(QualityReading(key, names.QUALITY_CHECK_COST_PER_CALL,
                                          float(stats.cost_sum / stats.cost_n), stats.cost_n))
            if stats.life_priced:
                out.append(QualityReading(key, names.QUALITY_CHECK_COST_TOTAL, float(stats.life_cost),
                                          stats.life_priced))
        return out

    def totals(self) -> dict[ModelKey, QualityTotals]:
        """Lifetime counters per model: calls, checks evaluated and failed, exact cost of the priced calls."""
        return {key: QualityTotals(
            calls=s.life_calls,
            evaluated={flag: s.life_evaluated[i] for i, flag in enumerate(CHECKS)},
            failed={flag: s.life_failed[i] for i, flag in enumerate(CHECKS)},
            cost_usd=s.life_cost,
            priced_calls=s.life_priced,
        ) for key, s in self._stats.items()}

    # -- state ---------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A JSON-able snapshot (windows, sketches, lifetime counters, remembered traces)."""
        return {
            "version": _STATE_VERSION,
            "checks": list(CHECKS),
            "price_version": self.prices.version,
            "spans": self.spans,
            "overflow": self.overflow,
            "trace_overflow": self.trace_overflow,
            "models": [{"key": _key_state(key), **stats.to_state()} for key, stats in self._stats.items()],
            "traces": [[trace_id.hex(), trace.to_state()] for trace_id, trace in self._traces.items()],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any], config: QualityConfig | None = None,
                   prices: PriceTable | None = None) -> QualityEngine:
        """Rebuild an engine written by :meth:`to_state` (a smaller ``window`` keeps the newest calls).

        Costs already recorded keep the prices they were computed with, whatever ``prices`` is now.
        """
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"quality state: unsupported version {state.get('version')!r}")
        engine = cls(config, prices)
        cfg = engine.config
        remap = [_INDEX.get(str(name)) for name in state["checks"]]
        engine.spans = int(state["spans"])
        engine.overflow = int(state["overflow"])
        engine.trace_overflow = int(state.get("trace_overflow", 0))
        for entry in state["models"]:
            key = _key_from_state(entry["key"])
            if len(engine._stats) >= cfg.max_models:
                break
            engine._stats[key] = _Stats.from_state(entry, cfg.window, cfg.sketch_k, remap)
        for trace_hex, trace_state in state["traces"][-cfg.max_traces:]:
            engine._traces[bytes.fromhex(trace_hex)] = _Trace.from_state(trace_state)
        return engine
