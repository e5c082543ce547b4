"""The callback handler that turns LangChain runs into spans.

One handler per instrumentor is added to every ``CallbackManager`` (see :mod:`._patches`), so it sees
every run. Runs map to spans by ``run_id``; a run's parent span is its ``parent_run_id``'s span, or
the current OpenTelemetry span when LangChain has no parent for it (a chain invoked inside a user's
span or an ``@agent`` function nests under it).

* chat model / LLM runs → ``chat {model}`` CLIENT spans through the shared :class:`GenAIRecorder`
  (request params, usage, finish reasons, content under the policy, the GenAI metrics);
* tool runs → ``execute_tool {name}`` INTERNAL spans;
* LangGraph graphs → ``invoke_workflow {name}``, renamed ``invoke_agent {name}`` once a tool run
  follows a model run inside them (the model asked for the tool: an agent loop); ``AgentExecutor``
  is an agent from the start; other chains, prompts, parsers, retrievers → INTERNAL spans named
  after the run.

While a run executes, its span is the current OpenTelemetry span, so spans made inside (a user's
own, a ``@tool`` function's, an SDK instrumentor's) nest under it. Inside a chat model run the
context also carries the recorder's ``IN_CALL_KEY``: the provider instrumentor underneath (our
OpenAI or Anthropic one) sees it and records nothing, so one model call is one LLM span.

Every callback is fault-isolated: LangChain's own call continues whatever happens here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue

from driftline.instrumentation._core import first_use
from driftline.instrumentation._core.content import ContentScrubber, to_json
from driftline.instrumentation._core.invocation import LLMInvocation
from driftline.instrumentation._core.recorder import IN_CALL_KEY, GenAIRecorder, error_type
from driftline.instrumentation._core.safety import report_fault
from driftline.instrumentation._core.scoped import current_scoped_attributes
from driftline.instrumentation._core.wrapping import Binding
from driftline.semconv import names

from . import _messages

MAX_OPEN_RUNS = 10_000
"""Runs tracked at once; beyond this the oldest is forgotten (a stream abandoned without being
closed never reports its end)."""

_HIDDEN_TAG = "langsmith:hidden"  # LangGraph's internal plumbing runs; their children go to the parent
_AGENT_CLASSES = frozenset({"AgentExecutor"})
_MAX_DEPTH = 64


class _Run:
    """One LangChain run being recorded."""

    __slots__ = ("agent", "attached", "ctx", "inv", "kind", "name", "outer", "parent", "saw_model", "span")

    def __init__(self, kind: str, name: str, parent: _Run | None, ctx: Context, span: Span | None) -> None:
        self.kind = kind
        self.name = name
        self.parent = parent
        self.ctx = ctx  # children's parent context
        self.span = span  # None for runs passed through to their parent
        self.inv: LLMInvocation | None = None
        self.outer: Context | None = None  # current context before this run attached its own
        self.attached: Context | None = None
        self.saw_model = False
        self.agent = False


def _run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ids = serialized.get("id")
        if isinstance(ids, list) and ids and isinstance(ids[-1], str):
            return ids[-1]
    return default


def _is_control_flow(exc: BaseException) -> bool:
    """LangGraph interrupts and parent commands are raised to steer the graph, not failures."""
    return any(cls.__name__ == "GraphBubbleUp" for cls in type(exc).__mro__)


class DriftlineCallbackHandler(BaseCallbackHandler):
    """Records LangChain runs as GenAI-convention spans; inert once the instrumentor is removed."""

    # Called in the caller's context even by async callback managers (not in an executor), so the
    # context it attaches is the one the run executes in.
    run_inline = True
    raise_error = False

    def __init__(self, binding: Binding, tracer: Tracer) -> None:
        super().__init__()
        self._binding = binding
        self.tracer = tracer
        self._runs: dict[UUID, _Run] = {}
        self._own_spans: set[int] = set()

    # -- chains, agents, graphs -----------------------------------------------------------------

    def on_chain_start(self, serialized: dict[str, Any] | None, inputs: Any, *, run_id: UUID,
                       parent_run_id: UUID | None = None, tags: list[str] | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open a chain span (workflow / agent span for a graph or agent executor)."""
        try:
            self._start_chain(serialized, run_id, parent_run_id, tags, metadata or {}, kwargs,
                              str(kwargs.get("run_type") or names.LANGCHAIN_RUN_CHAIN))
        except Exception:
            report_fault("langchain.chain_start")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain's span."""
        self._end_plain(run_id, None, "langchain.chain_end")

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the chain's span as failed (not for LangGraph interrupts or a closed stream)."""
        self._end_plain(run_id, error, "langchain.chain_error")

    def on_retriever_start(self, serialized: dict[str, Any] | None, query: str, *, run_id: UUID,
                           parent_run_id: UUID | None = None, tags: list[str] | None = None,
                           metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open an INTERNAL span for a retriever run."""
        try:
            self._start_chain(serialized, run_id, parent_run_id, tags, metadata or {}, kwargs,
                              names.LANGCHAIN_RUN_RETRIEVER)
        except Exception:
            report_fault("langchain.retriever_start")

    def on_retriever_end(self, documents: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """End the retriever's span."""
        self._end_plain(run_id, None, "langchain.retriever_end")

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the retriever's span as failed."""
        self._end_plain(run_id, error, "langchain.retriever_error")

    def _start_chain(self, serialized: Mapping[str, Any] | None, run_id: UUID, parent_run_id: UUID | None,
                     tags: Sequence[str] | None, metadata: Mapping[str, Any], kwargs: Mapping[str, Any],
                     run_type: str) -> None:
        rec = self._binding.recorder
        if rec is None:
            return
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        name = _run_name(serialized, kwargs, run_type)
        if tags and _HIDDEN_TAG in tags:
            self._remember(run_id, _Run(run_type, name, parent, self._parent_context(parent), None))
            return
        attrs = self._custom_attributes(rec)
        attrs[names.DRIFTLINE_LANGCHAIN_RUN_TYPE] = run_type
        node = metadata.get("langgraph_node")
        if isinstance(node, str):
            attrs[names.DRIFTLINE_LANGGRAPH_NODE] = node
        agent = name in _AGENT_CLASSES
        if agent:
            attrs[names.GEN_AI_OPERATION_NAME] = names.OPERATION_INVOKE_AGENT
            attrs[names.GEN_AI_AGENT_NAME] = name
            span_name = f"{names.OPERATION_INVOKE_AGENT} {name}"
        elif metadata.get("ls_integration") == "langgraph" and node is None:
            # The root of a LangGraph graph (its nodes' runs carry langgraph_node).
            attrs[names.GEN_AI_OPERATION_NAME] = names.OPERATION_INVOKE_WORKFLOW
            attrs[names.GEN_AI_WORKFLOW_NAME] = name
            span_name = f"{names.OPERATION_INVOKE_WORKFLOW} {name}"
        else:
            span_name = name
        parent_ctx = self._parent_context(parent)
        span = self._start_span(span_name, context=parent_ctx, kind=SpanKind.INTERNAL, attributes=attrs)
        run = _Run(run_type, name, parent, trace.set_span_in_context(span, parent_ctx), span)
        run.agent = agent
        self._remember(run_id, run)
        self._attach(run)

    def _end_plain(self, run_id: UUID, error: BaseException | None, step: str) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        try:
            self._detach(run)
            span = run.span
            if span is None:
                return
            self._own_spans.discard(span.get_span_context().span_id)
            if error is not None and not isinstance(error, GeneratorExit) and not _is_control_flow(error):
                span.set_attribute(names.ERROR_TYPE, error_type(error))
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {str(error)[:200]}"))
            span.end()
        except Exception:
            report_fault(step)

    # -- chat models and LLMs ------------------------------------------------------------------

    def on_chat_model_start(self, serialized: dict[str, Any] | None, messages: list[list[Any]], *, run_id: UUID,
                            parent_run_id: UUID | None = None, tags: list[str] | None = None,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open the ``chat {model}`` CLIENT span of one model call."""
        try:
            self._start_model(run_id, parent_run_id, metadata or {}, kwargs, names.OPERATION_CHAT,
                              messages[0] if messages else None)
        except Exception:
            report_fault("langchain.chat_start")

    def on_llm_start(self, serialized: dict[str, Any] | None, prompts: list[str], *, run_id: UUID,
                     parent_run_id: UUID | None = None, tags: list[str] | None = None,
                     metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open the ``text_completion {model}`` CLIENT span of a (non-chat) LLM call."""
        try:
            prompt = [{"role": "user", "parts": [{"type": "text", "content": prompts[0]}]}] if prompts else None
            self._start_model(run_id, parent_run_id, metadata or {}, kwargs, names.OPERATION_TEXT_COMPLETION,
                              None, prompt)
        except Exception:
            report_fault("langchain.llm_start")

    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Count a streamed chunk; the first one sets time to first chunk and marks the call streamed."""
        run = self._runs.get(run_id)
        inv = run.inv if run is not None else None
        if inv is None:
            return
        try:
            if inv.chunk_count == 0:
                rec = self._binding.recorder
                if rec is not None:
                    rec.first_chunk(inv)
                if not inv.stream and inv.span is not None:
                    inv.stream = True
                    inv.span.set_attribute(names.GEN_AI_REQUEST_STREAM, True)
            inv.chunk_count += 1
        except Exception:
            report_fault("langchain.llm_token")

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the response (usage, finish reasons, content) and end the span."""
        self._end_model(run_id, response, None)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the model span as failed (a closed stream ends normally, marked ``closed``)."""
        self._end_model(run_id, kwargs.get("response"), error)

    def _start_model(self, run_id: UUID, parent_run_id: UUID | None, metadata: Mapping[str, Any],
                     kwargs: Mapping[str, Any], operation: str, messages: Any,
                     prompt: list[dict[str, Any]] | None = None) -> None:
        rec = self._binding.recorder
        if rec is None:
            return
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        parent_ctx = self._parent_context(parent)
        if otel_context.get_value(IN_CALL_KEY, parent_ctx):
            # A model called from inside another model's call (a wrapper model): one LLM span.
            self._remember(run_id, _Run(operation, operation, parent, parent_ctx, None))
            return
        params = kwargs.get("invocation_params")
        params = params if isinstance(params, Mapping) else {}
        provider = metadata.get("ls_provider")
        inv = LLMInvocation(operation=operation,
                            provider=provider if isinstance(provider, str) and provider else names.PROVIDER_LANGCHAIN,
                            request_model=_messages.request_model(metadata, params),
                            request_attributes=_messages.request_attributes(metadata, params))
        inv.request_attributes[names.DRIFTLINE_LANGCHAIN_RUN_TYPE] = (
            names.LANGCHAIN_RUN_CHAT_MODEL if operation == names.OPERATION_CHAT else names.LANGCHAIN_RUN_LLM)
        node = metadata.get("langgraph_node")
        if isinstance(node, str):
            inv.request_attributes[names.DRIFTLINE_LANGGRAPH_NODE] = node
        if rec.capture_content:
            inv.input_messages = _messages.input_messages(messages) if messages is not None else prompt
            tools = params.get("tools")
            if tools:
                inv.tool_definitions = _messages.tool_definitions(tools)
        token = otel_context.attach(parent_ctx)  # the recorder parents its span on the current context
        try:
            rec.start(inv)
        finally:
            otel_context.detach(token)
        if inv.context is None or inv.span is None:
            return
        run = _Run(operation, inv.request_model or operation, parent, inv.context, inv.span)
        run.inv = inv
        self._remember(run_id, run)
        ancestor, depth = parent, 0
        while ancestor is not None and depth < _MAX_DEPTH:
            ancestor.saw_model = True
            ancestor, depth = ancestor.parent, depth + 1
        self._attach(run)

    def _end_model(self, run_id: UUID, response: Any, error: BaseException | None) -> None:
        run = self._runs.pop(run_id, None)
        if run is None:
            return
        self._detach(run)
        inv = run.inv
        rec = self._binding.recorder
        if inv is None or inv.span is None:
            return
        self._own_spans.discard(inv.span.get_span_context().span_id)
        try:
            if response is not None:
                _messages.apply_result(inv, response, rec.capture_content if rec is not None else False)
        except Exception:
            report_fault("langchain.llm_response")
        try:
            if rec is None:  # uninstrumented while the call ran: still end the span
                inv.span.end()
                return
            if inv.stream:
                inv.stream_end_reason = (names.STREAM_END_COMPLETED if error is None
                                         else names.STREAM_END_CLOSED if isinstance(error, GeneratorExit)
                                         else names.STREAM_END_CANCELLED if isinstance(error, asyncio.CancelledError)
                                         else names.STREAM_END_ERROR)
            if error is None or isinstance(error, GeneratorExit):
                rec.stop(inv)
            else:
                rec.fail(inv, error)
        except Exception:
            report_fault("langchain.llm_end")

    # -- tools ---------------------------------------------------------------------------------

    def on_tool_start(self, serialized: dict[str, Any] | None, input_str: str, *, run_id: UUID,
                      parent_run_id: UUID | None = None, tags: list[str] | None = None,
                      metadata: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None,
                      **kwargs: Any) -> None:
        """Open the ``execute_tool {name}`` span (arguments recorded under the content policy)."""
        try:
            self._start_tool(serialized, input_str, run_id, parent_run_id, metadata or {}, inputs, kwargs)
        except Exception:
            report_fault("langchain.tool_start")

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record the result (under the content policy) and end the tool's span."""
        run = self._runs.get(run_id)
        rec = self._binding.recorder
        if run is not None and run.span is not None and rec is not None and rec.settings.capture.on_span:
            try:
                content = getattr(output, "content", output)  # a ToolMessage, or the tool's raw return
                self._content(rec, run.span, names.GEN_AI_TOOL_CALL_RESULT, content)
            except Exception:
                report_fault("langchain.tool_result")
        self._end_plain(run_id, None, "langchain.tool_end")

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """End the tool's span as failed."""
        self._end_plain(run_id, error, "langchain.tool_error")

    def _start_tool(self, serialized: Mapping[str, Any] | None, input_str: str, run_id: UUID,
                    parent_run_id: UUID | None, metadata: Mapping[str, Any], inputs: Any,
                    kwargs: Mapping[str, Any]) -> None:
        rec = self._binding.recorder
        if rec is None:
            return
        parent = self._runs.get(parent_run_id) if parent_run_id is not None else None
        name = _run_name(serialized, kwargs, names.LANGCHAIN_RUN_TOOL)
        attrs = self._custom_attributes(rec)
        attrs[names.GEN_AI_OPERATION_NAME] = names.OPERATION_EXECUTE_TOOL
        attrs[names.GEN_AI_TOOL_NAME] = name
        attrs[names.GEN_AI_TOOL_TYPE] = names.TOOL_TYPE_FUNCTION
        attrs[names.DRIFTLINE_LANGCHAIN_RUN_TYPE] = names.LANGCHAIN_RUN_TOOL
        description = serialized.get("description") if serialized else None
        if isinstance(description, str) and description:
            attrs[names.GEN_AI_TOOL_DESCRIPTION] = description
        call_id = kwargs.get("tool_call_id")
        if isinstance(call_id, str) and call_id:
            attrs[names.GEN_AI_TOOL_CALL_ID] = call_id
        node = metadata.get("langgraph_node")
        if isinstance(node, str):
            attrs[names.DRIFTLINE_LANGGRAPH_NODE] = node
        parent_ctx = self._parent_context(parent)
        span = self._start_span(f"{names.OPERATION_EXECUTE_TOOL} {name}", context=parent_ctx,
                                       kind=SpanKind.INTERNAL, attributes=attrs)
        if rec.settings.capture.on_span:
            self._content(rec, span, names.GEN_AI_TOOL_CALL_ARGUMENTS, inputs if inputs is not None else input_str)
        run = _Run(names.LANGCHAIN_RUN_TOOL, name, parent, trace.set_span_in_context(span, parent_ctx), span)
        self._remember(run_id, run)
        self._mark_agent(parent)
        self._attach(run)

    def _mark_agent(self, parent: _Run | None) -> None:
        """A tool run after a model run under the same chain: that chain is an agent loop."""
        ancestor, depth = parent, 0
        while ancestor is not None and depth < _MAX_DEPTH:
            if ancestor.agent:
                return
            if ancestor.saw_model and ancestor.span is not None and ancestor.inv is None:
                ancestor.agent = True
                ancestor.span.update_name(f"{names.OPERATION_INVOKE_AGENT} {ancestor.name}")
                ancestor.span.set_attributes({names.GEN_AI_OPERATION_NAME: names.OPERATION_INVOKE_AGENT,
                                              names.GEN_AI_AGENT_NAME: ancestor.name})
                return
            ancestor, depth = ancestor.parent, depth + 1

    # -- helpers -------------------------------------------------------------------------------

    def _remember(self, run_id: UUID, run: _Run) -> None:
        runs = self._runs
        if len(runs) >= MAX_OPEN_RUNS:
            runs.pop(next(iter(runs)), None)
        runs[run_id] = run
        if run.span is not None:
            self._own_spans.add(run.span.get_span_context().span_id)

    def _start_span(self, name: str, **kwargs: Any) -> Span:
        if first_use.hooks:
            first_use.run_hooks()  # zero-code activation configures the SDK on the first span driftline starts
        return self.tracer.start_span(name, **kwargs)

    def _parent_context(self, parent: _Run | None) -> Context:
        """The parent run's context, unless a span opened inside that run (a user's own span in a
        node function, say) is current: then that span is the closer parent."""
        current = otel_context.get_current()
        if parent is None:
            return current
        active = trace.get_current_span(current)
        ctx = active.get_span_context()
        parent_span = trace.get_current_span(parent.ctx)
        if (active.is_recording() and ctx.span_id not in self._own_spans
                and ctx.trace_id == parent_span.get_span_context().trace_id):
            return current
        return parent.ctx

    @staticmethod
    def _attach(run: _Run) -> None:
        """Make the run's span current for the code the run executes."""
        run.outer = otel_context.get_current()
        otel_context.attach(run.ctx)
        run.attached = otel_context.get_current()

    @staticmethod
    def _detach(run: _Run) -> None:
        """Restore the context from before the run, if the run's context is still the current one.

        Not a token ``detach``: LangChain may report a run's end from another task or context copy
        (``agenerate`` gathers ``on_llm_end``), where resetting a token fails. There, the current
        context is not this run's and is left alone; the caller restores it through :meth:`leave`
        (:mod:`._patches` does that around such calls). Restoring twice is a no-op.
        """
        if run.attached is not None and otel_context.get_current() is run.attached and run.outer is not None:
            otel_context.attach(run.outer)

    def open_run(self, run_id: Any) -> _Run | None:
        """The run ``run_id`` while it is open (for :func:`._patches.restore_after_end`)."""
        return self._runs.get(run_id) if isinstance(run_id, UUID) else None

    def leave(self, run: _Run) -> None:
        """Restore the caller's context after ``run`` ended elsewhere (never raises)."""
        try:
            self._detach(run)
        except Exception:
            report_fault("langchain.restore_context")

    @staticmethod
    def _custom_attributes(rec: GenAIRecorder) -> dict[str, AttributeValue]:
        static = rec.settings.static_attributes
        scoped = current_scoped_attributes()
        if scoped:
            return {**static, **scoped} if static else dict(scoped)
        return dict(static) if static else {}

    @staticmethod
    def _content(rec: GenAIRecorder, span: Span, key: str, value: Any) -> None:
        scrubber = ContentScrubber(rec.settings)
        span.set_attribute(key, to_json(scrubber.scrub(value, free_text=True)))
        if scrubber.truncated:
            span.set_attribute(names.DRIFTLINE_CONTENT_TRUNCATED, True)
        if scrubber.redacted:
            span.set_attribute(names.DRIFTLINE_CONTENT_REDACTED, scrubber.redacted)
