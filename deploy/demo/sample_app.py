"""A small AI application: LLM calls, a fraud model, and a support agent with two tools.

It reads the provider endpoints and keys from the SDKs' own environment variables
(OPENAI_BASE_URL, OPENAI_API_KEY, ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY). Run it with
``DRIFTLINE_AUTO_INSTRUMENT=true`` and every OpenAI/Anthropic call, every scikit-learn prediction
and every MCP tool call becomes an OpenTelemetry span, with no code for it. The only driftline code
is what only the app can say: which function is an agent or a tool (``@agent``, ``@tool``) and the
true labels that arrive later (``record_feedback``), and the ``region`` of live traffic
(``span_attributes``), which the processor's drift analysis uses as a segment.

After the showcase it serves live traffic in two phases (``--baseline-calls`` then ``--shifted-calls``
transactions): every transaction is scored one row at a time with ``region`` eu or us, and an LLM
writes a one-line note about it. Phase A (baseline) looks like the training data and few notes are truncated; in phase B
(shifted) the EU amounts are ``--eu-amount-factor`` times larger (nothing else, and not in the US) and
many more notes are cut off (``finish_reason: length``). With ``--checkpoints`` it pauses every
``--batch`` calls so that ``run.py`` can read the processor's metrics (see :func:`checkpoint`).

The ``[[...]]`` markers steer the demo's fake provider (a real API ignores them as text).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anthropic
import anyio
import numpy as np
import openai
import pandas as pd
from mcp import Client, StdioServerParameters
from opentelemetry import trace
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftline.instrumentation import agent, span_attributes, tool, tool_call
from driftline.instrumentation.ml import last_prediction_id, record_feedback, set_model_info

HERE = Path(__file__).resolve().parent

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


# --- a fraud model ------------------------------------------------------------------------------

MERCHANTS = ["grocery", "electronics", "travel", "gaming", "fuel"]


def transactions(rows: int, seed: int) -> pd.DataFrame:
    """Synthetic card transactions (amount, hour, merchant, card present, distance from home)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "amount": np.round(rng.lognormal(3.5, 1.0, rows), 2),
        "hour": rng.integers(0, 24, rows),
        "merchant": rng.choice(MERCHANTS, rows),
        "card_present": rng.integers(0, 2, rows),
        "km_from_home": np.round(rng.exponential(12.0, rows), 1),
    })


def is_fraud(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """The (synthetic) truth: large, card-absent, far-away or night-time gaming/electronics buys."""
    rng = np.random.default_rng(seed)
    risk = (0.004 * frame["amount"] + 1.5 * (1 - frame["card_present"]) + 0.03 * frame["km_from_home"]
            + 1.2 * frame["merchant"].isin(["gaming", "electronics"]) + 0.8 * (frame["hour"] < 5))
    return (risk + rng.normal(0, 0.5, len(frame)) > 3.0).astype(int).to_numpy()


def fraud_model() -> Pipeline:
    """Train the model the app serves (in a real app: loaded from the model registry)."""
    train = transactions(4000, seed=1)
    model = Pipeline([
        ("prepare", ColumnTransformer([("merchant", OneHotEncoder(handle_unknown="ignore"), ["merchant"])],
                                      remainder=StandardScaler())),
        ("classify", LogisticRegression(max_iter=500)),
    ]).fit(train, is_fraud(train, seed=2))
    set_model_info(model, name="fraud-detector", version="2026.11.1", training_data="s3://models/fraud/train-2026-11")
    return model


def score_transactions(model: Pipeline) -> None:
    """One live transaction, then a nightly batch; labels (chargebacks) arrive later as feedback."""
    live = transactions(1, seed=7)
    p_live = model.predict_proba(live)[0, 1]
    print(f"fraud     : live transaction {live.iloc[0]['amount']:.2f} at a {live.iloc[0]['merchant']} "
          f"merchant -> p(fraud)={p_live:.2f}")
    batch = transactions(500, seed=8)
    flagged = model.predict(batch)
    batch_id = last_prediction_id()
    print(f"fraud     : nightly batch of {len(batch)} -> {int(flagged.sum())} flagged (prediction id {batch_id})")
    truth = is_fraud(batch, seed=9)
    for row in (0, 1, 2):   # chargebacks reported for three of the batch's transactions
        record_feedback(batch_id or "", int(truth[row]), model="fraud-detector", row=row)
    print("fraud     : 3 labels recorded as feedback")


# --- a support agent with two tools, one over MCP --------------------------------------------------

@tool
def lookup_transaction(txn_id: str) -> dict[str, object]:
    """The app's own tool: a transaction from the ledger."""
    return {"txn_id": txn_id, "amount": 912.40, "merchant": "electronics", "card_id": "card-77"}


async def card_risk_over_mcp(card_id: str) -> str:
    """The other team's tool, called on their MCP server (a subprocess over stdio)."""
    env = {**os.environ, "OTEL_SERVICE_NAME": "risk-tools"}  # the other team's service, same trace
    server = StdioServerParameters(command=sys.executable, args=[str(HERE / "mcp_tools.py")], env=env)
    with anyio.fail_after(60):
        async with Client(server, mode="legacy") as client:
            result = await client.call_tool("card_risk", {"card_id": card_id})
    return str(result.content[0].text)  # type: ignore[union-attr]


@agent(name="dispute-assistant", description="Answers card-dispute questions with the ledger and risk tools")
def dispute_assistant(client: openai.OpenAI, question: str) -> str:
    """One agent turn: the model asks for both tools at once, the app runs them, the model answers."""
    tools = [{"type": "function", "function": {"name": name, "description": doc,
                                               "parameters": {"type": "object", "properties": {
                                                   arg: {"type": "string"}}, "required": [arg]}}}
             for name, doc, arg in (("lookup_transaction", "A transaction from the ledger", "txn_id"),
                                    ("card_risk", "Risk tier of a card", "card_id"))]
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    first = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)  # type: ignore[arg-type]
    message = first.choices[0].message
    messages.append(message.model_dump(exclude_none=True))
    for call in message.tool_calls or []:
        args = json.loads(call.function.arguments)  # type: ignore[union-attr]
        if call.function.name == "lookup_transaction":  # type: ignore[union-attr]
            with tool_call(id=call.id):
                output = json.dumps(lookup_transaction(**args))
        else:
            output = anyio.run(card_risk_over_mcp, args["card_id"])
        messages.append({"role": "tool", "tool_call_id": call.id, "content": output})
    final = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)  # type: ignore[arg-type]
    return final.choices[0].message.content or ""


# --- live traffic: what the processor's drift and quality analysis watches -------------------------

REGIONS = ("eu", "us")
AMOUNT_SHIFT_EU = 3.0
"""Phase B: EU transaction amounts are this many times larger (a new high-value merchant partner)."""
TRUNCATED_SHARE = {"baseline": 0.03, "shifted": 0.35}
"""Share of analyst notes the LLM cuts off (``finish_reason: length``) per phase."""
CHECKPOINT = "@@checkpoint "
"""Prefix of the line :func:`checkpoint` prints (read by run.py, not shown)."""
NOTE = "Risk {p:.2f}: amount within this card's usual range, merchant and location as usual."


def checkpoint(enabled: bool, **info: object) -> None:
    """Demo plumbing, not instrumentation: at a batch boundary hand the spans to the exporter now, tell
    run.py (``@@checkpoint {json}`` on stdout) and wait for its go-ahead on stdin, so that it reads the
    processor's ``/metrics`` exactly after each batch. A real service lets the SDK export in the background."""
    if not enabled:
        return
    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if callable(flush):
        flush()
    print(CHECKPOINT + json.dumps(info), flush=True)
    sys.stdin.readline()


def live_transactions(phase: str, calls: int, seed: int,
                      eu_amount_factor: float = AMOUNT_SHIFT_EU) -> tuple[pd.DataFrame, list[str]]:
    """``calls`` transactions and their regions (eu and us alternating); in the shifted phase the EU
    amounts are multiplied by ``eu_amount_factor`` (only the amount, only in the EU)."""
    frame = transactions(calls, seed)
    regions = [REGIONS[i % len(REGIONS)] for i in range(calls)]
    if phase == "shifted":
        eu = np.array(regions) == "eu"
        frame.loc[eu, "amount"] = np.round(frame.loc[eu, "amount"] * eu_amount_factor, 2)
    return frame, regions


def serve_traffic(model: Pipeline, client: openai.OpenAI, phase: str, calls: int, seed: int, *, batch: int,
                  pause: Callable[..., None], done: int, eu_amount_factor: float = AMOUNT_SHIFT_EU) -> int:
    """Score ``calls`` live transactions one at a time, each followed by an LLM note; returns the calls
    made so far (``done`` before this phase). ``pause`` runs after every ``batch`` calls."""
    frame, regions = live_transactions(phase, calls, seed, eu_amount_factor)
    truncated = np.random.default_rng(seed + 1).random(calls) < TRUNCATED_SHARE[phase]
    flagged = cut = 0
    for i in range(calls):
        with span_attributes(region=regions[i]):   # the segment the processor splits drift by
            p_fraud = float(model.predict_proba(frame.iloc[[i]])[0, 1])
        flagged += p_fraud > 0.5
        row = frame.iloc[i]
        reply = NOTE.format(p=p_fraud)
        steer = f"[[reply:{reply}]]"
        if truncated[i]:   # the model runs out of tokens mid-sentence
            steer = f"[[reply:{' '.join(reply.split()[:5])}]] [[length]]"
        prompt = (f"One line for the analyst: transaction of {row['amount']:.2f} at a {row['merchant']} merchant, "
                  f"p(fraud)={p_fraud:.2f}. {steer}")
        note = client.chat.completions.create(model="gpt-4o-mini", max_tokens=40,
                                              messages=[{"role": "user", "content": prompt}])
        cut += note.choices[0].finish_reason == "length"
        if (done + i + 1) % batch == 0:
            pause(calls=done + i + 1, phase=phase)
    print(f"traffic   : {phase:<8} {calls} transactions scored one by one (eu/us) -> {flagged} flagged; "
          f"{calls} LLM notes, {cut} truncated")
    return done + calls


def main() -> None:
    """Chat, a streamed answer, a tool-calling turn, an embedding, an Anthropic call, the fraud model,
    the dispute agent; then live traffic in two phases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline-calls", type=int, default=800, help="transactions in phase A (0: no traffic)")
    parser.add_argument("--shifted-calls", type=int, default=600, help="transactions in phase B")
    parser.add_argument("--eu-amount-factor", type=float, default=AMOUNT_SHIFT_EU,
                        help="phase B: EU amounts are multiplied by this")
    parser.add_argument("--batch", type=int, default=100, help="calls between checkpoints")
    parser.add_argument("--checkpoints", action="store_true",
                        help="pause at every batch boundary until a line arrives on stdin (run.py)")
    args = parser.parse_args()
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

    model = fraud_model()
    score_transactions(model)

    answer_text = dispute_assistant(client, 'Was T-1001 fraud? [[tool:lookup_transaction:{"txn_id":"T-1001"}]] '
                                            '[[tool:card_risk:{"card_id":"card-77"}]] '
                                            "[[reply:T-1001 looks like fraud: an elevated-risk card, 912.40 at an "
                                            "electronics shop.]]")
    print("agent     :", answer_text)

    if args.baseline_calls > 0:
        def pause(**info: object) -> None:
            checkpoint(args.checkpoints, **info)

        pause(calls=0, phase="baseline")
        done = serve_traffic(model, client, "baseline", args.baseline_calls, seed=11, batch=args.batch, pause=pause,
                             done=0)
        serve_traffic(model, client, "shifted", args.shifted_calls, seed=12, batch=args.batch, pause=pause, done=done,
                      eu_amount_factor=args.eu_amount_factor)


if __name__ == "__main__":
    main()
