"""The floor: what decoding and re-encoding the same payload costs in one process, with no service.

    python -m tests.benchmarks.processor.floor [--payloads FILE] [--seconds 2] [--rounds 5]

A forwarding processor must at least parse each request (to count, check and hand on its spans)
and serialize what it sends. ``protobuf``: ``ExportTraceServiceRequest.FromString`` (upb) followed
by ``SerializeToString`` of the parsed message. ``json``: driftline's OTLP/JSON decoder followed by
``SerializeToString`` (the floor for OTLP/HTTP JSON ingestion). For each, several timed rounds of
about ``seconds / rounds``, cycling through the same bodies the load generator sends; per round
spans/s (wall clock) and CPU seconds per span (``time.process_time``). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from .common import SPANS_PER_REQUEST, read_payloads, write_payloads

FLOORS = {
    "protobuf": "protobuf `FromString` + `SerializeToString`",
    "json": "driftline OTLP/JSON decode + `SerializeToString`",
}


def _round(work: Callable[[bytes], object], bodies: list[bytes], seconds: float) -> tuple[float, float]:
    """(spans/s by wall clock, CPU seconds per span) over one round of about ``seconds``."""
    count = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        for body in bodies:
            work(body)
        count += len(bodies)
        wall = time.perf_counter() - wall0
        if wall >= seconds:
            break
    cpu = time.process_time() - cpu0
    spans = count * SPANS_PER_REQUEST
    return spans / wall, cpu / spans


def measure(payloads: dict[str, Path], seconds: float, rounds: int) -> dict[str, dict[str, float | list[float]]]:
    """Per floor: median spans/s, median CPU % of one core per 10k spans/s, and the per-round values."""
    from driftline.processors.otlp.json_codec import decode_trace_request

    work: dict[str, tuple[Callable[[bytes], object], list[bytes]]] = {
        "protobuf": (lambda b: ExportTraceServiceRequest.FromString(b).SerializeToString(),
                     read_payloads(payloads["protobuf"])),
        "json": (lambda b: decode_trace_request(b).SerializeToString(), read_payloads(payloads["json"])),
    }
    for fn, bodies in work.values():  # warm up (and check every body decodes)
        for body in bodies:
            fn(body)
    per_round: dict[str, list[tuple[float, float]]] = {name: [] for name in work}
    for r in range(rounds):
        order = list(work) if r % 2 == 0 else list(reversed(work))
        for name in order:
            fn, bodies = work[name]
            per_round[name].append(_round(fn, bodies, seconds / rounds))
    out: dict[str, dict[str, float | list[float]]] = {}
    for name, values in per_round.items():
        rates = [v[0] for v in values]
        cpu_per_10k = [v[1] * 10_000 * 100 for v in values]  # CPU s per span × 10k spans/s → % of one core
        out[name] = {"spans_per_s": statistics.median(rates), "cpu_pct_per_10k": statistics.median(cpu_per_10k),
                     "rounds_spans_per_s": rates, "rounds_cpu_pct_per_10k": cpu_per_10k}
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure the floors and print them as one JSON line."""
    parser = argparse.ArgumentParser(description="Protobuf parse + serialize floor of the processor benchmark")
    parser.add_argument("--payloads-dir", type=Path, default=None,
                        help="directory with payload files from common.write_payloads (default: build them)")
    parser.add_argument("--seconds", type=float, default=2.0, help="total time per floor")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per floor (alternating order)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="driftline-floor-") as tmp:
        directory = args.payloads_dir or Path(tmp)
        payloads = {"protobuf": directory / f"payloads-{SPANS_PER_REQUEST}.pb",
                    "json": directory / f"payloads-{SPANS_PER_REQUEST}.json"}
        if not all(p.exists() for p in payloads.values()):
            payloads = write_payloads(directory)
        print(json.dumps(measure(payloads, args.seconds, args.rounds)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
