"""The refusals the OTLP protocol layer raises, each carrying the answer a receiver gives for it.

A receiver needs one ``except OTLPRefusal`` around admission and decoding: the exception says which
HTTP status (OTLP/HTTP) and which gRPC code (OTLP/gRPC) to answer with, and its message is safe to
return to the client (it names what is wrong and where, never span content).

Reference: OTLP specification, "OTLP/gRPC Response" and "OTLP/HTTP Response"
(https://opentelemetry.io/docs/specs/otlp/#failures), and gRPC's status codes
(https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
"""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

__all__ = [
    "GrpcCode",
    "MalformedPayload",
    "OTLPDecodeError",
    "OTLPRefusal",
    "PayloadTooLarge",
    "UnsupportedEncoding",
    "UnsupportedMediaType",
]


class GrpcCode(IntEnum):
    """The canonical gRPC status codes (``google.rpc.Code``), as plain integers.

    Kept here rather than taken from ``grpc.StatusCode`` so the protocol layer does not need grpcio;
    ``grpc.StatusCode.X.value[0] == GrpcCode.X``.
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class OTLPRefusal(Exception):
    """A request the receiver refuses. ``http_status`` and ``grpc_code`` say how to answer it."""

    http_status: ClassVar[int] = 400
    grpc_code: ClassVar[GrpcCode] = GrpcCode.INVALID_ARGUMENT


class MalformedPayload(OTLPRefusal):
    """The body cannot be decoded (corrupt compression, invalid protobuf or JSON): permanent.

    OTLP: HTTP 400 Bad Request / gRPC INVALID_ARGUMENT; the client must not retry ("Bad Data").
    """


class OTLPDecodeError(MalformedPayload):
    """An OTLP/JSON body that is not valid OTLP/JSON; ``path`` locates the offending value.

    ``str(error)`` reads ``resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex
    characters, got 24``; ``path`` is the part before the colon (empty for the document itself)
    and ``reason`` the part after it.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}" if path else reason)


class PayloadTooLarge(OTLPRefusal):
    """The body, before or after decompression, exceeds the receiver's size limit.

    OTLP/HTTP: 413 Content Too Large, not retryable. OTLP/gRPC: RESOURCE_EXHAUSTED without
    RetryInfo, which the client treats as not retryable.
    """

    http_status = 413
    grpc_code = GrpcCode.RESOURCE_EXHAUSTED


class UnsupportedMediaType(OTLPRefusal):
    """A ``Content-Type`` other than ``application/x-protobuf`` or ``application/json`` (HTTP 415)."""

    http_status = 415


class UnsupportedEncoding(OTLPRefusal):
    """A ``Content-Encoding`` the receiver cannot decompress.

    HTTP 415 as RFC 9110 §15.5.16 suggests for an unacceptable content coding; on gRPC an unknown
    message encoding is UNIMPLEMENTED (gRPC compression spec).
    """

    http_status = 415
    grpc_code = GrpcCode.UNIMPLEMENTED
