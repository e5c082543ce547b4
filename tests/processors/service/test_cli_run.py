"""``driftline processor`` as users run it: the embedded default, signals, start-up failures."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import grpc
import pytest

from driftline.processors.otlp.json_codec import decode_trace_request, encode_json

from .support import make_request, processor, send_grpc, span_numbers

pytestmark = pytest.mark.timeout(120)


def _ports_free(*ports: int) -> bool:
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.mark.skipif(not _ports_free(4317, 4318, 9464), reason="the default ports 4317/4318/9464 are in use here")
def test_embedded_default_receives_both_transports_writes_the_file_and_serves_metrics(tmp_path: Path) -> None:
    result = subprocess.Popen([sys.executable, "-m", "driftline.processors"], cwd=tmp_path, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert result.stderr is not None
        log: list[str] = []
        for line in result.stderr:
            log.append(line)
            if "driftline processor ready" in line:
                break
        text = "".join(log)
        assert "receiver otlp: OTLP/gRPC on 127.0.0.1:4317" in text
        assert "receiver otlp: OTLP/HTTP on http://127.0.0.1:4318/v1/traces" in text
        assert "metrics: http://127.0.0.1:9464/metrics" in text

        async def over_grpc() -> bool:
            async with grpc.aio.insecure_channel("127.0.0.1:4317") as channel:
                return (await send_grpc(channel, make_request(0, 30))).accepted
        assert asyncio.run(over_grpc())
        json_body = encode_json(make_request(30, 20))
        http = urllib.request.Request("http://127.0.0.1:4318/v1/traces", data=json_body, method="POST",
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(http, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "application/json"
            assert json.loads(response.read() or b"{}") == {}
        with urllib.request.urlopen("http://127.0.0.1:9464/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert 'driftline_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 30.0' in metrics
        assert 'driftline_receiver_accepted_spans_total{receiver="otlp",transport="http"} 20.0' in metrics
        result.send_signal(signal.SIGTERM)
        assert result.wait(30) == 0
    finally:
        if result.poll() is None:
            result.kill()
        result.wait(10)
    lines = (tmp_path / "driftline-data" / "spans.jsonl").read_text(encoding="utf-8").splitlines()
    numbers = sorted(n for line in lines for n in span_numbers(decode_trace_request(line)))
    assert numbers == list(range(50))


def test_second_signal_exits_at_once_while_draining(tmp_path: Path) -> None:
    with socket.socket() as probe:   # a port nobody listens on: the exporter can never deliver
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    config = f"""
receivers:
  otlp: {{protocols: {{grpc: {{endpoint: 127.0.0.1:0}}}}}}
exporters:
  otlp:
    endpoint: 127.0.0.1:{dead}
    tls: {{insecure: true}}
    retry_on_failure: {{initial_interval: 50ms, max_elapsed_time: 0s}}
service:
  telemetry: {{metrics: {{address: 127.0.0.1:0}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [otlp]}}}}
"""
    with processor(config, tmp_path, extra_args=("--shutdown-timeout", "5m")) as proc:
        async def send() -> bool:
            async with grpc.aio.insecure_channel(proc.grpc_target) as channel:
                return (await send_grpc(channel, make_request(0, 10))).accepted
        assert asyncio.run(send())
        proc.signal(signal.SIGTERM)
        proc.wait_for_log("shutting down", 30)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(0.5)                  # draining: it would wait up to 5 minutes for the backend
        proc.signal(signal.SIGTERM)
        assert proc.wait(10) == 130
        assert any("exiting now without draining" in line for line in proc.log)


def test_a_port_in_use_fails_the_start_with_the_key_to_change(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = f"""
receivers:
  otlp: {{protocols: {{http: {{endpoint: 127.0.0.1:{port}}}}}}}
exporters:
  debug: {{}}
service:
  telemetry: {{metrics: {{level: none}}}}
  pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}
"""
        path = tmp_path / "busy.yaml"
        path.write_text(config)
        result = subprocess.run([sys.executable, "-m", "driftline.processors", "--config", str(path)],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "receivers.otlp.protocols.http.endpoint" in result.stderr
