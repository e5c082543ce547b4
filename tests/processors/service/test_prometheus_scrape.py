"""A real Prometheus (the Debian package ``prometheus``) scrapes a real processor's own metrics.

The processor runs as users run it (a subprocess of the CLI, port 0 everywhere); spans arrive over
OTLP/gRPC; Prometheus scrapes ``/metrics`` every second; the test then asks Prometheus's HTTP API,
not the processor, what it scraped. Without the ``prometheus`` binary the test skips, except in CI
(``CI=true``), where it fails: there ``make test`` installs the package, so the claim is checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from .support import ProcessorProcess, make_request, processor, send_grpc

JOB = "driftline-processor"
START_TIMEOUT_S = 30.0
SCRAPE_TIMEOUT_S = 45.0
POLL_INTERVAL_S = 0.25
"""Between two queries of Prometheus's API while waiting for a scrape (each poll is a real query)."""

CONFIG = """
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:0}}}
exporters:
  file: {path: ./spans.jsonl, flush_interval: 100ms}
service:
  telemetry: {metrics: {address: 127.0.0.1:0}}
  pipelines: {traces: {receivers: [otlp], exporters: [file]}}
"""


def in_ci() -> bool:
    """True where the CI runs (``CI=true``): there a missing server is a failure, not a skip."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require_prometheus() -> str:
    """The path of the ``prometheus`` binary; skips (fails in CI) when it is not installed."""
    binary = shutil.which("prometheus")
    if binary is None:
        reason = ("the prometheus binary is not installed (Debian package prometheus; `make test` installs it "
                  "with apt-get when it can)")
        if in_ci():
            pytest.fail(f"{reason}; CI must check the Prometheus claim for real")
        pytest.skip(reason)
    return binary


@dataclass
class Prometheus:
    """A running Prometheus server and its HTTP API."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        """The last lines Prometheus logged, for failure messages."""
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data`` (asserting ``status == "success"``)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}{query}", timeout=10) as response:
            body = json.loads(response.read().decode())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query; its vector result (``[{"metric": {...}, "value": [ts, "v"]}, ...]``)."""
        data = self.api("query", query=promql)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def wait_until(self, promql: str, predicate: Any, what: str,
                   timeout: float = SCRAPE_TIMEOUT_S) -> list[dict[str, Any]]:
        """Poll ``promql`` until ``predicate(result)`` holds; the result, or AssertionError with the log."""
        deadline = time.monotonic() + timeout
        result: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited:\n{self.log_tail()}"
            result = self.query(promql)
            if predicate(result):
                return result
            time.sleep(POLL_INTERVAL_S)  # polling a real external server's API, bounded by the deadline
        raise AssertionError(f"timed out waiting for {what}; last result of {promql!r}: {result}\n"
                             f"targets: {self.api('targets')}\nprometheus log:\n{self.log_tail()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def prometheus_scraping(binary: str, target: str, workdir: Path) -> Iterator[Prometheus]:
    """Start Prometheus scraping ``target`` (``host:port``, path ``/metrics``) every second; yields once it
    is ready and always kills it at the end. Retries on another port if the chosen one was taken."""
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        f"  - job_name: {JOB}\n"
        "    metrics_path: /metrics\n"
        "    static_configs:\n"
        f"      - targets: [\"{target}\"]\n", encoding="utf-8")
    for attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_path = workdir / f"prometheus-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=info"],
                cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        server = Prometheus(process, url, log_path)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while process.poll() is None and not _ready(url) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL_S)  # polling Prometheus's readiness endpoint, bounded by the deadline
            if process.poll() is not None:
                if "address already in use" in server.log_tail() and attempt < 2:
                    continue
                raise AssertionError(f"prometheus exited with {process.returncode}:\n{server.log_tail()}")
            assert _ready(url), f"prometheus not ready after {START_TIMEOUT_S}s:\n{server.log_tail()}"
            yield server
            return
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(30)
    raise AssertionError("prometheus could not find a free port")  # pragma: no cover


async def _send(target: str, requests: list[tuple[int, int]]) -> None:
    async with grpc.aio.insecure_channel(target) as channel:
        for first, count in requests:
            outcome = await send_grpc(channel, make_request(first, count), give_up_after=30)
            assert outcome.accepted, outcome


def _metrics_address(running: ProcessorProcess) -> str:
    assert running.metrics_url is not None, running.log
    parsed = urllib.parse.urlsplit(running.metrics_url)
    assert (parsed.hostname, parsed.path) == ("127.0.0.1", "/metrics"), running.metrics_url
    return parsed.netloc


def test_real_prometheus_scrapes_the_processors_metrics(tmp_path: Path) -> None:
    binary = require_prometheus()
    batches = [(0, 100), (100, 150), (250, 7)]
    sent = sum(count for _, count in batches)
    with processor(CONFIG, tmp_path) as running:
        target = _metrics_address(running)
        asyncio.run(_send(running.grpc_target, batches))
        # The processor itself agrees before Prometheus is asked (accepted = queued for every exporter).
        assert running.metric("driftline_receiver_accepted_spans_total", transport="grpc") == sent

        with prometheus_scraping(binary, target, tmp_path) as prometheus:
            up = prometheus.wait_until(f'up{{job="{JOB}"}}', lambda r: bool(r) and r[0]["value"][1] == "1",
                                       "the first successful scrape")
            assert [(sample["metric"], sample["value"][1]) for sample in up] == [
                ({"__name__": "up", "instance": target, "job": JOB}, "1")]

            accepted = prometheus.wait_until(
                "driftline_receiver_accepted_spans_total",
                lambda r: bool(r) and float(r[0]["value"][1]) == sent, f"accepted spans == {sent}")
            assert [(sample["metric"], float(sample["value"][1])) for sample in accepted] == [
                ({"__name__": "driftline_receiver_accepted_spans_total", "instance": target, "job": JOB,
                  "receiver": "otlp", "transport": "grpc"}, float(sent))]

            # Delivery to the file exporter is asynchronous: wait until a scrape has seen all of it.
            delivered = prometheus.wait_until(
                'driftline_exporter_sent_spans_total{exporter="file"}',
                lambda r: bool(r) and float(r[0]["value"][1]) == sent, f"sent spans == {sent}")
            assert [(sample["metric"], float(sample["value"][1])) for sample in delivered] == [
                ({"__name__": "driftline_exporter_sent_spans_total", "instance": target, "job": JOB,
                  "exporter": "file"}, float(sent))]

            rss = prometheus.query(f'driftline_process_memory_rss{{job="{JOB}"}}')
            assert len(rss) == 1, rss
            assert float(rss[0]["value"][1]) > 1024 * 1024, rss

            targets = prometheus.api("targets", state="active")["activeTargets"]
            assert [(t["labels"]["job"], t["labels"]["instance"], t["scrapeUrl"], t["health"]) for t in targets] == [
                (JOB, target, f"http://{target}/metrics", "up")]
            assert targets[0]["lastError"] == ""
