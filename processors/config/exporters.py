"""Exporter settings: ``otlp``, ``otlphttp``, ``file``, ``debug``, ``prometheus`` (Collector keys and defaults)."""

from __future__ import annotations

from driftline.processors.config._path import show
from driftline.processors.config._reader import Section
from driftline.processors.config.endpoints import check_url, parse_dial
from driftline.processors.config.model import (
    DebugExporterConfig,
    ExporterConfig,
    FileExporterConfig,
    HostPort,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    PrometheusExporterConfig,
    RotationSettings,
)
from driftline.processors.config.registry import ComponentType
from driftline.processors.config.shared import client_tls, compression, headers, listen_endpoint, queue, retry

# Collector client settings (configgrpc / confighttp) that driftline does not implement.
_CLIENT_UNSUPPORTED = (
    "keepalive", "balancer_name", "authority", "wait_for_ready", "read_buffer_size", "write_buffer_size",
    "middlewares", "proxy_url", "max_idle_conns", "max_idle_conns_per_host", "max_conns_per_host",
    "idle_conn_timeout", "disable_keep_alives", "http2_read_idle_timeout", "http2_ping_timeout", "cookies",
    "logs_endpoint", "profiles_endpoint", "batcher",
)
_AUTH_HINT = ("driftline has no auth extensions; send a token with headers, "
              "e.g. headers: {authorization: Bearer ${env:TOKEN}}")
_NO_ENDPOINT = HostPort("", 0)  # stands in for a missing endpoint; the load fails before anyone sees it


def read_otlp(section: Section) -> OTLPExporterConfig:
    """``otlp``: OTLP/gRPC to ``endpoint`` (``host:port``), TLS unless ``tls.insecure: true``."""
    text = section.text("endpoint")
    endpoint, scheme = _NO_ENDPOINT, ""
    if text is None:
        section.missing("endpoint", "set host:port of the OTLP/gRPC server, e.g. endpoint: jaeger:4317")
    else:
        try:
            endpoint, scheme = parse_dial(text)
        except ValueError as error:
            section.report.problem(section.key_path("endpoint"), f"{show(text)} {error}")
    tls = client_tls(section)
    settings = OTLPExporterConfig(
        endpoint=endpoint,
        secure=scheme == "https" or not tls.insecure,
        tls=tls,
        headers=headers(section, lower_case=True),
        compression=compression(section),
        timeout=section.duration("timeout", 5.0),
        retry_on_failure=retry(section),
        sending_queue=queue(section),
    )
    section.finish(_CLIENT_UNSUPPORTED, {"auth": _AUTH_HINT})
    if scheme == "https" and tls.insecure:
        section.report.problem(section.key_path("tls.insecure"),
                               "contradicts the https:// endpoint; remove https:// for plaintext, or insecure for TLS")
    elif scheme == "http" and not tls.insecure:
        section.report.warn(section.key_path("endpoint"),
                            "the http:// prefix does not turn TLS off (as in the Collector); "
                            "set tls: {insecure: true} for a plaintext connection")
    return settings


def read_otlphttp(section: Section) -> OTLPHTTPExporterConfig:
    """``otlphttp``: ``endpoint`` is a base URL (``/v1/traces`` appended); ``traces_endpoint`` a full one."""
    endpoint = _url(section, "endpoint", base=True)
    traces_endpoint = _url(section, "traces_endpoint", base=False)
    metrics_endpoint = _url(section, "metrics_endpoint", base=False)
    if endpoint is None and traces_endpoint is None and metrics_endpoint is None:
        section.missing("endpoint", "set the base URL of the OTLP/HTTP server, e.g. endpoint: https://otlp.example.com "
                                    "(/v1/traces is appended), or a full URL in traces_endpoint")
    if endpoint and endpoint.rstrip("/").endswith(("/v1/traces", "/v1/metrics")):
        section.report.problem(section.key_path("endpoint"),
                               f"{show(endpoint)} already ends in the signal path, and /v1/traces would be appended "
                               "again; give the base URL, or put the full URL in traces_endpoint")
    section.choice("encoding", "proto", ("proto",))
    tls = client_tls(section)
    settings = OTLPHTTPExporterConfig(
        endpoint=endpoint,
        traces_endpoint=traces_endpoint,
        metrics_endpoint=metrics_endpoint,
        tls=tls,
        headers=headers(section, lower_case=False),
        compression=compression(section),
        timeout=section.duration("timeout", 30.0),
        retry_on_failure=retry(section),
        sending_queue=queue(section),
    )
    section.finish(_CLIENT_UNSUPPORTED, {"auth": _AUTH_HINT})
    urls = [url for url in (endpoint, traces_endpoint, metrics_endpoint) if url]
    if tls.insecure:
        section.report.warn(section.key_path("tls.insecure"),
                            "has no effect on otlphttp: the URL's scheme decides (http:// plaintext, https:// TLS)")
    elif urls and all(url.startswith("http://") for url in urls) and (tls.ca_file or tls.cert_file):
        section.report.warn(section.key_path("tls"), "has no effect with http:// URLs; use https:// for TLS")
    return settings


def read_file(section: Section) -> FileExporterConfig:
    """``file``: OTLP-JSON lines at ``path``; ``rotation`` present (even empty) turns rotation on."""
    path = section.text("path")
    if not path:
        section.missing("path", "set the file to write, e.g. path: ./driftline-data/spans.jsonl")
    rotation = section.section("rotation")
    section.choice("format", "json", ("json",))
    settings = FileExporterConfig(
        path=path or "",
        rotation=_read_rotation(rotation) if rotation else None,
        append=section.flag("append", True),
        flush_interval=section.duration("flush_interval", 1.0, positive=True),
    )
    section.finish(("compression", "group_by", "encoding"))
    return settings


def _read_rotation(section: Section) -> RotationSettings:
    default = RotationSettings()
    settings = RotationSettings(
        max_megabytes=section.integer("max_megabytes", default.max_megabytes, minimum=1),
        max_days=section.integer("max_days", default.max_days, minimum=0),
        max_backups=section.integer("max_backups", default.max_backups, minimum=0),
        localtime=section.flag("localtime", default.localtime),
    )
    section.finish()
    return settings


def read_debug(section: Section) -> DebugExporterConfig:
    """``debug``: writes what it receives to the log at ``verbosity`` basic, normal or detailed."""
    default = DebugExporterConfig()
    settings = DebugExporterConfig(
        verbosity=section.choice("verbosity", default.verbosity, ("basic", "normal", "detailed")),
        sampling_initial=section.integer("sampling_initial", default.sampling_initial, minimum=0),
        sampling_thereafter=section.integer("sampling_thereafter", default.sampling_thereafter, minimum=1),
    )
    section.finish(("use_internal_logger",), {"loglevel": "was removed from the Collector; use verbosity"})
    return settings


def read_prometheus(section: Section) -> PrometheusExporterConfig:
    """``prometheus``: serves the metrics of its pipelines at ``http://endpoint/metrics``."""
    if not section.has("endpoint"):
        section.missing("endpoint", "set host:port to serve /metrics on, e.g. endpoint: 127.0.0.1:9464")
    default = PrometheusExporterConfig(endpoint=_NO_ENDPOINT)
    settings = PrometheusExporterConfig(
        endpoint=listen_endpoint(section, "endpoint", _NO_ENDPOINT),
        namespace=section.text("namespace", default.namespace) or "",
        const_labels=section.strings("const_labels", "label names to values"),
        metric_expiration=section.duration("metric_expiration", default.metric_expiration, positive=True),
    )
    section.finish(("send_timestamps", "resource_to_telemetry_conversion", "enable_open_metrics",
                    "add_metric_suffixes", "tls"))
    return settings


def _url(section: Section, key: str, *, base: bool) -> str | None:
    text = section.text(key)
    if text is None:
        return None
    try:
        check_url(text, base=base)
    except ValueError as error:
        section.report.problem(section.key_path(key), f"{show(text)} {error}")
    return text


TYPES: dict[str, ComponentType[ExporterConfig]] = {
    "debug": ComponentType(read_debug),
    "file": ComponentType(read_file),
    "otlp": ComponentType(read_otlp),
    "otlphttp": ComponentType(read_otlphttp),
    "prometheus": ComponentType(read_prometheus, signals=("metrics",)),
}
"""Exporter types by name."""
