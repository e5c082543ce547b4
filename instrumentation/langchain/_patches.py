"""The few LangChain methods driftline wraps: handler injection and context hygiene.

* ``BaseCallbackManager.__init__``: every callback manager gets the driftline handler (inheritable,
  so child runs keep it), whatever callbacks the application configured.
* the async run managers' ``on_*_end`` / ``on_*_error`` and ``agenerate`` (chat models, LLMs):
  LangChain reports an async run's end from a task of its own (``shielded`` end events run in a
  new task; ``agenerate`` gathers them), where the handler cannot restore the caller's context.
  The wrappers restore it in the caller, so a run's span does not stay current after
  ``await chain.ainvoke(...)``.
* ``stream`` / ``astream`` (chat models, LLMs): the run's context is current only while the
  model's generator runs, not while the application handles a chunk; otherwise the chat span (and
  its suppression of provider spans) would leak into the application's loop body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from driftline.instrumentation._core.wrapping import Binding


def inject_handler(handler: Any, binding: Binding) -> Callable[..., None]:
    """A wrapt wrapper for ``BaseCallbackManager.__init__`` adding ``handler`` once."""

    def wrapper(wrapped: Callable[..., None], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        wrapped(*args, **kwargs)
        if binding.recorder is None:
            return
        try:
            if not any(h is handler for h in instance.inheritable_handlers):
                instance.add_handler(handler, inherit=True)
        except Exception:
            from driftline.instrumentation._core.safety import report_fault

            report_fault("langchain.inject_handler")

    return wrapper


def _restore(before: Context) -> None:
    if otel_context.get_current() is not before:
        otel_context.attach(before)


def restore_context_async(wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Awaitable[Any]:
    """A wrapt wrapper for ``agenerate``: the caller's context is the same after the call as before."""

    async def call() -> Any:
        before = otel_context.get_current()
        try:
            return await wrapped(*args, **kwargs)
        finally:
            _restore(before)

    return call()


def restore_after_end(handler: Any) -> Callable[..., Awaitable[Any]]:
    """A wrapt wrapper for an async run manager's end/error event: once the event was handled
    (in LangChain's own task), restore the caller's context from before the run."""

    def wrapper(wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Awaitable[Any]:
        run = handler.open_run(getattr(instance, "run_id", None))

        async def call() -> Any:
            try:
                return await wrapped(*args, **kwargs)
            finally:
                if run is not None:
                    handler.leave(run)

        return call()

    return wrapper


def _isolated(gen: Iterator[Any]) -> Iterator[Any]:
    # Hot path: once per streamed chunk; two context switches.
    inner: Context | None = None
    try:
        while True:
            outer = otel_context.get_current()
            if inner is not None:
                otel_context.attach(inner)
            try:
                item = next(gen)
            except StopIteration:
                return
            finally:
                inner = otel_context.get_current()
                _restore(outer)
            yield item
    finally:
        outer = otel_context.get_current()
        try:
            close = getattr(gen, "close", None)
            if close is not None:
                close()
        finally:
            _restore(outer)


async def _aisolated(gen: AsyncIterator[Any]) -> AsyncIterator[Any]:
    inner: Context | None = None
    try:
        while True:
            outer = otel_context.get_current()
            if inner is not None:
                otel_context.attach(inner)
            try:
                item = await gen.__anext__()
            except StopAsyncIteration:
                return
            finally:
                inner = otel_context.get_current()
                _restore(outer)
            yield item
    finally:
        outer = otel_context.get_current()
        try:
            aclose = getattr(gen, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            _restore(outer)


def isolate_stream(wrapped: Callable[..., Iterator[Any]], instance: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Iterator[Any]:
    """A wrapt wrapper for ``stream``: the run's context is current only inside the generator."""
    return _isolated(wrapped(*args, **kwargs))


def isolate_astream(wrapped: Callable[..., AsyncIterator[Any]], instance: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> AsyncIterator[Any]:
    """A wrapt wrapper for ``astream``: the run's context is current only inside the generator."""
    return _aisolated(wrapped(*args, **kwargs))
