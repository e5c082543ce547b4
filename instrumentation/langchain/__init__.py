"""LangChain / LangGraph instrumentation (``langchain-core``): chains, chat models, tools, agents, graphs.

>>> from driftline.instrumentation.langchain import LangChainInstrumentor
>>> LangChainInstrumentor().instrument()

Also activated by ``opentelemetry-instrument`` (entry point ``driftline_langchain``) and by
``DRIFTLINE_AUTO_INSTRUMENT=true`` once ``langchain_core`` is imported. A callback handler added to
every LangChain callback manager records each run as a span (see :mod:`._handler`); see
docs/langchain.md for the span tree and the one-LLM-span-per-call rule.

One model call, one LLM span: a LangChain chat model run is recorded as the ``chat {model}`` CLIENT
span, and the provider instrumentor underneath (``driftline_openai``, ``driftline_anthropic``) is
suppressed inside it through the shared recorder's in-call context key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import wrapt
from opentelemetry import trace
from opentelemetry.instrumentation.utils import unwrap

from driftline.instrumentation._core.instrumentor import VERSION, GenAIInstrumentor, Patch

__all__ = ["LangChainInstrumentor"]

_MANAGER = "langchain_core.callbacks.base"
_RUN_MANAGERS = "langchain_core.callbacks.manager"
_CHAT = "langchain_core.language_models.chat_models"
_LLMS = "langchain_core.language_models.llms"


class LangChainInstrumentor(GenAIInstrumentor):
    """GenAI-convention spans for LangChain and LangGraph runs, through a callback handler."""

    scope_name = "driftline.instrumentation.langchain"
    _dependencies = ("langchain-core >= 0.3",)

    def patches(self) -> Sequence[Patch]:
        """None of the provider kind: LangChain is observed through its callbacks."""
        return ()

    def _after_instrument(self, **kwargs: Any) -> None:
        import importlib

        from ._handler import DriftlineCallbackHandler
        from ._patches import (
            inject_handler,
            isolate_astream,
            isolate_stream,
            restore_after_end,
            restore_context_async,
        )

        tracer = trace.get_tracer(self.scope_name, VERSION, tracer_provider=kwargs.get("tracer_provider"))
        # One handler for the instrumentor's lifetime: callback managers made before an
        # uninstrument/instrument cycle still hold it, and must not end up with two.
        handler = getattr(self, "_handler", None)
        if handler is None:
            handler = self._handler = DriftlineCallbackHandler(self._binding, tracer)
        else:
            handler.tracer = tracer
        self._lc_wrapped: list[tuple[Any, str]] = []
        targets: list[tuple[str, str, Any]] = [
            (_MANAGER, "BaseCallbackManager.__init__", inject_handler(handler, self._binding)),
        ]
        restore = restore_after_end(handler)
        for cls, events in (("AsyncCallbackManagerForChainRun", ("on_chain_end", "on_chain_error")),
                            ("AsyncCallbackManagerForLLMRun", ("on_llm_end", "on_llm_error")),
                            ("AsyncCallbackManagerForRetrieverRun", ("on_retriever_end", "on_retriever_error"))):
            targets += [(_RUN_MANAGERS, f"{cls}.{event}", restore) for event in events]
        for module, cls in ((_CHAT, "BaseChatModel"), (_LLMS, "BaseLLM")):
            targets += [(module, f"{cls}.agenerate", restore_context_async),
                        (module, f"{cls}.stream", isolate_stream),
                        (module, f"{cls}.astream", isolate_astream)]
        for module_name, target, wrapper in targets:
            owner_name, _, method = target.rpartition(".")
            owner = getattr(importlib.import_module(module_name), owner_name)
            if method in vars(owner):
                wrapt.wrap_function_wrapper(owner, method, wrapper)
                self._lc_wrapped.append((owner, method))

    def _after_uninstrument(self, **kwargs: Any) -> None:
        while self._lc_wrapped:
            owner, method = self._lc_wrapped.pop()
            unwrap(owner, method)
