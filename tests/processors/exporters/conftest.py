"""Helpers for the exporter tests: batches with named spans, fast retry settings, test certificates."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.processors.config.model import RetrySettings
from driftline.processors.pipeline.batch import TraceBatch
from driftline.processors.telemetry.metrics import SelfTelemetry
from driftline.semconv import names

FAST_RETRY = RetrySettings(initial_interval=0.01, randomization_factor=0.0, multiplier=1.5, max_interval=0.05,
                           max_elapsed_time=10.0)
"""Retries every 10-50 ms, for tests that only care that a retry happens."""

SENT, FAILED = names.DRIFTLINE_EXPORTER_SENT_SPANS, names.DRIFTLINE_EXPORTER_SEND_FAILED_SPANS
RETRIED, ENQUEUE_FAILED = names.DRIFTLINE_EXPORTER_RETRIED_SPANS, names.DRIFTLINE_EXPORTER_ENQUEUE_FAILED_SPANS
REDELIVERED, REASON = names.DRIFTLINE_EXPORTER_REDELIVERED_SPANS, names.DRIFTLINE_LABEL_REASON
"""The exporter counters the tests read."""


def make_request(span_names: Iterable[str], *, attribute: str = "") -> ExportTraceServiceRequest:
    """A request with one span per name (ids derived from the name, 1 ms long)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name").value.string_value = "checkout"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    for i, name in enumerate(span_names):
        span = scope_spans.spans.add(name=name, trace_id=bytes([1 + i % 250]) * 16, span_id=bytes([2 + i % 250]) * 8,
                                     start_time_unix_nano=1_000_000_000, end_time_unix_nano=1_001_000_000)
        if attribute:
            span.attributes.add(key="payload").value.string_value = attribute
    return request


def make_batch(*span_names: str, attribute: str = "") -> TraceBatch:
    """A batch as a receiver hands it on: parsed request plus its original protobuf bytes."""
    return TraceBatch.from_protobuf(make_request(span_names, attribute=attribute).SerializeToString())


def counter(telemetry: SelfTelemetry, name: str, exporter: str, **labels: str) -> float:
    """One of the exporter counters (``name`` a semconv constant) for ``exporter``."""
    return telemetry.value(name, **{names.DRIFTLINE_LABEL_EXPORTER: exporter}, **labels)


def free_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Certificates:
    """A CA, a server certificate for ``backend.test`` signed by it, a client certificate signed by it,
    and an unrelated CA (to show verification really happens)."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _ca(folder: Path, stem: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{stem}.key", "-out", f"{stem}.pem", "-days", "2", "-subj", f"/CN={stem}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=folder)


def _leaf(folder: Path, stem: str, ca: str, extensions: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{stem}.key", "-out", f"{stem}.csr", "-subj", f"/CN={stem}", cwd=folder)
    (folder / f"{stem}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{stem}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{stem}.pem", "-days", "2", "-extfile", f"{stem}.ext", cwd=folder)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """Certificates made with the ``openssl`` CLI (the ``cryptography`` package is not installed).

    The server certificate names only ``backend.test``: connecting to 127.0.0.1 verifies only with
    ``server_name_override: backend.test``, which is what the TLS tests exercise.
    """
    folder = tmp_path_factory.mktemp("certs")
    _ca(folder, "ca")
    _ca(folder, "other-ca")
    _leaf(folder, "server", "ca", "subjectAltName=DNS:backend.test\nextendedKeyUsage=serverAuth\n")
    _leaf(folder, "client", "ca", "extendedKeyUsage=clientAuth\n")
    return Certificates(ca=str(folder / "ca.pem"), server_cert=str(folder / "server.pem"),
                        server_key=str(folder / "server.key"), client_cert=str(folder / "client.pem"),
                        client_key=str(folder / "client.key"), other_ca=str(folder / "other-ca.pem"))
