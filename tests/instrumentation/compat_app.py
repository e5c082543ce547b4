"""Smoke run of the instrumentation against whatever openai/anthropic versions are importable.

Run by test_sdk_compat.py with older SDK majors placed first on ``PYTHONPATH``; prints one JSON
object: the SDK versions and, per call, the spans it produced.
"""

from __future__ import annotations

import asyncio
import json
import sys

import anthropic
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from driftline.instrumentation.anthropic import AnthropicInstrumentor
from driftline.instrumentation.openai import OpenAIInstrumentor

base = sys.argv[1]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
OpenAIInstrumentor().instrument(tracer_provider=provider)
AnthropicInstrumentor().instrument(tracer_provider=provider)
oai = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
claude = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
results: dict[str, list[dict[str, object]]] = {}


def record(label: str) -> None:
    results[label] = [{"name": s.name, **{k: v if not isinstance(v, tuple) else list(v)
                                           for k, v in (s.attributes or {}).items()}}
                      for s in exporter.get_finished_spans()]
    exporter.clear()


oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
record("chat")
for _ in oai.chat.completions.create(model="gpt-4o", stream=True, stream_options={"include_usage": True},
                                     messages=[{"role": "user", "content": "hi"}]):
    pass
record("chat_stream")
oai.responses.create(model="gpt-4o", input="hi")
record("responses")
for _ in oai.responses.create(model="gpt-4o", input="hi", stream=True):
    pass
record("responses_stream")
oai.embeddings.create(model="text-embedding-3-small", input="hi")
record("embeddings")


async def async_chat() -> None:
    client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
    await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


asyncio.run(async_chat())
record("async_chat")
claude.messages.create(model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "hi"}])
record("anthropic")
with claude.messages.stream(model="claude-test", max_tokens=32, messages=[{"role": "user", "content": "hi"}]) as s:
    s.get_final_message()
record("anthropic_stream_helper")
print(json.dumps({"openai": openai.__version__, "anthropic": anthropic.__version__, "calls": results}))
