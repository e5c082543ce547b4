"""OTLP/JSON codec: hand-written documents in the shape of the OTLP specification's examples decode to
the exact protobuf messages, a realistic SDK batch round-trips, and invalid documents are refused
with a path to the offending value.

Spec: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from driftline.processors.otlp.errors import MalformedPayload, OTLPDecodeError
from driftline.processors.otlp.json_codec import MAX_VALUE_DEPTH, decode_json, decode_trace_request, encode_json
from driftline.semconv import names
from tests.benchmarks.bench_otlp_json import genai_request

TRACE_ID = "5B8EFFF798038103D269B633813FC60C"
SPAN_ID = "EEE19B7EC3C1B174"
PARENT_ID = "EEE19B7EC3C1B173"

# In the shape of opentelemetry-proto's examples/trace.json: upper-case hex ids, times as JSON
# numbers, the span kind as an integer.
SPEC_STYLE = """
{
  "resourceSpans": [
    {
      "resource": {
        "attributes": [{"key": "service.name", "value": {"stringValue": "support-assistant"}}]
      },
      "scopeSpans": [
        {
          "scope": {"name": "driftline.instrumentation.openai", "version": "0.1.0"},
          "spans": [
            {
              "traceId": "5B8EFFF798038103D269B633813FC60C",
              "spanId": "EEE19B7EC3C1B174",
              "parentSpanId": "EEE19B7EC3C1B173",
              "name": "chat gpt-4o-mini",
              "startTimeUnixNano": 1544712660000000000,
              "endTimeUnixNano": 1544712661000000000,
              "kind": 3,
              "attributes": [
                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1536"}},
                {"key": "gen_ai.request.temperature", "value": {"doubleValue": 0.2}},
                {"key": "gen_ai.request.stream", "value": {"boolValue": false}},
                {"key": "gen_ai.response.finish_reasons",
                 "value": {"arrayValue": {"values": [{"stringValue": "stop"}]}}}
              ],
              "status": {"code": 1}
            }
          ]
        }
      ]
    }
  ]
}
"""


def kv(key: str, **value: Any) -> KeyValue:
    """``KeyValue(key, AnyValue(**value))``."""
    return KeyValue(key=key, value=AnyValue(**value))


def request_of(*spans: Span, resource: Resource | None = None,
               scope: InstrumentationScope | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=list(spans))])])


def span_document(**fields: Any) -> dict[str, Any]:
    """A one-span OTLP/JSON document whose span has ``fields``."""
    return {"resourceSpans": [{"scopeSpans": [{"spans": [fields]}]}]}


def decode_span(**fields: Any) -> Span:
    """The one span of ``span_document(**fields)``, decoded."""
    request = decode_trace_request(json.dumps(span_document(**fields)))
    return request.resource_spans[0].scope_spans[0].spans[0]


def decode_value(value: Any) -> AnyValue:
    """One attribute value, decoded."""
    return decode_span(attributes=[{"key": "k", "value": value}]).attributes[0].value


def refusal(document: Any) -> str:
    """The message the decoder refuses ``document`` with (a dict is sent as JSON, text as is)."""
    body = document if isinstance(document, (str, bytes)) else json.dumps(document)
    with pytest.raises(OTLPDecodeError) as caught:
        decode_trace_request(body)
    return str(caught.value)


# --- documents decode to the exact messages -------------------------------------------------------

def test_spec_style_document_decodes_to_the_exact_message() -> None:
    expected = request_of(
        Span(trace_id=bytes.fromhex(TRACE_ID), span_id=bytes.fromhex(SPAN_ID),
             parent_span_id=bytes.fromhex(PARENT_ID), name="chat gpt-4o-mini",
             start_time_unix_nano=1544712660000000000, end_time_unix_nano=1544712661000000000,
             kind=Span.SPAN_KIND_CLIENT,
             attributes=[
                 kv(names.GEN_AI_OPERATION_NAME, string_value="chat"),
                 kv(names.GEN_AI_REQUEST_MODEL, string_value="gpt-4o-mini"),
                 kv(names.GEN_AI_USAGE_INPUT_TOKENS, int_value=1536),
                 kv(names.GEN_AI_REQUEST_TEMPERATURE, double_value=0.2),
                 kv(names.GEN_AI_REQUEST_STREAM, bool_value=False),
                 kv(names.GEN_AI_RESPONSE_FINISH_REASONS,
                    array_value=ArrayValue(values=[AnyValue(string_value="stop")])),
             ],
             status=Status(code=Status.STATUS_CODE_OK)),
        resource=Resource(attributes=[kv("service.name", string_value="support-assistant")]),
        scope=InstrumentationScope(name="driftline.instrumentation.openai", version="0.1.0"))

    assert decode_trace_request(SPEC_STYLE) == expected
    assert decode_trace_request(SPEC_STYLE.encode()) == expected


# Every field of the trace schema, 64-bit integers as strings, proto field names in places, and
# unknown fields at every level (which the spec says receivers MUST ignore).
EVERY_FIELD = {
    "resourceSpans": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": "gpu-7"}}],
                     "droppedAttributesCount": 2, "futureResourceField": {"x": 1}},
        "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
        "scope_spans": [{
            "scope": {"name": "agent", "version": "3", "droppedAttributesCount": 1,
                      "attributes": [{"key": "scope.kind", "value": {"stringValue": "agent"}}]},
            "schema_url": "https://opentelemetry.io/schemas/1.26.0",
            "spans": [{
                "trace_id": "0af7651916cd43dd8448eb211c80319c",
                "span_id": "b7ad6b7169203331",
                "traceState": "vendor=value",
                "flags": 257,
                "name": "execute tool",
                "kind": 1,
                "startTimeUnixNano": "1700000000000000001",
                "end_time_unix_nano": "1700000000500000002",
                "attributes": [{"key": "tool.name", "value": {"stringValue": "search"}, "comment": "ignored"}],
                "droppedAttributesCount": 3,
                "events": [{"timeUnixNano": "1700000000100000000", "name": "retry",
                            "attributes": [{"key": "attempt", "value": {"intValue": 2}}],
                            "droppedAttributesCount": 4}],
                "droppedEventsCount": 5,
                "links": [{"traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7",
                           "traceState": "k=v", "flags": 1, "droppedAttributesCount": 6,
                           "attributes": [{"key": "link.reason", "value": {"stringValue": "fan-in"}}]}],
                "droppedLinksCount": 7,
                "status": {"code": 2, "message": "tool failed"},
                "somethingNew": [1, 2, 3],
            }],
        }],
    }],
    "extension": {"ignored": True},
}


def test_every_field_decodes_whatever_the_key_spelling_and_unknown_fields_are_ignored() -> None:
    expected = ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=[kv("host.name", string_value="gpu-7")], dropped_attributes_count=2),
        schema_url="https://opentelemetry.io/schemas/1.26.0",
        scope_spans=[ScopeSpans(
            scope=InstrumentationScope(name="agent", version="3", dropped_attributes_count=1,
                                       attributes=[kv("scope.kind", string_value="agent")]),
            schema_url="https://opentelemetry.io/schemas/1.26.0",
            spans=[Span(
                trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
                span_id=bytes.fromhex("b7ad6b7169203331"),
                trace_state="vendor=value", flags=257, name="execute tool", kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=1700000000000000001, end_time_unix_nano=1700000000500000002,
                attributes=[kv("tool.name", string_value="search")], dropped_attributes_count=3,
                events=[Span.Event(time_unix_nano=1700000000100000000, name="retry",
                                   attributes=[kv("attempt", int_value=2)], dropped_attributes_count=4)],
                dropped_events_count=5,
                links=[Span.Link(trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
                                 span_id=bytes.fromhex("00f067aa0ba902b7"), trace_state="k=v", flags=1,
                                 dropped_attributes_count=6, attributes=[kv("link.reason", string_value="fan-in")])],
                dropped_links_count=7,
                status=Status(code=Status.STATUS_CODE_ERROR, message="tool failed"),
            )],
        )],
    )])

    decoded = decode_trace_request(json.dumps(EVERY_FIELD))

    assert decoded == expected
    assert decode_trace_request(encode_json(decoded)) == expected


def test_a_realistic_sdk_batch_round_trips_through_our_encoder_and_decoder() -> None:
    request = genai_request(512)

    body = encode_json(request)

    assert decode_trace_request(body) == request
    assert b"\n" not in body, "one request is one line of a JSON-lines file"


def test_the_encoder_writes_otlp_json_not_protobufs_generic_mapping() -> None:
    request = genai_request(16)
    document = json.loads(encode_json(request))
    spans = [span for scope in document["resourceSpans"][0]["scopeSpans"] for span in scope["spans"]]
    child = next(span for span in spans if "parentSpanId" in span)

    assert re.fullmatch("[0-9a-f]{32}", child["traceId"])  # lower-case hex, not base64
    assert re.fullmatch("[0-9a-f]{16}", child["spanId"])
    assert re.fullmatch("[0-9a-f]{16}", child["parentSpanId"])
    assert isinstance(child["kind"], int)  # enums as integers
    assert isinstance(child["startTimeUnixNano"], str)  # 64-bit integers as decimal strings
    assert int(child["endTimeUnixNano"]) >= int(child["startTimeUnixNano"])
    assert all("_" not in key for span in spans for key in span)  # lowerCamelCase keys
    tokens = next(a for span in spans for a in span.get("attributes", ())
                  if a["key"] == names.GEN_AI_USAGE_INPUT_TOKENS)
    assert isinstance(tokens["value"]["intValue"], str)


def test_the_empty_request_is_valid_and_encodes_as_an_empty_object() -> None:
    assert decode_trace_request(b"{}") == ExportTraceServiceRequest()
    assert encode_json(ExportTraceServiceRequest()) == b"{}"


def test_other_otlp_messages_decode_too() -> None:
    body = b'{"partialSuccess": {"rejectedSpans": "3", "errorMessage": "spans without a name"}}'

    response = decode_json(body, ExportTraceServiceResponse)

    assert response.partial_success.rejected_spans == 3
    assert decode_json(encode_json(response), ExportTraceServiceResponse) == response


# --- AnyValue ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("json_value", "expected"), [
    ({"stringValue": "héllo ✓"}, AnyValue(string_value="héllo ✓")),
    ({"stringValue": ""}, AnyValue(string_value="")),
    ({"boolValue": True}, AnyValue(bool_value=True)),
    ({"boolValue": False}, AnyValue(bool_value=False)),
    ({"intValue": "42"}, AnyValue(int_value=42)),
    ({"intValue": 42}, AnyValue(int_value=42)),
    ({"intValue": "-9223372036854775808"}, AnyValue(int_value=-(2**63))),
    ({"intValue": "9223372036854775807"}, AnyValue(int_value=2**63 - 1)),
    ({"intValue": "0"}, AnyValue(int_value=0)),
    ({"intValue": "1e3"}, AnyValue(int_value=1000)),
    ({"intValue": 7.0}, AnyValue(int_value=7)),
    ({"doubleValue": 0.25}, AnyValue(double_value=0.25)),
    ({"doubleValue": 3}, AnyValue(double_value=3.0)),
    ({"doubleValue": "2.5"}, AnyValue(double_value=2.5)),
    ({"doubleValue": "Infinity"}, AnyValue(double_value=math.inf)),
    ({"doubleValue": "-Infinity"}, AnyValue(double_value=-math.inf)),
    ({"bytesValue": base64.b64encode(b"\x00\xffbin").decode()}, AnyValue(bytes_value=b"\x00\xffbin")),
    ({"bytesValue": "_-8"}, AnyValue(bytes_value=base64.b64decode("/+8="))),  # URL-safe, unpadded
    ({"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {"arrayValue": {}}]}},
     AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=1),
                                             AnyValue(array_value=ArrayValue())]))),
    ({"arrayValue": {}}, AnyValue(array_value=ArrayValue())),
    ({"kvlistValue": {"values": [{"key": "inner", "value": {"kvlistValue": {"values": [
        {"key": "deep", "value": {"boolValue": True}}]}}}]}},
     AnyValue(kvlist_value=KeyValueList(values=[
         KeyValue(key="inner", value=AnyValue(kvlist_value=KeyValueList(values=[kv("deep", bool_value=True)])))]))),
    ({"kvlistValue": {}}, AnyValue(kvlist_value=KeyValueList())),
    ({}, AnyValue()),
    ({"stringValue": None}, AnyValue()),
    ({"futureVariant": 1, "stringValue": "known"}, AnyValue(string_value="known")),
])
def test_every_any_value_variant(json_value: dict[str, Any], expected: AnyValue) -> None:
    decoded = decode_value(json_value)

    assert decoded == expected
    assert decoded.WhichOneof("value") == expected.WhichOneof("value")  # presence, not just equality
    again = decode_value(json.loads(encode_json(decoded)))
    assert (again, again.WhichOneof("value")) == (expected, expected.WhichOneof("value"))


def test_nan_survives_the_round_trip() -> None:
    decoded = decode_value({"doubleValue": "NaN"})

    assert math.isnan(decoded.double_value)
    assert json.loads(encode_json(decoded)) == {"doubleValue": "NaN"}


def test_an_attribute_without_a_value_is_kept_with_an_empty_value() -> None:
    span = decode_span(attributes=[{"key": "k"}, {"key": "n", "value": None}])

    assert [a.key for a in span.attributes] == ["k", "n"]
    assert not span.attributes[0].HasField("value")


def test_values_nest_up_to_the_limit_and_what_is_accepted_can_be_forwarded() -> None:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for level in range(MAX_VALUE_DEPTH):
        value = {"kvlistValue": {"values": [{"key": f"l{level}", "value": value}]}}
    request = decode_trace_request(json.dumps(span_document(
        events=[{"name": "e", "attributes": [{"key": "k", "value": value}]}])))

    # Protobuf parsers stop at 100 nested messages; the limit keeps us under it.
    assert ExportTraceServiceRequest.FromString(request.SerializeToString()) == request

    too_deep = {"arrayValue": {"values": [value]}}
    assert "nested more than 30 levels deep" in refusal(span_document(attributes=[{"key": "k", "value": too_deep}]))


# --- numbers, ids and enums ------------------------------------------------------------------------

@pytest.mark.parametrize("time", [1700000000000000000, "1700000000000000000", "18446744073709551615", 0, "0"])
def test_uint64_times_as_strings_or_numbers(time: int | str) -> None:
    assert decode_span(startTimeUnixNano=time).start_time_unix_nano == int(time)


def test_ids_are_case_insensitive_hex_and_the_encoder_writes_lower_case() -> None:
    span = decode_span(traceId=TRACE_ID, spanId=SPAN_ID.lower())

    assert span.trace_id == bytes.fromhex(TRACE_ID)
    assert json.loads(encode_json(span))["traceId"] == TRACE_ID.lower()


def test_an_empty_id_is_the_unset_id_as_in_the_collector() -> None:
    span = decode_span(traceId=TRACE_ID, spanId=SPAN_ID, parentSpanId="")

    assert span.parent_span_id == b""


@pytest.mark.parametrize(("kind", "expected"), [
    (2, Span.SPAN_KIND_SERVER),
    ("SPAN_KIND_CONSUMER", Span.SPAN_KIND_CONSUMER),  # names: not OTLP/JSON, accepted as the Collector does
    (42, 42),  # proto3 enums are open: an unknown value from a newer sender is kept
    (None, Span.SPAN_KIND_UNSPECIFIED),
])
def test_enums(kind: Any, expected: int) -> None:
    assert decode_span(kind=kind).kind == expected


# --- refusals name the offending value ------------------------------------------------------------

def batch_document() -> dict[str, Any]:
    """The realistic batch as a JSON document, to damage in one place."""
    document: dict[str, Any] = json.loads(encode_json(genai_request(8)))
    return document


def first_span(document: dict[str, Any], scope: int = 0) -> dict[str, Any]:
    span: dict[str, Any] = document["resourceSpans"][0]["scopeSpans"][scope]["spans"][0]
    return span


SPAN_PATH = "resourceSpans[0].scopeSpans[1].spans[0]"


@pytest.mark.parametrize(("damage", "message"), [
    (lambda s: s.update(traceId="BwAxtz31Ov8iudN0hd8Few=="),
     "traceId: expected 32 hex characters, got 24"),
    (lambda s: s.update(spanId="zzzzzzzzzzzzzzzz"), "spanId: expected 16 hex characters, got a non-hex character"),
    (lambda s: s.update(parentSpanId="00f0 7aa0ba902b7"),
     "parentSpanId: expected 16 hex characters, got a non-hex character"),
    (lambda s: s.update(traceId=12), "traceId: expected a hex string, got a number"),
    (lambda s: s.update(startTimeUnixNano="-1"), "startTimeUnixNano: out of range for uint64"),
    (lambda s: s.update(endTimeUnixNano="18446744073709551616"), "endTimeUnixNano: out of range for uint64"),
    (lambda s: s.update(endTimeUnixNano="soon"),
     "endTimeUnixNano: expected an integer (number or decimal string), got a non-numeric string"),
    (lambda s: s.update(endTimeUnixNano=1.5),
     "endTimeUnixNano: expected an integer (number or decimal string), got a number"),
    (lambda s: s.update(name=["chat"]), "name: expected a string, got an array"),
    (lambda s: s.update(kind="SPAN_KIND_SIDEWAYS"), "kind: expected an integer SpanKind value, got an unknown name"),
    (lambda s: s.update(kind=2**31), "kind: out of range for int32"),
    (lambda s: s.update(flags=-1), "flags: out of range for uint32"),
    (lambda s: s.update(status={"code": True}),
     "status.code: expected an integer (number or decimal string), got a boolean"),
    (lambda s: s.update(events="none"), "events: expected a JSON array, got a string"),
    (lambda s: s.update(links=[{"spanId": "00f067aa0ba902b7", "traceId": "00"}]),
     "links[0].traceId: expected 32 hex characters, got 2"),
    (lambda s: s["attributes"].__setitem__(2, {"key": 7, "value": {"stringValue": "x"}}),
     "attributes[2].key: expected a string, got a number"),
    (lambda s: s["attributes"].__setitem__(1, "gen_ai.request.model=gpt"),
     "attributes[1]: expected a JSON object, got a string"),
    (lambda s: s["attributes"][0].update(value={"intValue": "12 tokens"}),
     "attributes[0].value.intValue: expected an integer (number or decimal string), got a non-numeric string"),
    (lambda s: s["attributes"][0].update(value={"intValue": "9223372036854775808"}),
     "attributes[0].value.intValue: out of range for int64"),
    (lambda s: s["attributes"][0].update(value={"boolValue": "true"}),
     "attributes[0].value.boolValue: expected true or false, got a string"),
    (lambda s: s["attributes"][0].update(value={"doubleValue": "fast"}),
     'attributes[0].value.doubleValue: expected a number, "NaN", "Infinity" or "-Infinity", got another string'),
    (lambda s: s["attributes"][0].update(value={"bytesValue": "not base64!"}),
     "attributes[0].value.bytesValue: expected a base64 string, got invalid base64"),
    (lambda s: s["attributes"][0].update(value={"stringValue": "a", "intValue": "1"}),
     "attributes[0].value: has both stringValue and intValue; an AnyValue holds one value"),
    (lambda s: s["attributes"][0].update(value={"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": []}]}}),
     "attributes[0].value.arrayValue.values[1].intValue: expected an integer (number or decimal string), "
     "got an array"),
    (lambda s: s["attributes"][0].update(value={"kvlistValue": {"values": [{"key": "a", "value": 1}]}}),
     "attributes[0].value.kvlistValue.values[0].value: expected a JSON object, got a number"),
    (lambda s: s["events"].append({"name": "x", "timeUnixNano": {}}),
     "events[1].timeUnixNano: expected an integer (number or decimal string), got an object"),
])
def test_refusals_name_the_path_and_the_problem(damage: Any, message: str) -> None:
    document = batch_document()
    span = first_span(document, scope=1)  # a chat span: attributes, one event
    damage(span)

    assert refusal(document) == f"{SPAN_PATH}.{message}"


@pytest.mark.parametrize(("span", "path"), [
    ({"attributes": [{"key": "k", "value": {"stringValue": "\ud800"}}]}, "attributes[0].value.stringValue"),
    ({"attributes": [{"key": "\udc00", "value": {"stringValue": "v"}}]}, "attributes[0].key"),
    ({"attributes": [{"key": "k", "value": {"arrayValue": {"values": [{"stringValue": "\ud800"}]}}}]},
     "attributes[0].value.arrayValue.values[0].stringValue"),
    ({"name": "\ud800"}, "name"),
    ({"events": [{"name": "\ud800"}]}, "events[0].name"),
])
def test_a_lone_surrogate_escape_is_refused_where_it_is(span: dict[str, Any], path: str) -> None:
    # Valid JSON ("\ud800" is a legal escape), but not a Unicode string protobuf can carry.
    assert refusal(span_document(**span)) == (f"resourceSpans[0].scopeSpans[0].spans[0].{path}: "
                                              "string is not valid Unicode (lone surrogate escape)")


@pytest.mark.parametrize(("body", "message"), [
    ("[]", "expected a JSON object, got an array"),
    ('{"resourceSpans": {}}', "resourceSpans: expected a JSON array, got an object"),
    ('{"resourceSpans": [null]}', "resourceSpans[0]: expected a JSON object, got null"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "a"},]}]}]}',
     "invalid JSON: Expecting value at line 1 column 61"),
    (b'{"resourceSpans": "\xff"}', "invalid JSON: the body is not UTF-8 text"),
    ("", "invalid JSON: Expecting value at line 1 column 1"),
    ("[" * 100_000, "invalid JSON: nested too deeply"),
    ('{"resourceSpans": [' + "9" * 5000 + "]}", "invalid JSON: a number literal is too long"),
])
def test_documents_that_are_not_otlp_json(body: str | bytes, message: str) -> None:
    assert refusal(body) == message


def test_refusals_are_malformed_payloads_answered_with_400_and_never_echo_content() -> None:
    secret = "sk-live-0123456789abcdef0123456789"
    document = span_document(traceId=secret, name=secret, attributes=[{"key": secret, "value": {"intValue": secret}}])

    with pytest.raises(MalformedPayload) as caught:
        decode_trace_request(json.dumps(document))

    assert caught.value.http_status == 400
    assert isinstance(caught.value, OTLPDecodeError)
    assert caught.value.path == "resourceSpans[0].scopeSpans[0].spans[0].traceId"
    assert secret not in str(caught.value)
