"""What the LangChain tests share: span-tree helpers and small real LangChain chat models.

Not a ``test_*`` module: it holds no tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan

from driftline.semconv import names
from tests.conftest import Telemetry

SCOPE = "driftline.instrumentation.langchain"


@dataclass
class LCTelemetry:
    """The shared telemetry plus the LangChain instrumentor's metric reader."""

    tel: Telemetry
    lc_metrics: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        """Every finished span, in end order."""
        return self.tel.spans()

    def named(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``."""
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, (name, [s.name for s in self.spans()])
        return found[0]

    def all_named(self, name: str) -> list[ReadableSpan]:
        """Finished spans called ``name``, in start order."""
        return sorted((s for s in self.spans() if s.name == name), key=lambda s: s.start_time or 0)

    def children(self, parent: ReadableSpan) -> list[str]:
        """Names of ``parent``'s direct children, in start order."""
        ctx = parent.get_span_context()
        assert ctx is not None
        kids = [s for s in self.spans() if s.parent is not None and s.parent.span_id == ctx.span_id]
        return [s.name for s in sorted(kids, key=lambda s: s.start_time or 0)]

    def llm_spans(self) -> list[ReadableSpan]:
        """Spans of any driftline scope whose operation is a model call."""
        return [s for s in self.spans() if (s.attributes or {}).get(names.GEN_AI_OPERATION_NAME)
                in (names.OPERATION_CHAT, names.OPERATION_TEXT_COMPLETION)]


def parent_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    """Whether ``parent`` is ``child``'s direct parent."""
    ctx = parent.get_span_context()
    return child.parent is not None and ctx is not None and child.parent.span_id == ctx.span_id


def scope(span: ReadableSpan) -> str:
    """The span's instrumentation scope name."""
    return span.instrumentation_scope.name if span.instrumentation_scope else ""


class ToolCallingFake(GenericFakeChatModel):
    """LangChain's own fake chat model, accepting ``bind_tools`` (it replies from its script)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Scripted replies already hold the tool calls; the tools change nothing."""
        return self


def fake_model(*replies: AIMessage | str) -> ToolCallingFake:
    """A fake chat model replying with ``replies`` in order."""
    return ToolCallingFake(messages=iter(replies))


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    """A LangChain ``usage_metadata``."""
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}


class FailingChatModel(BaseChatModel):
    """A chat model whose provider call fails."""

    @property
    def _llm_type(self) -> str:
        return "failing"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        raise ValueError("provider down")


_ROLES = {"human": "user", "ai": "assistant", "system": "system"}


class OpenAIBackedChatModel(BaseChatModel):
    """A LangChain chat model calling the real ``openai`` SDK (what langchain-openai does, in brief)."""

    base_url: str
    model: str = "gpt-4o"

    @property
    def _llm_type(self) -> str:
        return "openai-backed"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "openai"
        return params

    def _request(self, messages: list[BaseMessage]) -> dict[str, Any]:
        return {"model": self.model,
                "messages": [{"role": _ROLES[m.type], "content": m.content} for m in messages]}

    @staticmethod
    def _result(response: Any) -> ChatResult:
        choice = response.choices[0]
        message = AIMessage(
            content=choice.message.content or "",
            response_metadata={"id": response.id, "model_name": response.model,
                               "finish_reason": choice.finish_reason},
            usage_metadata=usage(response.usage.prompt_tokens, response.usage.completion_tokens))
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with openai.OpenAI(base_url=self.base_url, api_key="k", max_retries=0) as client:
            return self._result(client.chat.completions.create(**self._request(messages)))

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        async with openai.AsyncOpenAI(base_url=self.base_url, api_key="k", max_retries=0) as client:
            return self._result(await client.chat.completions.create(**self._request(messages)))

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with openai.OpenAI(base_url=self.base_url, api_key="k", max_retries=0) as client:
            for chunk in client.chat.completions.create(**self._request(messages), stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=chunk.choices[0].delta.content))

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        async with openai.AsyncOpenAI(base_url=self.base_url, api_key="k", max_retries=0) as client:
            stream = await client.chat.completions.create(**self._request(messages), stream=True)
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=chunk.choices[0].delta.content))
