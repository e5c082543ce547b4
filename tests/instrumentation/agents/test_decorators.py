"""``@tool``, ``@agent`` and ``@workflow`` on their own: the function stays what it was (signature,
kind, return values, exceptions), the span says what ran, and content follows the policy."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import inspect
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from driftline.instrumentation import agent, set_tool_call_id, span_attributes, tool, tool_call, workflow
from driftline.instrumentation._core.content import TRUNCATION_MARKER
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.instrumentation.agents.support import (
    CONTENT_ON,
    agent_spans,
    attrs,
    decoded,
    only_agent_span,
    parent_id,
    span_id,
)


class WeatherError(Exception):
    """Raised by the tools below on purpose."""


# -- the function stays what it was ---------------------------------------------------------------


def plain(city: str, *, unit: str = "C") -> str:
    """Current weather for a city.

    Longer text that is not part of the description.
    """
    return f"{city}: 21{unit}"


async def coroutine(city: str) -> str:
    """Async weather."""
    return city


def generator(n: int) -> Iterator[int]:
    """Counts."""
    yield from range(n)


async def async_generator(n: int) -> AsyncIterator[int]:
    """Counts, asynchronously."""
    for i in range(n):
        yield i


KINDS = (inspect.iscoroutinefunction, inspect.isgeneratorfunction, inspect.isasyncgenfunction)


@pytest.mark.parametrize("decorator", [tool, tool(name="x", type=names.TOOL_TYPE_EXTENSION), agent,
                                       agent(name="a"), workflow, workflow(name="w")],
                         ids=["tool", "tool()", "agent", "agent()", "workflow", "workflow()"])
@pytest.mark.parametrize("func", [plain, coroutine, generator, async_generator],
                         ids=["function", "coroutine", "generator", "async-generator"])
def test_decorated_function_keeps_its_identity(decorator: Any, func: Callable[..., Any]) -> None:
    wrapped = decorator(func)
    assert wrapped.__wrapped__ is func
    assert (wrapped.__name__, wrapped.__qualname__, wrapped.__doc__, wrapped.__module__) == (
        func.__name__, func.__qualname__, func.__doc__, func.__module__)
    assert inspect.signature(wrapped) == inspect.signature(func)
    assert [kind(wrapped) for kind in KINDS] == [kind(func) for kind in KINDS]


async def test_every_shape_returns_what_the_function_returns(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    assert tool(plain)("Paris", unit="F") == "Paris: 21F"
    assert await tool(coroutine)("Oslo") == "Oslo"
    assert list(tool(generator)(3)) == [0, 1, 2]
    assert [i async for i in tool(async_generator)(2)] == [0, 1]
    assert [s.name for s in agent_spans(tel)] == ["execute_tool plain", "execute_tool coroutine",
                                                  "execute_tool generator", "execute_tool async_generator"]
    assert all(s.kind is SpanKind.INTERNAL for s in agent_spans(tel))


def test_tool_defaults_and_overrides(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    tool(plain)("Paris")
    tool(name="weather", description="Looks it up", type=names.TOOL_TYPE_DATASTORE)(plain)("Paris")
    default, explicit = agent_spans(tel)
    assert attrs(default) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
        names.GEN_AI_TOOL_NAME: "plain",
        names.GEN_AI_TOOL_TYPE: names.TOOL_TYPE_FUNCTION,
        names.GEN_AI_TOOL_DESCRIPTION: "Current weather for a city.",  # the docstring's first line only
    }
    assert explicit.name == "execute_tool weather"
    assert attrs(explicit) == {
        names.GEN_AI_OPERATION_NAME: names.OPERATION_EXECUTE_TOOL,
        names.GEN_AI_TOOL_NAME: "weather",
        names.GEN_AI_TOOL_TYPE: names.TOOL_TYPE_DATASTORE,
        names.GEN_AI_TOOL_DESCRIPTION: "Looks it up",
    }


class Desk:
    """Agents, tools and workflows as methods."""

    label = "class-desk"

    def __init__(self, name: str | None, ident: str = "id-1") -> None:
        self.name = name
        self.ident = ident

    @agent(name_attribute="name", id_attribute="ident", description_attribute="missing", description="static")
    def answer(self, question: str) -> str:
        return self.lookup(question)

    @agent
    def unnamed(self) -> str:
        return "ok"

    @tool
    def lookup(self, query: str) -> str:
        return query.upper()

    @staticmethod
    @tool
    def static_tool(x: int) -> int:
        return x + 1

    @classmethod
    @workflow
    def pipeline(cls, x: int) -> int:
        return Desk.static_tool(x) * 2

    @tool
    @classmethod
    def class_tool(cls, x: int) -> str:
        return f"{cls.label}:{x}"


def test_methods_take_names_from_the_instance(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    assert Desk("triage").answer("q") == "Q"
    assert Desk(None).answer("q") == "Q"  # attribute not a string: the default name
    assert Desk("x").unnamed() == "ok"
    lookup, triage, lookup2, fallback, unnamed = agent_spans(tel)
    assert triage.name == "invoke_agent triage"
    assert attrs(triage)[names.GEN_AI_AGENT_ID] == "id-1"
    assert attrs(triage)[names.GEN_AI_AGENT_DESCRIPTION] == "static"  # no such attribute: static value kept
    assert decoded(triage, names.DRIFTLINE_INVOCATION_ARGUMENTS) == {"question": "q"}
    assert decoded(lookup, names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"query": "q"}
    assert parent_id(lookup) == span_id(triage)
    assert fallback.name == "invoke_agent Desk.answer"
    assert unnamed.name == "invoke_agent Desk.unnamed"
    assert lookup2.name == "execute_tool lookup"


def test_static_and_class_methods_in_either_order(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    assert Desk.pipeline(1) == 4
    assert Desk("d").pipeline(2) == 6
    assert Desk.class_tool(3) == "class-desk:3"
    assert Desk.static_tool(4) == 5
    names_seen = [s.name for s in agent_spans(tel)]
    assert names_seen == ["execute_tool static_tool", "invoke_workflow Desk.pipeline",
                          "execute_tool static_tool", "invoke_workflow Desk.pipeline",
                          "execute_tool class_tool", "execute_tool static_tool"]
    workflow_span = agent_spans(tel)[1]
    assert attrs(workflow_span)[names.GEN_AI_WORKFLOW_NAME] == "Desk.pipeline"
    assert decoded(workflow_span, names.DRIFTLINE_INVOCATION_ARGUMENTS) == {"x": 1}  # cls left out
    assert decoded(agent_spans(tel)[4], names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"x": 3}


def test_workflow_agent_tool_nest(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    @tool
    def search(q: str) -> str:
        return q

    @agent(name="researcher")
    def research(q: str) -> str:
        return search(q)

    @workflow(name="report")
    def report(q: str) -> str:
        return research(q)

    assert report("x") == "x"
    tool_span, agent_span, workflow_span = agent_spans(tel)
    assert workflow_span.name == "invoke_workflow report"
    assert attrs(workflow_span) == {names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_WORKFLOW,
                                    names.GEN_AI_WORKFLOW_NAME: "report"}
    assert workflow_span.parent is None
    assert parent_id(agent_span) == span_id(workflow_span)
    assert parent_id(tool_span) == span_id(agent_span)


# -- the tool call id ------------------------------------------------------------------------------


def test_call_id_keyword_is_consumed_unless_declared(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)

    @tool(call_id_arg="tool_call_id")
    def undeclared(city: str) -> str:
        return city

    @tool(call_id_arg="tool_call_id")
    def declared(city: str, tool_call_id: str | None = None) -> str:
        return f"{city}/{tool_call_id}"

    @tool(call_id_arg="tool_call_id")
    def catch_all(city: str, **extra: Any) -> str:
        return f"{city}/{sorted(extra)}"

    assert undeclared("Paris", tool_call_id="call_1") == "Paris"  # type: ignore[call-arg]
    assert declared("Paris", tool_call_id="call_2") == "Paris/call_2"
    assert declared("Paris", "call_3") == "Paris/call_3"  # positionally too
    assert catch_all("Paris", tool_call_id="call_4", days=2) == "Paris/['days', 'tool_call_id']"
    assert undeclared("Paris") == "Paris"
    spans = agent_spans(tel)
    assert [attrs(s).get(names.GEN_AI_TOOL_CALL_ID) for s in spans] == ["call_1", "call_2", "call_3", "call_4", None]
    for span in spans:
        assert "tool_call_id" not in decoded(span, names.GEN_AI_TOOL_CALL_ARGUMENTS)
    assert decoded(spans[3], names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"city": "Paris", "days": 2}


def test_tool_call_block_reaches_the_tool_started_in_it_only(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()

    @tool
    def inner() -> None:
        pass

    @tool
    def outer() -> None:
        inner()  # a tool the tool calls: not the model's call

    with tool_call(id="call_9") as block:
        assert block.id == "call_9"
        outer()
    outer()
    inner_span, outer_span, inner_after, outer_after = agent_spans(tel)
    assert attrs(outer_span)[names.GEN_AI_TOOL_CALL_ID] == "call_9"
    assert names.GEN_AI_TOOL_CALL_ID not in attrs(inner_span)
    assert names.GEN_AI_TOOL_CALL_ID not in attrs(outer_after)
    assert names.GEN_AI_TOOL_CALL_ID not in attrs(inner_after)


async def test_tool_call_blocks_of_concurrent_tasks_stay_apart(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    inside = {1: asyncio.Event(), 2: asyncio.Event()}

    @tool
    async def fetch(n: int) -> int:
        inside[n].set()
        await inside[3 - n].wait()  # both blocks are open at once
        return n

    async def one(n: int) -> int:
        async with tool_call(id=f"call_{n}"):
            return await fetch(n)

    assert list(await asyncio.gather(one(1), one(2))) == [1, 2]
    ids = sorted(str(attrs(s)[names.GEN_AI_TOOL_CALL_ID]) for s in agent_spans(tel))
    assert ids == ["call_1", "call_2"]


def test_set_tool_call_id_from_inside(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    assert set_tool_call_id("call_x") is False  # no tool running: nothing to set, no error

    @tool
    def learns_its_id(message: dict[str, str]) -> str:
        assert set_tool_call_id(message["id"]) is True
        return message["id"]

    with tool_call(id="call_block"):
        learns_its_id({"id": "call_inside"})  # what the tool says last wins
    assert attrs(only_agent_span(tel))[names.GEN_AI_TOOL_CALL_ID] == "call_inside"


# -- exceptions -------------------------------------------------------------------------------------


@tool
def failing() -> None:
    raise WeatherError("no forecast")


@tool
async def failing_async() -> None:
    raise WeatherError("no forecast")


@tool
def failing_generator() -> Iterator[int]:
    yield 1
    raise WeatherError("no forecast")


@tool
async def failing_async_generator() -> AsyncIterator[int]:
    yield 1
    raise WeatherError("no forecast")


async def _fail_sync() -> None:
    failing()


async def _fail_async() -> None:
    await failing_async()


async def _fail_generator() -> None:
    list(failing_generator())


async def _fail_async_generator() -> None:
    [i async for i in failing_async_generator()]


@pytest.mark.parametrize(("run", "streamed"), [(_fail_sync, False), (_fail_async, False),
                                               (_fail_generator, True), (_fail_async_generator, True)],
                         ids=["function", "coroutine", "generator", "async-generator"])
async def test_exception_marks_the_span_and_is_reraised_untouched(run: Callable[[], Any], streamed: bool,
                                                                  telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    with pytest.raises(WeatherError) as raised:
        await run()
    assert str(raised.value) == "no forecast"
    assert raised.value.__traceback__ is not None
    span = only_agent_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "WeatherError: no forecast"
    assert attrs(span)[names.ERROR_TYPE] == "tests.WeatherError"  # qualified by its top-level package
    if streamed:
        assert attrs(span)[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_ERROR
        assert attrs(span)[names.DRIFTLINE_STREAM_CHUNK_COUNT] == 1


def test_the_very_exception_object_reaches_the_caller(telemetry: Callable[..., Telemetry]) -> None:
    telemetry()
    error = WeatherError("mine")

    @agent
    def raises() -> None:
        raise error

    with pytest.raises(WeatherError) as raised:
        raises()
    assert raised.value is error


async def test_cancellation_ends_the_span_as_cancelled(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    started = asyncio.Event()
    never = asyncio.Event()

    @agent(name="waiter")
    async def waits() -> AsyncIterator[int]:
        started.set()
        await never.wait()
        yield 1

    async def consume() -> None:
        async for _ in waits():
            pass

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = only_agent_span(tel)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)[names.ERROR_TYPE] == "asyncio.CancelledError"
    assert attrs(span)[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_CANCELLED


# -- generators ------------------------------------------------------------------------------------


@tool
def echo() -> Generator[int, int | None, str]:
    """Echoes what is sent, returns a summary."""
    received = []
    value = yield 0
    while value is not None:
        received.append(value)
        try:
            value = yield value * 10
        except KeyError:
            value = yield -1
    return f"got {received}"


def test_generator_protocol_passes_through(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)
    gen = echo()
    assert next(gen) == 0
    assert gen.send(1) == 10
    assert gen.throw(KeyError("k")) == -1  # handled inside the user's generator
    assert gen.send(2) == 20
    with pytest.raises(StopIteration) as stop:
        gen.send(None)
    assert stop.value.value == "got [1, 2]"
    span = only_agent_span(tel)
    assert attrs(span)[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_COMPLETED
    assert attrs(span)[names.DRIFTLINE_STREAM_CHUNK_COUNT] == 4
    assert decoded(span, names.GEN_AI_TOOL_CALL_RESULT) == [0, 10, -1, 20]


def test_generator_closed_early_or_collected_ends_once(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    closed_inside: list[bool] = []

    @tool
    def counts() -> Generator[int, None, None]:
        try:
            yield from range(10)
        finally:
            closed_inside.append(True)

    gen = counts()
    assert next(gen) == 0
    gen.close()
    gen.close()  # a second close is a no-op, as without the decorator
    collected = counts()
    assert next(collected) == 0
    del collected
    gc.collect()
    never_started = counts()
    del never_started
    gc.collect()
    assert closed_inside == [True, True]  # the user's generators were closed, the unstarted one never ran
    spans = agent_spans(tel)
    assert len(spans) == 2
    for span in spans:
        assert attrs(span)[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_CLOSED
        assert attrs(span)[names.DRIFTLINE_STREAM_CHUNK_COUNT] == 1
        assert span.status.status_code is StatusCode.UNSET


async def test_async_generator_protocol_passes_through(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    closed_inside: list[bool] = []

    @agent(name="streamer")
    async def stream() -> AsyncGenerator[int, int]:
        try:
            value = yield 0
            while True:
                value = yield value + 1
        finally:
            closed_inside.append(True)

    agen = stream()
    assert await agen.__anext__() == 0
    assert await agen.asend(5) == 6
    with pytest.raises(WeatherError):
        await agen.athrow(WeatherError("thrown in"))
    assert closed_inside == [True]
    agen2 = stream()
    assert await agen2.__anext__() == 0
    await agen2.aclose()
    assert closed_inside == [True, True]
    failed, closed = agent_spans(tel)
    assert attrs(failed)[names.ERROR_TYPE] == "tests.WeatherError"
    assert attrs(closed)[names.DRIFTLINE_STREAM_END_REASON] == names.STREAM_END_CLOSED


def test_generator_steps_run_with_the_span_current(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    tracer = trace.get_tracer("test")

    @agent(name="gen")
    def steps() -> Iterator[int]:
        for i in range(2):
            with tracer.start_as_current_span(f"step {i}"):
                yield i

    gen = steps()
    outside = trace.get_current_span()
    for _ in gen:
        assert trace.get_current_span() is outside  # the consumer's context is left alone between steps
    step0, step1, agent_span = tel.spans()
    assert parent_id(step0) == parent_id(step1) == span_id(agent_span)


# -- content -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Forecast:
    city: str
    days: list[int]


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


def test_content_json_of_bound_arguments_and_results(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)

    @tool
    def forecast(city: str, *days: int, unit: str = "C", **extra: Any) -> Forecast:
        return Forecast(city, list(days))

    @tool
    def opaque(thing: Opaque, tags: set[str]) -> Opaque:
        return thing

    forecast("Paris", 1, 2, flag=True)
    opaque(Opaque(), {"a"})
    first, second = agent_spans(tel)
    # as passed: defaults are not filled in, *args is a list, **kwargs are flattened
    assert decoded(first, names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"city": "Paris", "days": [1, 2], "flag": True}
    assert decoded(first, names.GEN_AI_TOOL_CALL_RESULT) == {"city": "Paris", "days": [1, 2]}
    assert decoded(second, names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"thing": "<Opaque>", "tags": ["a"]}
    assert decoded(second, names.GEN_AI_TOOL_CALL_RESULT) == "<Opaque>"


@pytest.mark.parametrize("mode", ["NO_CONTENT", "EVENT_ONLY", "false"])
def test_no_content_on_spans_unless_the_policy_says_so(mode: str, telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=mode)
    tool(plain)("secret@example.com")
    agent(plain)("secret@example.com")
    for span in agent_spans(tel):
        assert not {names.GEN_AI_TOOL_CALL_ARGUMENTS, names.GEN_AI_TOOL_CALL_RESULT,
                    names.DRIFTLINE_INVOCATION_ARGUMENTS, names.DRIFTLINE_INVOCATION_RESULT} & set(attrs(span))
    assert tel.logs() == []


def test_content_is_redacted_and_cut_to_the_budget(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(DRIFTLINE_CONTENT_MAX_LENGTH="40", **CONTENT_ON)

    @tool
    def mail(to: str) -> str:
        return "sent " + "x" * 100

    mail("jane.doe@example.com")
    span = only_agent_span(tel)
    assert decoded(span, names.GEN_AI_TOOL_CALL_ARGUMENTS) == {"to": "[REDACTED:email]"}
    result = attrs(span)[names.GEN_AI_TOOL_CALL_RESULT]
    assert result == '"sent ' + "x" * 34 + TRUNCATION_MARKER
    assert attrs(span)[names.DRIFTLINE_CONTENT_REDACTED] == 1
    assert attrs(span)[names.DRIFTLINE_CONTENT_TRUNCATED] is True


def test_generator_items_are_kept_within_the_budget(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(DRIFTLINE_CONTENT_MAX_LENGTH="20", **CONTENT_ON)
    assert sum(tool(generator)(1000)) == sum(range(1000))
    span = only_agent_span(tel)
    assert attrs(span)[names.GEN_AI_TOOL_CALL_RESULT] == "[0,1,2,3,4,5,6,7,8,9" + TRUNCATION_MARKER
    assert attrs(span)[names.DRIFTLINE_STREAM_CHUNK_COUNT] == 1000


# -- custom attributes and suppression ---------------------------------------------------------------


def test_scoped_and_static_attributes_apply_but_cannot_falsify(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(DRIFTLINE_SPAN_ATTRIBUTES="team=search")
    with span_attributes({"tenant": "acme", names.GEN_AI_TOOL_NAME: "forged"}):
        tool(plain)("Paris")
    span_attrs = attrs(only_agent_span(tel))
    assert (span_attrs["team"], span_attrs["tenant"], span_attrs[names.GEN_AI_TOOL_NAME]) == ("search", "acme",
                                                                                             "plain")


def test_suppressed_instrumentation_records_nothing(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    with suppress_instrumentation():
        assert tool(call_id_arg="tool_call_id")(plain)("Paris", tool_call_id="c") == "Paris: 21C"  # type: ignore[call-arg]
        assert list(agent(generator)(2)) == [0, 1]
    assert tel.spans() == []


def test_non_callable_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"@tool\(name=\.\.\.\)"):
        tool("get_weather")  # type: ignore[call-overload]
