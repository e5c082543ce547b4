"""OTLP/gRPC receiver against a real ``grpc.aio`` server on loopback, called over a real channel with
raw bytes (with and without gzip): answers, status details, limits, admission and self-metrics."""

from __future__ import annotations

import asyncio
import gzip

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from driftline.processors.config.model import GRPCReceiverSettings, OTLPReceiverConfig
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.pipeline.contracts import Refused
from driftline.semconv import names
from tests.processors.receivers.conftest import StartReceiver
from tests.processors.receivers.harness import (
    GrpcClient,
    Harness,
    field_violations,
    loopback,
    retry_delay,
    sample_request,
)

pytestmark = pytest.mark.timeout(30)

BODY = bytes(sample_request(3).SerializeToString())
MIB = 1024 * 1024


@pytest.fixture
async def rpc(receiver: StartReceiver, grpc_clients: list[GrpcClient]) -> tuple[Harness, GrpcClient]:
    harness = await receiver(OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(),
                                                                          max_recv_msg_size_mib=1)))
    client = GrpcClient.insecure(harness.grpc_target)
    grpc_clients.append(client)
    return harness, client


async def assert_still_serving(harness: Harness, client: GrpcClient) -> None:
    before = harness.consumer.span_count
    assert await client.export(BODY) == b""
    assert harness.consumer.span_count == before + 3
    assert harness.admission.outstanding == set()


async def test_export_is_forwarded_byte_for_byte(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc

    answer = await client.export(BODY)

    response = ExportTraceServiceResponse()
    response.ParseFromString(answer)
    assert not response.HasField("partial_success")
    [batch] = harness.consumer.batches
    assert batch.payload() == BODY
    assert harness.admission.sizes == [len(BODY)]
    assert harness.admission.outstanding == set()
    assert harness.accepted("grpc") == 3
    assert harness.count(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "grpc") == 0


async def test_gzip_compressed_call_is_accepted(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc

    assert await client.export(BODY, gzip=True) == b""
    assert harness.consumer.batches[0].payload() == BODY


async def test_empty_request_is_a_success_the_pipeline_never_sees(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    assert await client.export(b"") == b""
    assert harness.consumer.batches == []


async def test_message_over_the_limit_is_resource_exhausted(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc

    code, _ = await client.failure(bytes(MIB + 1))

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.admission.sizes == []  # gRPC refused it before the handler
    await assert_still_serving(harness, client)


async def test_gzip_message_inflating_over_the_limit_is_resource_exhausted(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    payload = bytes(8 * MIB)
    assert len(gzip.compress(payload)) < MIB  # small on the wire

    code, _ = await client.failure(payload, gzip=True)

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert harness.admission.sizes == []
    await assert_still_serving(harness, client)


async def test_message_at_the_limit_is_accepted(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    request = sample_request(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.name = "x" * (MIB - 200)
    body = bytes(request.SerializeToString())
    assert MIB - 100 < len(body) <= MIB

    assert await client.export(body) == b""
    assert harness.consumer.batches[0].payload() == body


async def test_malformed_message_is_invalid_argument_with_bad_request(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc

    code, status = await client.failure(b"\xff\xff\xff\xff")

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert status.code == GrpcCode.INVALID_ARGUMENT
    assert status.message == "malformed protobuf body: not an ExportTraceServiceRequest"
    assert field_violations(status) == [("", status.message)]
    assert retry_delay(status) is None
    assert harness.refused_requests("grpc", "malformed") == 1
    assert harness.admission.outstanding == set()
    await assert_still_serving(harness, client)


async def test_admission_refusal_is_unavailable_with_retry_info(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    harness.admission.refuse = Refused("in-flight budget exhausted", reason="backpressure", retry_after=2.5)

    code, status = await client.failure(BODY)

    assert code == grpc.StatusCode.UNAVAILABLE
    assert status.message == "in-flight budget exhausted"
    assert retry_delay(status) == 2.5
    assert harness.refused_requests("grpc", "backpressure") == 1
    harness.admission.refuse = None
    await assert_still_serving(harness, client)


async def test_pipeline_refusal_is_unavailable_and_counts_the_spans(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    harness.consumer.refuse = Refused("memory limit", reason="memory_limit", retry_after=1.0)

    code, status = await client.failure(BODY, gzip=True)

    assert code == grpc.StatusCode.UNAVAILABLE
    assert retry_delay(status) == 1.0
    assert harness.count(names.DRIFTLINE_RECEIVER_REFUSED_SPANS, "grpc", reason="memory_limit") == 3
    assert harness.admission.outstanding == set()
    harness.consumer.refuse = None
    await assert_still_serving(harness, client)


async def test_pipeline_fault_is_unavailable_and_counted_as_failed(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    harness.consumer.fail = ValueError("bug")

    code, status = await client.failure(BODY)

    assert code == grpc.StatusCode.UNAVAILABLE
    assert status.code == GrpcCode.UNAVAILABLE
    assert harness.count(names.DRIFTLINE_RECEIVER_FAILED_SPANS, "grpc") == 3
    harness.consumer.fail = None
    await assert_still_serving(harness, client)


async def test_in_flight_gauge_counts_a_request_being_handed_on(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    harness.consumer.hold()
    call = asyncio.create_task(client.export(BODY))
    await harness.consumer.until_waiting(1)

    assert harness.count(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "grpc") == 1
    harness.consumer.release()
    assert await call == b""
    assert harness.count(names.DRIFTLINE_RECEIVER_REQUESTS_IN_FLIGHT, "grpc") == 0


async def test_unknown_method_is_unimplemented(rpc: tuple[Harness, GrpcClient]) -> None:
    harness, client = rpc
    other = client.channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await other(b"", timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    await assert_still_serving(harness, client)
