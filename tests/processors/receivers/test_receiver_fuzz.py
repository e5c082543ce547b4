"""Fuzzing both running receivers: random, truncated, bit-flipped, structurally mutated, oversized and
gzip-bomb payloads over real OTLP/HTTP and OTLP/gRPC connections.

Each answer must be exactly the one the protocol layer prescribes for the payload (the oracle runs
``decompress`` and the decoders on the same bytes): 200 / 400 / 413 / 415 over HTTP, OK /
INVALID_ARGUMENT / RESOURCE_EXHAUSTED over gRPC, never a 5xx or INTERNAL for a client's fault. Every
request has a timeout (no hang) and a good request succeeds after every refused one.

Resident memory is checked apart from hypothesis, whose own bookkeeping grows with the examples it
has run (about 8 MiB per thousand here) and would drown a leak of the receivers: a fixed set of
payloads (seeds, bit flips, truncations, oversized bodies, bombs) is replayed many times after a
warm-up, and RSS must not grow beyond a bound.

The receivers run on an event loop in a background thread, so hypothesis drives them with plain
blocking clients. The default run sends a few thousand payloads; ``pytest -m slow`` sends 100 000.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from driftline.processors.config.model import (
    ComponentId,
    GRPCReceiverSettings,
    HTTPReceiverSettings,
    OTLPReceiverConfig,
)
from driftline.processors.otlp.admission import MediaType, decode_protobuf, decode_request, decompress
from driftline.processors.otlp.errors import OTLPRefusal, PayloadTooLarge
from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.receivers import OTLPReceiver
from driftline.processors.telemetry import SelfTelemetry, read_rss_bytes
from driftline.semconv import names
from tests.processors.receivers.harness import EXPORT_METHOD, REQUEST_TIMEOUT, loopback, sample_request
from tests.processors.test_otlp_fuzz import _CASES, _SEEDS, LIMIT, Case

HTTP_LIMIT = LIMIT
"""The HTTP body limit: the codec fuzzer's, whose seeds sit near it so mutations cross it."""
GRPC_LIMIT_MIB = 1
GRPC_LIMIT = GRPC_LIMIT_MIB * 1024 * 1024
GOOD = bytes(sample_request(2).SerializeToString())
RSS_GROWTH_BOUND = 32 * 1024 * 1024
"""Allowed RSS growth over a replay after warm-up: far below what keeping the payloads would cost
(thousands of bodies of up to 256 KiB, or their decoded requests), above allocator noise."""

_BOMBS = [Case(gzip.compress(bytes(size)), "gzip", media)
          for size in (HTTP_LIMIT + 1, 8 * HTTP_LIMIT, 64 * HTTP_LIMIT) for media in MediaType]
_OVERSIZED = [Case(bytes(HTTP_LIMIT + 1), None, MediaType.PROTOBUF), Case(b"{" * (2 * HTTP_LIMIT), None,
                                                                           MediaType.JSON)]
_CONTENT_TYPES = {MediaType.PROTOBUF: "application/x-protobuf", MediaType.JSON: "application/json; charset=utf-8"}
_HTTP_CASES = st.one_of(_CASES, st.sampled_from(_BOMBS + _OVERSIZED))
_BAD_CONTENT_TYPES = st.sampled_from(["text/plain", "application/octet-stream", "application/protobuf", ""])


class _Counting:
    """A pipeline that keeps nothing (memory must stay flat) and counts spans."""

    def __init__(self) -> None:
        self.spans = 0

    async def consume(self, batch: TraceBatch) -> None:
        self.spans += batch.span_count


class _OpenAdmission:
    def __init__(self) -> None:
        self.outstanding = 0

    def reserve(self, size: int) -> int:
        self.outstanding += 1
        return 1

    def release(self, token: int) -> None:
        self.outstanding -= 1


@dataclass
class Receivers:
    """Both transports of one receiver, on a loop in another thread, with blocking clients."""

    receiver: OTLPReceiver
    telemetry: SelfTelemetry
    admission: _OpenAdmission
    http: http.client.HTTPConnection
    export: Any

    def post(self, body: bytes, content_type: str | None, encoding: str | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type is not None else {}
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        self.http.request("POST", "/v1/traces", body=body, headers=headers)
        response = self.http.getresponse()
        return response.status, response.read()

    def call(self, body: bytes, *, gzip_compressed: bool = False) -> grpc.StatusCode:
        compression = grpc.Compression.Gzip if gzip_compressed else None
        try:
            self.export(body, timeout=REQUEST_TIMEOUT, compression=compression)
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK

    def assert_serving(self) -> None:
        status, _ = self.post(GOOD, _CONTENT_TYPES[MediaType.PROTOBUF])
        assert status == 200
        assert self.call(GOOD) == grpc.StatusCode.OK
        assert self.admission.outstanding == 0


@pytest.fixture(scope="module")
def receivers() -> Iterator[Receivers]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="receiver-loop", daemon=True)
    thread.start()
    telemetry, admission = SelfTelemetry(), _OpenAdmission()
    config = OTLPReceiverConfig(
        grpc=GRPCReceiverSettings(endpoint=loopback(), max_recv_msg_size_mib=GRPC_LIMIT_MIB),
        http=HTTPReceiverSettings(endpoint=loopback(), max_request_body_size=HTTP_LIMIT))

    async def start() -> OTLPReceiver:
        receiver = OTLPReceiver(ComponentId("otlp"), config, _Counting(), admission, telemetry)
        await receiver.start()
        return receiver

    receiver = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    assert receiver.http_address is not None
    assert receiver.grpc_address is not None
    connection = http.client.HTTPConnection(receiver.http_address.host, receiver.http_address.port,
                                            timeout=REQUEST_TIMEOUT)
    channel = grpc.insecure_channel(str(receiver.grpc_address))
    try:
        yield Receivers(receiver, telemetry, admission, connection, channel.unary_unary(EXPORT_METHOD))
    finally:
        connection.close()
        channel.close()
        asyncio.run_coroutine_threadsafe(receiver.stop(1.0), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


# --- oracles: what the protocol layer says the answer must be --------------------------------------

def expected_http_status(case: Case) -> int:
    if len(case.body) > HTTP_LIMIT:
        return PayloadTooLarge.http_status
    try:
        decode_request(decompress(case.body, case.encoding, HTTP_LIMIT), case.media)
    except OTLPRefusal as refusal:
        return refusal.http_status
    return 200


def expected_grpc_code(message: bytes) -> grpc.StatusCode:
    if len(message) > GRPC_LIMIT:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    try:
        decode_protobuf(message)
    except OTLPRefusal:
        return grpc.StatusCode.INVALID_ARGUMENT
    return grpc.StatusCode.OK


# --- properties ---------------------------------------------------------------------------------------

def check_http(receivers: Receivers, case: Case, bad_content_type: str | None) -> None:
    content_type = _CONTENT_TYPES[case.media] if bad_content_type is None else bad_content_type
    status, _ = receivers.post(case.body, content_type, case.encoding)
    expected = 415 if bad_content_type is not None else expected_http_status(case)
    assert status == expected
    event(f"HTTP {status}")
    if status != 200:
        receivers.assert_serving()


@st.composite
def grpc_messages(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A message body and whether the client gzips it (gRPC's own compression)."""
    kind = draw(st.sampled_from(["case", "case", "case", "case", "case", "case", "oversized", "bomb"]))
    if kind == "oversized":
        return bytes(GRPC_LIMIT + draw(st.integers(1, 4096))), draw(st.booleans())
    if kind == "bomb":  # tiny on the wire, over the limit once inflated
        return bytes(GRPC_LIMIT * draw(st.integers(2, 16))), True
    case = draw(_CASES)
    return case.body, draw(st.booleans())


def check_grpc(receivers: Receivers, message: tuple[bytes, bool]) -> None:
    body, gzip_compressed = message
    code = receivers.call(body, gzip_compressed=gzip_compressed)
    assert code == expected_grpc_code(body)
    event(f"gRPC {code.name}")
    if code != grpc.StatusCode.OK:
        receivers.assert_serving()


def _fuzz_settings(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


_bad_content_type = st.one_of(st.none(), st.none(), st.none(), st.none(), st.none(), st.none(), st.none(),
                              _BAD_CONTENT_TYPES)


def replay_set() -> list[Case]:
    """A fixed mix of every payload kind the fuzzer sends, drawn without hypothesis."""
    rnd = random.Random(20240)
    cases = list(_SEEDS) + _BOMBS + _OVERSIZED
    for _ in range(200):
        seed = rnd.choice(_SEEDS[:5])  # not the near-limit zeros: its mutations are all alike
        data = bytearray(seed.body)
        if rnd.random() < 0.5:
            for _ in range(rnd.randint(1, 8)):
                data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
        else:
            del data[rnd.randrange(len(data)):]
        cases.append(seed._replace(body=bytes(data)))
    return cases


def replay(receivers: Receivers, cases: list[Case], rounds: int) -> None:
    for _ in range(rounds):
        for case in cases:
            status, _ = receivers.post(case.body, _CONTENT_TYPES[case.media], case.encoding)
            assert status == expected_http_status(case)
            assert receivers.call(case.body, gzip_compressed=case.encoding is None) == expected_grpc_code(case.body)
        assert receivers.call(bytes(GRPC_LIMIT * 8), gzip_compressed=True) == grpc.StatusCode.RESOURCE_EXHAUSTED


def assert_memory_flat(receivers: Receivers, rounds: int) -> None:
    cases = replay_set()
    replay(receivers, cases, 3)  # warm-up: caches, allocator arenas, connections
    baseline = read_rss_bytes()
    replay(receivers, cases, rounds)
    growth = read_rss_bytes() - baseline
    assert growth < RSS_GROWTH_BOUND, f"RSS grew by {growth / 2**20:.1f} MiB over {rounds * len(cases) * 2} payloads"
    assert receivers.admission.outstanding == 0
    assert receivers.telemetry.value(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT) == 0


@pytest.mark.timeout(120)
@_fuzz_settings(1200)
@given(case=_HTTP_CASES, bad_content_type=_bad_content_type)
def test_http_answers_exactly_as_the_protocol_layer_prescribes(receivers: Receivers, case: Case,
                                                               bad_content_type: str | None) -> None:
    check_http(receivers, case, bad_content_type)


@pytest.mark.timeout(120)
@_fuzz_settings(1200)
@given(message=grpc_messages())
def test_grpc_answers_exactly_as_the_protocol_layer_prescribes(receivers: Receivers,
                                                               message: tuple[bytes, bool]) -> None:
    check_grpc(receivers, message)


@pytest.mark.timeout(120)
def test_memory_stays_flat_while_refusing_and_accepting(receivers: Receivers) -> None:
    assert_memory_flat(receivers, rounds=10)


_SLOW = pytest.mark.skipif("'slow' not in config.getoption('markexpr')", reason="100k payloads: run with -m slow")


@pytest.mark.slow
@_SLOW
@pytest.mark.timeout(7200)
@_fuzz_settings(50_000)
@given(case=_HTTP_CASES, bad_content_type=_bad_content_type)
def test_http_fuzz_50k(receivers: Receivers, case: Case, bad_content_type: str | None) -> None:
    check_http(receivers, case, bad_content_type)


@pytest.mark.slow
@_SLOW
@pytest.mark.timeout(7200)
@_fuzz_settings(50_000)
@given(message=grpc_messages())
def test_grpc_fuzz_50k(receivers: Receivers, message: tuple[bytes, bool]) -> None:
    check_grpc(receivers, message)


@pytest.mark.slow
@_SLOW
@pytest.mark.timeout(3600)
def test_memory_stays_flat_through_40k_replayed_payloads(receivers: Receivers) -> None:
    assert_memory_flat(receivers, rounds=90)
