"""Receiver settings: the ``otlp`` receiver (Collector ``otlpreceiver`` keys, driftline defaults).

Defaults differ from the Collector in one place, on purpose: both protocols accept up to 64 MiB
decompressed per request (the Collector: gRPC 4 MiB, HTTP 20 MiB), so the processor can sit behind
SDKs and Collectors that send large batches.
"""

from __future__ import annotations

from driftline.processors.config._reader import Section
from driftline.processors.config.model import GRPCReceiverSettings, HTTPReceiverSettings, OTLPReceiverConfig
from driftline.processors.config.registry import ComponentType
from driftline.processors.config.shared import bearer_auth, listen_endpoint, server_tls

_GRPC_UNSUPPORTED = ("transport", "max_concurrent_streams", "read_buffer_size", "write_buffer_size",
                     "keepalive", "include_metadata", "middlewares")
_HTTP_UNSUPPORTED = ("cors", "include_metadata", "response_headers", "compression_algorithms", "read_timeout",
                     "read_header_timeout", "write_timeout", "idle_timeout", "keepalives_enabled", "middlewares",
                     "metrics_url_path", "logs_url_path", "profiles_url_path")


def read_otlp(section: Section) -> OTLPReceiverConfig:
    """``otlp``: ``protocols.grpc`` and/or ``protocols.http``; a protocol key present (even empty) enables it."""
    protocols = section.section("protocols", "protocols (grpc, http)")
    section.finish()
    if protocols is None:
        section.missing("protocols", "enable at least one protocol, e.g. protocols: {grpc: {}, http: {}}")
        return OTLPReceiverConfig()
    grpc = protocols.section("grpc")
    http = protocols.section("http")
    protocols.finish()
    if not protocols.has("grpc") and not protocols.has("http"):
        section.report.problem(protocols.path, "enable at least one protocol: grpc: {} or http: {}")
    return OTLPReceiverConfig(grpc=_read_grpc(grpc) if grpc else None, http=_read_http(http) if http else None)


def _read_grpc(section: Section) -> GRPCReceiverSettings:
    default = GRPCReceiverSettings()
    settings = GRPCReceiverSettings(
        endpoint=listen_endpoint(section, "endpoint", default.endpoint),
        max_recv_msg_size_mib=section.integer("max_recv_msg_size_mib", default.max_recv_msg_size_mib, minimum=1),
        tls=server_tls(section),
        auth=bearer_auth(section),
    )
    section.finish(_GRPC_UNSUPPORTED)
    return settings


def _read_http(section: Section) -> HTTPReceiverSettings:
    default = HTTPReceiverSettings()
    path = section.text("traces_url_path", default.traces_url_path) or default.traces_url_path
    settings = HTTPReceiverSettings(
        endpoint=listen_endpoint(section, "endpoint", default.endpoint),
        max_request_body_size=section.integer("max_request_body_size", default.max_request_body_size, minimum=1),
        traces_url_path=path if path.startswith("/") else "/" + path,  # the Collector adds the leading /
        tls=server_tls(section),
        auth=bearer_auth(section),
    )
    section.finish(_HTTP_UNSUPPORTED)
    return settings


TYPES: dict[str, ComponentType[OTLPReceiverConfig]] = {"otlp": ComponentType(read_otlp)}
"""Receiver types by name."""
