"""Pieces the benchmark's processes share: counters in a shared file, ``/proc`` readings, payload files.

Counters: the load generator and the sink each own a small file of signed 64-bit integers that they
rewrite in place (through ``mmap``) as requests complete; the orchestrator maps the same file and
reads it whenever it takes a sample, so reading costs the measured processes nothing (no socket, no
extra request to the processor).

Only the standard library is imported at module level: the load generator and the sink must start
fast and stay small.
"""

from __future__ import annotations

import mmap
import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

SPANS_PER_REQUEST = 512
"""The issue's batch size: 512 GenAI spans per export request."""

TRACE_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
"""The OTLP/gRPC method every load and forward goes through."""

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MIB = 1024 * 1024


# --- counters ----------------------------------------------------------------------------------


class Counters:
    """``len(fields)`` named int64 counters in a file, shared between a writer and readers via ``mmap``.

    The writer (one process, possibly several threads) calls :meth:`add`; a lock keeps the in-process
    read-modify-write consistent. Readers call :meth:`read`; an aligned 8-byte store is not torn on
    the platforms this runs on, and each field is only ever increased.
    """

    def __init__(self, path: Path | str, fields: tuple[str, ...], *, create: bool) -> None:
        self.fields = fields
        self._index = {name: i for i, name in enumerate(fields)}
        size = 8 * len(fields)
        if create:
            Path(path).write_bytes(b"\0" * size)
        self._file = open(path, "r+b")  # noqa: SIM115  # kept open for the mmap's lifetime
        self._map = mmap.mmap(self._file.fileno(), size)
        self._lock = threading.Lock()
        self._values = [0] * len(fields)

    def add(self, **deltas: int) -> None:
        """Increase the named counters by the given amounts (writer side)."""
        with self._lock:
            for name, delta in deltas.items():
                i = self._index[name]
                self._values[i] += delta
                struct.pack_into("<q", self._map, 8 * i, self._values[i])

    def read(self) -> dict[str, int]:
        """The current values (reader side)."""
        values = struct.unpack_from(f"<{len(self.fields)}q", self._map, 0)
        return dict(zip(self.fields, values, strict=True))

    def close(self) -> None:
        """Unmap and close the file."""
        self._map.close()
        self._file.close()


LOADGEN_FIELDS = ("sent_requests", "acked_requests", "acked_spans", "refused_requests", "refused_spans",
                  "rejected_spans", "errors", "latency_us_total")
"""Load generator counters: requests sent; answered OK (and their spans, minus partial-success
rejections); refused (gRPC error / non-200 answer) and their spans; spans rejected inside an OK
answer (partial success); transport errors; sum of OK request latencies in µs."""

SINK_FIELDS = ("requests", "spans", "bytes")
"""Sink counters: export requests received, spans in them, bytes received (after decompression)."""


# --- /proc -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcSample:
    """CPU time and memory of a process (and its live descendants) at one moment."""

    cpu_s: float
    """utime + stime of the process and its live descendants, seconds."""
    rss_bytes: int
    """VmRSS of the process itself."""


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) "; comm may contain spaces


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds, from ``/proc/<pid>/stat``."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of proc(5), 0-based after comm


def rss_bytes(pid: int) -> int:
    """``VmRSS`` of ``/proc/<pid>/status`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def descendants(pid: int) -> list[int]:
    """Live descendants of ``pid`` (children, grandchildren, ...), found by scanning ``/proc``."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent_of[int(entry)] = int(_stat_fields(int(entry))[1])
            except (OSError, ValueError, IndexError):
                continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parent_of.items() if ppid == parent]
        found += children
        frontier += children
    return found


def sample(pid: int, *, with_descendants: bool = True) -> ProcSample:
    """CPU seconds (including live descendants when asked) and VmRSS of ``pid``."""
    cpu = cpu_seconds(pid)
    if with_descendants:
        for child in descendants(pid):
            try:
                cpu += cpu_seconds(child)
            except (OSError, ValueError, IndexError):
                continue
    return ProcSample(cpu, rss_bytes(pid))


def loadavg() -> float | None:
    """The 1-minute load average, or ``None`` where ``/proc/loadavg`` is missing."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- ports and payloads ------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback TCP ports that were free a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def wait_for_port(port: int, deadline: float, *, host: str = "127.0.0.1") -> bool:
    """Whether a TCP connection to ``host:port`` succeeds before ``time.monotonic()`` passes ``deadline``."""
    import time

    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


PAYLOAD_SEEDS = (7, 11, 13, 17)
"""Seeds of the distinct batches the load generator rotates through (same shape, different ids/values)."""


def write_payloads(directory: Path, spans: int = SPANS_PER_REQUEST) -> dict[str, Path]:
    """Build the GenAI batches once and write them as ``protobuf`` and ``json`` payload files.

    Each file holds length-prefixed (``<I``) bodies; the span count per body is ``spans``. Returns
    ``{"protobuf": path, "json": path}``. Imports the OpenTelemetry SDK (only the orchestrator calls it).
    """
    from driftline.processors.otlp.json_codec import encode_json
    from tests.benchmarks.bench_otlp_json import genai_request

    requests = [genai_request(spans, seed) for seed in PAYLOAD_SEEDS]
    out = {"protobuf": directory / f"payloads-{spans}.pb", "json": directory / f"payloads-{spans}.json"}
    for media, path in out.items():
        with path.open("wb") as f:
            for request in requests:
                body = request.SerializeToString() if media == "protobuf" else encode_json(request)
                f.write(struct.pack("<I", len(body)) + body)
    return out


def read_payloads(path: Path | str) -> list[bytes]:
    """The bodies of a payload file written by :func:`write_payloads`."""
    data = Path(path).read_bytes()
    bodies: list[bytes] = []
    pos = 0
    while pos < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        bodies.append(data[pos + 4:pos + 4 + size])
        pos += 4 + size
    return bodies
