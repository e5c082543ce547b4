"""``@tool``, ``@agent`` and ``@workflow``: the decorators users put on their own functions."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core.safety import report_fault
from driftline.semconv import names

from ._operation import Operation, call_id_parameter, default_name, first_is_self, signature_of, summary_line
from ._wrappers import wrap_async_generator_function, wrap_coroutine_function, wrap_function, wrap_generator_function

F = TypeVar("F", bound=Callable[..., Any])


def _apply(build: Callable[[Callable[..., Any]], Operation], func: Any) -> Any:
    """Wrap ``func`` in the shape that matches it; ``staticmethod``/``classmethod`` stay what they are."""
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(_apply(build, func.__func__))
    if not callable(func):
        raise TypeError(f"driftline decorators apply to functions, not {type(func).__name__}; "
                        "pass names as keywords: @tool(name=...)")
    try:
        op = build(func)
    except Exception:
        report_fault("agents.decorate")
        return func  # untraced rather than an import error in the application
    if inspect.isasyncgenfunction(func):
        return wrap_async_generator_function(op, func)
    if inspect.iscoroutinefunction(func):
        return wrap_coroutine_function(op, func)
    if inspect.isgeneratorfunction(func):
        return wrap_generator_function(op, func)
    return wrap_function(op, func)


def _decorator(build: Callable[[Callable[..., Any]], Operation], func: Any) -> Any:
    return (lambda f: _apply(build, f)) if func is None else _apply(build, func)


def _operation(func: Callable[..., Any], operation: str, name: str, name_key: str,
               attributes: dict[str, AttributeValue | None], from_instance: tuple[tuple[str, str], ...],
               arguments_key: str, result_key: str, step: str, call_id_arg: str | None = None) -> Operation:
    sig = signature_of(func)
    index, declared = call_id_parameter(sig, call_id_arg)
    return Operation(
        operation=operation, name=name, name_key=name_key,
        attributes={names.GEN_AI_OPERATION_NAME: operation, name_key: name,
                    **{k: v for k, v in attributes.items() if v is not None}},
        from_instance=from_instance, arguments_key=arguments_key, result_key=result_key, step=step,
        signature=sig, has_self=first_is_self(sig),
        call_id_arg=call_id_arg, call_id_index=index, call_id_declared=declared,
    )


@overload
def tool(func: F, /) -> F: ...
@overload
def tool(*, name: str | None = None, description: str | None = None, type: str = names.TOOL_TYPE_FUNCTION,
         call_id_arg: str | None = None) -> Callable[[F], F]: ...
def tool(func: Any = None, /, *, name: str | None = None, description: str | None = None,
         type: str = names.TOOL_TYPE_FUNCTION, call_id_arg: str | None = None) -> Any:
    """Record each call of the decorated function as an ``execute_tool {gen_ai.tool.name}`` span.

    Usable bare (``@tool``) or with arguments; on functions, methods, ``async def`` functions,
    generators and async generators. The span is INTERNAL and carries ``gen_ai.tool.name``
    (default: the function's ``__name__``), ``gen_ai.tool.type`` (default ``function``),
    ``gen_ai.tool.description`` (default: the docstring's first line) and ``gen_ai.tool.call.id``
    when known. Under the content policy it also carries the call's arguments and result as JSON.

    The model's tool call id comes from, in order: the keyword argument named by ``call_id_arg``
    (removed before the call unless the function declares it), the innermost
    :class:`~driftline.instrumentation.tool_call` block, or
    :func:`~driftline.instrumentation.set_tool_call_id` called from inside the tool.
    """
    tool_type = type

    def build(f: Callable[..., Any]) -> Operation:
        tool_name = name or default_name(f, qualified=False)
        return _operation(
            f, names.OPERATION_EXECUTE_TOOL, tool_name, names.GEN_AI_TOOL_NAME,
            {names.GEN_AI_TOOL_TYPE: tool_type,
             names.GEN_AI_TOOL_DESCRIPTION: description if description is not None else summary_line(f)},
            (), names.GEN_AI_TOOL_CALL_ARGUMENTS, names.GEN_AI_TOOL_CALL_RESULT, "agents.tool", call_id_arg)

    return _decorator(build, func)


@overload
def agent(func: F, /) -> F: ...
@overload
def agent(*, name: str | None = None, id: str | None = None, description: str | None = None,
          version: str | None = None, name_attribute: str | None = None, id_attribute: str | None = None,
          description_attribute: str | None = None) -> Callable[[F], F]: ...
def agent(func: Any = None, /, *, name: str | None = None, id: str | None = None, description: str | None = None,
          version: str | None = None, name_attribute: str | None = None, id_attribute: str | None = None,
          description_attribute: str | None = None) -> Any:
    """Record each call of the decorated function as an ``invoke_agent {gen_ai.agent.name}`` span.

    The span is INTERNAL (the agent runs in this process) and carries ``gen_ai.agent.name``
    (default: the function's qualified name, ``Class.method`` for methods), ``gen_ai.agent.id``,
    ``gen_ai.agent.description`` and ``gen_ai.agent.version`` when given. On a method, the
    ``*_attribute`` arguments name attributes of ``self`` to read these from on each call
    (``@agent(name_attribute="name")``); a non-empty string there wins over the static value.
    LLM and tool spans of the turn nest under it. Under the content policy it carries the
    arguments (``self`` excluded) and the result as JSON.
    """
    from_instance = tuple((key, attribute) for key, attribute in (
        (names.GEN_AI_AGENT_NAME, name_attribute),
        (names.GEN_AI_AGENT_ID, id_attribute),
        (names.GEN_AI_AGENT_DESCRIPTION, description_attribute),
    ) if attribute)

    def build(f: Callable[..., Any]) -> Operation:
        return _operation(
            f, names.OPERATION_INVOKE_AGENT, name or default_name(f, qualified=True), names.GEN_AI_AGENT_NAME,
            {names.GEN_AI_AGENT_ID: id, names.GEN_AI_AGENT_DESCRIPTION: description,
             names.GEN_AI_AGENT_VERSION: version},
            from_instance, names.DRIFTLINE_INVOCATION_ARGUMENTS, names.DRIFTLINE_INVOCATION_RESULT, "agents.agent")

    return _decorator(build, func)


@overload
def workflow(func: F, /) -> F: ...
@overload
def workflow(*, name: str | None = None) -> Callable[[F], F]: ...
def workflow(func: Any = None, /, *, name: str | None = None) -> Any:
    """Record each call of the decorated function as an ``invoke_workflow {gen_ai.workflow.name}`` span.

    For the orchestration above agents (a pipeline, a multi-agent hand-off). INTERNAL, with
    ``gen_ai.workflow.name`` (default: the function's qualified name); arguments and result under
    the content policy, as for :func:`agent`.
    """

    def build(f: Callable[..., Any]) -> Operation:
        return _operation(
            f, names.OPERATION_INVOKE_WORKFLOW, name or default_name(f, qualified=True), names.GEN_AI_WORKFLOW_NAME,
            {}, (), names.DRIFTLINE_INVOCATION_ARGUMENTS, names.DRIFTLINE_INVOCATION_RESULT, "agents.workflow")

    return _decorator(build, func)
