"""Fixtures for the receiver tests: certificates, receivers started on loopback (stopped after the
test), clients that are closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from driftline.processors.config.model import OTLPReceiverConfig
from tests.processors.receivers.certs import Certs, make_certs
from tests.processors.receivers.harness import GrpcClient, Harness, start_receiver

StartReceiver = Callable[..., Awaitable[Harness]]


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def receiver() -> AsyncIterator[StartReceiver]:
    """``await receiver(config)`` starts an ``otlp`` receiver; every one is stopped after the test."""
    started: list[Harness] = []

    async def start(config: OTLPReceiverConfig, **kwargs: str) -> Harness:
        harness = await start_receiver(config, **kwargs)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.consumer.release()
        await harness.receiver.stop(1.0)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def grpc_clients() -> AsyncIterator[list[GrpcClient]]:
    """Append clients here to have them closed after the test."""
    clients: list[GrpcClient] = []
    yield clients
    for client in clients:
        await client.close()
