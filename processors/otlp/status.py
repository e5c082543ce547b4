"""OTLP answers, both ways: what the receivers send back, and how the exporters read a backend's.

* Success and partial success: ``ExportTraceServiceResponse`` (:func:`export_response`).
* Failures: a ``google.rpc.Status`` body, with ``RetryInfo`` or ``BadRequest`` details
  (:func:`rpc_status`, :func:`refusal_status`), in the request's media type for HTTP, or as the
  ``grpc-status-details-bin`` trailer for gRPC.
* Which failures a client retries, and after how long (:func:`http_retry_advice`,
  :func:`grpc_retry_advice`, :func:`parse_retry_after`, :func:`retry_delay`).

Reference: OTLP specification, "OTLP/gRPC Response", "OTLP/gRPC Throttling", "OTLP/HTTP Response"
and "OTLP/HTTP Throttling" (https://opentelemetry.io/docs/specs/otlp/#failures); ``RetryInfo`` and
``BadRequest`` in googleapis ``google/rpc/error_details.proto``; ``Retry-After`` in RFC 9110 §10.2.3.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Iterable
from datetime import timezone
from typing import Any, NamedTuple

from google.protobuf import json_format  # type: ignore[import-untyped, unused-ignore]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped, unused-ignore]
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from driftline.processors.otlp.admission import MediaType
from driftline.processors.otlp.errors import GrpcCode, MalformedPayload, OTLPDecodeError, OTLPRefusal
from driftline.processors.otlp.json_codec import encode_json

__all__ = [
    "GRPC_STATUS_DETAILS_KEY",
    "RETRYABLE_GRPC_CODES",
    "RETRYABLE_HTTP_STATUSES",
    "RetryAdvice",
    "decode_rpc_status",
    "encode_export_response",
    "encode_rpc_status",
    "export_response",
    "format_retry_after",
    "grpc_code_for_http_status",
    "grpc_retry_advice",
    "http_retry_advice",
    "http_status_for_grpc_code",
    "parse_retry_after",
    "refusal_status",
    "retry_delay",
    "rpc_status",
]

RETRYABLE_HTTP_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})
"""OTLP/HTTP "Retryable Response Codes": these SHOULD be retried; every other 4xx/5xx MUST NOT be."""

RETRYABLE_GRPC_CODES: frozenset[GrpcCode] = frozenset({
    GrpcCode.CANCELLED,
    GrpcCode.DEADLINE_EXCEEDED,
    GrpcCode.ABORTED,
    GrpcCode.OUT_OF_RANGE,
    GrpcCode.UNAVAILABLE,
    GrpcCode.DATA_LOSS,
})
"""OTLP/gRPC "Failures" table: the codes a client retries. ``RESOURCE_EXHAUSTED`` is retryable only
when the status carries ``RetryInfo`` (the server signals it can recover), which
:func:`grpc_retry_advice` checks; every other code is not retryable."""

GRPC_STATUS_DETAILS_KEY = "grpc-status-details-bin"
"""The gRPC trailer that carries the serialized ``google.rpc.Status`` with its details."""

_RETRY_INFO_TYPE = "google.rpc.RetryInfo"


# --- answers a receiver sends -------------------------------------------------------------------

def export_response(rejected_spans: int = 0, error_message: str = "") -> ExportTraceServiceResponse:
    """The success answer (HTTP 200 / gRPC OK) to an export request.

    ``partial_success`` stays unset for a full success, as the spec requires; it is set when spans
    were rejected (``rejected_spans`` > 0, with an English ``error_message`` saying why) or to carry
    a warning about a fully accepted request (``rejected_spans`` 0, ``error_message`` non-empty).
    Clients MUST NOT retry a partial success. Spec: OTLP "Full Success" and "Partial Success".
    """
    if rejected_spans < 0:
        raise ValueError("rejected_spans must be >= 0")
    response = ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = error_message
    return response


def encode_export_response(response: Any, media: MediaType) -> bytes:
    """The HTTP body for ``response`` in the request's media type (OTLP/JSON rules for JSON)."""
    if media is MediaType.JSON:
        return encode_json(response)
    return bytes(response.SerializeToString())


def rpc_status(
    code: GrpcCode,
    message: str,
    *,
    retry_after: float | None = None,
    field_violations: Iterable[tuple[str, str]] = (),
) -> Any:
    """A ``google.rpc.Status`` for a failure answer.

    ``retry_after`` (seconds) adds a ``RetryInfo`` detail: the throttling hint of OTLP/gRPC, and what
    makes ``RESOURCE_EXHAUSTED`` retryable. ``field_violations`` (``(field, description)`` pairs)
    adds a ``BadRequest`` detail, which OTLP/HTTP "Bad Data" asks for with a 400.
    Spec: OTLP "Failures", "OTLP/gRPC Throttling" and "Bad Data".
    """
    status = status_pb2.Status(code=int(code), message=message)
    if retry_after is not None:
        info = error_details_pb2.RetryInfo()
        info.retry_delay.FromNanoseconds(round(max(0.0, retry_after) * 1e9))
        status.details.add().Pack(info)
    violations = list(field_violations)
    if violations:
        bad_request = error_details_pb2.BadRequest()
        for field, description in violations:
            bad_request.field_violations.add(field=field, description=description)
        status.details.add().Pack(bad_request)
    return status


def refusal_status(error: OTLPRefusal, *, retry_after: float | None = None) -> Any:
    """The ``google.rpc.Status`` answering ``error``: its gRPC code and message, and a ``BadRequest``
    naming the offending field for a malformed payload."""
    violations: list[tuple[str, str]] = []
    if isinstance(error, OTLPDecodeError):
        violations.append((error.path, error.reason))
    elif isinstance(error, MalformedPayload):
        violations.append(("", str(error)))
    return rpc_status(error.grpc_code, str(error), retry_after=retry_after, field_violations=violations)


def encode_rpc_status(status: Any, media: MediaType) -> bytes:
    """The body of an HTTP 4xx/5xx answer: ``status`` as protobuf, or as proto3 JSON for a JSON
    request (``google.rpc.Status`` is not an OTLP message, so the standard mapping applies:
    details are ``{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "5s"}``).
    Spec: OTLP/HTTP "Failures": the body MUST be a ``Status`` in the response's content type.
    """
    if media is MediaType.JSON:
        document = json_format.MessageToDict(status)
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return bytes(status.SerializeToString())


def decode_rpc_status(body: bytes, media: MediaType = MediaType.PROTOBUF) -> Any | None:
    """The ``google.rpc.Status`` in a backend's error body, or ``None`` if the body is not one (some
    proxies answer with HTML); an exporter logs its message and reads its ``RetryInfo``."""
    status = status_pb2.Status()
    try:
        if media is MediaType.JSON:
            json_format.Parse(body, status, ignore_unknown_fields=True)
        else:
            status.ParseFromString(body)
    except (json_format.ParseError, DecodeError, ValueError, TypeError, RecursionError):
        return None
    return status


def status_details(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> bytes | None:
    """The serialized ``google.rpc.Status`` a gRPC server put in its ``grpc-status-details-bin``
    trailer, or ``None``; :func:`decode_rpc_status` parses it."""
    for key, value in trailing_metadata or ():
        if key == GRPC_STATUS_DETAILS_KEY and isinstance(value, bytes):
            return value
    return None


def format_retry_after(seconds: float) -> str:
    """A ``Retry-After`` header value: whole seconds, rounded up (RFC 9110 ``delay-seconds``)."""
    return str(max(0, math.ceil(seconds)))


# --- mapping between HTTP and gRPC ---------------------------------------------------------------

_HTTP_FOR_GRPC: dict[GrpcCode, int] = {
    GrpcCode.OK: 200,
    GrpcCode.INVALID_ARGUMENT: 400,
    GrpcCode.UNAUTHENTICATED: 401,
    GrpcCode.PERMISSION_DENIED: 403,
    GrpcCode.UNIMPLEMENTED: 404,
    GrpcCode.RESOURCE_EXHAUSTED: 429,
    **dict.fromkeys(RETRYABLE_GRPC_CODES, 503),
}

_GRPC_FOR_HTTP: dict[int, GrpcCode] = {
    200: GrpcCode.OK,
    400: GrpcCode.INVALID_ARGUMENT,
    401: GrpcCode.UNAUTHENTICATED,
    403: GrpcCode.PERMISSION_DENIED,
    404: GrpcCode.UNIMPLEMENTED,
    413: GrpcCode.RESOURCE_EXHAUSTED,
    429: GrpcCode.RESOURCE_EXHAUSTED,
    502: GrpcCode.UNAVAILABLE,
    503: GrpcCode.UNAVAILABLE,
    504: GrpcCode.UNAVAILABLE,
}


def http_status_for_grpc_code(code: int) -> int:
    """The HTTP status that answers a failure known by its gRPC code, as the Collector's OTLP
    receiver maps it: retryable codes → 503, RESOURCE_EXHAUSTED → 429, INVALID_ARGUMENT → 400,
    UNAUTHENTICATED → 401, PERMISSION_DENIED → 403, UNIMPLEMENTED → 404, anything else → 500
    (not retryable, as OTLP/HTTP requires for codes outside 429/502/503/504)."""
    try:
        return _HTTP_FOR_GRPC.get(GrpcCode(code), 500)
    except ValueError:
        return 500


def grpc_code_for_http_status(status: int) -> GrpcCode:
    """The gRPC code for an HTTP status (the Collector's mapping, after gRPC's
    http-grpc-status-mapping, plus 413 → RESOURCE_EXHAUSTED); UNKNOWN for the rest."""
    return _GRPC_FOR_HTTP.get(status, GrpcCode.UNKNOWN)


# --- how a client reads an answer ----------------------------------------------------------------

class RetryAdvice(NamedTuple):
    """What an exporter does with a failed export: retry or drop, and the server's wait hint.

    ``delay`` is ``None`` when the server gave no hint (use exponential backoff with jitter), else
    the seconds to wait before the next attempt (``0.0``: no wait asked for).
    """

    retryable: bool
    delay: float | None = None


def http_retry_advice(status: int, retry_after: str | None = None, *, now: float | None = None) -> RetryAdvice:
    """Advice for an OTLP/HTTP answer with ``status`` and an optional ``Retry-After`` header.

    Retryable: 429, 502, 503, 504 (OTLP/HTTP "Retryable Response Codes"); the hint is honoured on
    those (OTLP/HTTP "Throttling"). Everything else is permanent, including 400 ("Bad Data") and 413.
    """
    if status not in RETRYABLE_HTTP_STATUSES:
        return RetryAdvice(False)
    return RetryAdvice(True, parse_retry_after(retry_after, now=now))


def grpc_retry_advice(code: int, status: Any = None) -> RetryAdvice:
    """Advice for an OTLP/gRPC failure with ``code`` and its ``google.rpc.Status`` (a message, or
    the bytes of the ``grpc-status-details-bin`` trailer; ``None`` if absent).

    Retryable: the codes in :data:`RETRYABLE_GRPC_CODES`, and ``RESOURCE_EXHAUSTED`` only when the
    status carries ``RetryInfo``. The ``RetryInfo`` delay is the hint. Spec: OTLP/gRPC "Failures".
    """
    delay = retry_delay(status)
    if code in RETRYABLE_GRPC_CODES:
        return RetryAdvice(True, delay)
    if code == GrpcCode.RESOURCE_EXHAUSTED and delay is not None:
        return RetryAdvice(True, delay)
    return RetryAdvice(False)


def retry_delay(status: Any) -> float | None:
    """Seconds of the first ``RetryInfo`` detail of a ``google.rpc.Status`` (a message or its
    serialized bytes), or ``None`` when there is none or the bytes are not a ``Status``.

    Negative delays read as 0. Spec: OTLP "OTLP/gRPC Throttling"; ``google.rpc.RetryInfo``.
    """
    if status is None:
        return None
    if isinstance(status, (bytes, bytearray, memoryview)):
        parsed = status_pb2.Status()
        try:
            parsed.ParseFromString(bytes(status))
        except DecodeError:
            return None
        status = parsed
    for detail in status.details:
        if detail.type_url.rpartition("/")[2] != _RETRY_INFO_TYPE:
            continue
        info = error_details_pb2.RetryInfo()
        try:
            detail.Unpack(info)
        except DecodeError:
            return None
        seconds: float = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
        return max(0.0, seconds)
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: ``delay-seconds`` or an ``HTTP-date``
    (IMF-fixdate, RFC 850 or asctime form, read as UTC), relative to ``now`` (``time.time()``).

    ``None`` when absent or unreadable (the client falls back to exponential backoff); a date in
    the past reads as 0. Spec: RFC 9110 §10.2.3, honoured per OTLP/HTTP "Throttling".
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit() and text.isascii():
        try:
            return float(int(text))
        except (ValueError, OverflowError):  # absurdly long: not a usable hint
            return None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delay = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, delay)
