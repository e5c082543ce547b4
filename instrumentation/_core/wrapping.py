"""Safe call wrappers and stream proxies shared by every provider.

The shape of every patched method is the same: translate the request (mapping), open the span
(recorder), run the user's call with the span current, translate the response, end the span.
Driftline's own steps are isolated (:mod:`.safety`); the user's call runs exactly once and its
exception propagates untouched.

Streams get one span per call, ended exactly once: when iteration completes, raises, is
cancelled, when the stream is closed or its context manager exits, or when the stream is
garbage collected unconsumed (the proxy's ``__del__``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Protocol

import wrapt
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from driftline.semconv import names

from .invocation import LLMInvocation
from .recorder import IN_CALL_KEY, GenAIRecorder
from .safety import report_fault


class StreamAccumulator(Protocol):
    """Folds a provider's stream chunks into the invocation's response fields."""

    def on_chunk(self, chunk: Any) -> None:
        """Account for one chunk/event."""

    def finish(self) -> None:
        """Copy what was accumulated into the invocation (called once, before the span ends)."""


class ProviderMapping(Protocol):
    """Translates one library method's request/response objects into an :class:`LLMInvocation`."""

    name: str
    """Used to name fault steps, e.g. ``openai.chat``."""

    def request(self, instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any],
                capture: bool) -> LLMInvocation | None:
        """Build the invocation from the call's arguments (content only when ``capture``)."""

    def response(self, inv: LLMInvocation, result: Any, capture: bool) -> None:
        """Fill response fields from a non-streamed result."""

    def is_stream(self, result: Any) -> bool:
        """Whether ``result`` is a stream that the proxy should wrap."""

    def accumulator(self, inv: LLMInvocation, capture: bool) -> StreamAccumulator:
        """A fresh accumulator for one streamed call."""


class Binding:
    """Mutable link from installed wrappers to the active recorder (None = pass through)."""

    __slots__ = ("recorder",)

    def __init__(self) -> None:
        self.recorder: GenAIRecorder | None = None


# -- calls ---------------------------------------------------------------------------------------


def begin(rec: GenAIRecorder, mapping: ProviderMapping, instance: Any, args: tuple[Any, ...],
          kwargs: Mapping[str, Any]) -> LLMInvocation | None:
    """Map the request and start the span; None when driftline should stay out of this call."""
    if otel_context.get_value(IN_CALL_KEY):
        return None  # nested inside another recorded call of the same operation
    try:
        inv = mapping.request(instance, args, kwargs, rec.capture_content)
        if inv is None:
            return None
        rec.start(inv)
        return inv
    except Exception:
        report_fault(f"{mapping.name}.start")
        return None


def fail(rec: GenAIRecorder, mapping: ProviderMapping, inv: LLMInvocation, exc: BaseException) -> None:
    """End the span as failed; never raises."""
    try:
        rec.fail(inv, exc)
    except Exception:
        report_fault(f"{mapping.name}.fail")


def complete(rec: GenAIRecorder, mapping: ProviderMapping, inv: LLMInvocation, result: Any) -> None:
    """Map a non-streamed response and end the span; never raises."""
    try:
        mapping.response(inv, result, rec.capture_content)
    except Exception:
        report_fault(f"{mapping.name}.response")
    try:
        rec.stop(inv)
    except Exception:
        report_fault(f"{mapping.name}.stop")


def wrap_result(rec: GenAIRecorder, mapping: ProviderMapping, inv: LLMInvocation, result: Any,
                asynchronous: bool) -> Any:
    """Return ``result`` (proxied when it is a stream); the span ends here when it is not."""
    try:
        if inv.stream and mapping.is_stream(result):
            state = StreamState(rec, mapping, inv, mapping.accumulator(inv, rec.capture_content))
            return AsyncStreamProxy(result, state) if asynchronous else SyncStreamProxy(result, state)
    except Exception:
        report_fault(f"{mapping.name}.stream_wrap")
    complete(rec, mapping, inv, result)
    return result


def run_sync(binding: Binding, mapping: ProviderMapping, instance: Any, args: tuple[Any, ...],
             kwargs: Mapping[str, Any], call: Callable[[], Any]) -> Any:
    """Run ``call()`` (the user's SDK call) inside a recorded span; the result may be a stream."""
    rec = binding.recorder
    if rec is None or not is_instrumentation_enabled():
        return call()
    inv = begin(rec, mapping, instance, args, kwargs)
    if inv is None:
        return call()
    token = otel_context.attach(inv.context)  # type: ignore[arg-type]
    try:
        result = call()
    except BaseException as exc:
        fail(rec, mapping, inv, exc)
        raise
    finally:
        otel_context.detach(token)
    return wrap_result(rec, mapping, inv, result, asynchronous=False)


async def run_async(binding: Binding, mapping: ProviderMapping, instance: Any, args: tuple[Any, ...],
                    kwargs: Mapping[str, Any], call: Callable[[], Awaitable[Any]]) -> Any:
    """Await ``call()`` inside a recorded span; the result may be an async stream."""
    rec = binding.recorder
    if rec is None or not is_instrumentation_enabled():
        return await call()
    inv = begin(rec, mapping, instance, args, kwargs)
    if inv is None:
        return await call()
    token = otel_context.attach(inv.context)  # type: ignore[arg-type]
    try:
        result = await call()
    except BaseException as exc:
        fail(rec, mapping, inv, exc)
        raise
    finally:
        otel_context.detach(token)
    return wrap_result(rec, mapping, inv, result, asynchronous=True)


def sync_wrapper(binding: Binding, mapping: ProviderMapping) -> Callable[..., Any]:
    """A wrapt wrapper for a synchronous SDK method."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> Any:
        if binding.recorder is None:
            return wrapped(*args, **kwargs)
        return run_sync(binding, mapping, instance, args, kwargs, lambda: wrapped(*args, **kwargs))

    return wrapper


def async_wrapper(binding: Binding, mapping: ProviderMapping) -> Callable[..., Any]:
    """A wrapt wrapper for an ``async def`` SDK method."""

    async def wrapper(wrapped: Callable[..., Awaitable[Any]], instance: Any, args: tuple[Any, ...],
                      kwargs: dict[str, Any]) -> Any:
        if binding.recorder is None:
            return await wrapped(*args, **kwargs)
        return await run_async(binding, mapping, instance, args, kwargs, lambda: wrapped(*args, **kwargs))

    return wrapper


# -- streams -------------------------------------------------------------------------------------


class StreamState:
    """Everything a stream proxy needs to end its span, held apart from the proxy (no reference
    back to it), so the proxy's collection can end the span without a cycle keeping it alive."""

    __slots__ = ("acc", "done", "inv", "mapping", "rec")

    def __init__(self, rec: GenAIRecorder, mapping: ProviderMapping, inv: LLMInvocation,
                 acc: StreamAccumulator) -> None:
        self.rec = rec
        self.mapping = mapping
        self.inv = inv
        self.acc = acc
        self.done = False

    def chunk(self, item: Any) -> None:
        """Account for one chunk; never raises."""
        try:
            inv = self.inv
            if inv.chunk_count == 0:
                self.rec.first_chunk(inv)
            inv.chunk_count += 1
            self.acc.on_chunk(item)
        except Exception:
            report_fault(f"{self.mapping.name}.stream_chunk")

    def end(self, reason: str, exc: BaseException | None = None) -> None:
        """End the span once, whatever ended the stream; never raises."""
        if self.done:
            return
        self.done = True
        self.inv.stream_end_reason = reason
        try:
            self.acc.finish()
        except Exception:
            report_fault(f"{self.mapping.name}.stream_finish")
        try:
            if exc is None:
                self.rec.stop(self.inv)
            else:
                self.rec.fail(self.inv, exc)
        except Exception:
            report_fault(f"{self.mapping.name}.stream_end")


def _collected(state: StreamState) -> None:
    """End the span of a stream proxy being garbage collected unconsumed (never raises).

    Called from the proxies' ``__del__`` (cheaper per stream than ``weakref.finalize``); nothing is
    done while the interpreter shuts down, when the SDK's exporters may already be gone.
    """
    if not state.done and not sys.is_finalizing():
        state.end(names.STREAM_END_GARBAGE_COLLECTED)


class _ClosingResponse(wrapt.ObjectProxy[Any]):
    """A stream's HTTP response as seen through the stream proxy's ``response``.

    The SDKs' stream helpers (openai's ``chat.completions.stream()`` and ``responses.stream()``)
    keep ``raw_stream.response`` and close *it* when their context manager exits early, never the
    stream; without this the span would stay open until garbage collection.
    """

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state

    def close(self) -> None:
        """Close the response and end the span."""
        close = self.__wrapped__.close
        try:
            close()
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)

    async def aclose(self) -> None:
        """Close the (async) response and end the span."""
        aclose = self.__wrapped__.aclose  # AttributeError on a sync response, as without the proxy
        try:
            await aclose()
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)


def _closing_response(proxy: _StreamProxy) -> Any:
    cached = proxy._self_response
    if cached is None:
        response = proxy.__wrapped__.response  # AttributeError, as without the proxy, when there is none
        if response is None:
            return None
        cached = proxy._self_response = _ClosingResponse(response, proxy._self_state)
    return cached


class _StreamProxy(wrapt.ObjectProxy[Any]):
    """What both stream proxies share: the span's state, GC ending, the closing ``response``."""

    def __init__(self, wrapped: Any, state: StreamState) -> None:
        super().__init__(wrapped)
        self._self_state = state
        self._self_response: Any = None

    def __del__(self) -> None:
        _collected(self._self_state)

    @property
    def response(self) -> Any:
        """The SDK stream's HTTP response; closing it ends the span (see :class:`_ClosingResponse`)."""
        return _closing_response(self)


class SyncStreamProxy(_StreamProxy):
    """Transparent proxy over a synchronous SDK stream that ends the call's span exactly once."""

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        state: StreamState = self._self_state
        try:
            item = self.__wrapped__.__next__()
        except StopIteration:
            state.end(names.STREAM_END_COMPLETED)
            raise
        except GeneratorExit:
            state.end(names.STREAM_END_CLOSED)
            raise
        except BaseException as exc:
            state.end(names.STREAM_END_ERROR, exc)
            raise
        state.chunk(item)
        return item

    def close(self) -> None:
        """Close the underlying stream and end the span (if iteration had not already)."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)

    def __enter__(self) -> SyncStreamProxy:
        enter = getattr(self.__wrapped__, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__exit__", None)
            return exit_(exc_type, exc, tb) if exit_ is not None else None
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)


class AsyncStreamProxy(_StreamProxy):
    """Transparent proxy over an asynchronous SDK stream that ends the call's span exactly once."""

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        state: StreamState = self._self_state
        try:
            item = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            state.end(names.STREAM_END_COMPLETED)
            raise
        except asyncio.CancelledError as exc:
            state.end(names.STREAM_END_CANCELLED, exc)
            raise
        except GeneratorExit:
            state.end(names.STREAM_END_CLOSED)
            raise
        except BaseException as exc:
            state.end(names.STREAM_END_ERROR, exc)
            raise
        state.chunk(item)
        return item

    async def close(self) -> None:
        """Close the underlying stream and end the span (if iteration had not already)."""
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)

    async def aclose(self) -> None:
        """``aclose()`` where the SDK has it (openai's ``AsyncStream``): without this override the
        proxy would forward to the wrapped stream's own ``aclose``, which calls the *wrapped*
        ``close`` and leaves the span open until garbage collection."""
        aclose = self.__wrapped__.aclose  # AttributeError, as without the proxy, when the SDK has none
        try:
            await aclose()
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)

    async def __aenter__(self) -> AsyncStreamProxy:
        enter = getattr(self.__wrapped__, "__aenter__", None)
        if enter is not None:
            await enter()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> Any:
        try:
            exit_ = getattr(self.__wrapped__, "__aexit__", None)
            return (await exit_(exc_type, exc, tb)) if exit_ is not None else None
        finally:
            self._self_state.end(names.STREAM_END_CLOSED)
