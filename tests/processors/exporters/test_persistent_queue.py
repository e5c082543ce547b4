"""The SQLite sending queue: accepted batches survive a restart and a kill -9 of the process."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from driftline.processors.config.model import ComponentId, OTLPHTTPExporterConfig, QueueSettings
from driftline.processors.exporters import OTLPHttpExporter, build_exporter
from driftline.processors.telemetry.metrics import SelfTelemetry
from tests.processors.exporters.backends import Reply, ScriptedHttpBackend, received_names
from tests.processors.exporters.conftest import (
    ENQUEUE_FAILED,
    FAILED,
    FAST_RETRY,
    REDELIVERED,
    SENT,
    counter,
    free_port,
    make_batch,
)

pytestmark = pytest.mark.timeout(30)



def rows(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("SELECT COUNT(*) FROM requests").fetchone()[0])


async def started(endpoint: str, database: Path, telemetry: SelfTelemetry, *, queue_size: int = 100,
                  num_consumers: int = 2) -> OTLPHttpExporter:
    config = OTLPHTTPExporterConfig(endpoint=endpoint, compression="none", retry_on_failure=FAST_RETRY,
                                    sending_queue=QueueSettings(num_consumers=num_consumers, queue_size=queue_size,
                                                                storage=str(database)))
    exporter = build_exporter(ComponentId("otlphttp"), config, telemetry)
    assert isinstance(exporter, OTLPHttpExporter)
    await exporter.start()
    return exporter


async def test_undelivered_batches_are_sent_after_a_restart(tmp_path: Path) -> None:
    database = tmp_path / "queue" / "otlphttp.db"
    down = f"http://127.0.0.1:{free_port()}"
    first = SelfTelemetry()
    exporter = await started(down, database, first)
    for i in range(5):
        assert await exporter.offer(make_batch(f"batch-{i}", "extra"))
    assert rows(database) == 5  # committed before offer returned
    await exporter.shutdown(time.monotonic() + 0.2)
    assert rows(database) == 5
    assert counter(first, FAILED, "otlphttp") == 0  # kept, not dropped

    second = SelfTelemetry()
    async with ScriptedHttpBackend() as backend:
        restarted = await started(backend.endpoint, database, second)
        assert restarted.queue_size() == 5
        assert await restarted.wait_idle(5)
        await restarted.shutdown(time.monotonic() + 1)
    assert sorted(received_names(backend.received)) == sorted(
        name for i in range(5) for name in (f"batch-{i}", "extra"))
    assert counter(second, SENT, "otlphttp") == 10
    # Only the two batches the two consumers were retrying had been attempted: possible duplicates.
    assert counter(second, REDELIVERED, "otlphttp") == 4
    assert rows(database) == 0


async def test_capacity_applies_and_delivered_rows_are_deleted(tmp_path: Path) -> None:
    database = tmp_path / "q.db"
    telemetry = SelfTelemetry()
    async with ScriptedHttpBackend() as backend:
        backend.script(Reply.ok(delay=0.3))
        exporter = await started(backend.endpoint, database, telemetry, queue_size=2, num_consumers=1)
        assert await exporter.offer(make_batch("a"))
        assert await exporter.offer(make_batch("b"))
        assert not exporter.can_accept()
        assert not await exporter.offer(make_batch("c"))
        assert counter(telemetry, ENQUEUE_FAILED, "otlphttp") == 1
        assert await exporter.wait_idle(5)
        assert rows(database) == 0
        await exporter.shutdown(time.monotonic() + 1)
    assert received_names(backend.received) == ["a", "b"]
    assert counter(telemetry, REDELIVERED, "otlphttp") == 0


async def test_kill_9_loses_no_accepted_batch(tmp_path: Path) -> None:
    database = tmp_path / "killed.db"
    holder = Path(__file__).with_name("queue_holder.py")
    async with ScriptedHttpBackend() as backend:
        backend.script(*[Reply.ok(delay=0.05)] * 10_000)  # slow enough that a backlog builds
        process = await asyncio.create_subprocess_exec(sys.executable, str(holder), str(database), backend.endpoint,
                                                       "200", stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        accepted: set[str] = set()
        try:
            while len(accepted) < 60:
                line = await asyncio.wait_for(process.stdout.readline(), 15)
                assert line, "the holder exited early"
                if line.startswith(b"accepted "):
                    accepted.add(f"batch-{int(line.split()[1])}")
            await backend.wait_for(1)  # consumers are mid-stream
        finally:
            process.kill()  # SIGKILL: no shutdown, no flush
            await process.wait()
        # Lines still in the pipe were accepted too (printed after the commit).
        for line in (await process.stdout.read()).splitlines():
            if line.startswith(b"accepted "):
                accepted.add(f"batch-{int(line.split()[1])}")
        delivered_before = set(received_names(backend.received))
        assert not accepted <= delivered_before, "the kill came too late to test anything"

        telemetry = SelfTelemetry()
        backend.script()  # the rest are answered at once
        restarted = await started(backend.endpoint, database, telemetry)
        assert await restarted.wait_idle(15)
        await restarted.shutdown(time.monotonic() + 1)
    assert accepted <= set(received_names(backend.received))
    assert counter(telemetry, REDELIVERED, "otlphttp") >= 1  # those in flight when killed
    assert rows(database) == 0
