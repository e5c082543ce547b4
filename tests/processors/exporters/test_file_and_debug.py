"""The ``file`` exporter (OTLP-JSON lines, rotation), the ``debug`` exporter and ``build_exporter``."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from driftline.processors.config.model import (
    ComponentId,
    DebugExporterConfig,
    FileExporterConfig,
    HostPort,
    PrometheusExporterConfig,
    RotationSettings,
)
from driftline.processors.exporters import DEBUG_LOGGER_NAME, DebugExporter, FileExporter, build_exporter
from driftline.processors.exporters.debug import LogSampler
from driftline.processors.otlp.json_codec import decode_trace_request
from driftline.processors.telemetry.metrics import SelfTelemetry
from driftline.semconv import names
from tests.processors.exporters.conftest import counter, make_batch

pytestmark = pytest.mark.timeout(20)


async def file_exporter(config: FileExporterConfig, telemetry: SelfTelemetry) -> FileExporter:
    exporter = build_exporter(ComponentId("file"), config, telemetry)
    assert isinstance(exporter, FileExporter)
    await exporter.start()
    return exporter


async def test_lines_decode_back_to_the_same_requests(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "spans.jsonl"
    telemetry = SelfTelemetry()
    exporter = await file_exporter(FileExporterConfig(path=str(path)), telemetry)
    batches = [make_batch("a", "b", attribute="ünïcode"), make_batch("c")]
    for batch in batches:
        assert await exporter.offer(batch)
    lines = path.read_bytes().splitlines()  # flushed before offer returned: readable now, before shutdown
    assert [decode_trace_request(line) for line in lines] == [b.request for b in batches]
    await exporter.shutdown(time.monotonic() + 1)
    assert counter(telemetry, names.DRIFTLINE_EXPORTER_SENT_SPANS, "file") == 3
    assert not await exporter.offer(make_batch("late"))


async def test_append_keeps_earlier_lines_and_truncate_does_not(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    for append, expected in ((True, 1), (True, 2), (False, 1)):
        exporter = await file_exporter(FileExporterConfig(path=str(path), append=append), SelfTelemetry())
        assert await exporter.offer(make_batch("x"))
        await exporter.shutdown(time.monotonic() + 1)
        assert len(path.read_bytes().splitlines()) == expected


async def test_rotation_makes_backups_and_keeps_max_backups(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    rotation = RotationSettings(max_megabytes=1, max_backups=2)
    exporter = await file_exporter(FileExporterConfig(path=str(path), rotation=rotation), SelfTelemetry())
    big = [make_batch(f"span-{i}", attribute="x" * 400_000) for i in range(9)]  # ~0.4 MB a line: 2 per file
    for batch in big:
        assert await exporter.offer(batch)
    await exporter.shutdown(time.monotonic() + 1)
    backups = sorted(p for p in tmp_path.iterdir() if p.name != "spans.jsonl")
    assert len(backups) == 2
    assert all(p.name.startswith("spans-") and p.suffix == ".jsonl" for p in backups)
    assert all(p.stat().st_size <= 1024 * 1024 for p in [*backups, path])
    kept = [decode_trace_request(line) for p in [*backups, path] for line in p.read_bytes().splitlines()]
    # The newest lines survive, in order: 2 backups of 2 lines, and the live file with the last line.
    assert [r.resource_spans[0].scope_spans[0].spans[0].name for r in kept] == [f"span-{i}" for i in range(4, 9)]


async def test_rotation_deletes_backups_older_than_max_days(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    old = tmp_path / "spans-2001-01-01T00-00-00.000.jsonl"
    old.write_text("{}\n")
    unrelated = tmp_path / "spans-notes.jsonl"
    unrelated.write_text("keep me\n")
    rotation = RotationSettings(max_megabytes=1, max_days=1, max_backups=0)
    exporter = await file_exporter(FileExporterConfig(path=str(path), rotation=rotation), SelfTelemetry())
    for i in range(3):
        assert await exporter.offer(make_batch(f"s{i}", attribute="x" * 400_000))
    await exporter.shutdown(time.monotonic() + 1)
    assert not old.exists()
    assert unrelated.exists()
    assert len([p for p in os.listdir(tmp_path) if p.startswith("spans-2")]) == 1


async def debug_exporter(verbosity: str, **sampling: int) -> DebugExporter:
    config = DebugExporterConfig(verbosity=verbosity, **sampling)  # type: ignore[arg-type]
    exporter = build_exporter(ComponentId("debug"), config, SelfTelemetry())
    assert isinstance(exporter, DebugExporter)
    await exporter.start()
    return exporter


async def test_debug_basic_logs_only_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=DEBUG_LOGGER_NAME)
    exporter = await debug_exporter("basic")
    assert await exporter.offer(make_batch("secret-name", "other", attribute="secret-value"))
    messages = [r.getMessage() for r in caplog.records if r.name == DEBUG_LOGGER_NAME]
    assert messages == ["debug: traces: 1 resource spans, 2 spans"]
    assert "secret" not in caplog.text
    await exporter.shutdown(time.monotonic() + 1)


async def test_debug_normal_logs_one_line_per_span(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=DEBUG_LOGGER_NAME)
    exporter = await debug_exporter("normal")
    assert await exporter.offer(make_batch("checkout", "charge", attribute="secret-value"))
    messages = [r.getMessage() for r in caplog.records if r.name == DEBUG_LOGGER_NAME]
    assert messages[1:] == [f"debug: {'01' * 16} {'02' * 8} checkout 1.000ms",
                            f"debug: {'02' * 16} {'03' * 8} charge 1.000ms"]
    assert "secret-value" not in caplog.text
    await exporter.shutdown(time.monotonic() + 1)


async def test_debug_detailed_logs_attributes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=DEBUG_LOGGER_NAME)
    exporter = await debug_exporter("detailed")
    assert await exporter.offer(make_batch("checkout", attribute="the-value"))
    assert "the-value" in caplog.text
    assert "checkout" in caplog.text  # the service.name resource attribute
    await exporter.shutdown(time.monotonic() + 1)


def test_sampling_logs_the_first_then_every_nth_per_second() -> None:
    now = [100.0]
    sampler = LogSampler(initial=2, thereafter=3, clock=lambda: now[0])
    assert [sampler.admit() for _ in range(9)] == [True, True, False, False, True, False, False, True, False]
    now[0] = 101.2  # a new second starts a new window
    assert [sampler.admit() for _ in range(3)] == [True, True, False]
    never_after = LogSampler(initial=1, thereafter=0, clock=lambda: now[0])
    assert [never_after.admit() for _ in range(3)] == [True, False, False]


def test_prometheus_is_not_a_trace_exporter() -> None:
    with pytest.raises(ValueError, match="metrics pipeline"):
        build_exporter(ComponentId("prometheus"), PrometheusExporterConfig(endpoint=HostPort("127.0.0.1", 9090)),
                       SelfTelemetry())
