"""OTLP answers: success and partial success, ``google.rpc.Status`` failure bodies, and which failures
a client retries after how long.

Spec: OTLP "OTLP/gRPC Response" and "OTLP/HTTP Response" (https://opentelemetry.io/docs/specs/otlp/#failures).
The expected tables below are transcribed from the specification's text, not from the module.
"""

from __future__ import annotations

import json

import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from driftline.processors.otlp.admission import MediaType
from driftline.processors.otlp.errors import (
    GrpcCode,
    MalformedPayload,
    OTLPDecodeError,
    OTLPRefusal,
    PayloadTooLarge,
    UnsupportedEncoding,
    UnsupportedMediaType,
)
from driftline.processors.otlp.json_codec import decode_json
from driftline.processors.otlp.status import (
    GRPC_STATUS_DETAILS_KEY,
    RetryAdvice,
    decode_rpc_status,
    encode_export_response,
    encode_rpc_status,
    export_response,
    format_retry_after,
    grpc_code_for_http_status,
    grpc_retry_advice,
    http_retry_advice,
    http_status_for_grpc_code,
    parse_retry_after,
    refusal_status,
    retry_delay,
    rpc_status,
)

NOW = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, the date in RFC 9110's examples


# --- success and partial success -------------------------------------------------------------------

def test_full_success_leaves_partial_success_unset() -> None:
    response = export_response()

    assert not response.HasField("partial_success")
    assert encode_export_response(response, MediaType.PROTOBUF) == b""
    assert encode_export_response(response, MediaType.JSON) == b"{}"


def test_partial_success_carries_the_rejected_count_and_why() -> None:
    response = export_response(rejected_spans=3, error_message="3 spans had no trace id")

    body = encode_export_response(response, MediaType.JSON)

    assert json.loads(body) == {"partialSuccess": {"rejectedSpans": "3", "errorMessage": "3 spans had no trace id"}}
    assert decode_json(body, ExportTraceServiceResponse) == response
    assert ExportTraceServiceResponse.FromString(encode_export_response(response, MediaType.PROTOBUF)) == response


def test_a_warning_on_a_full_success_is_a_partial_success_with_zero_rejected() -> None:
    response = export_response(error_message="gen_ai.system is deprecated; send gen_ai.provider.name")

    assert response.HasField("partial_success")
    assert response.partial_success.rejected_spans == 0


def test_a_negative_rejected_count_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="rejected_spans"):
        export_response(rejected_spans=-1)


# --- failure bodies ---------------------------------------------------------------------------------

def test_a_throttling_status_carries_retry_info() -> None:
    status = rpc_status(GrpcCode.UNAVAILABLE, "memory limit reached", retry_after=2.5)

    assert status.code == GrpcCode.UNAVAILABLE
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (2, 500_000_000)
    assert retry_delay(status) == 2.5


def test_status_bodies_in_both_media_types() -> None:
    status = rpc_status(GrpcCode.UNAVAILABLE, "memory limit reached", retry_after=5)

    assert status_pb2.Status.FromString(encode_rpc_status(status, MediaType.PROTOBUF)) == status
    assert json.loads(encode_rpc_status(status, MediaType.JSON)) == {
        "code": 14,
        "message": "memory limit reached",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}],
    }


def test_a_decode_error_is_answered_with_bad_request_naming_the_field() -> None:
    error = OTLPDecodeError("resourceSpans[0].scopeSpans[0].spans[3].traceId", "expected 32 hex characters, got 24")

    status = refusal_status(error)

    assert status.code == GrpcCode.INVALID_ARGUMENT
    assert status.message == str(error)
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    violation = bad_request.field_violations[0]
    assert violation.field == "resourceSpans[0].scopeSpans[0].spans[3].traceId"
    assert violation.description == "expected 32 hex characters, got 24"


def test_other_refusals_map_to_their_codes() -> None:
    too_large = refusal_status(PayloadTooLarge("decompressed request body exceeds the 67108864-byte limit"))
    corrupt = refusal_status(MalformedPayload("malformed gzip body: the compressed data is corrupt"))

    assert too_large.code == GrpcCode.RESOURCE_EXHAUSTED
    assert not too_large.details  # no RetryInfo: the client must not retry an oversized request
    assert corrupt.code == GrpcCode.INVALID_ARGUMENT
    assert len(corrupt.details) == 1


@pytest.mark.parametrize("refusal", [
    MalformedPayload("x"), OTLPDecodeError("a", "b"), PayloadTooLarge("x"), UnsupportedMediaType("x"),
    UnsupportedEncoding("x"),
])
def test_no_refusal_invites_a_retry_on_either_protocol(refusal: OTLPRefusal) -> None:
    # They are all about the request itself, which will not get better by sending it again.
    assert not http_retry_advice(refusal.http_status).retryable
    assert not grpc_retry_advice(refusal.grpc_code, refusal_status(refusal)).retryable


def test_a_backends_error_body_is_read_when_it_is_a_status() -> None:
    status = rpc_status(GrpcCode.UNAVAILABLE, "overloaded", retry_after=1)

    assert decode_rpc_status(encode_rpc_status(status, MediaType.PROTOBUF)) == status
    assert decode_rpc_status(encode_rpc_status(status, MediaType.JSON), MediaType.JSON) == status
    assert decode_rpc_status(b"<html>502 Bad Gateway</html>", MediaType.JSON) is None
    assert decode_rpc_status(b"\xff\xff\xff") is None


def test_the_grpc_trailer_for_status_details() -> None:
    status = rpc_status(GrpcCode.UNAVAILABLE, "busy", retry_after=3)

    assert GRPC_STATUS_DETAILS_KEY == "grpc-status-details-bin"
    assert retry_delay(status.SerializeToString()) == 3.0  # as read back from the trailer's bytes


# --- what a client retries ---------------------------------------------------------------------------

# OTLP/gRPC "Failures": the table, transcribed.
GRPC_RETRYABLE = {
    "CANCELLED": True, "UNKNOWN": False, "INVALID_ARGUMENT": False, "DEADLINE_EXCEEDED": True,
    "NOT_FOUND": False, "ALREADY_EXISTS": False, "PERMISSION_DENIED": False, "UNAUTHENTICATED": False,
    "FAILED_PRECONDITION": False, "ABORTED": True, "OUT_OF_RANGE": True, "UNIMPLEMENTED": False,
    "INTERNAL": False, "UNAVAILABLE": True, "DATA_LOSS": True,
}


@pytest.mark.parametrize(("name", "retryable"), GRPC_RETRYABLE.items())
def test_grpc_codes_retryable_per_the_spec_table(name: str, retryable: bool) -> None:
    assert grpc_retry_advice(GrpcCode[name]).retryable is retryable


def test_resource_exhausted_is_retryable_only_with_retry_info() -> None:
    with_hint = rpc_status(GrpcCode.RESOURCE_EXHAUSTED, "queue full", retry_after=0.25)
    without = rpc_status(GrpcCode.RESOURCE_EXHAUSTED, "message larger than 4 MiB")

    assert grpc_retry_advice(GrpcCode.RESOURCE_EXHAUSTED, with_hint) == RetryAdvice(True, 0.25)
    assert grpc_retry_advice(GrpcCode.RESOURCE_EXHAUSTED, with_hint.SerializeToString()) == RetryAdvice(True, 0.25)
    assert grpc_retry_advice(GrpcCode.RESOURCE_EXHAUSTED, without) == RetryAdvice(False)
    assert grpc_retry_advice(GrpcCode.RESOURCE_EXHAUSTED) == RetryAdvice(False)


def test_unavailable_carries_the_retry_info_delay_as_the_hint() -> None:
    assert grpc_retry_advice(GrpcCode.UNAVAILABLE, rpc_status(GrpcCode.UNAVAILABLE, "", retry_after=30)) \
        == RetryAdvice(True, 30.0)
    assert grpc_retry_advice(GrpcCode.UNAVAILABLE) == RetryAdvice(True, None)  # no hint: back off


def test_retry_info_is_found_among_other_details_and_garbage_is_no_hint() -> None:
    status = rpc_status(GrpcCode.UNAVAILABLE, "busy", retry_after=7, field_violations=[("f", "d")])
    status.details.reverse()  # RetryInfo second

    assert retry_delay(status) == 7.0
    assert retry_delay(b"\xff\xff") is None
    assert retry_delay(None) is None
    assert retry_delay(rpc_status(GrpcCode.UNAVAILABLE, "busy")) is None


@pytest.mark.parametrize(("status", "retryable"), [
    (400, False), (401, False), (403, False), (404, False), (408, False), (413, False),
    (429, True), (500, False), (501, False), (502, True), (503, True), (504, True), (507, False),
])
def test_http_statuses_retryable_per_the_spec(status: int, retryable: bool) -> None:
    assert http_retry_advice(status).retryable is retryable


def test_retry_after_is_honoured_on_retryable_answers_only() -> None:
    assert http_retry_advice(503, "7") == RetryAdvice(True, 7.0)
    assert http_retry_advice(429, None) == RetryAdvice(True, None)
    assert http_retry_advice(400, "7") == RetryAdvice(False, None)


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0),
    (" 5 ", 5.0),
    ("0", 0.0),
    ("Sun, 06 Nov 1994 08:49:57 GMT", 20.0),  # IMF-fixdate
    ("Sunday, 06-Nov-94 08:50:37 GMT", 60.0),  # obsolete RFC 850 form
    ("Sun Nov  6 08:49:47 1994", 10.0),  # asctime form, read as UTC
    ("Sun, 06 Nov 1994 08:00:00 GMT", 0.0),  # already past: retry now
    (None, None),
    ("", None),
    ("soon", None),
    ("-5", None),
    ("1.5", None),  # delay-seconds is an integer
    ("9" * 400, None),
])
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(("seconds", "header"), [(2.1, "3"), (5, "5"), (0, "0"), (-1, "0")])
def test_format_retry_after_rounds_up_to_whole_seconds(seconds: float, header: str) -> None:
    assert format_retry_after(seconds) == header
    assert parse_retry_after(header, now=NOW) == float(header)


# --- HTTP <-> gRPC, as the Collector maps them ----------------------------------------------------

@pytest.mark.parametrize(("code", "http"), [
    (GrpcCode.OK, 200), (GrpcCode.INVALID_ARGUMENT, 400), (GrpcCode.UNAUTHENTICATED, 401),
    (GrpcCode.PERMISSION_DENIED, 403), (GrpcCode.UNIMPLEMENTED, 404), (GrpcCode.RESOURCE_EXHAUSTED, 429),
    (GrpcCode.UNAVAILABLE, 503), (GrpcCode.DEADLINE_EXCEEDED, 503), (GrpcCode.DATA_LOSS, 503),
    (GrpcCode.INTERNAL, 500), (GrpcCode.UNKNOWN, 500), (99, 500),
])
def test_http_status_for_a_grpc_code(code: int, http: int) -> None:
    assert http_status_for_grpc_code(code) == http


def test_the_mapping_keeps_retryability() -> None:
    for code in GrpcCode:
        if code in (GrpcCode.OK, GrpcCode.RESOURCE_EXHAUSTED):
            continue  # success; and 429 is how the Collector answers a recoverable exhaustion
        assert http_retry_advice(http_status_for_grpc_code(code)).retryable \
            is grpc_retry_advice(code, rpc_status(code, "", retry_after=1)).retryable, code.name


@pytest.mark.parametrize(("http", "code"), [
    (400, GrpcCode.INVALID_ARGUMENT), (401, GrpcCode.UNAUTHENTICATED), (403, GrpcCode.PERMISSION_DENIED),
    (404, GrpcCode.UNIMPLEMENTED), (413, GrpcCode.RESOURCE_EXHAUSTED), (429, GrpcCode.RESOURCE_EXHAUSTED),
    (502, GrpcCode.UNAVAILABLE), (503, GrpcCode.UNAVAILABLE), (504, GrpcCode.UNAVAILABLE), (418, GrpcCode.UNKNOWN),
])
def test_grpc_code_for_an_http_status(http: int, code: GrpcCode) -> None:
    assert grpc_code_for_http_status(http) is code


def test_our_codes_are_grpcs() -> None:
    import grpc  # a processor dependency; the protocol layer itself does not need it

    assert {c.name: c.value[0] for c in grpc.StatusCode} == {c.name: c.value for c in GrpcCode}
