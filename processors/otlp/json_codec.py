"""OTLP/JSON ⇄ protobuf messages: the decoder behind the HTTP receiver's ``application/json`` and the
encoder behind the ``file`` exporter's OTLP-JSON lines.

OTLP/JSON is the proto3 JSON mapping with the OTLP specification's deviations ("JSON Protobuf
Encoding", https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):

* ``traceId``, ``spanId`` and ``parentSpanId`` are case-insensitive hex, not base64; other
  ``bytes`` (``AnyValue.bytesValue``) stay base64 (standard or URL-safe, padding optional);
* enum values are integers;
* keys are lowerCamelCase;
* unknown fields are ignored;
* 64-bit integers are decimal strings when encoded and either strings or numbers when decoded.

Where that text is silent this module decodes as the OpenTelemetry Collector's pdata unmarshaller
does: the proto field names (``trace_id``) are accepted beside the lowerCamelCase keys, enum names
(``"SPAN_KIND_SERVER"``) beside integers, ``null`` means "not set", and an empty id string is the
empty (unset) id. A non-empty id of the wrong width is refused: it cannot be represented, and it is
usually a sender using protobuf's base64 mapping by mistake.

The messages are built directly from ``json.loads`` output by tables compiled once per message
descriptor, with a hand-written path for attributes, where most of the work is. That makes it
several times faster than ``google.protobuf.json_format`` (which also decodes ids as base64, wrongly
for OTLP); ``tests/benchmarks/bench_otlp_json.py`` measures both.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple, TypeVar, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from driftline.processors.otlp.errors import OTLPDecodeError

__all__ = ["MAX_VALUE_DEPTH", "OTLPDecodeError", "decode_json", "decode_trace_request", "encode_json"]

_M = TypeVar("_M")

MAX_VALUE_DEPTH = 30
"""How deeply ``arrayValue`` / ``kvlistValue`` may nest inside one attribute value.

Each level adds two or three protobuf messages; 30 keeps every request this decoder accepts within
the 100-level recursion limit of protobuf's own parsers (upb, Java), so what we accept we can forward.
"""

_ID_WIDTHS = {"trace_id": 16, "span_id": 8, "parent_span_id": 8}
"""``bytes`` fields that OTLP/JSON writes as hex, with their width in bytes (every OTLP message
names its trace and span ids this way)."""

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\Z", re.ASCII)
_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


class _Invalid(Exception):
    """Internal: why a value was refused, with the JSON path collected on the way back up."""

    def __init__(self, reason: str, *segments: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.segments = list(segments)  # innermost first

    def to_public(self) -> OTLPDecodeError:
        path = ""
        for segment in reversed(self.segments):
            path += segment if segment.startswith("[") or not path else "." + segment
        return OTLPDecodeError(path, self.reason)


def _kind(value: Any) -> str:
    """What a JSON value is, for error messages (never the value itself: it may be span content)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _refused(value: Any) -> str:
    """Why protobuf refused a value our converters passed: a string it cannot encode as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "string is not valid Unicode (lone surrogate escape)"
    return "value refused by protobuf"


# --- scalar converters: JSON value -> what the protobuf field takes ------------------------------

def _integer_converter(low: int, high: int, type_name: str) -> Callable[[Any], int]:
    """A converter for an integer field: a JSON number, or a decimal string (the proto3 JSON form
    of 64-bit integers, which other integer fields also accept), within ``[low, high]``."""

    def convert(value: Any) -> int:
        if type(value) is str:
            if value.isdigit() and value.isascii() and len(value) <= 20:  # the common form, fast
                number = int(value)
            else:
                number = _integer_from_string(value)
        elif type(value) is int:
            number = value
        elif type(value) is float and value.is_integer():
            number = int(value)
        else:
            raise _Invalid(f"expected an integer (number or decimal string), got {_kind(value)}")
        if not low <= number <= high:
            raise _Invalid(f"out of range for {type_name}")
        return number

    return convert


def _integer_from_string(text: str) -> int:
    """Decimal strings other than plain digits: a sign, or the exponent form proto3 JSON allows."""
    if len(text) > 64 or not _NUMBER.match(text):
        raise _Invalid("expected an integer (number or decimal string), got a non-numeric string")
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise _Invalid("expected an integer, got a non-numeric string") from None
    if number.adjusted() > 20:  # beyond every protobuf integer; do not build a huge int
        raise _Invalid("integer out of range")
    if number != number.to_integral_value():
        raise _Invalid("expected an integer, got a fraction")
    return int(number)


_int32 = _integer_converter(-(2**31), 2**31 - 1, "int32")
_uint32 = _integer_converter(0, 2**32 - 1, "uint32")
_int64 = _integer_converter(-(2**63), 2**63 - 1, "int64")
_uint64 = _integer_converter(0, 2**64 - 1, "uint64")


def _double(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            raise _Invalid("number out of range for double") from None
    if type(value) is str:
        special = _FLOAT_WORDS.get(value)
        if special is not None:
            return special
        if len(value) <= 64 and _NUMBER.match(value):
            return float(value)
        raise _Invalid('expected a number, "NaN", "Infinity" or "-Infinity", got another string')
    raise _Invalid(f"expected a number, got {_kind(value)}")


def _string(value: Any) -> str:
    if type(value) is not str:
        raise _Invalid(f"expected a string, got {_kind(value)}")
    return value


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _Invalid(f"expected true or false, got {_kind(value)}")
    return value


def _base64(value: Any) -> bytes:
    """proto3 JSON ``bytes``: standard or URL-safe base64, with or without padding."""
    if type(value) is not str:
        raise _Invalid(f"expected a base64 string, got {_kind(value)}")
    text = value.translate(_URLSAFE_TO_STANDARD)
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _Invalid("expected a base64 string, got invalid base64") from None


def _hex_id(width: int) -> Callable[[Any], bytes]:
    """A converter for a trace or span id: ``2 * width`` hex characters, or empty for "unset"."""
    chars = 2 * width
    wrong_width = f"expected {chars} hex characters, got {{}}"

    def convert(value: Any) -> bytes:
        if type(value) is not str:
            raise _Invalid(f"expected a hex string, got {_kind(value)}")
        if not value:
            return b""
        if len(value) != chars:
            raise _Invalid(wrong_width.format(len(value)))
        try:
            decoded = bytes.fromhex(value)
        except ValueError:
            decoded = b""
        if len(decoded) != width:  # fromhex also skips spaces, so check what came out
            raise _Invalid(f"expected {chars} hex characters, got a non-hex character")
        return decoded

    return convert


def _enum_converter(enum_type: Any) -> Callable[[Any], int]:
    names: dict[str, int] = {value.name: value.number for value in enum_type.values}
    type_name: str = enum_type.name

    def convert(value: Any) -> int:
        if type(value) is str and value in names:  # a name: not OTLP/JSON, but the Collector takes it
            return names[value]
        if type(value) is str and not _NUMBER.match(value):
            raise _Invalid(f"expected an integer {type_name} value, got an unknown name")
        return _int32(value)

    return convert


# --- scalar encoders: protobuf value -> JSON value -------------------------------------------------

def _encode_base64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _encode_double(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


# --- compiled tables: one per message descriptor ------------------------------------------------

_SCALAR, _REPEATED_SCALAR, _MESSAGE, _REPEATED_MESSAGE, _ATTRIBUTES, _ANY_VALUE = range(6)

_KEY_VALUE = KeyValue.DESCRIPTOR.full_name
_ANY_VALUE_NAME = AnyValue.DESCRIPTOR.full_name


class _Field(NamedTuple):
    name: str  # the protobuf attribute
    json_name: str  # lowerCamelCase, used in error paths and when encoding
    kind: int
    convert: Callable[[Any], Any]  # scalars: JSON -> protobuf
    encode: Callable[[Any], Any] | None  # scalars: protobuf -> JSON (None: as is)
    table: dict[str, _Field]  # messages: the message's own table


def _not_scalar(value: Any) -> Any:  # pragma: no cover - message fields never take this path
    raise AssertionError("message fields are not converted as scalars")


_NO_TABLE: dict[str, _Field] = {}
"""The ``table`` of a scalar field."""


_TABLES: dict[str, dict[str, _Field]] = {}
"""Compiled tables by message full name. Only complete tables are published here, so a receiver
thread never decodes with a table another thread is still filling."""


def _table(descriptor: Any) -> dict[str, _Field]:
    """Keys (lowerCamelCase and proto names) -> how to decode/encode that field of ``descriptor``."""
    table = _TABLES.get(descriptor.full_name)
    if table is None:
        building: dict[str, dict[str, _Field]] = {}
        table = _compile(descriptor, building)
        _TABLES.update(building)  # one step under the GIL: all of them or none
    return table


def _compile(descriptor: Any, building: dict[str, dict[str, _Field]]) -> dict[str, _Field]:
    name = descriptor.full_name
    table = _TABLES.get(name) or building.get(name)
    if table is not None:
        return table
    table = building[name] = {}  # before the fields: AnyValue contains itself
    for fd in descriptor.fields:
        field = _compile_field(fd, building)
        if field is not None:
            table[fd.json_name] = field
            table[fd.name] = field
    return table


def _compile_field(fd: Any, building: dict[str, dict[str, _Field]]) -> _Field | None:
    # protobuf >= 6 says is_repeated; older releases only have label, which 7 removed.
    is_repeated = getattr(fd, "is_repeated", None)
    repeated = bool(is_repeated) if is_repeated is not None else fd.label == fd.LABEL_REPEATED
    message = fd.message_type
    if message is not None:
        if message.GetOptions().map_entry:  # OTLP has no map fields; skip rather than mis-decode
            return None
        if message.full_name == _KEY_VALUE and repeated:
            kind = _ATTRIBUTES
        elif message.full_name == _ANY_VALUE_NAME and not repeated:
            kind = _ANY_VALUE
        else:
            kind = _REPEATED_MESSAGE if repeated else _MESSAGE
        return _Field(fd.name, fd.json_name, kind, _not_scalar, None, _compile(message, building))
    convert, encode = _scalar_codec(fd)
    return _Field(fd.name, fd.json_name, _REPEATED_SCALAR if repeated else _SCALAR, convert, encode, _NO_TABLE)


def _scalar_codec(fd: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any] | None]:
    t = fd.type
    if t == fd.TYPE_STRING:
        return _string, None
    if t == fd.TYPE_BOOL:
        return _bool, None
    if t == fd.TYPE_BYTES:
        width = _ID_WIDTHS.get(fd.name)
        if width is not None:
            return _hex_id(width), bytes.hex
        return _base64, _encode_base64
    if t in (fd.TYPE_DOUBLE, fd.TYPE_FLOAT):
        return _double, _encode_double
    if t == fd.TYPE_ENUM:
        return _enum_converter(fd.enum_type), None
    if t in (fd.TYPE_INT64, fd.TYPE_SINT64, fd.TYPE_SFIXED64):
        return _int64, str
    if t in (fd.TYPE_UINT64, fd.TYPE_FIXED64):
        return _uint64, str
    if t in (fd.TYPE_UINT32, fd.TYPE_FIXED32):
        return _uint32, None
    return _int32, None  # int32, sint32, sfixed32


# --- decoding ------------------------------------------------------------------------------------

def decode_trace_request(body: bytes | str) -> ExportTraceServiceRequest:
    """Decode an OTLP/JSON ``ExportTraceServiceRequest`` (the body of ``POST /v1/traces``).

    Raises :class:`OTLPDecodeError` (a ``MalformedPayload``: HTTP 400) naming the offending value's
    path, e.g. ``resourceSpans[0].scopeSpans[1].spans[3].traceId: expected 32 hex characters, got 24``.
    Spec: OTLP "JSON Protobuf Encoding", https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
    """
    return decode_json(body, ExportTraceServiceRequest)


def decode_json(body: bytes | str, message_type: type[_M]) -> _M:
    """Decode OTLP/JSON ``body`` into a new ``message_type`` (any OTLP protobuf message class).

    See :func:`decode_trace_request` for the rules and the error raised.
    """
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise OTLPDecodeError("", f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except UnicodeDecodeError:
        raise OTLPDecodeError("", "invalid JSON: the body is not UTF-8 text") from None
    except RecursionError:
        raise OTLPDecodeError("", "invalid JSON: nested too deeply") from None
    except ValueError:  # an integer literal beyond Python's 4300-digit limit
        raise OTLPDecodeError("", "invalid JSON: a number literal is too long") from None
    message: Any = message_type()
    try:
        _fill(message, document, _table(message.DESCRIPTOR))
    except _Invalid as error:
        raise error.to_public() from None
    except RecursionError:  # pragma: no cover - MAX_VALUE_DEPTH keeps recursion shallow
        raise OTLPDecodeError("", "nested too deeply") from None
    return cast(_M, message)


def _fill(message: Any, obj: Any, table: dict[str, _Field]) -> None:
    """Set the fields of ``message`` from the JSON object ``obj``. Hot path: once per span."""
    if type(obj) is not dict:
        raise _Invalid(f"expected a JSON object, got {_kind(obj)}")
    for key, value in obj.items():
        field = table.get(key)
        if field is None or value is None:  # unknown fields are ignored; null is "not set"
            continue
        name, json_name, kind, convert, _, sub = field
        try:
            if kind == _SCALAR:
                converted = convert(value)
                try:
                    setattr(message, name, converted)
                except (TypeError, ValueError):  # refused by protobuf: a lone surrogate
                    raise _Invalid(_refused(converted)) from None
            elif kind == _ATTRIBUTES:
                _attributes(getattr(message, name), value, 0)
            elif kind == _REPEATED_MESSAGE:
                _messages(getattr(message, name), value, sub)
            elif kind == _MESSAGE:
                child = getattr(message, name)
                child.SetInParent()  # present even when {} sets nothing in it
                _fill(child, value, sub)
            elif kind == _ANY_VALUE:
                _any_value(getattr(message, name), value, 0)
            else:
                _scalars(getattr(message, name), value, convert)
        except _Invalid as error:
            error.segments.append(json_name)
            raise


def _messages(container: Any, items: Any, table: dict[str, _Field]) -> None:
    if type(items) is not list:
        raise _Invalid(f"expected a JSON array, got {_kind(items)}")
    add = container.add
    index = 0
    try:
        for index, item in enumerate(items):  # noqa: B007 - index is read in the handler
            _fill(add(), item, table)
    except _Invalid as error:
        error.segments.append(f"[{index}]")
        raise


def _scalars(container: Any, items: Any, convert: Callable[[Any], Any]) -> None:
    if type(items) is not list:
        raise _Invalid(f"expected a JSON array, got {_kind(items)}")
    index = 0
    try:
        for index, item in enumerate(items):  # noqa: B007 - index is read in the handler
            converted = convert(item)
            try:
                container.append(converted)
            except (TypeError, ValueError):  # refused by protobuf: a lone surrogate
                raise _Invalid(_refused(converted)) from None
    except _Invalid as error:
        error.segments.append(f"[{index}]")
        raise


_table(ExportTraceServiceRequest.DESCRIPTOR)  # compiled at import rather than on the first request
_KEY_VALUE_TABLE = _table(KeyValue.DESCRIPTOR)
_ANY_VALUE_TABLE = _table(AnyValue.DESCRIPTOR)


def _attributes(container: Any, items: Any, depth: int) -> None:
    """A ``repeated KeyValue`` (attributes, kvlist values). Hot path: most of a span's bytes."""
    if type(items) is not list:
        raise _Invalid(f"expected a JSON array, got {_kind(items)}")
    add = container.add
    index = 0
    try:
        for index, kv in enumerate(items):  # noqa: B007 - index is read in the handler
            if type(kv) is not dict:
                raise _Invalid(f"expected a JSON object, got {_kind(kv)}")
            if len(kv) > 2:  # keyStrindex or unknown fields: the general path
                _key_value(add(), kv, depth)
                continue
            key = kv.get("key")
            if key is None:
                key = ""
            elif type(key) is not str:
                raise _Invalid(f"expected a string, got {_kind(key)}", "key")
            try:
                entry = add(key=key)
            except ValueError:  # refused by protobuf: a lone surrogate
                raise _Invalid(_refused(key), "key") from None
            value = kv.get("value")
            if value is None:
                continue
            # The usual attribute, {"stringValue": ...} and the like, without the general dispatch.
            if type(value) is dict and len(value) == 1:
                ((variant, x),) = value.items()
                if variant == "stringValue" and type(x) is str:
                    try:
                        entry.value.string_value = x
                    except ValueError:  # refused by protobuf: a lone surrogate
                        raise _Invalid(_refused(x), variant, "value") from None
                    continue
                if variant == "intValue" and type(x) is str and x.isdigit() and x.isascii() and len(x) < 19:
                    entry.value.int_value = int(x)
                    continue
                if variant == "doubleValue" and type(x) is float:
                    entry.value.double_value = x
                    continue
                if variant == "boolValue" and type(x) is bool:
                    entry.value.bool_value = x
                    continue
            try:
                _any_value(entry.value, value, depth)
            except _Invalid as error:
                error.segments.append("value")
                raise
    except _Invalid as error:
        error.segments.append(f"[{index}]")
        raise


def _key_value(entry: Any, kv: dict[str, Any], depth: int) -> None:
    for key, x in kv.items():
        if x is None:
            continue
        if key == "value":
            try:
                _any_value(entry.value, x, depth)
            except _Invalid as error:
                error.segments.append("value")
                raise
            continue
        field = _KEY_VALUE_TABLE.get(key)
        if field is not None and field.kind == _SCALAR:
            try:
                setattr(entry, field.name, field.convert(x))
            except _Invalid as error:
                error.segments.append(field.json_name)
                raise
            except (TypeError, ValueError):  # refused by protobuf: a lone surrogate
                raise _Invalid(_refused(x), field.json_name) from None


def _any_value(value: Any, obj: Any, depth: int) -> None:
    """One ``AnyValue``: exactly one of its variants, or none (the empty value)."""
    if type(obj) is not dict:
        raise _Invalid(f"expected a JSON object, got {_kind(obj)}")
    chosen: str | None = None
    for key, x in obj.items():
        field = _ANY_VALUE_TABLE.get(key)
        if field is None or x is None:
            continue
        if chosen is not None:
            raise _Invalid(f"has both {chosen} and {field.json_name}; an AnyValue holds one value")
        chosen = field.json_name
        try:
            if field.kind == _SCALAR:
                try:
                    setattr(value, field.name, field.convert(x))
                except (TypeError, ValueError):  # refused by protobuf: a lone surrogate
                    raise _Invalid(_refused(x)) from None
                continue
            if depth >= MAX_VALUE_DEPTH:
                raise _Invalid(f"values nested more than {MAX_VALUE_DEPTH} levels deep")
            child = getattr(value, field.name)  # array_value or kvlist_value
            child.SetInParent()
            if type(x) is not dict:
                raise _Invalid(f"expected a JSON object, got {_kind(x)}")
            items = x.get("values")
            if items is None:
                continue
            try:
                if field.name == "kvlist_value":
                    _attributes(child.values, items, depth + 1)
                else:
                    _any_values(child.values, items, depth + 1)
            except _Invalid as error:
                error.segments.append("values")
                raise
        except _Invalid as error:
            error.segments.append(field.json_name)
            raise


def _any_values(container: Any, items: Any, depth: int) -> None:
    if type(items) is not list:
        raise _Invalid(f"expected a JSON array, got {_kind(items)}")
    add = container.add
    index = 0
    try:
        for index, item in enumerate(items):  # noqa: B007 - index is read in the handler
            _any_value(add(), item, depth)
    except _Invalid as error:
        error.segments.append(f"[{index}]")
        raise


# --- encoding ------------------------------------------------------------------------------------

def encode_json(message: Any) -> bytes:
    """OTLP/JSON for any OTLP protobuf ``message``: one line of compact UTF-8 JSON.

    Hex ids, integer enums, 64-bit integers as decimal strings, lowerCamelCase keys, default values
    omitted: what :func:`decode_json` reads back to the same message. (A span whose id has the
    wrong width, which protobuf lets through, is still written, as its hex; reading it is refused.)
    Spec: OTLP "JSON Protobuf Encoding", https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
    """
    document = _to_dict(message, _table(message.DESCRIPTOR))
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _to_dict(message: Any, table: dict[str, _Field]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():  # set fields only: proto3 JSON omits defaults
        _, json_name, kind, _, encode, sub = table[fd.name]
        if kind == _SCALAR:
            out[json_name] = value if encode is None else encode(value)
        elif kind == _ATTRIBUTES:
            out[json_name] = _attributes_to_list(value)
        elif kind == _REPEATED_MESSAGE:
            out[json_name] = [_to_dict(item, sub) for item in value]
        elif kind in (_MESSAGE, _ANY_VALUE):
            out[json_name] = _to_dict(value, sub)
        else:
            out[json_name] = list(value) if encode is None else [encode(item) for item in value]
    return out


_HAS_KEY_STRINDEX = "key_strindex" in KeyValue.DESCRIPTOR.fields_by_name


def _attributes_to_list(items: Any) -> list[dict[str, Any]]:
    """A ``repeated KeyValue`` as JSON. Hot path: attributes are most of a span."""
    out = []
    for kv in items:
        if _HAS_KEY_STRINDEX and kv.key_strindex:
            out.append(_to_dict(kv, _KEY_VALUE_TABLE))
            continue
        entry: dict[str, Any] = {"key": kv.key}
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            entry["value"] = {"stringValue": value.string_value}
        elif which == "int_value":
            entry["value"] = {"intValue": str(value.int_value)}
        elif which == "double_value":
            entry["value"] = {"doubleValue": _encode_double(value.double_value)}
        elif which == "bool_value":
            entry["value"] = {"boolValue": value.bool_value}
        elif which is not None or kv.HasField("value"):
            entry["value"] = _to_dict(value, _ANY_VALUE_TABLE)
        out.append(entry)
    return out
