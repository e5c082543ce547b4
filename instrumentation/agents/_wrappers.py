"""The four wrapper shapes: plain function, coroutine function, generator and async generator.

Each keeps the kind of the function it wraps (``inspect.iscoroutinefunction``,
``isgeneratorfunction`` and ``isasyncgenfunction`` answer as for the original), runs the user's
code exactly once with the span current, and re-raises the user's exception untouched.
Driftline's own steps are isolated: a fault is reported (:mod:`.safety`) and the call goes on.

Generators: the span starts when iteration starts (a generator never iterated runs no code and
gets no span) and ends exactly once, when the generator is exhausted, raises, is closed, or is
collected unfinished (Python closes it then). Each step of the user's generator runs with the
span current, so LLM calls made inside nest under it wherever the generator is consumed.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncGenerator, Callable, Coroutine, Generator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from driftline.instrumentation._core.safety import report_fault
from driftline.semconv import names

from ._operation import Operation
from ._recorder import RECORDER, AgentCall

# -- isolated recorder steps ----------------------------------------------------------------------


def _begin(op: Operation, args: tuple[Any, ...], kwargs: dict[str, Any], call_id: str | None) -> AgentCall | None:
    if not is_instrumentation_enabled():
        return None  # suppress_instrumentation(): framework instrumentations above us own the span
    try:
        return RECORDER.start(op, args, kwargs, call_id)
    except Exception:
        report_fault(f"{op.step}.start")
        return None


def _take_call_id(op: Operation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    if op.call_id_arg is None:
        return None
    try:
        return op.take_call_id(args, kwargs)
    except Exception:
        report_fault(f"{op.step}.call_id")
        return None


def _stop(call: AgentCall, result: Any) -> None:
    try:
        RECORDER.stop(call, result)
    except Exception:
        report_fault(f"{call.op.step}.stop")


def _fail(call: AgentCall, exc: BaseException, reason: str | None = None) -> None:
    try:
        RECORDER.fail(call, exc, reason)
    except Exception:
        report_fault(f"{call.op.step}.fail")


def _item(call: AgentCall, value: Any) -> None:
    try:
        RECORDER.item(call, value)
    except Exception:
        report_fault(f"{call.op.step}.item")


def _stop_iteration(call: AgentCall, reason: str) -> None:
    if reason == names.STREAM_END_CLOSED and sys.is_finalizing():
        return  # collected at interpreter exit: the SDK's exporters may already be gone
    try:
        RECORDER.stop_iteration(call, reason)
    except Exception:
        report_fault(f"{call.op.step}.stop")


def _failure_reason(exc: BaseException) -> str:
    return names.STREAM_END_CANCELLED if isinstance(exc, asyncio.CancelledError) else names.STREAM_END_ERROR


# -- wrappers -------------------------------------------------------------------------------------


def wrap_function(op: Operation, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a plain function: the span covers the call."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(op, args, kwargs, _take_call_id(op, args, kwargs))
        if call is None:
            return func(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        finally:
            otel_context.detach(token)
        _stop(call, result)
        return result

    return wrapper


def wrap_coroutine_function(op: Operation, func: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Wrap an ``async def`` function: the span covers the awaited call (cancellation is an error)."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _begin(op, args, kwargs, _take_call_id(op, args, kwargs))
        if call is None:
            return await func(*args, **kwargs)
        token = otel_context.attach(call.context)
        try:
            result = await func(*args, **kwargs)
        except BaseException as exc:
            _fail(call, exc)
            raise
        finally:
            otel_context.detach(token)
        _stop(call, result)
        return result

    return wrapper


def wrap_generator_function(op: Operation, func: Callable[..., Generator[Any, Any, Any]]) -> Callable[..., Any]:
    """Wrap a generator function; ``send``, ``throw``, ``close`` and the return value pass through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = _begin(op, args, kwargs, _take_call_id(op, args, kwargs))
        token = otel_context.attach(call.context) if call is not None else None
        try:
            gen = func(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                _fail(call, exc, _failure_reason(exc))
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(call.context) if call is not None else None
            try:
                if thrown is not None:
                    pending, thrown = thrown, None
                    item = gen.throw(pending)
                else:
                    item = gen.send(sent)
            except StopIteration as stop:
                if call is not None:
                    _stop_iteration(call, names.STREAM_END_COMPLETED)
                return stop.value
            except BaseException as exc:
                if call is not None:
                    _fail(call, exc, _failure_reason(exc))
                raise
            finally:
                if token is not None:
                    otel_context.detach(token)
            if call is not None:
                _item(call, item)
            try:
                sent = yield item
            except GeneratorExit:
                _close(call, gen)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


def _close(call: AgentCall | None, gen: Generator[Any, Any, Any]) -> None:
    token = otel_context.attach(call.context) if call is not None else None
    try:
        gen.close()
    except BaseException as exc:
        if call is not None:
            _fail(call, exc, _failure_reason(exc))
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
    if call is not None:
        _stop_iteration(call, names.STREAM_END_CLOSED)


def wrap_async_generator_function(op: Operation, func: Callable[..., AsyncGenerator[Any, Any]]) -> Callable[..., Any]:
    """Wrap an async generator function; ``asend``, ``athrow`` and ``aclose`` pass through."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = _begin(op, args, kwargs, _take_call_id(op, args, kwargs))
        token = otel_context.attach(call.context) if call is not None else None
        try:
            agen = func(*args, **kwargs)
        except BaseException as exc:
            if call is not None:
                _fail(call, exc, _failure_reason(exc))
            raise
        finally:
            if token is not None:
                otel_context.detach(token)
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            token = otel_context.attach(call.context) if call is not None else None
            try:
                if thrown is not None:
                    pending, thrown = thrown, None
                    item = await agen.athrow(pending)
                else:
                    item = await agen.asend(sent)
            except StopAsyncIteration:
                if call is not None:
                    _stop_iteration(call, names.STREAM_END_COMPLETED)
                return
            except BaseException as exc:
                if call is not None:
                    _fail(call, exc, _failure_reason(exc))
                raise
            finally:
                if token is not None:
                    otel_context.detach(token)
            if call is not None:
                _item(call, item)
            try:
                sent = yield item
            except GeneratorExit:
                await _aclose(call, agen)
                raise
            except BaseException as exc:
                thrown = exc

    return wrapper


async def _aclose(call: AgentCall | None, agen: AsyncGenerator[Any, Any]) -> None:
    token = otel_context.attach(call.context) if call is not None else None
    try:
        await agen.aclose()
    except BaseException as exc:
        if call is not None:
            _fail(call, exc, _failure_reason(exc))
        raise
    finally:
        if token is not None:
            otel_context.detach(token)
    if call is not None:
        _stop_iteration(call, names.STREAM_END_CLOSED)
