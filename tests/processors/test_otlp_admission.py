"""Admission of a request body: media types, bounded decompression (gzip bombs refused in bounded
memory), protobuf decoding and span counting.

Spec: OTLP "OTLP/HTTP Request" (https://opentelemetry.io/docs/specs/otlp/#otlphttp-request).
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.otlp.admission import (
    DEFAULT_MAX_BODY_BYTES,
    MediaType,
    count_spans,
    decode_protobuf,
    decode_request,
    decompress,
    parse_content_type,
)
from driftline.processors.otlp.errors import (
    GrpcCode,
    MalformedPayload,
    PayloadTooLarge,
    UnsupportedEncoding,
    UnsupportedMediaType,
)
from driftline.processors.otlp.json_codec import encode_json
from tests.benchmarks.bench_otlp_json import genai_request

MiB = 1024 * 1024
GiB = 1024 * MiB


@pytest.fixture(scope="module")
def request_bytes() -> bytes:
    """A realistic 64-span request as protobuf."""
    return bytes(genai_request(64).SerializeToString())


# --- content types --------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ("application/x-protobuf", MediaType.PROTOBUF),
    ("application/json", MediaType.JSON),
    ("application/json; charset=utf-8", MediaType.JSON),
    ("Application/JSON ;charset=UTF-8", MediaType.JSON),
    ("  application/x-protobuf ; foo=bar", MediaType.PROTOBUF),
])
def test_the_two_otlp_media_types_are_recognised_with_parameters(header: str, expected: MediaType) -> None:
    assert parse_content_type(header) is expected


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/jsonl", "application/grpc",
                                    "multipart/form-data; boundary=application/json"])
def test_other_media_types_are_refused_with_415(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_content_type(header)

    assert caught.value.http_status == 415
    assert "application/x-protobuf or application/json" in str(caught.value)


def test_the_response_media_type_is_the_requests() -> None:
    # The enum's value is what goes into the response's Content-Type header.
    assert MediaType.JSON.value == "application/json"
    assert MediaType.PROTOBUF.value == "application/x-protobuf"


# --- decompression --------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", [None, "", "identity", "IDENTITY", " identity "])
def test_an_uncompressed_body_is_returned_as_is(encoding: str | None, request_bytes: bytes) -> None:
    assert decompress(request_bytes, encoding) is request_bytes


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", "x-gzip", " gzip "])
def test_gzip(encoding: str, request_bytes: bytes) -> None:
    assert decompress(gzip.compress(request_bytes), encoding) == request_bytes


def test_deflate_zlib_wrapped_as_http_defines_it_and_raw_as_some_clients_send_it(request_bytes: bytes) -> None:
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw_body = raw.compress(request_bytes) + raw.flush()

    assert decompress(zlib.compress(request_bytes), "deflate") == request_bytes
    assert decompress(raw_body, "deflate") == request_bytes


def test_concatenated_gzip_members_are_one_body() -> None:
    assert decompress(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip") == b"first second"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, identity", "compress"])
def test_unsupported_encodings_are_refused(encoding: str) -> None:
    with pytest.raises(UnsupportedEncoding) as caught:
        decompress(b"...", encoding)

    assert caught.value.http_status == 415
    assert caught.value.grpc_code is GrpcCode.UNIMPLEMENTED


@pytest.mark.parametrize("size", [1, MiB - 1, MiB, MiB + 1, 3 * MiB + 5])
@pytest.mark.parametrize("encoding", ["gzip", "deflate", "identity"])
def test_the_limit_is_exact(size: int, encoding: str) -> None:
    # Sizes around the decompressor's 1 MiB output step, where an off-by-one would hide.
    body = (b"OTLP" * (size // 4 + 1))[:size]
    sent = {"gzip": gzip.compress, "deflate": zlib.compress, "identity": bytes}[encoding](body)

    assert decompress(sent, encoding, limit=size) == body
    with pytest.raises(PayloadTooLarge):
        decompress(sent, encoding, limit=size - 1)


def test_the_default_limit_is_64_mib() -> None:
    assert DEFAULT_MAX_BODY_BYTES // MiB == 64


def zeros_gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes, compressed as a stream one MiB at a time.

    Each MiB ends with a full flush, which resets the compressor, so every MiB after the first
    compresses to the same bytes: streaming 10 GiB through the compressor would emit exactly these
    bytes, repeated, without spending the half minute it takes. (The trailer, which would carry the
    CRC of all 10 GiB, is never reached: the body is refused long before.)
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MiB)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH) == block  # it does repeat
    return first + block * (size // MiB - 1) + compressor.flush()


@pytest.mark.parametrize("limit", [MiB, 16 * MiB])
def test_a_10_gib_gzip_bomb_is_refused_in_bounded_memory(limit: int) -> None:
    bomb = zeros_gzip_bomb(10 * GiB)
    assert len(bomb) < 11 * MiB  # ~1000:1

    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLarge) as caught:
            decompress(bomb, "gzip", limit=limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # The limit's worth of output, plus zlib's 1 MiB step: not the 10 GiB, nor twice the limit.
    assert peak < limit + 2 * MiB, f"decompression peaked at {peak / MiB:.1f} MiB for a {limit // MiB} MiB limit"
    assert caught.value.http_status == 413
    assert caught.value.grpc_code is GrpcCode.RESOURCE_EXHAUSTED
    assert f"{limit}-byte limit" in str(caught.value)


def test_a_bomb_split_into_many_gzip_members_counts_against_one_limit() -> None:
    member = gzip.compress(bytes(256 * 1024))

    assert len(decompress(member * 4, "gzip", limit=MiB)) == MiB
    with pytest.raises(PayloadTooLarge):
        decompress(member * 4000, "gzip", limit=MiB)


def test_gzip_members_are_capped_so_empty_ones_cannot_make_a_body_expensive() -> None:
    empty = gzip.compress(b"")

    assert decompress(empty * 32, "gzip") == b""
    with pytest.raises(MalformedPayload, match="more than 32 concatenated members"):
        decompress(empty * 33, "gzip")
    with pytest.raises(MalformedPayload):
        decompress(empty * 1_000_000, "gzip")  # 20 MB of nothing, refused after 33 members


def test_a_deflate_bomb_is_refused_too() -> None:
    with pytest.raises(PayloadTooLarge):
        decompress(zlib.compress(bytes(8 * MiB), 9), "deflate", limit=MiB)


def corrupted(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


@pytest.mark.parametrize(("make_body", "problem"), [
    (lambda b: corrupted(gzip.compress(b)), "corrupt"),
    (lambda b: gzip.compress(b)[:-20], "truncated"),
    (lambda b: gzip.compress(b)[:-4], "truncated"),  # missing the size trailer
    (lambda b: b"", "truncated"),
    (lambda b: b, "corrupt"),  # not gzip at all
    (lambda b: gzip.compress(b) + b"trailing garbage", "data after the end of the compressed stream"),
    (lambda b: gzip.compress(b) + b"\x00\x00\x00\x00", "data after the end of the compressed stream"),
    (lambda b: gzip.compress(b) + b"\x1f\x8b", "truncated"),  # the start of a second member, cut short
])
def test_corrupt_gzip_is_a_malformed_payload(make_body: object, problem: str, request_bytes: bytes) -> None:
    body = make_body(request_bytes)  # type: ignore[operator]

    with pytest.raises(MalformedPayload) as caught:
        decompress(body, "gzip")

    assert caught.value.http_status == 400
    assert str(caught.value).startswith("malformed gzip body: ")
    assert problem in str(caught.value)


def test_deflate_with_trailing_garbage_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="data after the end"):
        decompress(zlib.compress(b"payload") + b"junk", "deflate")


# --- decoding --------------------------------------------------------------------------------------

def test_protobuf_decodes_to_the_request(request_bytes: bytes) -> None:
    assert decode_protobuf(request_bytes) == ExportTraceServiceRequest.FromString(request_bytes)
    assert decode_protobuf(b"") == ExportTraceServiceRequest()  # the empty request: success per spec


@pytest.mark.parametrize("body", [
    b"\xff\xff\xff\xff",  # an invalid tag
    b"\x0a\x05ab",  # a length past the end
    b"\x0a\x04\x12\x02\x2a\xff",  # a string field with invalid UTF-8... inside a span name
])
def test_invalid_protobuf_is_a_malformed_payload(body: bytes) -> None:
    with pytest.raises(MalformedPayload) as caught:
        decode_protobuf(body)

    assert caught.value.http_status == 400
    assert caught.value.grpc_code is GrpcCode.INVALID_ARGUMENT
    assert str(caught.value) == "malformed protobuf body: not an ExportTraceServiceRequest"


def test_protobuf_with_invalid_utf8_in_a_string_is_malformed() -> None:
    span_name = b"\x2a\x02\xc3\x28"  # Span.name (field 5) = an invalid two-byte sequence
    scope_spans = b"\x12" + bytes([len(span_name)]) + span_name
    resource_spans = b"\x12" + bytes([len(scope_spans)]) + scope_spans
    body = b"\x0a" + bytes([len(resource_spans)]) + resource_spans

    with pytest.raises(MalformedPayload):
        decode_protobuf(body)


def test_decode_request_follows_the_media_type() -> None:
    request = genai_request(4)

    assert decode_request(encode_json(request), MediaType.JSON) == request
    assert decode_request(request.SerializeToString(), MediaType.PROTOBUF) == request
    with pytest.raises(MalformedPayload):
        decode_request(request.SerializeToString(), MediaType.JSON)


def test_count_spans() -> None:
    assert count_spans(genai_request(512)) == 512
    assert count_spans(ExportTraceServiceRequest()) == 0
