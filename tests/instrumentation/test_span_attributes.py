"""Custom span attributes: scoped ones (``driftline.instrumentation.span_attributes``, contextvars)
and static ones (``DRIFTLINE_SPAN_ATTRIBUTES``) on the LLM spans driftline creates — nesting,
isolation across threads and asyncio tasks, invalid values, and OTEL_RESOURCE_ATTRIBUTES untouched."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation import span_attributes
from driftline.instrumentation._core import scoped
from driftline.instrumentation.anthropic import AnthropicInstrumentor
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.fakes.llm_server import FakeLLMServer
from tests.instrumentation.anthropic_support import MODEL, SCOPE
from tests.instrumentation.sdk_support import attrs, user

CUSTOM = ("team", "tier", "region", "cost.center", "labels", "flag", "ratio")
"""The custom keys these tests use; ``custom(span)`` shows only those."""


@pytest.fixture
def client(fake_llm: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake_llm.anthropic_base_url, api_key="test", max_retries=0) as created:
        yield created


@pytest.fixture
async def aclient(fake_llm: FakeLLMServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=fake_llm.anthropic_base_url, api_key="test",
                                        max_retries=0) as created:
        yield created


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which invalid attributes were already warned about (the memory is process-wide)."""
    monkeypatch.setattr(scoped, "_warned", set())


def call(client: anthropic.Anthropic) -> str:
    """One messages.create; its response id (which names its span)."""
    return client.messages.create(model=MODEL, max_tokens=10, messages=user("hi")).id


def custom(span_attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in span_attrs.items() if k in CUSTOM}


def custom_by_response(tel: Telemetry) -> dict[str, dict[str, Any]]:
    """Custom attributes of every LLM span, keyed by the span's response id."""
    return {attrs(s)[names.GEN_AI_RESPONSE_ID]: custom(attrs(s)) for s in tel.llm_spans()}


# -- the context manager -----------------------------------------------------------------------------


def test_keyword_form(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with span_attributes(team="search") as scope:
        call(client)

    assert dict(scope.attributes) == {"team": "search"}
    (span,) = tel.llm_spans()
    assert custom(attrs(span)) == {"team": "search"}
    assert attrs(span)[names.GEN_AI_REQUEST_MODEL] == MODEL  # the conventions' attributes stay


def test_mapping_form_all_value_types(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with span_attributes({"team": "search", "cost.center": 42, "flag": True, "ratio": 0.5,
                          "labels": ["a", "b"]}, team="ads"):  # keywords win over the mapping
        call(client)

    (span,) = tel.llm_spans()
    assert custom(attrs(span)) == {"team": "ads", "cost.center": 42, "flag": True, "ratio": 0.5,
                                   "labels": ("a", "b")}


def test_nesting(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with span_attributes(team="search", tier="gold"):
        outer_before = call(client)
        with span_attributes(team="ads", region="eu"):
            inner = call(client)
        outer_after = call(client)
    outside = call(client)

    assert custom_by_response(tel) == {
        outer_before: {"team": "search", "tier": "gold"},
        inner: {"team": "ads", "tier": "gold", "region": "eu"},
        outer_after: {"team": "search", "tier": "gold"},
        outside: {},
    }


def test_restored_when_the_block_raises(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    with pytest.raises(anthropic.RateLimitError), span_attributes(team="search"):
        client.messages.create(model=MODEL, max_tokens=10, messages=user("[[error:429]]"))
    after = call(client)

    failed, ok = tel.llm_spans()
    assert custom(attrs(failed)) == {"team": "search"}
    assert attrs(ok)[names.GEN_AI_RESPONSE_ID] == after
    assert custom(attrs(ok)) == {}


def test_isolated_across_threads(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    both_inside = threading.Barrier(2, timeout=10)

    def work(team: str) -> tuple[str, str]:
        with span_attributes(team=team):
            both_inside.wait()  # both blocks are open at once before either calls
            return team, call(client)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(work, ["search", "ads"]))

    assert custom_by_response(tel) == {response_id: {"team": team} for team, response_id in results}


def test_not_inherited_by_pool_threads(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    """Executor threads run in their own context (contextvars are not copied by submit())."""
    tel = telemetry()

    with span_attributes(team="search"), ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(call, client).result()

    (span,) = tel.llm_spans()
    assert custom(attrs(span)) == {}


async def test_isolated_across_asyncio_tasks(aclient: anthropic.AsyncAnthropic,
                                             telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    inside = {"search": asyncio.Event(), "ads": asyncio.Event()}

    async def work(team: str, other: str) -> tuple[str, str]:
        async with span_attributes(team=team):
            inside[team].set()
            await inside[other].wait()  # both blocks are open at once before either calls
            message = await aclient.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
            return team, message.id

    results = await asyncio.gather(work("search", "ads"), work("ads", "search"))

    assert custom_by_response(tel) == {response_id: {"team": team} for team, response_id in results}


async def test_inherited_by_tasks_created_inside(aclient: anthropic.AsyncAnthropic,
                                                 telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    async with span_attributes(team="search"):
        task = asyncio.create_task(aclient.messages.create(model=MODEL, max_tokens=10, messages=user("hi")))
    await task  # finishes after the block closed: the task kept the context it was created in

    (span,) = tel.llm_spans()
    assert custom(attrs(span)) == {"team": "search"}


async def test_one_instance_shared_by_concurrent_tasks(aclient: anthropic.AsyncAnthropic,
                                                       telemetry: Callable[..., Telemetry]) -> None:
    """A module-level ``SEARCH = span_attributes(team="search")`` entered by overlapping tasks: each
    exit undoes its own entry (it used to raise "Token was created in a different Context")."""
    tel = telemetry()
    search = span_attributes(team="search")
    first_inside, second_inside, first_may_exit = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> dict[str, Any]:
        async with search:
            first_inside.set()
            await first_may_exit.wait()
        return dict(scoped.current_scoped_attributes())

    async def second() -> dict[str, Any]:
        await first_inside.wait()
        async with search:
            second_inside.set()
            await aclient.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
        return dict(scoped.current_scoped_attributes())

    async def release() -> None:
        await second_inside.wait()
        first_may_exit.set()  # the first task leaves while the second is still inside

    after_first, after_second, _ = await asyncio.gather(first(), second(), release())

    assert (after_first, after_second) == ({}, {})
    (span,) = tel.llm_spans()
    assert custom(attrs(span)) == {"team": "search"}


def test_one_instance_shared_by_threads(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    search = span_attributes(team="search")
    both_inside = threading.Barrier(2, timeout=10)
    first_out = threading.Event()

    def work(index: int) -> dict[str, Any]:
        with search:
            both_inside.wait()
            if index == 1:
                first_out.wait(timeout=10)  # exit after the other thread, in reverse order of entry
            call(client)
        if index == 0:
            first_out.set()
        return dict(scoped.current_scoped_attributes())

    with ThreadPoolExecutor(max_workers=2) as pool:
        after = list(pool.map(work, [0, 1]))

    assert after == [{}, {}]
    assert [custom(attrs(s)) for s in tel.llm_spans()] == [{"team": "search"}] * 2


# -- invalid attributes ----------------------------------------------------------------------------------


class _Opaque:
    pass


def test_invalid_values_dropped_with_one_warning_each(client: anthropic.Anthropic,
                                                      telemetry: Callable[..., Telemetry],
                                                      caplog: pytest.LogCaptureFixture,
                                                      fresh_warnings: None) -> None:
    tel = telemetry()
    bad: dict[str, Any] = {"nested": {"a": 1}, "thing": _Opaque(), "": "empty key", "mixed": [1, "two"],
                           "bools_and_ints": [True, 1], "nothing": None}

    with caplog.at_level(logging.WARNING, logger="driftline.instrumentation"):
        for _ in range(3):  # entering again warns no more
            with span_attributes(bad, team="search"):
                call(client)

    assert [custom(attrs(s)) for s in tel.llm_spans()] == [{"team": "search"}] * 3
    for span in tel.llm_spans():
        assert not {"nested", "thing", "", "mixed", "bools_and_ints", "nothing"} & set(attrs(span))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(bad)
    for key in ("'nested'", "'thing'", "''", "'mixed'", "'bools_and_ints'", "'nothing'"):
        assert sum(key in w for w in warnings) == 1, key


def test_invalid_values_never_raise_outside_instrumentation(fresh_warnings: None) -> None:
    with span_attributes({"x": object(), 3: "non-string key"}) as scope:  # type: ignore[dict-item]
        assert dict(scope.attributes) == {}
        assert dict(scoped.current_scoped_attributes()) == {}


def test_empty_sequence_is_valid() -> None:
    with span_attributes(labels=[]):
        assert dict(scoped.current_scoped_attributes()) == {"labels": ()}


# -- static attributes ---------------------------------------------------------------------------------


def test_static_attributes_on_every_span(client: anthropic.Anthropic, telemetry: Callable[..., Telemetry],
                                         fake_llm: FakeLLMServer) -> None:
    tel = telemetry(**{names.ENV_SPAN_ATTRIBUTES: "team=search, tier=gold"})
    oai = openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="test", max_retries=0)

    call(client)
    oai.chat.completions.create(model="gpt-4o", messages=user("hi"))
    with span_attributes(team="ads"):  # scoped beats static on conflict
        call(client)
    oai.close()

    spans = tel.llm_spans()
    assert [(s.instrumentation_scope.name if s.instrumentation_scope else None, custom(attrs(s))) for s in spans] == [
        (SCOPE, {"team": "search", "tier": "gold"}),
        ("driftline.instrumentation.openai", {"team": "search", "tier": "gold"}),
        (SCOPE, {"team": "ads", "tier": "gold"}),
    ]


def test_resource_attributes_still_work(monkeypatch: pytest.MonkeyPatch, client: anthropic.Anthropic) -> None:
    """OTEL_RESOURCE_ATTRIBUTES describe the process (the Resource); DRIFTLINE_SPAN_ATTRIBUTES go on
    spans. Both from the environment, neither in the other's place."""
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=checkout,deployment.environment=test")
    monkeypatch.setenv(names.ENV_SPAN_ATTRIBUTES, "team=search")
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        call(client)
    finally:
        instrumentor.uninstrument()

    (span,) = exporter.get_finished_spans()
    assert span.resource.attributes["service.name"] == "checkout"
    assert span.resource.attributes["deployment.environment"] == "test"
    assert "team" not in span.resource.attributes
    assert attrs(span)["team"] == "search"
    assert "service.name" not in attrs(span)
