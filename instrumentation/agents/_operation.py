"""What a decorator knows about the function it wraps, worked out once at decoration time.

The call path then only reads this record: span name, static attributes, where the tool call id
comes from and which parameters belong in the captured arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.util.types import AttributeValue

from driftline.semconv import names

_SELF_NAMES = frozenset({"self", "cls"})


@dataclass(frozen=True, slots=True)
class Operation:
    """One decorated function: a GenAI operation (``execute_tool``, ``invoke_agent`` ...) and its name.

    ``attributes`` already holds the operation and name attributes; ``from_instance`` lists
    ``(attribute key, instance attribute)`` pairs read from ``self`` on each call (the agent name
    of a method, for instance), which override the static values when they are non-empty strings.
    """

    operation: str
    name: str
    name_key: str
    attributes: Mapping[str, AttributeValue]
    from_instance: tuple[tuple[str, str], ...]
    arguments_key: str
    result_key: str
    step: str
    """Prefix of fault steps, e.g. ``agents.tool``."""
    signature: inspect.Signature | None
    has_self: bool
    call_id_arg: str | None = None
    call_id_index: int | None = None
    call_id_declared: bool = False
    span_name: str = field(init=False, repr=False)
    """``{operation} {name}``: the span name unless ``from_instance`` overrides the name."""
    is_tool: bool = field(init=False, repr=False)
    """Whether this is an ``execute_tool`` operation (the tool call id applies)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "span_name", f"{self.operation} {self.name}")
        object.__setattr__(self, "is_tool", self.operation == names.OPERATION_EXECUTE_TOOL)

    def take_call_id(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """The tool call id passed through ``call_id_arg``, if any.

        A keyword the function does not declare is removed from ``kwargs`` (the decorator owns
        it); a declared one stays, so the function receives it as without the decorator.
        """
        arg = self.call_id_arg
        if arg is None:
            return None
        if arg in kwargs:
            # Popped first: whatever happens next, the function never gets a keyword it does not take.
            value = kwargs[arg] if self.call_id_declared else kwargs.pop(arg)
        elif self.call_id_index is not None and len(args) > self.call_id_index:
            value = args[self.call_id_index]
        else:
            return None
        return None if value is None else str(value)

    def bound_arguments(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The arguments as passed, by parameter name (``self``/``cls`` and the call id left out)."""
        sig = self.signature
        if sig is None:
            return self._as_passed(args, kwargs)
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError:
            # The call itself will fail the same way; record what was passed rather than nothing.
            return self._as_passed(args, kwargs)
        out: dict[str, Any] = {}
        for index, (key, value) in enumerate(bound.arguments.items()):
            if (index == 0 and self.has_self) or key == self.call_id_arg:
                continue
            kind = sig.parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update((k, v) for k, v in value.items() if k != self.call_id_arg)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                out[key] = list(value)
            else:
                out[key] = value
        return out

    def _as_passed(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in kwargs.items() if k != self.call_id_arg}
        if args:
            out["args"] = list(args[1:] if self.has_self else args)
        return out


def signature_of(func: Callable[..., Any]) -> inspect.Signature | None:
    """``inspect.signature(func)``, or None for callables that have none (some builtins)."""
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def first_is_self(sig: inspect.Signature | None) -> bool:
    """Whether the first parameter is ``self``/``cls``: a method, whose instance is not an argument."""
    if sig is None:
        return False
    first = next(iter(sig.parameters.values()), None)
    return first is not None and first.name in _SELF_NAMES and first.kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def call_id_parameter(sig: inspect.Signature | None, arg: str | None) -> tuple[int | None, bool]:
    """(positional index, declared) of the call-id parameter ``arg`` in ``sig``.

    Declared means the function accepts it by that name; positional index is set when it may also
    be passed by position.
    """
    if arg is None or sig is None:
        return None, False
    params = list(sig.parameters.values())
    for index, param in enumerate(params):
        if param.name == arg and param.kind is not inspect.Parameter.VAR_KEYWORD:
            positional = param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            return (index if positional else None), param.kind is not inspect.Parameter.POSITIONAL_ONLY
    # Not a named parameter: a function taking **kwargs still receives it, any other never would.
    return None, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def default_name(func: Callable[..., Any], qualified: bool) -> str:
    """The function's name: ``__name__``, or ``__qualname__`` without ``<locals>`` when ``qualified``."""
    if qualified:
        qualname = getattr(func, "__qualname__", None)
        if isinstance(qualname, str) and qualname:
            return qualname.rsplit("<locals>.", 1)[-1]
    name = getattr(func, "__name__", None)
    return name if isinstance(name, str) and name else type(func).__name__


def summary_line(func: Callable[..., Any]) -> str | None:
    """The first line of the docstring (what frameworks give the model as a tool's description)."""
    doc = inspect.getdoc(func)
    if not doc:
        return None
    line = doc.strip().split("\n", 1)[0].strip()
    return line or None
