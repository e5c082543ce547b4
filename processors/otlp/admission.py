"""Admission of one OTLP/HTTP or OTLP/gRPC request body: its media type, bounded decompression,
decoding, and the span count the receivers' self-metrics and partial-success answers need.

Everything here is a pure function over bytes, raising an :class:`~.errors.OTLPRefusal` subclass
that carries the HTTP status / gRPC code to answer with.

Reference: OTLP specification, "OTLP/HTTP Request" (gzip ``Content-Encoding``; the server MUST limit
the body size, including after decompression, and SHOULD answer 413) and "Binary Protobuf
Encoding" / "JSON Protobuf Encoding" (https://opentelemetry.io/docs/specs/otlp/#otlphttp-request).
"""

from __future__ import annotations

import zlib
from enum import Enum
from typing import Any

from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.otlp.errors import (
    MalformedPayload,
    PayloadTooLarge,
    UnsupportedEncoding,
    UnsupportedMediaType,
)
from driftline.processors.otlp.json_codec import decode_trace_request

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MediaType",
    "count_spans",
    "decode_protobuf",
    "decode_request",
    "decompress",
    "parse_content_type",
]

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
"""The processor's default cap on a decompressed request body. OTLP/HTTP recommends 20 MiB and
gRPC servers commonly default to 4 MiB; the processor's issue asks for 64 MiB, room for large
batches of GenAI spans that carry message content."""

_GZIP_MAGIC = b"\x1f\x8b"


class MediaType(str, Enum):
    """The two OTLP/HTTP payload encodings, by their ``Content-Type``.

    The server answers in the media type of the request (OTLP/HTTP Response: "The server MUST use
    the same Content-Type in the response as it received in the request").
    """

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


def parse_content_type(header: str | None) -> MediaType:
    """The :class:`MediaType` of a ``Content-Type`` header, ignoring parameters such as
    ``; charset=utf-8`` and letter case (RFC 9110 §8.3.1).

    Raises :class:`~.errors.UnsupportedMediaType` (HTTP 415) for anything else, including a
    missing header: OTLP clients MUST send one of the two.
    """
    if header is None:
        raise UnsupportedMediaType("missing Content-Type; use application/x-protobuf or application/json")
    media = header.split(";", 1)[0].strip().lower()
    for candidate in MediaType:
        if media == candidate.value:
            return candidate
    # The header is client-controlled: do not echo it, just say what is accepted.
    raise UnsupportedMediaType("unsupported Content-Type; use application/x-protobuf or application/json")


def decompress(body: bytes, encoding: str | None, limit: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """The body of a request sent with ``Content-Encoding: encoding``, decompressed to at most
    ``limit`` bytes.

    ``encoding`` is ``gzip`` (also ``x-gzip``; up to 32 concatenated gzip members are one body, as
    RFC 1952 allows), ``deflate`` (zlib-wrapped as RFC 9110 defines it; raw deflate is accepted too,
    since some clients send it), or ``identity`` / ``None`` / ``""`` for an uncompressed body.

    Memory stays bounded whatever the compression ratio: output is requested 1 MiB at a time with
    ``max_length`` and stops at ``limit`` + 1 bytes, and input is fed in 256 KiB slices of the body
    (never copied whole). A refused bomb costs about ``limit`` + 2 MiB; an accepted body that took
    several steps is joined once at the end (briefly twice its size).

    Raises :class:`~.errors.PayloadTooLarge` (HTTP 413 / RESOURCE_EXHAUSTED) when the output would
    exceed ``limit`` (a gzip bomb is refused after ``limit`` bytes); :class:`~.errors.MalformedPayload`
    (HTTP 400) for corrupt or truncated data, or bytes after the end of the compressed stream;
    :class:`~.errors.UnsupportedEncoding` (HTTP 415) for any other encoding.
    Spec: OTLP "OTLP/HTTP Request".
    """
    coding = (encoding or "").strip().lower()
    if coding in ("", "identity"):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body of {len(body)} bytes exceeds the {limit}-byte limit")
        return body
    if coding in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip")
    if coding == "deflate":
        wbits = zlib.MAX_WBITS if _looks_like_zlib(body) else -zlib.MAX_WBITS
        return _inflate(body, wbits, limit, "deflate")
    raise UnsupportedEncoding("unsupported Content-Encoding; use gzip, deflate or identity")


_INPUT_SLICE = 256 * 1024
"""Compressed bytes fed per step. A step that hits the output limit leaves at most this much input
behind in the decompressor (which copies it), and a typical OTLP body fits in one step, which
then needs no join."""

_OUTPUT_STEP = 1024 * 1024
"""Decompressed bytes requested per call: zlib builds each call's output in blocks and joins them,
so a bomb costs the limit plus about twice this, not twice the limit."""

_MAX_GZIP_MEMBERS = 32
"""Concatenated gzip members accepted in one body. OTLP clients send one; each member costs a new
decompressor and, empty members producing nothing, the output limit alone would not bound them."""


def _looks_like_zlib(body: bytes) -> bool:
    """RFC 1950 header: compression method 8 and a header checksum divisible by 31."""
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Decompress ``body`` (one stream, or gzip members back to back) to at most ``limit`` bytes."""
    view = memoryview(body)
    parts: list[bytes] = []
    produced = 0
    offset = 0
    members = 0
    while True:
        members += 1
        if members > _MAX_GZIP_MEMBERS:
            raise MalformedPayload(f"malformed gzip body: more than {_MAX_GZIP_MEMBERS} concatenated members")
        inflater = zlib.decompressobj(wbits)
        while not inflater.eof:
            if offset >= len(body):
                raise MalformedPayload(f"malformed {name} body: the compressed data is truncated")
            piece = view[offset:offset + _INPUT_SLICE]
            produced = _inflate_piece(inflater, piece, parts, produced, limit, name)
            # The piece is consumed, except what follows the end of the stream.
            offset += len(piece) - len(inflater.unused_data)
        if offset == len(body):
            break
        if wbits != 16 + zlib.MAX_WBITS or not body.startswith(_GZIP_MAGIC, offset):
            raise MalformedPayload(f"malformed {name} body: data after the end of the compressed stream")
    if len(parts) == 1:
        return parts[0]  # the usual case: no copy
    return b"".join(parts)


def _inflate_piece(inflater: Any, piece: memoryview, parts: list[bytes], produced: int, limit: int,
                   name: str) -> int:
    """Feed one slice of input, appending its output to ``parts``; return the new output total."""
    data: bytes | memoryview = piece
    while True:
        # max_length=0 would mean "unbounded", hence the +1, which also tells "exactly the limit"
        # from "more than the limit". Steps of at most 1 MiB keep zlib's own output buffer small.
        step = min(limit - produced + 1, _OUTPUT_STEP)
        try:
            out = inflater.decompress(data, step)
        except zlib.error:
            raise MalformedPayload(f"malformed {name} body: the compressed data is corrupt") from None
        produced += len(out)
        if produced > limit:
            raise PayloadTooLarge(f"decompressed request body exceeds the {limit}-byte limit")
        if out:
            parts.append(out)
        if len(out) < step or inflater.eof:
            return produced  # below max_length: the input is used up and nothing is pending
        data = inflater.unconsumed_tail


def decode_protobuf(body: bytes) -> ExportTraceServiceRequest:
    """Parse a binary protobuf ``ExportTraceServiceRequest`` (OTLP/gRPC, or OTLP/HTTP with
    ``application/x-protobuf``).

    Raises :class:`~.errors.MalformedPayload` (HTTP 400 / INVALID_ARGUMENT) when the bytes are not
    one, wrapping protobuf's ``DecodeError``. Spec: OTLP "Binary Protobuf Encoding".
    """
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, UnicodeDecodeError):  # upb reports bad UTF-8 as DecodeError, pure Python not
        # protobuf's message names the type and, at most, the failing check: no content.
        raise MalformedPayload("malformed protobuf body: not an ExportTraceServiceRequest") from None
    return request


def decode_request(body: bytes, media: MediaType) -> ExportTraceServiceRequest:
    """Decode an already-decompressed body of the given media type (see :func:`decode_protobuf`
    and :func:`~.json_codec.decode_trace_request`)."""
    if media is MediaType.JSON:
        return decode_trace_request(body)
    return decode_protobuf(body)


def count_spans(request: Any) -> int:
    """How many spans an ``ExportTraceServiceRequest`` carries (the unit of accepted / refused /
    ``rejected_spans`` counts)."""
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)
