"""Start and stop: bound addresses, a taken port, graceful shutdown with requests in flight."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import aiohttp
import grpc
import pytest

from driftline.processors.config.model import (
    ComponentId,
    GRPCReceiverSettings,
    HTTPReceiverSettings,
    OTLPReceiverConfig,
)
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.otlp.status import RETRYABLE_GRPC_CODES
from driftline.processors.receivers import OTLPReceiver
from driftline.processors.telemetry import SelfTelemetry
from tests.processors.receivers.conftest import StartReceiver
from tests.processors.receivers.harness import (
    GrpcClient,
    Harness,
    RecordingConsumer,
    ScriptedAdmission,
    loopback,
    post,
    sample_request,
)

pytestmark = pytest.mark.timeout(30)

BODY = bytes(sample_request(3).SerializeToString())


def both() -> OTLPReceiverConfig:
    return OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback()),
                              http=HTTPReceiverSettings(endpoint=loopback()))


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


async def begin_stop(receiver: OTLPReceiver, grace: float) -> asyncio.Task[None]:
    task = asyncio.create_task(receiver.stop(grace))
    # One turn of the loop runs stop() up to where it waits for requests in flight: the listeners are
    # closed and new requests are refused by then (the receiver does not yield before that point).
    await asyncio.sleep(0)
    assert receiver.stopping
    return task


async def test_port_zero_binds_real_ports_on_the_configured_host(receiver: StartReceiver) -> None:
    harness = await receiver(both())
    grpc_address, http_address = harness.receiver.grpc_address, harness.receiver.http_address
    assert grpc_address is not None
    assert http_address is not None
    assert grpc_address.host == http_address.host == "127.0.0.1"
    assert grpc_address.port > 0
    assert http_address.port > 0


async def test_only_the_configured_transport_is_served(receiver: StartReceiver) -> None:
    harness = await receiver(OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback())))
    assert harness.receiver.grpc_address is None
    assert harness.receiver.http_address is not None


@pytest.mark.parametrize("transport", ["grpc", "http"])
async def test_taken_port_raises_oserror_naming_endpoint_and_key(taken_port: int, transport: str) -> None:
    config = (OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(taken_port))) if transport == "grpc"
              else OTLPReceiverConfig(http=HTTPReceiverSettings(endpoint=loopback(taken_port))))
    receiver = OTLPReceiver(ComponentId("otlp", "edge"), config, RecordingConsumer(), ScriptedAdmission(),
                            SelfTelemetry())

    with pytest.raises(OSError, match=f"127.0.0.1:{taken_port}") as raised:
        await receiver.start()

    assert f"receivers.otlp/edge.protocols.{transport}.endpoint" in str(raised.value)


async def test_a_failed_start_releases_the_transport_that_did_bind(taken_port: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    config = OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(free)),
                                http=HTTPReceiverSettings(endpoint=loopback(taken_port)))
    receiver = OTLPReceiver(ComponentId("otlp"), config, RecordingConsumer(), ScriptedAdmission(), SelfTelemetry())

    with pytest.raises(OSError, match=r"protocols\.http\.endpoint"):
        await receiver.start()

    again = OTLPReceiver(ComponentId("otlp"), OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(free))),
                         RecordingConsumer(), ScriptedAdmission(), SelfTelemetry())
    await again.start()  # the gRPC port was given back
    await again.stop(0)


async def test_http_stop_refuses_new_work_and_lets_requests_in_flight_finish(receiver: StartReceiver) -> None:
    harness = await receiver(both())
    async with aiohttp.ClientSession() as busy, aiohttp.ClientSession() as idle:
        assert (await post(idle, harness.url, BODY)).status == 200  # leaves a keep-alive connection
        harness.consumer.hold()
        in_flight = asyncio.create_task(post(busy, harness.url, BODY))
        await harness.consumer.until_waiting(1)

        stopping = await begin_stop(harness.receiver, grace=20)

        late = await post(idle, harness.url, BODY)  # on the open connection: answered, retryably
        assert late.status == 503
        assert late.rpc_status().code == GrpcCode.UNAVAILABLE
        assert late.headers["Connection"] == "close"
        assert harness.refused_requests("http", "shutting_down") == 1
        async with aiohttp.ClientSession() as fresh:
            with pytest.raises(aiohttp.ClientConnectionError):  # the listener is closed
                await post(fresh, harness.url, BODY)
        assert not stopping.done()

        harness.consumer.release()
        assert (await in_flight).status == 200
        await asyncio.wait_for(stopping, 10)
    assert harness.consumer.span_count == 6


async def test_grpc_stop_refuses_new_rpcs_and_lets_rpcs_in_flight_finish(
        receiver: StartReceiver, grpc_clients: list[GrpcClient]) -> None:
    harness = await receiver(both())
    client = GrpcClient.insecure(harness.grpc_target)
    grpc_clients.append(client)
    assert await client.export(BODY) == b""
    harness.consumer.hold()
    in_flight = asyncio.create_task(client.export(BODY))
    await harness.consumer.until_waiting(1)

    stopping = await begin_stop(harness.receiver, grace=20)

    code, _ = await client.failure(BODY)
    # gRPC itself answers RPCs that arrive while it shuts down: UNAVAILABLE or, depending on timing,
    # CANCELLED; both are retryable for OTLP clients, so the sender keeps the data.
    assert GrpcCode(code.value[0]) in RETRYABLE_GRPC_CODES
    harness.consumer.release()
    assert await in_flight == b""
    await asyncio.wait_for(stopping, 10)
    assert harness.consumer.span_count == 6


async def test_stop_cancels_what_outlives_the_grace_period(receiver: StartReceiver,
                                                           grpc_clients: list[GrpcClient]) -> None:
    harness: Harness = await receiver(both())
    client = GrpcClient.insecure(harness.grpc_target)
    grpc_clients.append(client)
    harness.consumer.hold()  # never released before stop returns
    async with aiohttp.ClientSession() as session:
        http_call = asyncio.create_task(post(session, harness.url, BODY))
        grpc_call = asyncio.create_task(client.export(BODY))
        await harness.consumer.until_waiting(2)

        started = time.monotonic()
        await harness.receiver.stop(0.2)
        assert time.monotonic() - started < 5

        with pytest.raises(aiohttp.ClientError):
            await http_call
        with pytest.raises(grpc.aio.AioRpcError):
            await grpc_call
    assert harness.consumer.batches == []
