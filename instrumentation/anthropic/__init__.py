"""Anthropic instrumentation: ``messages.create`` (plain and ``stream=True``) and the
``messages.stream()`` helper, sync and async.

One call shows as exactly one LLM span. The anthropic SDK (2.x) emits its own OpenTelemetry span
per call (scope ``com.anthropic.sdk.python``); for the calls driftline records, that native span
is switched off (the client's tracer reads as absent while driftline's span is current), and
driftline's span — same GenAI conventions, plus content policy, stream life-cycle guarantees and
metrics — is the one span. Calls driftline does not record (``beta.messages``, ``count_tokens``,
batches, files, ...) keep the SDK's native span. ``uninstrument()`` restores the SDK untouched.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from driftline.instrumentation._core.instrumentor import GenAIInstrumentor, Patch
from driftline.instrumentation._core.recorder import IN_CALL_KEY
from driftline.instrumentation._core.safety import report_fault
from driftline.instrumentation._core.wrapping import Binding, ProviderMapping, run_async, run_sync

from ._mapping import MessagesMapping

__all__ = ["AnthropicInstrumentor"]

_MESSAGES = "anthropic.resources.messages.messages"
_BASE_CLIENT = "anthropic._base_client"
_SYNC_REQUEST = "_MessageStreamManager__api_request"
_ASYNC_REQUEST = "_AsyncMessageStreamManager__api_request"


def _stream_helper(binding: Binding, mapping: ProviderMapping, asynchronous: bool) -> Any:
    """Wrap ``messages.stream()``: the request runs when the manager is entered, so driftline
    swaps the manager's deferred request for one that runs inside a recorded span and returns a
    proxied raw stream; the SDK's ``MessageStream`` then consumes our proxy."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if binding.recorder is None:
            return manager
        try:
            stream_kwargs = {**kwargs, "stream": True}
            if asynchronous:
                pending = getattr(manager, _ASYNC_REQUEST)
                setattr(manager, _ASYNC_REQUEST,
                        run_async(binding, mapping, instance, args, stream_kwargs, lambda: pending))
            else:
                request = getattr(manager, _SYNC_REQUEST)
                setattr(manager, _SYNC_REQUEST,
                        lambda: run_sync(binding, mapping, instance, args, stream_kwargs, request))
        except Exception:
            report_fault("anthropic.messages.stream_helper")
        return manager

    return wrapper


def _tracer_outside_recorded_calls(native: Callable[[Any], Any], doc: str | None) -> property:
    """A ``BaseClient._tracer`` that reads as absent inside a call driftline records (so the SDK
    starts no native span for it) and is the SDK's own everywhere else.

    Switching the tracer off for every call instead would leave the calls driftline does not
    record (``beta.messages``, ``count_tokens``, ...) with no span at all. The SDK reads its
    tracer when the request starts, and driftline's context is attached around exactly that.
    """
    def _tracer(self: Any) -> Any:
        if otel_context.get_value(IN_CALL_KEY):
            return None
        return native(self)

    return property(_tracer, doc=doc)


class AnthropicInstrumentor(GenAIInstrumentor):
    """Spans (``chat claude-...``, CLIENT), metrics and opt-in content for the ``anthropic`` SDK."""

    scope_name = "driftline.instrumentation.anthropic"
    _dependencies = ("anthropic >= 0.40",)

    def patches(self) -> Sequence[Patch]:
        """``Messages.create`` and ``AsyncMessages.create``."""
        mapping = MessagesMapping()
        return (
            Patch(_MESSAGES, "Messages.create", mapping),
            Patch(_MESSAGES, "AsyncMessages.create", mapping, asynchronous=True),
        )

    def _after_instrument(self, **kwargs: Any) -> None:
        module = importlib.import_module(_MESSAGES)
        mapping = MessagesMapping()
        for owner_name, asynchronous in (("Messages", False), ("AsyncMessages", True)):
            owner = getattr(module, owner_name, None)
            if owner is not None and hasattr(owner, "stream"):
                wrapt.wrap_function_wrapper(owner, "stream", _stream_helper(self._binding, mapping, asynchronous))
                self._applied.append((owner, "stream"))
        base = importlib.import_module(_BASE_CLIENT)
        client_cls = getattr(base, "BaseClient", None)
        original = client_cls.__dict__.get("_tracer") if client_cls is not None else None
        if isinstance(original, property) and original.fget is not None:
            self._native_tracer: tuple[Any, property] | None = (client_cls, original)
            client_cls._tracer = _tracer_outside_recorded_calls(  # type: ignore[union-attr]
                original.fget, original.__doc__)

    def _after_uninstrument(self, **kwargs: Any) -> None:
        native = getattr(self, "_native_tracer", None)
        if native is not None:
            client_cls, original = native
            client_cls._tracer = original
            self._native_tracer = None
