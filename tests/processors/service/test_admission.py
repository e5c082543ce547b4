"""Admission control: the memory limiter and the in-flight byte budget turn into retryable refusals."""

from __future__ import annotations

import aiohttp
import grpc
import pytest

from driftline.processors.config import MemoryLimiterConfig, parse_config
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.otlp.status import decode_rpc_status, retry_delay
from driftline.processors.pipeline.contracts import Refused
from driftline.processors.pipeline.limits import AdmissionControl
from driftline.processors.service import Service
from driftline.processors.telemetry import SelfTelemetry, read_rss_bytes
from driftline.semconv import names

from .support import EXPORT_METHOD, ChaosBackend, make_request

pytestmark = pytest.mark.timeout(60)


def test_in_flight_budget_refuses_retryably_but_always_admits_one_request() -> None:
    telemetry = SelfTelemetry()
    admission = AdmissionControl(telemetry, in_flight_bytes=1000)
    huge = admission.reserve(5000)             # alone: admitted even above the budget
    with pytest.raises(Refused) as refused:
        admission.reserve(1)
    assert (refused.value.reason, refused.value.grpc_code, refused.value.retry_after) == (
        "backpressure", GrpcCode.UNAVAILABLE, 1.0)
    admission.release(huge)
    first, second = admission.reserve(600), admission.reserve(400)
    assert admission.bytes_in_flight == 1000
    assert telemetry.value(names.DRIFTLINE_RECEIVER_BYTES_IN_FLIGHT) == 1000
    with pytest.raises(Refused):
        admission.reserve(1)
    admission.release(first)
    admission.release(second)
    assert admission.bytes_in_flight == 0


def test_memory_limiter_refuses_above_the_soft_limit_and_recovers() -> None:
    telemetry = SelfTelemetry()
    rss_mib = read_rss_bytes() // (1024 * 1024)
    below = AdmissionControl(telemetry, memory_limiter=MemoryLimiterConfig(limit_mib=rss_mib + 2000,
                                                                           spike_limit_mib=100))
    below.check_memory()
    assert not below.memory_limited
    below.release(below.reserve(10))
    above = AdmissionControl(telemetry, memory_limiter=MemoryLimiterConfig(limit_mib=max(2, rss_mib // 2),
                                                                           spike_limit_mib=1, check_interval=2.0))
    above.check_memory()
    assert above.memory_limited
    assert telemetry.value(names.DRIFTLINE_PROCESS_MEMORY_LIMITED) == 1
    with pytest.raises(Refused) as refused:
        above.reserve(10)
    assert (refused.value.reason, refused.value.retry_after) == ("memory_limit", 2.0)


async def test_a_processor_over_its_memory_limit_answers_503_and_unavailable_with_retry_hints() -> None:
    backend = ChaosBackend()
    address = await backend.start()
    limit = max(2, read_rss_bytes() // (1024 * 1024) // 2)   # below what this process already uses
    config = parse_config(f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}, http: {{endpoint: 127.0.0.1:0}}}}}}
processors:
  memory_limiter: {{check_interval: 1s, limit_mib: {limit}, spike_limit_mib: 1}}
exporters:
  otlp: {{endpoint: "{address}", tls: {{insecure: true}}}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], processors: [memory_limiter], exporters: [otlp]}}}}
""", environ={})
    service = Service(config)
    addresses = await service.start()
    body = make_request(0, 10).SerializeToString()
    try:
        async with aiohttp.ClientSession() as session, session.post(
                f"http://{addresses.http['otlp']}/v1/traces", data=body,
                headers={"Content-Type": "application/x-protobuf"}) as response:
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            status = decode_rpc_status(await response.read())
            assert status is not None
            assert status.code == GrpcCode.UNAVAILABLE
            assert "memory limit" in status.message
        async with grpc.aio.insecure_channel(str(addresses.grpc["otlp"])) as channel:
            call = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await call(body, timeout=10)
        assert error.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(error.value.trailing_metadata() or ())
        assert retry_delay(decode_rpc_status(details["grpc-status-details-bin"])) == 1.0
    finally:
        await service.stop()
        await backend.stop()
    assert backend.accepted == []
    # refused before the body is read, so the requests (not their spans) are counted
    assert service.telemetry.value(names.DRIFTLINE_RECEIVER_REFUSED_REQUESTS, reason="memory_limit") == 2
    assert service.telemetry.value(names.DRIFTLINE_RECEIVER_ACCEPTED_SPANS) == 0
