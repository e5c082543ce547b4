"""Zero-code activation: ``DRIFTLINE_AUTO_INSTRUMENT=true`` instruments LangChain in a fresh interpreter
(driftline installed from its wheel, spans over OTLP/HTTP to an in-test sink)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from driftline.instrumentation.auto import SUPPORTED
from driftline.semconv import names
from tests.fakes.llm_server import FakeLLMServer
from tests.fakes.otlp_sink import OTLPSink, span_attributes
from tests.instrumentation.test_auto import _otlp_env, _run, scratch_python, sink  # noqa: F401  (fixtures)

pytestmark = pytest.mark.skipif(
    "langchain_core" not in SUPPORTED,
    reason="auto-activation of LangChain waits for 'langchain_core' in driftline.instrumentation.auto.SUPPORTED")

APP = textwrap.dedent("""
    import os
    from typing import Any
    import openai
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate

    class Model(BaseChatModel):
        @property
        def _llm_type(self) -> str:
            return "openai-backed"

        def _get_ls_params(self, stop=None, **kwargs: Any) -> Any:
            params = super()._get_ls_params(stop=stop, **kwargs)
            params["ls_provider"], params["ls_model_name"] = "openai", "gpt-4o"
            return params

        def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
            client = openai.OpenAI(base_url=os.environ["FAKE_BASE"] + "/v1", api_key="k", max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": str(messages[-1].content)}])
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=reply.choices[0].message.content))])

    chain = ChatPromptTemplate.from_messages([("human", "{q}")]) | Model() | StrOutputParser()
    print("ANSWER", chain.invoke({"q": "hi"}))
""")


def test_auto_activation_records_chain_and_one_llm_span(scratch_python: Path, sink: OTLPSink,  # noqa: F811
                                                        fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    result = _run(scratch_python, APP, {names.ENV_AUTO_INSTRUMENT: "true", **_otlp_env(sink)}, fake_llm, tmp_path)
    assert "ANSWER Hello from the fake provider." in result.stdout
    spans = {span.name: (scope, span) for _, scope, span in sink.spans()}
    assert sorted(spans) == ["ChatPromptTemplate", "RunnableSequence", "StrOutputParser", "chat gpt-4o"]
    scope, chat = spans["chat gpt-4o"]
    assert scope == "driftline.instrumentation.langchain"  # the OpenAI instrumentor's span is suppressed
    assert span_attributes(chat)[names.GEN_AI_PROVIDER_NAME] == names.PROVIDER_OPENAI
    assert chat.parent_span_id == spans["RunnableSequence"][1].span_id
