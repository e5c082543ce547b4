"""A BaseInstrumentor with the patch/unpatch plumbing every GenAI provider shares."""

from __future__ import annotations

import importlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry._logs import get_logger
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.metrics import get_meter

from .config import load_settings
from .metrics import GenAIMetrics
from .recorder import GenAIRecorder
from .safety import add_fault_listener
from .wrapping import Binding, ProviderMapping, async_wrapper, sync_wrapper

VERSION = "0.1.0"


@dataclass(frozen=True)
class Patch:
    """One SDK method to wrap: ``module`` + ``Class.method``, the mapping, and whether it is async."""

    module: str
    target: str
    mapping: ProviderMapping
    asynchronous: bool = False


class GenAIInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Shared plumbing: build the recorder from the providers passed to ``instrument()``, apply
    the subclass's :meth:`patches`, and undo exactly those on ``uninstrument()``.

    ``instrument()`` accepts ``tracer_provider``, ``meter_provider`` and ``logger_provider``
    (defaults: the global ones). Instrumenting twice is a no-op (BaseInstrumentor's guard).
    """

    scope_name = "driftline.instrumentation"
    _dependencies: Collection[str] = ()

    def __init__(self) -> None:
        # BaseInstrumentor is a per-class singleton; __init__ may run more than once.
        if not hasattr(self, "_binding"):
            self._binding = Binding()
            self._applied: list[tuple[Any, str]] = []
            add_fault_listener(self._count_fault)

    def _count_fault(self, step: str) -> None:
        rec = self._binding.recorder
        if rec is not None:
            rec.count_fault(step)

    def instrumentation_dependencies(self) -> Collection[str]:
        """Requirement strings that must be importable for ``instrument()`` to act."""
        return self._dependencies

    def patches(self) -> Sequence[Patch]:  # pragma: no cover - overridden
        """The methods this instrumentor wraps."""
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        tracer = trace.get_tracer(self.scope_name, VERSION, tracer_provider=kwargs.get("tracer_provider"))
        meter = get_meter(self.scope_name, VERSION, meter_provider=kwargs.get("meter_provider"))
        event_logger = get_logger(self.scope_name, VERSION, logger_provider=kwargs.get("logger_provider"))
        metrics = GenAIMetrics(meter)
        self._binding.recorder = GenAIRecorder(tracer, metrics, event_logger, load_settings())
        for patch in self.patches():
            module = importlib.import_module(patch.module)
            owner_name, _, method = patch.target.rpartition(".")
            owner = getattr(module, owner_name) if owner_name else module
            if not hasattr(owner, method):
                continue  # older SDK without this API: nothing to patch
            factory = async_wrapper if patch.asynchronous else sync_wrapper
            wrapt.wrap_function_wrapper(owner, method, factory(self._binding, patch.mapping))
            self._applied.append((owner, method))
        self._after_instrument(**kwargs)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._binding.recorder = None
        while self._applied:
            owner, method = self._applied.pop()
            unwrap(owner, method)
        self._after_uninstrument(**kwargs)

    def _after_instrument(self, **kwargs: Any) -> None:
        """Hook for provider-specific set-up (e.g. silencing an SDK's native spans)."""

    def _after_uninstrument(self, **kwargs: Any) -> None:
        """Undo :meth:`_after_instrument`."""
