"""A small LLM application with no observability code at all.

It reads the provider endpoints and keys from the SDKs' own environment variables
(OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY). Run it with
``DRIFTLINE_AUTO_INSTRUMENT=true`` and every call becomes an OpenTelemetry span plus metrics.
The ``[[...]]`` markers steer the demo's fake provider (a real API ignores them as text).
"""

from __future__ import annotations

import json

import anthropic
import openai

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}]


def get_weather(city: str) -> dict[str, object]:
    """The app's own tool."""
    return {"city": city, "forecast": "light rain", "celsius": 14}


def main() -> None:
    """Chat, a streamed answer, a tool-calling turn, an embedding and an Anthropic call."""
    client = openai.OpenAI(max_retries=0)
    claude = anthropic.Anthropic(max_retries=0)

    answer = client.chat.completions.create(
        model="gpt-4o-mini", temperature=0.2,
        messages=[{"role": "system", "content": "You are terse."},
                  {"role": "user", "content": "Summarise my ticket. Reply to jane.doe@example.com "
                                              "[[reply:Your ticket is about a delayed refund.]]"}])
    print("chat      :", answer.choices[0].message.content)

    stream = client.chat.completions.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Write a haiku about drift. [[chunks:6]] [[first_delay_ms:40]] "
                                              "[[reply:Quiet numbers slide, dashboards glow green all night, "
                                              "the model forgets.]]"}])
    print("stream    :", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))

    messages: list[dict[str, object]] = [
        {"role": "user", "content": 'Weather in Paris? [[tool:get_weather:{"city":"Paris"}]]'}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    result = get_weather(**json.loads(call.function.arguments))  # type: ignore[union-attr]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}]
    final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    print("tool turn :", call.function.name, "->", final.choices[0].message.content)  # type: ignore[union-attr]

    vectors = client.embeddings.create(model="text-embedding-3-small", input=["refund delayed", "drift"])
    print("embedding :", len(vectors.data), "vectors of", len(vectors.data[0].embedding), "dims")

    message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=200,
                                     system="Answer in one sentence.",
                                     messages=[{"role": "user", "content": "What is concept drift?"}])
    print("anthropic :", message.content[0].text)  # type: ignore[union-attr]


if __name__ == "__main__":
    main()
