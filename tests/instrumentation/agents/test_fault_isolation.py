"""Driftline's own faults never reach the decorated function's caller: every recording step of the
decorators is broken in turn, and each shape of function must return (or raise) exactly what it
does undecorated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace

from driftline.instrumentation import agent, tool
from driftline.instrumentation._core import safety
from driftline.instrumentation._core.content import ContentScrubber
from driftline.instrumentation.agents import _decorators, _recorder
from driftline.instrumentation.agents._operation import Operation
from driftline.instrumentation.agents._recorder import AgentRecorder
from driftline.semconv import names
from tests.conftest import Telemetry
from tests.instrumentation.agents.support import CONTENT_ON, agent_spans


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected driftline fault")


class Refused(Exception):
    """The user's own exception."""


ERROR = Refused("user error")


def weather(city: str) -> dict[str, str]:
    return {"city": city}


async def weather_async(city: str) -> dict[str, str]:
    return {"city": city}


def weather_stream(city: str) -> Iterator[str]:
    yield from city


async def weather_astream(city: str) -> AsyncIterator[str]:
    for c in city:
        yield c


def refuse(city: str) -> None:
    raise ERROR


async def _call(func: Callable[..., Any]) -> Any:
    """Run ``func("Oslo")`` to the end: its result, or the very exception object it raised."""
    try:
        result = func("Oslo")
        if hasattr(result, "__await__"):
            return await result
        if hasattr(result, "__anext__"):
            return [c async for c in result]
        if hasattr(result, "__next__"):
            return list(result)
        return result
    except Refused as exc:
        return exc


FUNCTIONS = [weather, weather_async, weather_stream, weather_astream, refuse]

# (what to break, the owner, the attribute, the fault step it must be counted under)
CASES: list[tuple[str, Any, str, str]] = [
    ("span start", AgentRecorder, "start", "start"),
    ("argument binding", Operation, "bound_arguments", "start"),
    ("content scrubbing", ContentScrubber, "text", "start"),
    ("settings", AgentRecorder, "settings", "start"),
    ("generator item", AgentRecorder, "item", "item"),
    ("content flags at the end", AgentRecorder, "_content_flags", "stop"),
]


@pytest.mark.parametrize("decorator", [tool, agent], ids=["tool", "agent"])
@pytest.mark.parametrize(("label", "owner", "attr", "step"), CASES, ids=[c[0] for c in CASES])
async def test_internal_fault_never_reaches_the_caller(label: str, owner: Any, attr: str, step: str,
                                                       decorator: Any, telemetry: Callable[..., Telemetry],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [await _call(f) for f in FUNCTIONS]  # undecorated: the reference results
    tel = telemetry(**CONTENT_ON)
    decorated = [decorator(f) for f in FUNCTIONS]
    assert [await _call(f) for f in decorated] == expected  # healthy
    assert len(agent_spans(tel)) == len(FUNCTIONS)
    tel.span_exporter.clear()

    monkeypatch.setattr(owner, attr, _boom)
    assert [await _call(f) for f in decorated] == expected  # broken inside driftline
    assert (await _call(decorated[-1])) is ERROR
    kind = "tool" if decorator is tool else "agent"
    counts = safety.fault_counts()
    if step == "stop":  # a failing call ends through fail(), a completed one through stop()
        assert counts.get(f"agents.{kind}.stop", 0) >= 1, counts
        assert counts.get(f"agents.{kind}.fail", 0) >= 1, counts
    else:
        assert counts.get(f"agents.{kind}.{step}", 0) >= 1, counts
    errors = tel.metric_points(names.DRIFTLINE_INSTRUMENTATION_ERRORS)
    assert any(str(p.attributes[names.DRIFTLINE_INSTRUMENTATION_STEP]).startswith(f"agents.{kind}.")
               for p in errors)
    if step in ("item", "stop"):
        # the span survived the fault and was ended exactly once
        assert len(agent_spans(tel)) == len(FUNCTIONS) + 1
        assert len({s.context.span_id for s in agent_spans(tel) if s.context}) == len(FUNCTIONS) + 1


async def test_unrepresentable_call_id_and_content_are_survived(telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry(**CONTENT_ON)

    class Hostile:
        def __str__(self) -> str:
            raise ValueError("no str")

        def __repr__(self) -> str:
            raise ValueError("no repr")

    @tool(call_id_arg="tool_call_id")
    def takes(thing: Any) -> Any:
        return thing

    hostile = Hostile()
    assert takes(hostile, tool_call_id=Hostile()) is hostile  # type: ignore[call-arg]
    assert safety.fault_counts().get("agents.tool.call_id") == 1
    (span,) = agent_spans(tel)
    assert names.GEN_AI_TOOL_CALL_ID not in dict(span.attributes or {})
    assert dict(span.attributes or {})[names.GEN_AI_TOOL_CALL_RESULT] == '"<Hostile object>"'


def test_decoration_fault_leaves_the_function_undecorated(monkeypatch: pytest.MonkeyPatch) -> None:
    safety.reset_faults()
    monkeypatch.setattr(_decorators, "_operation", _boom)
    assert tool(weather) is weather
    assert agent(name="x")(weather) is weather
    assert safety.fault_counts()["agents.decorate"] == 2


def test_recorder_module_state_is_not_needed_to_call(monkeypatch: pytest.MonkeyPatch,
                                                     telemetry: Callable[..., Telemetry]) -> None:
    tel = telemetry()
    monkeypatch.setattr(_recorder.RECORDER, "_tracer", None)
    monkeypatch.setattr(trace, "get_tracer", _boom)
    assert tool(weather)("Rome") == {"city": "Rome"}
    assert tel.spans() == []
    assert safety.fault_counts()["agents.tool.start"] == 1
