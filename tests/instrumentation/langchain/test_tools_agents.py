"""Tools, agent loops (LangChain-only and LangGraph) and the one-LLM-span rule with the real OpenAI SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from opentelemetry.trace import SpanKind, StatusCode

from driftline.semconv import names
from tests.fakes.llm_server import FakeLLMServer
from tests.instrumentation.langchain.support import (
    SCOPE,
    LCTelemetry,
    OpenAIBackedChatModel,
    fake_model,
    parent_of,
    scope,
)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(reason)


def _call(name: str, args: dict[str, Any], call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])


def test_tool_call_span_with_id_and_content_under_policy(lc: Callable[..., LCTelemetry]) -> None:
    t = lc(OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY")
    result = add.invoke({"name": "add", "args": {"a": 2, "b": 3}, "id": "call_7", "type": "tool_call"})
    assert isinstance(result, ToolMessage)
    assert result.content == "5"
    span = t.named("execute_tool add")
    assert span.kind is SpanKind.INTERNAL
    assert scope(span) == SCOPE
    attrs = dict(span.attributes or {})
    assert attrs[names.GEN_AI_OPERATION_NAME] == names.OPERATION_EXECUTE_TOOL
    assert attrs[names.GEN_AI_TOOL_NAME] == "add"
    assert attrs[names.GEN_AI_TOOL_TYPE] == names.TOOL_TYPE_FUNCTION
    assert attrs[names.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert attrs[names.GEN_AI_TOOL_DESCRIPTION] == "Add two integers."
    assert json.loads(str(attrs[names.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"a": 2, "b": 3}
    assert json.loads(str(attrs[names.GEN_AI_TOOL_CALL_RESULT])) == "5"


def test_tool_content_is_absent_by_default_and_errors_are_marked(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    add.invoke({"a": 1, "b": 1})
    attrs = dict(t.named("execute_tool add").attributes or {})
    assert names.GEN_AI_TOOL_CALL_ARGUMENTS not in attrs
    assert names.GEN_AI_TOOL_CALL_RESULT not in attrs
    with pytest.raises(RuntimeError, match="boom"):
        explode.invoke({"reason": "boom"})
    failed = t.named("execute_tool explode")
    assert failed.status.status_code is StatusCode.ERROR
    assert (failed.attributes or {})[names.ERROR_TYPE] == "RuntimeError"


def _loop(model: Any) -> Callable[[str], str]:
    tools = {"add": add}

    def agent(question: str) -> str:
        messages: list[Any] = [HumanMessage(question)]
        while True:
            reply = model.invoke(messages)
            messages.append(reply)
            if not reply.tool_calls:
                return str(reply.content)
            for call in reply.tool_calls:
                messages.append(tools[call["name"]].invoke(call))

    return agent


def test_langchain_agent_loop_becomes_invoke_agent(lc: Callable[..., LCTelemetry]) -> None:
    t = lc()
    model = fake_model(_call("add", {"a": 1, "b": 2}, "call_1"), AIMessage(content="3"))
    assert RunnableLambda(_loop(model), name="calculator").invoke("1+2?") == "3"
    root = t.named("invoke_agent calculator")
    assert root.parent is None
    assert (root.attributes or {})[names.GEN_AI_OPERATION_NAME] == names.OPERATION_INVOKE_AGENT
    assert (root.attributes or {})[names.GEN_AI_AGENT_NAME] == "calculator"
    assert t.children(root) == ["chat", "execute_tool add", "chat"]
    chat = t.all_named("chat")[0]
    assert (chat.attributes or {})[names.DRIFTLINE_RESPONSE_TOOL_CALL_COUNT] == 1
    assert (t.named("execute_tool add").attributes or {})[names.GEN_AI_TOOL_CALL_ID] == "call_1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_langgraph_react_agent(lc: Callable[..., LCTelemetry]) -> None:
    prebuilt = pytest.importorskip("langgraph.prebuilt")
    t = lc()
    model = fake_model(_call("add", {"a": 1, "b": 2}, "call_1"), AIMessage(content="3"))
    agent = prebuilt.create_react_agent(model, [add], name="math")
    out = agent.invoke({"messages": [HumanMessage("1+2?")]})
    assert out["messages"][-1].content == "3"
    root = t.named("invoke_agent math")
    assert root.parent is None
    attrs = dict(root.attributes or {})
    assert attrs[names.GEN_AI_OPERATION_NAME] == names.OPERATION_INVOKE_AGENT
    assert attrs[names.GEN_AI_AGENT_NAME] == "math"
    assert t.children(root) == ["agent", "tools", "agent"]
    tools_node = t.named("tools")
    assert (tools_node.attributes or {})[names.DRIFTLINE_LANGGRAPH_NODE] == "tools"
    tool_span = t.named("execute_tool add")
    assert parent_of(tool_span, tools_node)
    assert (tool_span.attributes or {})[names.GEN_AI_TOOL_CALL_ID] == "call_1"
    chats = t.all_named("chat")
    assert len(chats) == 2
    for chat in chats:
        assert (chat.attributes or {})[names.DRIFTLINE_LANGGRAPH_NODE] == "agent"


def test_langgraph_graph_without_tools_is_a_workflow(lc: Callable[..., LCTelemetry]) -> None:
    graph_mod = pytest.importorskip("langgraph.graph")
    t = lc()
    model = fake_model("drafted")
    builder = graph_mod.StateGraph(graph_mod.MessagesState)
    builder.add_node("draft", lambda state: {"messages": [model.invoke(state["messages"])]})
    builder.add_edge(graph_mod.START, "draft")
    builder.add_edge("draft", graph_mod.END)
    graph = builder.compile(name="drafting")
    graph.invoke({"messages": [HumanMessage("write")]})
    root = t.named("invoke_workflow drafting")
    attrs = dict(root.attributes or {})
    assert attrs[names.GEN_AI_OPERATION_NAME] == names.OPERATION_INVOKE_WORKFLOW
    assert attrs[names.GEN_AI_WORKFLOW_NAME] == "drafting"
    assert t.children(root) == ["draft"]
    assert t.children(t.named("draft")) == ["chat"]


# -- one LLM span per call: a LangChain chat model backed by the instrumented openai SDK ----------


def test_openai_backed_chat_model_yields_one_llm_span(lc: Callable[..., LCTelemetry], fake_llm: FakeLLMServer) -> None:
    t = lc()
    model = OpenAIBackedChatModel(base_url=fake_llm.openai_base_url)
    reply = (RunnableLambda(lambda q: q, name="prep") | model).invoke("hi")
    assert reply.content == "Hello from the fake provider."
    llm = t.llm_spans()
    assert [(s.name, scope(s)) for s in llm] == [("chat gpt-4o", SCOPE)]
    attrs = dict(llm[0].attributes or {})
    assert attrs[names.GEN_AI_PROVIDER_NAME] == names.PROVIDER_OPENAI
    assert attrs[names.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert attrs[names.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2025-01-01"  # what the provider answered
    assert str(attrs[names.GEN_AI_RESPONSE_ID]).startswith("chatcmpl")
    assert attrs[names.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert parent_of(llm[0], t.named("RunnableSequence"))


def test_openai_backed_streams_and_async_yield_one_llm_span_each(lc: Callable[..., LCTelemetry],
                                                                fake_llm: FakeLLMServer) -> None:
    t = lc()
    model = OpenAIBackedChatModel(base_url=fake_llm.openai_base_url)
    assert "".join(str(c.content) for c in model.stream("hi")) == "Hello from the fake provider."

    async def run() -> None:
        await model.ainvoke("hi")
        assert "".join([str(c.content) async for c in model.astream("hi")]) == "Hello from the fake provider."

    asyncio.run(run())
    assert [(s.name, scope(s)) for s in t.llm_spans()] == [("chat gpt-4o", SCOPE)] * 3


def test_openai_call_inside_a_tool_is_its_child(lc: Callable[..., LCTelemetry], fake_llm: FakeLLMServer) -> None:
    t = lc()

    @tool
    def summarise(text: str) -> str:
        """Summarise with a model, outside LangChain."""
        with openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="k", max_retries=0) as client:
            answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}])
        return answer.choices[0].message.content or ""

    summarise.invoke({"text": "long text"})
    tool_span = t.named("execute_tool summarise")
    openai_span = t.named("chat gpt-4o")
    assert scope(openai_span) == "driftline.instrumentation.openai"
    assert parent_of(openai_span, tool_span)
