"""The processor's configuration: Collector-shaped YAML in, typed values or every problem out."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftline.processors.config import (
    BatchConfig,
    BearerTokenAuth,
    ClientTLSSettings,
    ComponentId,
    ConfigError,
    DebugExporterConfig,
    DriftlineProcessorConfig,
    FileExporterConfig,
    GRPCReceiverSettings,
    HostPort,
    HTTPReceiverSettings,
    MemoryLimiterConfig,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    OTLPReceiverConfig,
    PipelineConfig,
    PipelineId,
    PrometheusExporterConfig,
    QueueSettings,
    RetrySettings,
    RotationSettings,
    ServerTLSSettings,
    default_config,
    load_config,
    parse_config,
)

FULL = """
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:4317, max_recv_msg_size_mib: 32,
             tls: {cert_file: "${env:CERT}", key_file: "${env:KEY}", client_ca_file: "${env:CA}"},
             auth: {bearer_token: "${env:TOKEN}"}}
      http: {endpoint: 127.0.0.1:4318, max_request_body_size: 67108864, traces_url_path: otlp/traces}
processors:
  memory_limiter: {limit_mib: 512, spike_limit_mib: 128, check_interval: 1s}
  batch: {}
  driftline: {}
exporters:
  otlp/jaeger:
    endpoint: jaeger:4317
    tls: {insecure: true}
    headers: {X-API-Key: "${env:JAEGER_KEY}"}
    compression: gzip
    timeout: 5s
    retry_on_failure: {enabled: true, initial_interval: 200ms, max_interval: 30s, max_elapsed_time: 300s,
                       multiplier: 1.5, randomization_factor: 0.5}
    sending_queue: {enabled: true, num_consumers: 4, queue_size: 1000, storage: ./driftline-data/queue.db}
  otlphttp/vendor: {endpoint: "https://otlp.vendor.example", headers: {X-API-Key: abc}, timeout: 1m30s}
  file: {path: ./driftline-data/spans.jsonl, rotation: {max_megabytes: 100, max_backups: 3}}
  debug: {verbosity: normal}
  prometheus: {endpoint: 127.0.0.1:9464}
service:
  telemetry: {metrics: {address: 127.0.0.1:9464}, logs: {level: debug}}
  pipelines:
    traces: {receivers: [otlp], processors: [memory_limiter, driftline], exporters: [otlp/jaeger, file]}
    traces/vendor: {receivers: [otlp], exporters: [otlphttp/vendor, debug]}
    metrics: {receivers: [otlp], exporters: [prometheus]}
"""


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    """Certificate paths that exist (loading only checks that they do)."""
    paths = {}
    for name in ("CERT", "KEY", "CA"):
        path = tmp_path / f"{name.lower()}.pem"
        path.write_text("-----BEGIN CERTIFICATE-----\n")
        paths[name] = str(path)
    return paths


def minimal() -> dict[str, Any]:
    """A valid configuration as data, for tests to break one piece of."""
    return copy.deepcopy({
        "receivers": {"otlp": {"protocols": {"grpc": {}}}},
        "exporters": {"file": {"path": "./driftline-data/spans.jsonl"}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}}},
    })


def problems(data: dict[str, Any] | str, environ: dict[str, str] | None = None) -> list[str]:
    """The problems a configuration is refused with (failing the test if it is accepted)."""
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, environ=environ or {})
    return caught.value.problems


def parse(data: dict[str, Any] | str, environ: dict[str, str] | None = None) -> Any:
    """Parse a configuration that must be valid."""
    text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
    return parse_config(text, environ=environ or {})


# --- a full configuration, value by value -----------------------------------------------------


def test_full_configuration_reads_every_value(tls_files: dict[str, str]) -> None:
    config = parse(FULL, environ={**tls_files, "TOKEN": "0123", "JAEGER_KEY": "k1"})

    otlp = config.receivers[ComponentId("otlp")]
    assert otlp.grpc == GRPCReceiverSettings(
        endpoint=HostPort("127.0.0.1", 4317), max_recv_msg_size_mib=32,
        tls=ServerTLSSettings(tls_files["CERT"], tls_files["KEY"], tls_files["CA"]),
        auth=BearerTokenAuth("0123"))  # a whole-value reference stays text where text is wanted
    assert otlp.grpc.max_recv_msg_size_bytes == 32 * 1024 * 1024
    assert otlp.http == HTTPReceiverSettings(endpoint=HostPort("127.0.0.1", 4318),
                                             max_request_body_size=67108864, traces_url_path="/otlp/traces")

    assert list(config.processors) == [ComponentId("memory_limiter"), ComponentId("batch"), ComponentId("driftline")]
    assert config.processors[ComponentId("memory_limiter")] == MemoryLimiterConfig(
        limit_mib=512, spike_limit_mib=128, check_interval=1.0)
    assert config.processors[ComponentId("memory_limiter")].soft_limit_mib == 384
    assert config.processors[ComponentId("batch")] == BatchConfig(timeout=0.2, send_batch_size=8192)
    assert config.processors[ComponentId("driftline")] == DriftlineProcessorConfig(options={})

    jaeger = config.exporters[ComponentId("otlp", "jaeger")]
    assert jaeger == OTLPExporterConfig(
        endpoint=HostPort("jaeger", 4317), secure=False, tls=ClientTLSSettings(insecure=True),
        headers={"x-api-key": "k1"}, compression="gzip", timeout=5.0,
        retry_on_failure=RetrySettings(enabled=True, initial_interval=0.2, randomization_factor=0.5,
                                       multiplier=1.5, max_interval=30.0, max_elapsed_time=300.0),
        sending_queue=QueueSettings(enabled=True, num_consumers=4, queue_size=1000,
                                    storage="./driftline-data/queue.db"))
    vendor = config.exporters[ComponentId("otlphttp", "vendor")]
    assert isinstance(vendor, OTLPHTTPExporterConfig)
    assert vendor.url_for("traces") == "https://otlp.vendor.example/v1/traces"
    assert vendor.uses_tls("traces")
    assert vendor.headers == {"X-API-Key": "abc"}  # HTTP header names keep their spelling
    assert vendor.timeout == 90.0
    assert vendor.retry_on_failure == RetrySettings()
    assert config.exporters[ComponentId("file")] == FileExporterConfig(
        path="./driftline-data/spans.jsonl", rotation=RotationSettings(max_megabytes=100, max_backups=3))
    assert config.exporters[ComponentId("debug")] == DebugExporterConfig(verbosity="normal")
    assert config.exporters[ComponentId("prometheus")] == PrometheusExporterConfig(endpoint=HostPort("127.0.0.1", 9464))

    assert config.service.pipelines == {
        PipelineId("traces"): PipelineConfig(
            receivers=(ComponentId("otlp"),),
            processors=(ComponentId("memory_limiter"), ComponentId("driftline")),
            exporters=(ComponentId("otlp", "jaeger"), ComponentId("file"))),
        PipelineId("traces", "vendor"): PipelineConfig(
            receivers=(ComponentId("otlp"),), exporters=(ComponentId("otlphttp", "vendor"), ComponentId("debug"))),
        PipelineId("metrics"): PipelineConfig(receivers=(ComponentId("otlp"),), exporters=(ComponentId("prometheus"),)),
    }
    assert config.service.telemetry.metrics.address == HostPort("127.0.0.1", 9464)
    assert config.service.telemetry.logs.level == "debug"
    assert config.warnings == (
        "processors.batch: is accepted for Collector compatibility but has no effect in this version",
        "processors.batch: is defined but not used in any pipeline, so it will not run",
    )


def test_secrets_stay_out_of_repr(tls_files: dict[str, str]) -> None:
    config = parse(FULL, environ={**tls_files, "TOKEN": "s3cret-token", "JAEGER_KEY": "s3cret-key"})
    assert "s3cret" not in repr(config)


def test_collector_defaults_apply_where_keys_are_omitted() -> None:
    data = minimal()
    data["exporters"] = {"otlp": {"endpoint": "collector:4317"}, "otlphttp": {"endpoint": "http://collector:4318/"}}
    data["service"]["pipelines"]["traces"]["exporters"] = ["otlp", "otlphttp"]
    config = parse(data)
    otlp = config.exporters[ComponentId("otlp")]
    assert otlp == OTLPExporterConfig(endpoint=HostPort("collector", 4317))
    assert (otlp.secure, otlp.compression, otlp.timeout) == (True, "gzip", 5.0)  # TLS unless insecure
    assert otlp.retry_on_failure == RetrySettings(True, 5.0, 0.5, 1.5, 30.0, 300.0)
    assert otlp.sending_queue == QueueSettings(enabled=True, num_consumers=10, queue_size=1000, storage=None)
    otlphttp = config.exporters[ComponentId("otlphttp")]
    assert isinstance(otlphttp, OTLPHTTPExporterConfig)
    assert (otlphttp.timeout, otlphttp.compression) == (30.0, "gzip")
    assert otlphttp.url_for("traces") == "http://collector:4318/v1/traces"  # no doubled slash
    assert not otlphttp.uses_tls("traces")
    receiver = config.receivers[ComponentId("otlp")]
    assert receiver.grpc == GRPCReceiverSettings(endpoint=HostPort("127.0.0.1", 4317), max_recv_msg_size_mib=64)
    assert receiver.http is None
    assert config.service.telemetry.metrics.address == HostPort("127.0.0.1", 9464)


def test_default_config_is_the_issue_default() -> None:
    config = default_config()
    otlp = config.receivers[ComponentId("otlp")]
    assert otlp == OTLPReceiverConfig(grpc=GRPCReceiverSettings(endpoint=HostPort("127.0.0.1", 4317)),
                                      http=HTTPReceiverSettings(endpoint=HostPort("127.0.0.1", 4318)))
    assert config.service.telemetry.metrics.address == HostPort("127.0.0.1", 9464)
    assert config.exporters == {ComponentId("file"): FileExporterConfig(
        path="./driftline-data/spans.jsonl", rotation=RotationSettings(max_megabytes=100, max_backups=3))}
    assert config.service.pipelines[PipelineId("traces")].processors == (
        ComponentId("memory_limiter"), ComponentId("driftline"))
    assert config.warnings == ()


def test_otlphttp_signal_urls() -> None:
    exporter = OTLPHTTPExporterConfig(endpoint="https://vendor.example/otlp",
                                      metrics_endpoint="https://metrics.example/ingest")
    assert exporter.url_for("traces") == "https://vendor.example/otlp/v1/traces"
    assert exporter.url_for("metrics") == "https://metrics.example/ingest"
    only_traces = OTLPHTTPExporterConfig(traces_endpoint="https://vendor.example/v1/traces")
    with pytest.raises(ValueError, match="neither endpoint nor metrics_endpoint"):
        only_traces.url_for("metrics")


def test_driftline_processor_keeps_its_keys_with_env_values_typed() -> None:
    data = minimal()
    data["processors"] = {"driftline": {"window": "${env:WINDOW}", "signals": [{"name": "${env:NAME}"}]}}
    data["service"]["pipelines"]["traces"]["processors"] = ["driftline"]
    config = parse(data, environ={"WINDOW": "500", "NAME": "latency"})
    assert config.processors[ComponentId("driftline")] == DriftlineProcessorConfig(
        options={"window": 500, "signals": [{"name": "latency"}]})


def test_load_config_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "processor.yaml"
    path.write_text(yaml.safe_dump(minimal()))
    assert load_config(path).exporters[ComponentId("file")] == FileExporterConfig(path="./driftline-data/spans.jsonl")


def test_load_config_names_an_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems == [f"{missing}: cannot read the file: No such file or directory"]


# --- component ids and keys ---------------------------------------------------------------------


def test_component_id_parts() -> None:
    assert ComponentId.parse("otlp/jaeger") == ComponentId("otlp", "jaeger")
    assert str(ComponentId("otlp", "jaeger")) == "otlp/jaeger"
    assert str(ComponentId("file")) == "file"


def test_unknown_component_type_lists_the_known_ones() -> None:
    data = minimal()
    data["exporters"]["jaeger"] = {"endpoint": "jaeger:14250"}
    data["receivers"]["zipkin"] = {}
    assert problems(data) == [
        'receivers.zipkin: unknown receiver type "zipkin"; known receiver types: otlp',
        'exporters.jaeger: unknown exporter type "jaeger"; known exporter types: '
        "debug, file, otlp, otlphttp, prometheus",
    ]


def test_malformed_component_id() -> None:
    data = minimal()
    data["exporters"]["otlp/"] = {"endpoint": "a:1"}
    assert problems(data) == [
        "exporters.otlp/: is not a component id (nothing follows the /; write type/name, e.g. otlp/jaeger, "
        "or just the type)",
    ]


def test_unknown_key_suggests_the_closest_known_one() -> None:
    data = minimal()
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "retry_on_failure": {"intial_interval": "1s"}}
    assert problems(data) == [
        "exporters.otlp.retry_on_failure.intial_interval: unknown key; did you mean initial_interval? known keys "
        "here: enabled, initial_interval, randomization_factor, multiplier, max_interval, max_elapsed_time",
    ]


def test_collector_keys_driftline_does_not_implement_are_errors_not_ignored() -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"]["grpc"] = {"keepalive": {"server_parameters": {"time": "10s"}}}
    data["receivers"]["otlp"]["protocols"]["grpc"]["auth"] = {"authenticator": "bearertokenauth"}
    data["extensions"] = {"health_check": {}}
    assert problems(data) == [
        "receivers.otlp.protocols.grpc.auth.authenticator: driftline has no auth extensions; "
        "write auth: {bearer_token: ${env:TOKEN}} instead",
        "receivers.otlp.protocols.grpc.auth.bearer_token: missing; set the token clients must send, "
        "e.g. bearer_token: ${env:DRIFTLINE_TOKEN}",
        "receivers.otlp.protocols.grpc.keepalive: is a Collector setting driftline does not support; remove it",
        "extensions: driftline has no extensions; remove this section (receiver auth is auth: {bearer_token: ...})",
    ]


# --- values -------------------------------------------------------------------------------------


def test_wrong_value_types_name_the_key_and_the_fix() -> None:
    data = minimal()
    data["exporters"]["otlp/jaeger"] = {
        "endpoint": "jaeger:4317",
        "retry_on_failure": {"initial_interval": "200 ms", "enabled": "sometimes", "multiplier": "fast"},
        "sending_queue": {"queue_size": "big", "num_consumers": 0},
        "compression": "zstd",
        "timeout": "-5s",
    }
    assert problems(data) == [
        'exporters.otlp/jaeger.compression: "zstd" is not supported; use gzip or none',
        'exporters.otlp/jaeger.timeout: must be zero or more (got "-5s")',
        'exporters.otlp/jaeger.retry_on_failure.enabled: "sometimes" is not a boolean; use true or false',
        'exporters.otlp/jaeger.retry_on_failure.initial_interval: "200 ms" is not a duration; use e.g. 200ms, 5s, 1m',
        'exporters.otlp/jaeger.retry_on_failure.multiplier: "fast" is not a number; use e.g. 1.5',
        "exporters.otlp/jaeger.sending_queue.num_consumers: must be at least 1 (got 0)",
        'exporters.otlp/jaeger.sending_queue.queue_size: "big" is not a whole number; use e.g. 1000',
    ]


def test_retry_rules_are_the_collectors() -> None:
    data = minimal()
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "retry_on_failure": {
        "randomization_factor": 1.5, "max_elapsed_time": "10s", "max_interval": "30s"}}
    assert problems(data) == [
        "exporters.otlp.retry_on_failure.randomization_factor: must be between 0 and 1 (got 1.5)",
        "exporters.otlp.retry_on_failure.max_elapsed_time: must not be less than max_interval (or 0 to retry for ever)",
    ]


def test_memory_limiter_rules() -> None:
    data = minimal()
    data["processors"] = {"memory_limiter": {"check_interval": "0s", "spike_limit_mib": 10},
                          "memory_limiter/2": {"limit_mib": 100, "spike_limit_mib": 100},
                          "memory_limiter/3": {"limit_mib": 100, "limit_percentage": 80}}
    assert problems(data) == [
        'processors.memory_limiter.check_interval: must be greater than zero (got "0s")',
        "processors.memory_limiter.limit_mib: missing; set the hard memory limit in MiB, e.g. limit_mib: 512",
        "processors.memory_limiter/2.spike_limit_mib: must be less than limit_mib (100); about 20 % of it is a good "
        "start",
        "processors.memory_limiter/3.limit_percentage: is not supported by driftline; set limit_mib and "
        "spike_limit_mib in MiB instead",
    ]
    data["processors"] = {"memory_limiter": {"limit_mib": 1000}}
    assert parse(data).processors[ComponentId("memory_limiter")] == MemoryLimiterConfig(
        limit_mib=1000, spike_limit_mib=200, check_interval=1.0)  # spike defaults to 20 %


# --- endpoints ----------------------------------------------------------------------------------


def test_endpoint_problems() -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": "localhost"}, "http": {"endpoint": "::1:4318"}}
    data["exporters"]["otlp"] = {"endpoint": "jaeger:70000"}
    data["exporters"]["otlphttp"] = {"endpoint": "otlp.vendor.example:4318"}
    data["exporters"]["otlphttp/2"] = {"endpoint": "https://vendor.example/v1/traces"}
    data["exporters"]["prometheus"] = {"endpoint": "http://127.0.0.1:9464"}
    assert problems(data) == [
        'receivers.otlp.protocols.grpc.endpoint: "localhost" has no port; use host:port, e.g. 127.0.0.1:4317',
        'receivers.otlp.protocols.http.endpoint: "::1:4318" has an IPv6 address without brackets; '
        "write it as [::1]:4317",
        'exporters.otlp.endpoint: "jaeger:70000" has port 70000; use a port between 1 and 65535',
        'exporters.otlphttp.endpoint: "otlp.vendor.example:4318" needs a scheme: use https://host[:port] '
        "(or http:// for plaintext)",
        'exporters.otlphttp/2.endpoint: "https://vendor.example/v1/traces" already ends in the signal path, and '
        "/v1/traces would be appended again; give the base URL, or put the full URL in traces_endpoint",
        'exporters.prometheus.endpoint: "http://127.0.0.1:9464" is a URL; a listen endpoint is host:port without '
        "a scheme, e.g. 127.0.0.1:4317",
    ]


def test_required_endpoints() -> None:
    data = minimal()
    data["exporters"] = {"otlp": {}, "otlphttp": None, "file": {}}
    data["service"]["pipelines"]["traces"]["exporters"] = ["otlp", "otlphttp", "file"]
    assert problems(data) == [
        "exporters.otlp.endpoint: missing; set host:port of the OTLP/gRPC server, e.g. endpoint: jaeger:4317",
        "exporters.otlphttp.endpoint: missing; set the base URL of the OTLP/HTTP server, e.g. endpoint: "
        "https://otlp.example.com (/v1/traces is appended), or a full URL in traces_endpoint",
        "exporters.file.path: missing; set the file to write, e.g. path: ./driftline-data/spans.jsonl",
    ]


def test_listening_on_every_interface_is_allowed_with_a_warning() -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"]["grpc"] = {"endpoint": "0.0.0.0:4317"}
    data["receivers"]["otlp"]["protocols"]["http"] = {"endpoint": "[::1]:4318"}
    config = parse(data)
    assert config.receivers[ComponentId("otlp")].grpc.endpoint == HostPort("0.0.0.0", 4317)
    assert str(config.receivers[ComponentId("otlp")].http.endpoint) == "[::1]:4318"
    assert config.warnings == (
        'receivers.otlp.protocols.grpc.endpoint: "0.0.0.0:4317" listens on every network interface, so anyone who '
        "can reach this machine can connect; use 127.0.0.1 unless that is intended (and then consider tls and auth)",
    )


def test_two_listeners_on_one_port_are_refused_but_prometheus_may_share_the_metrics_address() -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"] = {"grpc": {"endpoint": "0.0.0.0:4317"},
                                              "http": {"endpoint": "localhost:4317"}}
    data["exporters"]["prometheus"] = {"endpoint": "127.0.0.1:9464"}
    data["exporters"]["prometheus/2"] = {"endpoint": "127.0.0.1:9465"}
    data["service"]["telemetry"] = {"metrics": {"address": "127.0.0.1:9465"}}
    data["service"]["pipelines"]["metrics"] = {"receivers": ["otlp"], "exporters": ["prometheus", "prometheus/2"]}
    assert problems(data) == [
        "receivers.otlp.protocols.http.endpoint: localhost:4317 is also used by "
        "receivers.otlp.protocols.grpc.endpoint; give each listener its own port",
    ]


def test_two_exporters_cannot_write_one_file() -> None:
    data = minimal()
    data["exporters"]["file/2"] = {"path": "driftline-data/../driftline-data/spans.jsonl"}
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "sending_queue": {"storage": "./driftline-data/spans.jsonl"}}
    assert problems(data) == [
        "exporters.file/2.path: driftline-data/../driftline-data/spans.jsonl is also written by exporters.file.path; "
        "give each its own file",
        "exporters.otlp.sending_queue.storage: ./driftline-data/spans.jsonl is also written by exporters.file.path; "
        "give each its own file",
    ]


# --- TLS and auth -------------------------------------------------------------------------------


def test_tls_problems(tls_files: dict[str, str], tmp_path: Path) -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"]["grpc"] = {"tls": {"cert_file": tls_files["CERT"]}}
    data["receivers"]["otlp"]["protocols"]["http"] = {"tls": {"cert_file": tls_files["CERT"],
                                                              "key_file": str(tmp_path / "missing.key")}}
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "tls": {"insecure": True, "ca_file": tls_files["CA"],
                                                               "cert_file": tls_files["CERT"]}}
    data["exporters"]["otlp/2"] = {"endpoint": "https://a:4317", "tls": {"insecure": True}}
    assert problems(data) == [
        "receivers.otlp.protocols.grpc.tls: a receiver needs both cert_file and key_file to serve TLS "
        "(client_ca_file adds mutual TLS); remove tls to serve plaintext",
        f'receivers.otlp.protocols.http.tls.key_file: file "{tmp_path / "missing.key"}" does not exist; fix the path',
        "exporters.otlp.tls: insecure: true turns TLS off, so ca_file, cert_file cannot be used; remove insecure, "
        "or remove the files for a plaintext connection",
        "exporters.otlp.tls: a client certificate needs both cert_file and key_file; give both or neither",
        "exporters.otlp/2.tls.insecure: contradicts the https:// endpoint; remove https:// for plaintext, "
        "or insecure for TLS",
    ]


def test_relative_tls_paths_are_resolved_from_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = minimal()
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "tls": {"ca_file": "certs/ca.pem"}}
    assert problems(data) == [
        f'exporters.otlp.tls.ca_file: file "certs/ca.pem" does not exist (relative to the working directory '
        f"{tmp_path}); fix the path",
    ]
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("ca")
    assert parse(data).exporters[ComponentId("otlp")].tls == ClientTLSSettings(ca_file="certs/ca.pem")


def test_grpc_exporter_tls_follows_the_collector() -> None:
    data = minimal()
    data["exporters"] = {"otlp/a": {"endpoint": "https://a:4317"}, "otlp/b": {"endpoint": "http://b:4317"},
                         "otlp/c": {"endpoint": "http://c:4317", "tls": {"insecure": True}}}
    data["service"]["pipelines"]["traces"]["exporters"] = ["otlp/a", "otlp/b", "otlp/c"]
    config = parse(data)
    assert [exporter.secure for exporter in config.exporters.values()] == [True, True, False]
    assert [exporter.endpoint for exporter in config.exporters.values()] == [
        HostPort("a", 4317), HostPort("b", 4317), HostPort("c", 4317)]
    assert config.warnings == (
        "exporters.otlp/b.endpoint: the http:// prefix does not turn TLS off (as in the Collector); "
        "set tls: {insecure: true} for a plaintext connection",
    )


def test_headers() -> None:
    data = minimal()
    data["exporters"]["otlp"] = {"endpoint": "a:4317", "headers": {"Authorization": "Bearer x", "authorization": "y",
                                                                   "bad name": "z", "x-count": 5}}
    assert problems(data) == [
        "exporters.otlp.headers.x-count: 5 is not a string; put it in quotes if it is meant as text",
        "exporters.otlp.headers.authorization: repeats header authorization (names are case-insensitive); keep one",
        "exporters.otlp.headers.bad name: is not a valid header name (no spaces or colons)",
    ]


# --- pipelines ----------------------------------------------------------------------------------


def test_pipeline_references_must_exist_and_be_of_the_right_kind() -> None:
    data = minimal()
    data["processors"] = {"batch": {}}
    data["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp", "otlp"], "processors": ["memory_limiter"], "exporters": ["batch", "otlp/x"]},
        "traces/empty": {"receivers": [], "exporters": None},
        "logs": {"receivers": ["otlp"], "exporters": ["file"]},
        "spans": {"receivers": ["otlp"], "exporters": ["file"]},
    }
    assert problems(data) == [
        'service.pipelines.traces.receivers[1]: "otlp" is listed twice; list each receiver once',
        'service.pipelines.traces.processors[0]: "memory_limiter" is not defined under processors; '
        "define it under processors, or use one of: batch",
        'service.pipelines.traces.exporters[0]: "batch" is a processor, not an exporter; move it to processors',
        'service.pipelines.traces.exporters[1]: "otlp/x" is not defined under exporters; '
        "define it under exporters, or use one of: file",
        "service.pipelines.traces/empty.receivers: a pipeline needs at least one receiver, e.g. receivers: [otlp]",
        "service.pipelines.traces/empty.exporters: a pipeline needs at least one exporter, e.g. exporters: [file]",
        "service.pipelines.logs: logs pipelines are not supported; driftline handles traces and metrics",
        'service.pipelines.spans: "spans" is not a pipeline id; use traces, metrics, or signal/name, e.g. traces/2',
    ]


def test_components_only_join_pipelines_of_signals_they_support() -> None:
    data = minimal()
    data["processors"] = {"driftline": {}}
    data["exporters"]["prometheus/app"] = {"endpoint": "127.0.0.1:9000"}
    data["service"]["pipelines"] = {
        "traces": {"receivers": ["otlp"], "exporters": ["file", "prometheus/app"]},
        "metrics": {"receivers": ["otlp"], "processors": ["driftline"], "exporters": ["file"]},
    }
    assert problems(data) == [
        "service.pipelines.traces.exporters: prometheus/app is a prometheus exporter, which supports only metrics "
        "pipelines; remove it from this traces pipeline",
        "service.pipelines.metrics.processors: the driftline processor supports only traces pipelines; "
        "remove it from this metrics pipeline",
    ]


def test_missing_sections() -> None:
    assert problems({"receivers": {}, "exporters": None}) == [
        "receivers: defines no receiver; add one, e.g. receivers: {otlp: {protocols: {grpc: {}, http: {}}}}",
        "exporters: defines no exporter; add one, e.g. exporters: {file: {path: ./driftline-data/spans.jsonl}}",
        "service: missing; add service.pipelines, e.g. service: {pipelines: {traces: {receivers: [otlp], "
        "exporters: [file]}}}",
    ]
    data = minimal()
    data["receivers"]["otlp"]["protocols"] = {}
    data["service"] = {"pipelines": {}}
    assert problems(data) == [
        "receivers.otlp.protocols: enable at least one protocol: grpc: {} or http: {}",
        "service.pipelines: defines no pipeline; add one, e.g. traces: {receivers: [otlp], exporters: [file]}",
    ]


def test_memory_limiter_should_come_first_and_unused_components_are_mentioned() -> None:
    data = minimal()
    data["processors"] = {"driftline": {}, "memory_limiter": {"limit_mib": 256}}
    data["exporters"]["debug"] = {}
    data["service"]["pipelines"]["traces"]["processors"] = ["driftline", "memory_limiter"]
    assert parse(data).warnings == (
        "service.pipelines.traces.processors: memory_limiter should come first, so data is refused before other "
        "processors spend memory on it",
        "exporters.debug: is defined but not used in any pipeline, so it will not run",
    )


# --- the file itself ----------------------------------------------------------------------------


def test_every_problem_is_reported_in_one_pass() -> None:
    data = minimal()
    data["receivers"]["otlp"]["protocols"]["grpc"] = {"endpoint": "127.0.0.1:99999"}
    data["exporters"]["file"]["flush_interval"] = "soon"
    data["exporters"]["debug"] = {"verbosity": "loud"}
    data["service"]["pipelines"]["traces"]["exporters"] = ["file", "jaeger"]
    with pytest.raises(ConfigError) as caught:
        parse(data)
    assert caught.value.problems == [
        'receivers.otlp.protocols.grpc.endpoint: "127.0.0.1:99999" has port 99999; use a port between 0 and 65535',
        'exporters.file.flush_interval: "soon" is not a duration; use e.g. 200ms, 5s, 1m',
        'exporters.debug.verbosity: "loud" is not supported; use one of basic, normal, detailed',
        'service.pipelines.traces.exporters[1]: "jaeger" is not defined under exporters; '
        "define it under exporters, or use one of: file, debug",
    ]
    assert str(caught.value).splitlines()[0] == "invalid configuration (4 problems):"


def test_yaml_problems_give_the_line() -> None:
    assert problems("receivers:\n  otlp: [\n") == [
        "line 3, column 1: invalid YAML: expected the node content, but found '<stream end>'"]
    text = "receivers:\n  otlp:\n    protocols: {grpc: {}}\n  otlp:\n    protocols: {http: {}}\n"
    assert problems(text) == ["receivers.otlp: appears twice (lines 2 and 4); keep one"]
    assert problems("") == [
        "the configuration is empty; start from the output of `driftline processor --print-default-config`"]
    assert problems("- receivers\n") == [
        "the configuration must be a mapping with receivers, exporters and service, not a list"]


def test_otlphttp_needs_a_url_for_every_signal_it_carries() -> None:
    data = minimal()
    data["exporters"]["otlphttp"] = {"traces_endpoint": "https://vendor.example/v1/traces"}
    data["service"]["pipelines"]["metrics"] = {"receivers": ["otlp"], "exporters": ["otlphttp"]}
    assert problems(data) == [
        "exporters.otlphttp: is used by the metrics pipeline but has neither endpoint nor metrics_endpoint; "
        "set one of them",
    ]


def test_settings_must_be_mappings_with_string_keys() -> None:
    data = minimal()
    data["exporters"]["debug"] = ["verbosity", "basic"]
    data["exporters"]["file"]["rotation"] = {1: 2}
    assert problems(data) == [
        "exporters.file.rotation.1: keys must be strings; quote it",
        "exporters.debug: expected a mapping of settings, got a list",
    ]
