"""OTLP/HTTP receiver against a real aiohttp server on loopback: answers, media types, limits,
admission, hand-off outcomes and self-metrics."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from driftline.processors.config.model import HTTPReceiverSettings, OTLPReceiverConfig
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.otlp.json_codec import encode_json
from driftline.processors.pipeline.contracts import Refused
from driftline.semconv import names
from tests.processors.receivers.conftest import StartReceiver
from tests.processors.receivers.harness import Harness, field_violations, loopback, post, retry_delay, sample_request

pytestmark = pytest.mark.timeout(30)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
BODY = bytes(sample_request(3).SerializeToString())
LIMIT = 64 * 1024


@pytest.fixture
async def http(receiver: StartReceiver) -> Harness:
    return await receiver(OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback(),
                                                                       max_request_body_size=LIMIT)))


async def assert_still_serving(http: Harness, session: aiohttp.ClientSession) -> None:
    before = http.consumer.span_count
    answer = await post(session, http.url, BODY)
    assert answer.status == 200
    assert http.consumer.span_count == before + 3
    assert http.admission.outstanding == set()


async def test_protobuf_export_is_forwarded_byte_for_byte(http: Harness, session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, BODY)

    assert answer.status == 200
    assert answer.content_type == PROTOBUF
    response = ExportTraceServiceResponse()
    response.ParseFromString(answer.body)
    assert not response.HasField("partial_success")
    [batch] = http.consumer.batches
    assert batch.payload() == BODY
    assert batch.span_count == 3
    assert http.admission.sizes == [len(BODY)]
    assert http.admission.outstanding == set()
    assert http.accepted("http") == 3
    assert http.telemetry.value(names.DRIFTLINE_RECEIVER_ACCEPTED_SPANS, receiver="otlp", transport="http") == 3


async def test_gzip_body_is_inflated_and_forwarded_as_sent_before_compression(
        http: Harness, session: aiohttp.ClientSession) -> None:
    compressed = gzip.compress(BODY)
    answer = await post(session, http.url, compressed, headers={"Content-Encoding": "gzip"})

    assert answer.status == 200
    assert http.consumer.batches[0].payload() == BODY
    assert http.admission.sizes == [len(compressed)]


async def test_identity_encoding_is_accepted(http: Harness, session: aiohttp.ClientSession) -> None:
    assert (await post(session, http.url, BODY, headers={"Content-Encoding": "identity"})).status == 200


async def test_json_export_round_trips_to_the_same_protobuf(http: Harness, session: aiohttp.ClientSession) -> None:
    document = json.loads(encode_json(sample_request(3)))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == "01" * 16  # hex ids, not base64
    assert span["kind"] == 3  # enums as integers
    assert isinstance(span["startTimeUnixNano"], str)  # int64 as strings
    span["futureField"] = {"ignored": True}  # unknown fields are ignored
    document["unknownTopLevel"] = 1
    answer = await post(session, http.url, json.dumps(document).encode(),
                        content_type="application/json; charset=utf-8")

    assert answer.status == 200
    assert answer.content_type == JSON
    assert json.loads(answer.body) == {}
    assert http.consumer.batches[0].payload() == BODY


async def test_chunked_body_is_read_and_admitted_by_its_size(http: Harness, session: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BODY), 7):
            yield BODY[start:start + 7]

    answer = await post(session, http.url, chunks())

    assert answer.status == 200
    assert http.consumer.batches[0].payload() == BODY
    assert http.admission.sizes == [len(BODY)]


async def test_empty_request_is_a_success_the_pipeline_never_sees(http: Harness,
                                                                  session: aiohttp.ClientSession) -> None:
    protobuf = await post(session, http.url, b"")
    as_json = await post(session, http.url, b"{}", content_type=JSON)

    assert (protobuf.status, as_json.status) == (200, 200)
    assert http.consumer.batches == []
    assert http.accepted("http") == 0


async def test_other_paths_are_404_and_other_methods_405(http: Harness, session: aiohttp.ClientSession) -> None:
    address = http.receiver.http_address
    assert (await post(session, f"http://{address}/v1/metrics", BODY)).status == 404
    async with session.get(http.url) as response:
        assert response.status == 405
    async with session.put(http.url, data=BODY) as response:
        assert response.status == 405
    await assert_still_serving(http, session)


async def test_custom_traces_url_path(receiver: StartReceiver, session: aiohttp.ClientSession) -> None:
    harness = await receiver(OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback(),
                                                                          traces_url_path="/otlp/traces")))
    address = harness.receiver.http_address
    assert (await post(session, f"http://{address}/otlp/traces", BODY)).status == 200
    assert (await post(session, f"http://{address}/v1/traces", BODY)).status == 404


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/protobuf", "application/jsonx"])
async def test_unsupported_content_type_is_415_with_a_status_body(
        http: Harness, session: aiohttp.ClientSession, content_type: str | None) -> None:
    answer = await post(session, http.url, BODY, content_type=content_type)

    assert answer.status == 415
    assert answer.content_type == PROTOBUF  # not a media type we speak: the OTLP default
    status = answer.rpc_status()
    assert "application/x-protobuf or application/json" in status.message
    assert http.refused_requests("http", "unsupported_media_type") == 1
    assert http.admission.sizes == []  # refused before admission
    await assert_still_serving(http, session)


async def test_unsupported_content_encoding_is_415(http: Harness, session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, BODY, headers={"Content-Encoding": "br"})

    assert answer.status == 415
    assert "Content-Encoding" in answer.rpc_status().message
    assert http.refused_requests("http", "unsupported_media_type") == 1
    await assert_still_serving(http, session)


async def test_declared_length_over_the_limit_is_413_before_reading(http: Harness,
                                                                    session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, bytes(LIMIT + 1))

    assert answer.status == 413
    assert answer.rpc_status().code == GrpcCode.RESOURCE_EXHAUSTED
    assert http.admission.sizes == []
    assert http.refused_requests("http", "too_large") == 1
    await assert_still_serving(http, session)


async def test_chunked_body_over_the_limit_is_413(http: Harness, session: aiohttp.ClientSession) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 4096 + 2):
            yield bytes(4096)

    answer = await post(session, http.url, chunks())

    assert answer.status == 413
    assert http.refused_requests("http", "too_large") == 1
    await assert_still_serving(http, session)


async def test_gzip_bomb_is_413(http: Harness, session: aiohttp.ClientSession) -> None:
    bomb = gzip.compress(bytes(50 * LIMIT))
    assert len(bomb) < LIMIT

    answer = await post(session, http.url, bomb, headers={"Content-Encoding": "gzip"})

    assert answer.status == 413
    assert "decompressed" in answer.rpc_status().message
    assert http.refused_requests("http", "too_large") == 1
    await assert_still_serving(http, session)


async def test_malformed_protobuf_is_400_with_bad_request(http: Harness, session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, b"\xff\xff\xff\xff")

    assert answer.status == 400
    assert answer.content_type == PROTOBUF
    status = answer.rpc_status()
    assert status.code == GrpcCode.INVALID_ARGUMENT
    assert status.message == "malformed protobuf body: not an ExportTraceServiceRequest"
    assert field_violations(status) == [("", status.message)]
    assert http.refused_requests("http", "malformed") == 1
    assert http.admission.outstanding == set()
    await assert_still_serving(http, session)


async def test_malformed_json_is_400_naming_the_field_in_json(http: Harness, session: aiohttp.ClientSession) -> None:
    document = json.loads(encode_json(sample_request(2)))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["traceId"] = "abcd"
    answer = await post(session, http.url, json.dumps(document).encode(), content_type=JSON)

    assert answer.status == 400
    assert answer.content_type == JSON
    assert json.loads(answer.body)["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    [(field, description)] = field_violations(answer.rpc_status())
    assert field == "resourceSpans[0].scopeSpans[0].spans[1].traceId"
    assert "32 hex characters" in description
    await assert_still_serving(http, session)


async def test_corrupt_gzip_is_400(http: Harness, session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, gzip.compress(BODY)[:-6], headers={"Content-Encoding": "gzip"})

    assert answer.status == 400
    assert http.refused_requests("http", "malformed") == 1
    await assert_still_serving(http, session)


async def test_admission_refusal_is_503_with_retry_after_and_nothing_read(
        http: Harness, session: aiohttp.ClientSession) -> None:
    http.admission.refuse = Refused("memory limit reached", reason="memory_limit", retry_after=2.5)

    answer = await post(session, http.url, BODY)

    assert answer.status == 503
    assert answer.headers["Retry-After"] == "3"
    status = answer.rpc_status()
    assert status.code == GrpcCode.UNAVAILABLE
    assert retry_delay(status) == 2.5
    assert http.refused_requests("http", "memory_limit") == 1
    assert http.consumer.batches == []
    http.admission.refuse = None
    await assert_still_serving(http, session)


async def test_pipeline_refusal_is_503_and_counts_the_spans(http: Harness, session: aiohttp.ClientSession) -> None:
    http.consumer.refuse = Refused("queues are full", reason="backpressure", retry_after=1.0)

    answer = await post(session, http.url, json.dumps(json.loads(encode_json(sample_request(3)))).encode(),
                        content_type=JSON)

    assert answer.status == 503
    assert answer.content_type == JSON
    assert answer.headers["Retry-After"] == "1"
    assert answer.rpc_status().message == "queues are full"
    assert http.count(names.DRIFTLINE_RECEIVER_REFUSED_SPANS, "http", reason="backpressure") == 3
    assert http.admission.outstanding == set()
    http.consumer.refuse = None
    await assert_still_serving(http, session)


async def test_unknown_refusal_reason_is_counted_as_backpressure(http: Harness,
                                                                 session: aiohttp.ClientSession) -> None:
    http.consumer.refuse = Refused("busy", reason="something_new")
    assert (await post(session, http.url, BODY)).status == 503
    assert http.count(names.DRIFTLINE_RECEIVER_REFUSED_SPANS, "http", reason="backpressure") == 3


async def test_resource_exhausted_refusal_maps_to_429(http: Harness, session: aiohttp.ClientSession) -> None:
    http.consumer.refuse = Refused("slow down", reason="backpressure", retry_after=4,
                                   grpc_code=GrpcCode.RESOURCE_EXHAUSTED)
    answer = await post(session, http.url, BODY)
    assert answer.status == 429
    assert answer.headers["Retry-After"] == "4"


async def test_pipeline_fault_is_503_and_counted_as_failed(http: Harness, session: aiohttp.ClientSession,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    http.consumer.fail = RuntimeError("bug in a stage")

    answer = await post(session, http.url, BODY)

    assert answer.status == 503
    assert answer.rpc_status().code == GrpcCode.UNAVAILABLE
    assert http.count(names.DRIFTLINE_RECEIVER_FAILED_SPANS, "http") == 3
    assert "RuntimeError" in caplog.text
    http.consumer.fail = None
    await assert_still_serving(http, session)


async def test_in_flight_gauge_counts_a_request_being_handed_on(http: Harness,
                                                                session: aiohttp.ClientSession) -> None:
    http.consumer.hold()
    request = asyncio.create_task(post(session, http.url, BODY))
    await http.consumer.until_waiting(1)
    assert http.count(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "http") == 1
    http.consumer.release()
    assert (await request).status == 200
    assert http.count(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "http") == 0


async def send_head(http: Harness, content_length: int, *extra: str) -> tuple[asyncio.StreamReader,
                                                                               asyncio.StreamWriter]:
    address = http.receiver.http_address
    assert address is not None
    reader, writer = await asyncio.open_connection(address.host, address.port)
    head = ["POST /v1/traces HTTP/1.1", f"Host: {address}", "Content-Type: application/x-protobuf",
            f"Content-Length: {content_length}", "Expect: 100-continue", *extra, "", ""]
    writer.write("\r\n".join(head).encode())
    return reader, writer


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)


async def test_expect_continue_refusal_comes_before_the_body_is_sent(http: Harness) -> None:
    reader, writer = await send_head(http, LIMIT + 1)
    try:
        assert (await read_head(reader)).startswith(b"HTTP/1.1 413 ")
    finally:
        writer.close()
    assert http.refused_requests("http", "too_large") == 1


async def test_expect_continue_is_sent_once_the_body_is_wanted(http: Harness) -> None:
    reader, writer = await send_head(http, len(BODY))
    try:
        assert await read_head(reader) == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(BODY)
        assert (await read_head(reader)).startswith(b"HTTP/1.1 200 ")
    finally:
        writer.close()
    assert http.consumer.batches[0].payload() == BODY


async def test_unknown_expectation_is_417(http: Harness, session: aiohttp.ClientSession) -> None:
    answer = await post(session, http.url, BODY, headers={"Expect": "something-else"})
    assert answer.status == 417
    await assert_still_serving(http, session)
