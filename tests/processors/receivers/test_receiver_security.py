"""TLS, mutual TLS and bearer-token auth on both transports, and what the receivers log."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import aiohttp
import grpc
import pytest

from driftline.processors.config.model import (
    BearerTokenAuth,
    GRPCReceiverSettings,
    HTTPReceiverSettings,
    OTLPReceiverConfig,
    ServerTLSSettings,
)
from driftline.processors.otlp.errors import GrpcCode
from driftline.semconv import names
from tests.processors.receivers.certs import Certs
from tests.processors.receivers.conftest import StartReceiver
from tests.processors.receivers.harness import GrpcClient, Harness, loopback, post, sample_request

pytestmark = pytest.mark.timeout(30)

BODY = bytes(sample_request(3).SerializeToString())
TOKEN = "s3cr3t-token-value"


def server_tls(certs: Certs, *, mutual: bool = False) -> ServerTLSSettings:
    return ServerTLSSettings(str(certs.server_cert), str(certs.server_key),
                             str(certs.ca_cert) if mutual else None)


def client_ssl(certs: Certs, cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


def grpc_tls_client(harness: Harness, certs: Certs, cert: tuple[str, str] | None = None) -> GrpcClient:
    key, chain = (Path(cert[1]).read_bytes(), Path(cert[0]).read_bytes()) if cert else (None, None)
    credentials = grpc.ssl_channel_credentials(certs.ca_cert.read_bytes(), private_key=key, certificate_chain=chain)
    address = harness.receiver.grpc_address
    assert address is not None
    # The certificate names localhost; the server listens on 127.0.0.1.
    return GrpcClient(grpc.aio.secure_channel(f"localhost:{address.port}", credentials))


async def tls_receiver(receiver: StartReceiver, certs: Certs, *, mutual: bool) -> Harness:
    tls = server_tls(certs, mutual=mutual)
    harness = await receiver(OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(), tls=tls),
                                                http=HTTPReceiverSettings(endpoint=loopback(), tls=tls)))
    harness.scheme = "https"
    return harness


async def test_tls_on_both_transports(receiver: StartReceiver, certs: Certs, session: aiohttp.ClientSession,
                                      grpc_clients: list[GrpcClient]) -> None:
    harness = await tls_receiver(receiver, certs, mutual=False)
    client = grpc_tls_client(harness, certs)
    grpc_clients.append(client)

    assert (await post(session, harness.url, BODY, ssl=client_ssl(certs))).status == 200
    assert await client.export(BODY) == b""
    assert harness.consumer.span_count == 6


async def test_tls_refuses_plaintext(receiver: StartReceiver, certs: Certs, session: aiohttp.ClientSession,
                                     grpc_clients: list[GrpcClient]) -> None:
    harness = await tls_receiver(receiver, certs, mutual=False)
    plain = GrpcClient.insecure(harness.grpc_target)
    grpc_clients.append(plain)

    with pytest.raises(aiohttp.ClientError):
        await post(session, harness.url.replace("https://", "http://"), BODY)
    code, _ = await plain.failure(BODY)
    assert code == grpc.StatusCode.UNAVAILABLE
    assert harness.consumer.batches == []


async def test_mutual_tls_needs_a_client_certificate_from_the_ca(
        receiver: StartReceiver, certs: Certs, session: aiohttp.ClientSession,
        grpc_clients: list[GrpcClient]) -> None:
    harness = await tls_receiver(receiver, certs, mutual=True)
    good = (str(certs.client_cert), str(certs.client_key))
    rogue = (str(certs.rogue_cert), str(certs.rogue_key))
    clients = {name: grpc_tls_client(harness, certs, cert) for name, cert in
               (("good", good), ("none", None), ("rogue", rogue))}
    grpc_clients.extend(clients.values())

    for cert in (None, rogue):
        with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
            await post(session, harness.url, BODY, ssl=client_ssl(certs, cert))
    for name in ("none", "rogue"):
        code, _ = await clients[name].failure(BODY)
        assert code == grpc.StatusCode.UNAVAILABLE, name
    assert harness.consumer.batches == []

    assert (await post(session, harness.url, BODY, ssl=client_ssl(certs, good))).status == 200
    assert await clients["good"].export(BODY) == b""
    assert harness.consumer.span_count == 6


@pytest.fixture
async def authed(receiver: StartReceiver, grpc_clients: list[GrpcClient]) -> tuple[Harness, GrpcClient]:
    auth = BearerTokenAuth(TOKEN)
    harness = await receiver(OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=loopback(), auth=auth),
                                                http=HTTPReceiverSettings(endpoint=loopback(), auth=auth)))
    client = GrpcClient.insecure(harness.grpc_target)
    grpc_clients.append(client)
    return harness, client


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x",
                                           "Bearer", "Bearer é"])
async def test_http_bearer_token_missing_or_wrong_is_401(
        authed: tuple[Harness, GrpcClient], session: aiohttp.ClientSession, authorization: str | None) -> None:
    harness, _ = authed
    headers = {"Authorization": authorization} if authorization is not None else {}

    answer = await post(session, harness.url, BODY, headers=headers)

    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    status = answer.rpc_status()
    assert status.code == GrpcCode.UNAUTHENTICATED
    assert TOKEN not in status.message
    assert harness.admission.sizes == []  # refused before the body was admitted or read
    assert harness.refused_requests("http", "unauthenticated") == 1
    assert (await post(session, harness.url, BODY, headers={"Authorization": f"Bearer {TOKEN}"})).status == 200


async def test_http_bearer_scheme_is_case_insensitive(authed: tuple[Harness, GrpcClient],
                                                      session: aiohttp.ClientSession) -> None:
    harness, _ = authed
    assert (await post(session, harness.url, BODY, headers={"Authorization": f"bearer {TOKEN}"})).status == 200


@pytest.mark.parametrize("metadata", [None, (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)])
async def test_grpc_bearer_token_missing_or_wrong_is_unauthenticated(
        authed: tuple[Harness, GrpcClient], metadata: tuple[tuple[str, str], ...] | None) -> None:
    harness, client = authed

    code, status = await client.failure(BODY, metadata=metadata)

    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert status.code == GrpcCode.UNAUTHENTICATED
    assert harness.admission.sizes == []
    assert harness.refused_requests("grpc", "unauthenticated") == 1
    assert await client.export(BODY, metadata=(("authorization", f"Bearer {TOKEN}"),)) == b""


async def test_logs_carry_no_content_headers_or_tokens(authed: tuple[Harness, GrpcClient],
                                                       session: aiohttp.ClientSession,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    harness, client = authed
    secret_span = sample_request(2)
    secret_span.resource_spans[0].scope_spans[0].spans[0].name = "patient-record-4711"
    body = bytes(secret_span.SerializeToString())
    caplog.set_level(logging.DEBUG)
    good = {"Authorization": f"Bearer {TOKEN}"}

    await post(session, harness.url, body, headers={"Authorization": "Bearer near-miss-token"})
    await post(session, harness.url, b"patient-record-4711", headers=good)
    await post(session, harness.url, body, headers=good, content_type="text/patient-record-4711")
    harness.consumer.fail = RuntimeError("stage fault")
    await post(session, harness.url, body, headers=good)
    await client.failure(body, metadata=(("authorization", "Bearer near-miss-token"),))

    assert harness.telemetry.value(names.DRIFTLINE_RECEIVER_REFUSED_REQUESTS, receiver="otlp") == 4
    assert caplog.records  # the refusals were logged (at debug) and the fault at error
    for forbidden in ("patient-record-4711", "near-miss-token", TOKEN):
        assert forbidden not in caplog.text


async def test_unparsable_request_is_logged_without_its_header_values(authed: tuple[Harness, GrpcClient],
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    harness, _ = authed
    address = harness.receiver.http_address
    assert address is not None
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection(address.host, address.port)
    try:
        writer.write(f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01\r\n"
                     "Content-Length: 0\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"HTTP/1.0 400 ")
    finally:
        writer.close()

    assert "BadHttpMessage" in caplog.text
    assert TOKEN not in caplog.text
    assert all(record.levelno == logging.DEBUG for record in caplog.records if "BadHttpMessage" in record.message)
