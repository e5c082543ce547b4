"""A process that holds an ``otlphttp`` exporter with a persistent queue, for the kill -9 test.

    python queue_holder.py <database> <endpoint> <count>

Offers ``count`` batches (span ``batch-<i>``), printing ``accepted <i>`` as soon as each offer
returns True, then waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from driftline.processors.config.model import ComponentId, OTLPHTTPExporterConfig, QueueSettings
from driftline.processors.exporters import build_exporter
from driftline.processors.telemetry.metrics import SelfTelemetry
from tests.processors.exporters.conftest import FAST_RETRY, make_batch


async def main(database: str, endpoint: str, count: int) -> None:
    config = OTLPHTTPExporterConfig(endpoint=endpoint, compression="none", retry_on_failure=FAST_RETRY,
                                    sending_queue=QueueSettings(num_consumers=2, queue_size=10_000,
                                                                storage=database))
    exporter = build_exporter(ComponentId("otlphttp"), config, SelfTelemetry())
    await exporter.start()
    for i in range(count):
        if await exporter.offer(make_batch(f"batch-{i}")):
            print(f"accepted {i}", flush=True)
    print("all offered", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
