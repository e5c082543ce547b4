"""Handing the model's tool call id to the ``execute_tool`` span.

Three ways, for three styles of agent loop: a keyword argument the decorator is told about
(``@tool(call_id_arg="tool_call_id")``), a block around the call (``with tool_call(id=...)``),
or from inside the running tool (:func:`set_tool_call_id`).
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context

from driftline.instrumentation._core.safety import report_fault
from driftline.semconv import names

TOOL_KEY = otel_context.create_key("driftline-agents-tool")
"""Context key holding the running tool's :class:`ToolFrame`."""


class ToolFrame:
    """What the context of a running tool carries: its span and the ``tool_call`` block it took.

    Not the recorder's call record: that one holds the context, and a context holding it back
    would make every tool call a reference cycle, freed only by the garbage collector.
    """

    __slots__ = ("scope", "span")

    def __init__(self, span: Any, scope: object | None) -> None:
        self.span = span
        self.scope = scope


class _Scope:
    __slots__ = ("id",)

    def __init__(self, id: str) -> None:
        self.id = id


_SCOPE: ContextVar[_Scope | None] = ContextVar("driftline_tool_call", default=None)


class tool_call:
    """Give the ``execute_tool`` span started directly inside this block the model's call id.

    >>> for call in reply.choices[0].message.tool_calls:
    ...     with tool_call(id=call.id):
    ...         result = TOOLS[call.function.name](**json.loads(call.function.arguments))

    Tools that the tool itself calls do not inherit the id (it belongs to one execution). Works
    with ``with`` and ``async with``, follows ``await`` and is copied into tasks created inside.
    """

    __slots__ = ("_scope", "_token")

    def __init__(self, id: str) -> None:
        self._scope = _Scope(str(id))
        self._token: Token[_Scope | None] | None = None

    @property
    def id(self) -> str:
        """The tool call id this block hands out."""
        return self._scope.id

    def __enter__(self) -> tool_call:
        self._token = _SCOPE.set(self._scope)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _SCOPE.reset(token)
        except ValueError:
            # Exited in another context than it was entered in: never an error for the caller.
            _SCOPE.set(None)

    async def __aenter__(self) -> tool_call:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)


def scoped_call_id(enclosing_tool: Any) -> tuple[str | None, object | None]:
    """The id of the innermost :class:`tool_call` block and the block's identity, unless the tool
    currently running (``enclosing_tool``) already took that block's id."""
    scope = _SCOPE.get()
    if scope is None or (enclosing_tool is not None and enclosing_tool.scope is scope):
        return None, None
    return scope.id, scope


def set_tool_call_id(id: str) -> bool:
    """Set ``gen_ai.tool.call.id`` on the ``execute_tool`` span of the tool running here.

    For tools that learn their call id only once running (from a message they were handed, say).
    Returns whether there was such a span; never raises.
    """
    try:
        call = otel_context.get_value(TOOL_KEY)
        span = getattr(call, "span", None)
        if span is None:
            return False
        span.set_attribute(names.GEN_AI_TOOL_CALL_ID, str(id))
        return True
    except Exception:
        report_fault("agents.tool.set_call_id")
        return False
