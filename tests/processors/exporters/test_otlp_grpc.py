"""The ``otlp`` (OTLP/gRPC) exporter against a real grpc.aio backend on loopback."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator

import pytest

from driftline.processors.config.model import (
    ClientTLSSettings,
    ComponentId,
    HostPort,
    OTLPExporterConfig,
    QueueSettings,
    RetrySettings,
)
from driftline.processors.exporters import OTLPGrpcExporter, build_exporter
from driftline.processors.otlp.errors import GrpcCode
from driftline.processors.telemetry.metrics import SelfTelemetry
from driftline.semconv import names
from tests.processors.exporters.backends import ByteCountingProxy, Reply, ScriptedGrpcBackend, TLSFiles
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
async def backend() -> AsyncIterator[ScriptedGrpcBackend]:
    async with ScriptedGrpcBackend() as started:
        yield started


def config_for(port: int, **changes: object) -> OTLPExporterConfig:
    base = OTLPExporterConfig(endpoint=HostPort("127.0.0.1", port), secure=False, retry_on_failure=FAST_RETRY,
                              compression="none", timeout=2.0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def started(config: OTLPExporterConfig, telemetry: SelfTelemetry, name: str = "") -> OTLPGrpcExporter:
    exporter = build_exporter(ComponentId("otlp", name), config, telemetry)
    assert isinstance(exporter, OTLPGrpcExporter)
    await exporter.start()
    return exporter


async def test_delivers_the_payload_byte_for_byte_with_headers(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    exporter = await started(config_for(backend.port, headers={"authorization": "Bearer s3cret"}), telemetry)
    batch = make_batch("a", "b", "c")
    assert exporter.can_accept()
    assert await exporter.offer(batch)
    assert await exporter.wait_idle(5)
    assert [r.payload for r in backend.received] == [batch.payload()]
    assert backend.received[0].headers["authorization"] == "Bearer s3cret"
    assert counter(telemetry, SENT, "otlp") == 3
    assert exporter.queue_size() == 0
    await exporter.shutdown(time.monotonic() + 1)


RETRYABLE = [GrpcCode.CANCELLED, GrpcCode.DEADLINE_EXCEEDED, GrpcCode.ABORTED, GrpcCode.OUT_OF_RANGE,
             GrpcCode.UNAVAILABLE, GrpcCode.DATA_LOSS]


@pytest.mark.parametrize("code", RETRYABLE, ids=lambda c: c.name)
async def test_retryable_codes_are_retried(backend: ScriptedGrpcBackend, code: GrpcCode) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(code), Reply.fail(code))
    exporter = await started(config_for(backend.port), telemetry)
    assert await exporter.offer(make_batch("a", "b"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 3
    assert counter(telemetry, SENT, "otlp") == 2
    assert counter(telemetry, RETRIED, "otlp") == 4
    assert counter(telemetry, FAILED, "otlp") == 0
    await exporter.shutdown(time.monotonic() + 1)


async def test_resource_exhausted_is_retried_only_with_retry_info(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(GrpcCode.RESOURCE_EXHAUSTED, retry_after=0.0), Reply.fail(GrpcCode.RESOURCE_EXHAUSTED))
    exporter = await started(config_for(backend.port), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 2  # retried once (RetryInfo), then dropped (no RetryInfo)
    assert counter(telemetry, FAILED, "otlp", **{REASON: "permanent"}) == 1
    await exporter.shutdown(time.monotonic() + 1)


PERMANENT = [GrpcCode.UNKNOWN, GrpcCode.INVALID_ARGUMENT, GrpcCode.NOT_FOUND, GrpcCode.ALREADY_EXISTS,
             GrpcCode.PERMISSION_DENIED, GrpcCode.RESOURCE_EXHAUSTED, GrpcCode.FAILED_PRECONDITION,
             GrpcCode.UNIMPLEMENTED, GrpcCode.INTERNAL, GrpcCode.UNAUTHENTICATED]


@pytest.mark.parametrize("code", PERMANENT, ids=lambda c: c.name)
async def test_permanent_codes_drop_at_once(backend: ScriptedGrpcBackend, code: GrpcCode) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(code))
    exporter = await started(config_for(backend.port), telemetry)
    assert await exporter.offer(make_batch("a", "b"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    assert counter(telemetry, FAILED, "otlp", **{REASON: "permanent"}) == 2
    assert counter(telemetry, RETRIED, "otlp") == 0
    await exporter.shutdown(time.monotonic() + 1)


async def test_retry_info_sets_the_minimum_wait(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(GrpcCode.UNAVAILABLE, retry_after=0.4))
    exporter = await started(config_for(backend.port), telemetry)
    assert await exporter.offer(make_batch("a"))
    first, second = await backend.wait_for(2)
    assert second.at - first.at >= 0.4
    await exporter.shutdown(time.monotonic() + 1)


async def test_gives_up_after_max_elapsed_time(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(*[Reply.fail(GrpcCode.UNAVAILABLE)] * 100)
    retry = dataclasses.replace(FAST_RETRY, max_elapsed_time=0.2)
    exporter = await started(config_for(backend.port, retry_on_failure=retry), telemetry)
    started_at = time.monotonic()
    assert await exporter.offer(make_batch("a", "b", "c"))
    assert await exporter.wait_idle(5)
    assert time.monotonic() - started_at < 1.0
    assert counter(telemetry, FAILED, "otlp", **{REASON: "max_elapsed"}) == 3
    assert counter(telemetry, SENT, "otlp") == 0
    assert len(backend.received) > 2
    await exporter.shutdown(time.monotonic() + 1)


async def test_partial_success_is_counted_and_not_retried(backend: ScriptedGrpcBackend,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.partial(2, "2 spans had no trace id"))
    exporter = await started(config_for(backend.port), telemetry)
    assert await exporter.offer(make_batch("a", "b", "c", "d", "e"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlp") == 3
    assert counter(telemetry, FAILED, "otlp", **{REASON: "partial_success"}) == 2
    assert "2 spans had no trace id" in caplog.text
    await exporter.shutdown(time.monotonic() + 1)


async def test_retry_disabled_drops_on_the_first_failure(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.fail(GrpcCode.UNAVAILABLE))
    exporter = await started(config_for(backend.port, retry_on_failure=RetrySettings(enabled=False)), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 1
    assert counter(telemetry, FAILED, "otlp") == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_attempt_timeout_is_retried(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.ok(delay=2.0))
    exporter = await started(config_for(backend.port, timeout=0.2), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert await exporter.wait_idle(5)
    assert len(backend.received) == 2
    assert counter(telemetry, RETRIED, "otlp") == 1
    assert counter(telemetry, SENT, "otlp") == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_connection_refused_is_retried_until_the_backend_comes_up() -> None:
    telemetry = SelfTelemetry()
    port = free_port()
    exporter = await started(config_for(port), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert not await exporter.wait_idle(0.1)
    assert counter(telemetry, RETRIED, "otlp") >= 1
    async with ScriptedGrpcBackend(port=port) as backend:
        assert await exporter.wait_idle(10)
        assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlp") == 1
    await exporter.shutdown(time.monotonic() + 1)


async def test_full_queue_refuses_and_counts(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(Reply.ok(delay=0.3))
    queue = QueueSettings(num_consumers=1, queue_size=2)
    exporter = await started(config_for(backend.port, sending_queue=queue), telemetry)
    assert await exporter.offer(make_batch("first"))
    assert await exporter.offer(make_batch("second"))
    assert exporter.queue_size() == 2  # one being sent counts
    assert not exporter.can_accept()
    assert not await exporter.offer(make_batch("x", "y"))
    assert counter(telemetry, ENQUEUE_FAILED, "otlp") == 2
    assert telemetry.value(names.DRIFTLINE_EXPORTER_QUEUE_SIZE, exporter="otlp") == 2
    assert await exporter.wait_idle(5)
    assert [r.request.resource_spans[0].scope_spans[0].spans[0].name for r in backend.received] == ["first", "second"]
    await exporter.shutdown(time.monotonic() + 1)


async def test_shutdown_drops_and_counts_what_the_memory_queue_still_holds(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    backend.script(*[Reply.fail(GrpcCode.UNAVAILABLE)] * 1000)
    exporter = await started(config_for(backend.port, sending_queue=QueueSettings(num_consumers=2)), telemetry)
    for name in ("a", "b", "c"):
        assert await exporter.offer(make_batch(name, name))
    started_at = time.monotonic()
    await exporter.shutdown(time.monotonic() + 0.3)
    assert time.monotonic() - started_at < 1.5
    assert counter(telemetry, FAILED, "otlp", **{REASON: "shutdown"}) == 6
    assert exporter.queue_size() == 0
    assert not exporter.can_accept()
    assert not await exporter.offer(make_batch("late"))


async def test_without_a_queue_offer_sends_inline(backend: ScriptedGrpcBackend) -> None:
    telemetry = SelfTelemetry()
    no_queue = QueueSettings(enabled=False)
    exporter = await started(config_for(backend.port, sending_queue=no_queue), telemetry)
    assert await exporter.offer(make_batch("a"))
    assert len(backend.received) == 1  # delivered before offer returned
    backend.script(Reply.fail(GrpcCode.INVALID_ARGUMENT))
    assert await exporter.offer(make_batch("b"))  # a permanent drop is final: True
    await exporter.shutdown(time.monotonic() + 1)
    no_retry = await started(config_for(backend.port, sending_queue=no_queue,
                                        retry_on_failure=RetrySettings(enabled=False)), telemetry, "noretry")
    backend.script(Reply.fail(GrpcCode.UNAVAILABLE))
    assert not await no_retry.offer(make_batch("c"))  # gave up retryably: the caller may refuse upstream
    assert no_retry.queue_size() == 0
    await no_retry.shutdown(time.monotonic() + 1)


@pytest.mark.parametrize(("compression", "compressed"), [("gzip", True), ("none", False)])
async def test_gzip_compresses_what_goes_on_the_wire(backend: ScriptedGrpcBackend, compression: str,
                                                     compressed: bool) -> None:
    telemetry = SelfTelemetry()
    batch = make_batch("a", attribute="the same prompt again " * 10_000)  # ~220 KB, very compressible
    async with ByteCountingProxy(backend.port) as proxy:
        exporter = await started(config_for(proxy.port, compression=compression), telemetry)
        assert await exporter.offer(batch)
        assert await exporter.wait_idle(5)
        await exporter.shutdown(time.monotonic() + 1)
    assert backend.received[0].payload == batch.payload()
    assert (proxy.upstream_bytes < len(batch.payload()) // 10) is compressed


def tls_config(port: int, certificates: Certificates, **tls: object) -> OTLPExporterConfig:
    settings = dataclasses.replace(ClientTLSSettings(ca_file=certificates.ca, server_name_override="backend.test"),
                                   **tls)  # type: ignore[arg-type]
    retry = dataclasses.replace(FAST_RETRY, max_elapsed_time=0.3)
    return config_for(port, secure=True, tls=settings, retry_on_failure=retry)


async def test_tls_verifies_the_server(certificates: Certificates) -> None:
    telemetry = SelfTelemetry()
    async with ScriptedGrpcBackend(tls=TLSFiles(certificates.server_cert, certificates.server_key)) as backend:
        good = await started(tls_config(backend.port, certificates), telemetry, "good")
        assert await good.offer(make_batch("a"))
        assert await good.wait_idle(5)
        assert counter(telemetry, SENT, "otlp/good") == 1
        await good.shutdown(time.monotonic() + 1)
        untrusted = await started(tls_config(backend.port, certificates, ca_file=certificates.other_ca), telemetry,
                                  "untrusted")
        assert await untrusted.offer(make_batch("b"))
        assert await untrusted.wait_idle(5)
        assert counter(telemetry, FAILED, "otlp/untrusted", **{REASON: "max_elapsed"}) == 1
        await untrusted.shutdown(time.monotonic() + 1)
        assert len(backend.received) == 1


async def test_mutual_tls_presents_the_client_certificate(certificates: Certificates) -> None:
    telemetry = SelfTelemetry()
    files = TLSFiles(certificates.server_cert, certificates.server_key, client_ca=certificates.ca)
    async with ScriptedGrpcBackend(tls=files) as backend:
        with_cert = await started(tls_config(backend.port, certificates, cert_file=certificates.client_cert,
                                             key_file=certificates.client_key), telemetry, "mtls")
        assert await with_cert.offer(make_batch("a"))
        assert await with_cert.wait_idle(5)
        await with_cert.shutdown(time.monotonic() + 1)
        without = await started(tls_config(backend.port, certificates), telemetry, "nocert")
        assert await without.offer(make_batch("b"))
        assert await without.wait_idle(5)
        await without.shutdown(time.monotonic() + 1)
        assert len(backend.received) == 1
    assert counter(telemetry, SENT, "otlp/mtls") == 1
    assert counter(telemetry, FAILED, "otlp/nocert") == 1
