"""Fuzzing admission: random bytes, byte-level mutations of valid (and compressed) payloads, and
structural mutations of a valid OTLP/JSON document go through ``decompress`` and the protobuf or
JSON decoder as a receiver would call them.

Only the documented refusals (``OTLPRefusal`` subclasses) may escape, nothing may hang, and what is
accepted must be forwardable: it serializes, parses back to the same bytes, and encodes to OTLP/JSON
(the file exporter's format) without error.

300 examples run with the suite; ``pytest -m slow tests/processors/test_otlp_fuzz.py`` runs 100 000.
"""

from __future__ import annotations

import copy
import gzip
import json
import zlib
from typing import Any, NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftline.processors.otlp.admission import MediaType, decode_protobuf, decode_request, decompress
from driftline.processors.otlp.errors import OTLPRefusal
from driftline.processors.otlp.json_codec import decode_trace_request, encode_json
from tests.benchmarks.bench_otlp_json import genai_request

LIMIT = 256 * 1024
"""A small decompression limit, so generated bodies reach it."""


class Case(NamedTuple):
    body: bytes
    encoding: str | None
    media: MediaType


_REQUEST = genai_request(8)
_PROTOBUF = bytes(_REQUEST.SerializeToString())
_JSON = encode_json(_REQUEST)
_DOCUMENT = json.loads(_JSON)
_SEEDS = [
    Case(_PROTOBUF, None, MediaType.PROTOBUF),
    Case(_JSON, None, MediaType.JSON),
    Case(gzip.compress(_PROTOBUF), "gzip", MediaType.PROTOBUF),
    Case(gzip.compress(_JSON), "gzip", MediaType.JSON),
    Case(zlib.compress(_JSON), "deflate", MediaType.JSON),
    Case(gzip.compress(bytes(LIMIT - 16)), "gzip", MediaType.PROTOBUF),  # near the limit: mutations cross it
]
_OTLP_KEYS = ["resourceSpans", "scopeSpans", "spans", "attributes", "key", "value", "stringValue", "intValue",
              "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values", "traceId",
              "spanId", "parentSpanId", "kind", "startTimeUnixNano", "events", "links", "status", "code"]

_TRICKY_STRINGS = ["", "0", "-1", "1e3", "NaN", "Infinity", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
                   "18446744073709551616", "SPAN_KIND_SERVER", "\ud800"]
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40) | st.sampled_from(_TRICKY_STRINGS),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(_OTLP_KEYS) | st.text(max_size=8), children, max_size=4),
    max_leaves=16,
)


def _slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) in a JSON document, to replace or delete one."""
    found: list[tuple[Any, Any]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            items: Any = current.items()
        elif isinstance(current, list):
            items = enumerate(current)
        else:
            continue
        for key, child in items:
            found.append((current, key))
            stack.append(child)
    return found


@st.composite
def _mutated_bytes(draw: st.DrawFn) -> Case:
    seed = draw(st.sampled_from(_SEEDS))
    data = bytearray(seed.body)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[at:]
        elif op == "duplicate":
            data[at:at] = data[at:at + draw(st.integers(1, 512))]
    if seed.encoding is None and draw(st.booleans()):
        return seed._replace(body=gzip.compress(bytes(data)), encoding="gzip")  # damaged content, sound gzip
    return seed._replace(body=bytes(data))


@st.composite
def _mutated_document(draw: st.DrawFn) -> Case:
    document = copy.deepcopy(_DOCUMENT)
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(document)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if draw(st.booleans()):
            container[key] = draw(_json_values)
        elif isinstance(container, dict):
            del container[key]
        else:
            container.insert(key, draw(_json_values))
    return Case(json.dumps(document).encode(), None, MediaType.JSON)


_random_bytes = st.builds(Case, st.binary(max_size=2048), st.sampled_from([None, "gzip", "deflate"]),
                          st.sampled_from(list(MediaType)))

_CASES = st.one_of(_random_bytes, _mutated_bytes(), _mutated_document())


def _admit_and_forward(case: Case) -> None:
    """What a receiver does with a body, and what the forward path then needs from the result."""
    try:
        request = decode_request(decompress(case.body, case.encoding, LIMIT), case.media)
    except OTLPRefusal:
        return
    forwarded = bytes(request.SerializeToString())
    assert bytes(decode_protobuf(forwarded).SerializeToString()) == forwarded
    as_json = encode_json(request)  # the file exporter's line: must never fail
    if case.media is MediaType.JSON:
        # Decoded from JSON, so the JSON must read back to the same message (compared as bytes: NaN).
        assert bytes(decode_trace_request(as_json).SerializeToString()) == forwarded


def _fuzz_settings(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.timeout(300)
@_fuzz_settings(300)
@given(case=_CASES)
def test_only_documented_refusals_escape_and_what_is_accepted_can_be_forwarded(case: Case) -> None:
    _admit_and_forward(case)


@pytest.mark.slow
@pytest.mark.skipif("'slow' not in config.getoption('markexpr')", reason="100k examples: run with -m slow")
@pytest.mark.timeout(7200)
@_fuzz_settings(100_000)
@given(case=_CASES)
def test_only_documented_refusals_escape_100k(case: Case) -> None:
    _admit_and_forward(case)
