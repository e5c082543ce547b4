"""The ``otlphttp`` exporter against a real aiohttp backend on loopback."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from driftline.processors.config.model import (
    ClientTLSSettings,
    ComponentId,
    OTLPHTTPExporterConfig,
    QueueSettings,
)
from driftline.processors.exporters import OTLPHttpExporter, build_exporter
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.telemetry.metrics import SelfTelemetry
from tests.processors.exporters.backends import Reply, ScriptedHttpBackend, TLSFiles
from tests.processors.exporters.conftest import (
    ENQUEUE_FAILED,
    FAILED,
    FAST_RETRY,
    REASON,
    RETRIED,
    SENT,
    Certificates,
    counter,
    free_port,
    make_batch,
)

pytestmark = pytest.mark.timeout(20)



@pytest.fixture
async def backend() -> AsyncIterator[ScriptedHttpBackend]:
    async with ScriptedHttpBackend() as started:
        yield started


def config_for(endpoint: str, **changes: object) -> OTLPHTTPExporterConfig:
    base = OTLPHTTPExporterConfig(endpoint=endpoint, retry_on_failure=FAST_RETRY, compression="none", timeout=2.0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def started(config: OTLPHTTPExporterConfig, telemetry: SelfTelemetry, name: str = "") -> OTLPHttpExporter:
    exporter = build_exporter(ComponentId("otlphttp", name), config, telemetry)
    assert isinstance(exporter, OTLPHttpExporter)
    await exporter.start()
    return exporter


async def test_posts_the_payload_byte_for_byte(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    exporter = await started(config_for(backend.endpoint, headers={"x-api-key": "s3cret"}), telemetry)
    batch = make_batch("a", "b")
    assert await exporter.offer(batch)
    assert await exporter.wait_idle(5)
    (received,) = backend.received
    assert received.payload == batch.payload()
    assert received.headers["content-type"] == "application/x-protobuf"
    assert received.headers["x-api-key"] == "s3cret"
    assert "content-encoding" not in received.headers
    assert counter(telemetry, SENT, "otlphttp") == 2
    await exporter.shutdown(time.monotonic() + 1)


async def test_gzip_is_applied(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    exporter = await started(config_for(backend.endpoint, compression="gzip"), telemetry)
    small, large = make_batch("small"), make_batch("large", attribute="prompt text " * 20_000)
    assert await exporter.offer(small)
    assert await exporter.offer(large)  # above the inline limit: compressed on a thread
    assert await exporter.wait_idle(5)
    assert [r.headers["content-encoding"] for r in backend.received] == ["gzip", "gzip"]
    assert int(backend.received[1].headers["content-length"]) < len(large.payload()) // 10
    assert sorted(r.payload for r in backend.received) == sorted([small.payload(), large.payload()])
    await exporter.shutdown(time.monotonic() + 1)


async def test_traces_endpoint_overrides_the_base_url(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    config = config_for("http://127.0.0.1:1", traces_endpoint=f"{backend.endpoint}/v1/traces")
    exporter = await started(config, telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    await exporter.shutdown(time.monotonic() + 1)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_statuses_are_retried(backend: ScriptedHttpBackend, status: int) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.http(status))
    exporter = await started(config_for(backend.endpoint), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 2
    assert counter(telemetry, RETRIED, "otlphttp") == 1
    assert counter(telemetry, SENT, "otlphttp") == 1
    await exporter.shutdown(time.monotonic() + 1)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 415, 500, 501])
async def test_other_statuses_are_permanent(backend: ScriptedHttpBackend, status: int,
                                            caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(GrpcCode.INVALID_ARGUMENT, "resourceSpans[0] is malformed", status=status))
    exporter = await started(config_for(backend.endpoint, headers={"authorization": "Bearer tok3n"}), telemetry)
    assert await exporter.offer(make_batch("secret-span-name"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    assert counter(telemetry, FAILED, "otlphttp", **{REASON: "permanent"}) == 1
    assert f"HTTP {status}: resourceSpans[0] is malformed" in caplog.text  # the google.rpc.Status message
    assert "tok3n" not in caplog.text
    assert "secret-span-name" not in caplog.text
    await exporter.shutdown(time.monotonic() + 1)


async def test_retry_after_sets_the_minimum_wait(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.http(503, retry_after=1))
    exporter = await started(config_for(backend.endpoint), telemetry)
    assert await exporter.offer(make_batch("a"))
    first, second = await backend.wait_for(2)
    assert second.at - first.at >= 1.0
    await exporter.shutdown(time.monotonic() + 1)


async def test_gives_up_after_max_elapsed_time(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(*[Reply.http(503)] * 100)
    retry = dataclasses.replace(FAST_RETRY, max_elapsed_time=0.2)
    exporter = await started(config_for(backend.endpoint, retry_on_failure=retry), telemetry)
    assert await exporter.offer(make_batch("a", "b"))
    assert await exporter.wait_idle(5)
    assert counter(telemetry, FAILED, "otlphttp", **{REASON: "max_elapsed"}) == 2
    await exporter.shutdown(time.monotonic() + 1)


async def test_partial_success_is_counted_and_not_retried(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.partial(1))
    exporter = await started(config_for(backend.endpoint), telemetry)
    assert await exporter.offer(make_batch("a", "b", "c"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlphttp") == 2
    assert counter(telemetry, FAILED, "otlphttp", **{REASON: "partial_success"}) == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_slow_backend_times_out_and_is_retried(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.ok(delay=2.0))
    exporter = await started(config_for(backend.endpoint, timeout=0.2), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 2
    assert counter(telemetry, SENT, "otlphttp") == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_connection_refused_is_retried_until_the_backend_comes_up() -> None:
    telemetry = SelfTelemetry()
    port = free_port()
    exporter = await started(config_for(f"http://127.0.0.1:{port}"), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert not await exporter.wait_idle(0.1)
    assert counter(telemetry, RETRIED, "otlphttp") >= 1
    async with ScriptedHttpBackend(port=port) as backend:
        assert await exporter.wait_idle(5)
        assert len(backend.received) == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_full_queue_refuses_and_counts(backend: ScriptedHttpBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.ok(delay=0.3))
    exporter = await started(config_for(backend.endpoint, sending_queue=QueueSettings(num_consumers=1, queue_size=1)),
                             telemetry)
    assert await exporter.offer(make_batch("a"))
    assert not exporter.can_accept()
    assert not await exporter.offer(make_batch("b", "c", "d"))
    assert counter(telemetry, ENQUEUE_FAILED, "otlphttp") == 3
    assert await exporter.wait_idle(5)
    assert exporter.can_accept()
    await exporter.shutdown(time.monotonic() + 1)


def tls_config(endpoint: str, certificates: Certificates, **tls: object) -> OTLPHTTPExporterConfig:
    settings = dataclasses.replace(ClientTLSSettings(ca_file=certificates.ca, server_name_override="backend.test"),
                                   **tls)  # type: ignore[arg-type]
    return config_for(endpoint, tls=settings, retry_on_failure=dataclasses.replace(FAST_RETRY, max_elapsed_time=0.3))


async def test_tls_verifies_the_server(certificates: Certificates) -> None:
    telemetry = SelfTelemetry()
    async with ScriptedHttpBackend(tls=TLSFiles(certificates.server_cert, certificates.server_key)) as backend:
        assert backend.endpoint.startswith("https://")
        good = await started(tls_config(backend.endpoint, certificates), telemetry, "good")
        assert await good.offer(make_batch("a"))
        assert await good.wait_idle(5)
        await good.shutdown(time.monotonic() + 1)
        changes_by_name: dict[str, dict[str, str | None]] = {"untrusted": {"ca_file": certificates.other_ca},
                                                             "wrongname": {"server_name_override": None}}
        for name, changes in changes_by_name.items():
            bad = await started(tls_config(backend.endpoint, certificates, **changes), telemetry, name)
            assert await bad.offer(make_batch("b"))
            assert await bad.wait_idle(5)
            await bad.shutdown(time.monotonic() + 1)
            assert counter(telemetry, FAILED, f"otlphttp/{name}", **{REASON: "max_elapsed"}) == 1
        assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlphttp/good") == 1


async def test_mutual_tls_presents_the_client_certificate(certificates: Certificates) -> None:
    telemetry = SelfTelemetry()
    files = TLSFiles(certificates.server_cert, certificates.server_key, client_ca=certificates.ca)
    async with ScriptedHttpBackend(tls=files) as backend:
        with_cert = await started(tls_config(backend.endpoint, certificates, cert_file=certificates.client_cert,
                                             key_file=certificates.client_key), telemetry, "mtls")
        assert await with_cert.offer(make_batch("a"))
        assert await with_cert.wait_idle(5)
        await with_cert.shutdown(time.monotonic() + 1)
        without = await started(tls_config(backend.endpoint, certificates), telemetry, "nocert")
        assert await without.offer(make_batch("b"))
        assert await without.wait_idle(5)
        await without.shutdown(time.monotonic() + 1)
        assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlphttp/mtls") == 1
    assert counter(telemetry, FAILED, "otlphttp/nocert") == 1
