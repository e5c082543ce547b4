"""Settings several components share, read with the Collector's key names and checks.

``tls`` (configtls), receiver ``auth``, ``retry_on_failure`` (configretry), ``sending_queue``
(exporterhelper), ``headers`` and ``compression`` (configgrpc / confighttp clients), and endpoints.
"""

from __future__ import annotations

from driftline.processors.config._path import join, show
from driftline.processors.config._reader import Section
from driftline.processors.config.endpoints import parse_listen
from driftline.processors.config.model import (
    BearerTokenAuth,
    ClientTLSSettings,
    Compression,
    HostPort,
    QueueSettings,
    RetrySettings,
    ServerTLSSettings,
)

# configtls keys driftline does not implement (PEM contents, version and cipher pinning, reloading).
_TLS_UNSUPPORTED = frozenset({
    "ca_pem", "cert_pem", "key_pem", "min_version", "max_version", "cipher_suites", "curve_preferences",
    "include_insecure_cipher_suites", "include_system_ca_certs_pool", "reload_interval", "tpm",
})
_SERVER_TLS_HINTS = {
    "insecure": "receivers have no insecure setting; remove tls to serve plaintext",
    "ca_file": "on a receiver use client_ca_file to verify client certificates (mutual TLS)",
    "client_ca_file_reload": "is a Collector setting driftline does not support; remove it",
}
_CLIENT_TLS_HINTS = {
    "insecure_skip_verify": "is not supported: driftline always verifies the server; give its CA in ca_file",
    "client_ca_file": "is a receiver setting; an exporter verifies its server with ca_file",
}
_QUEUE_UNSUPPORTED = frozenset({"sizer", "blocking", "block_on_overflow", "wait_for_result", "batch",
                                "concurrency_controller"})
# Collector storage extension types: here ``storage`` is a file path, not an extension id.
_STORAGE_EXTENSIONS = ("file_storage", "db_storage", "redis_storage")


def listen_endpoint(section: Section, key: str, default: HostPort) -> HostPort:
    """A ``host:port`` to listen on; binding every interface is allowed, with a warning."""
    text = section.text(key)
    if text is None:
        return default
    try:
        endpoint = parse_listen(text)
    except ValueError as error:
        section.report.problem(section.key_path(key), f"{show(text)} {error}")
        return default
    if endpoint.all_interfaces:
        section.report.warn(section.key_path(key),
                            f"{show(text)} listens on every network interface, so anyone who can reach this "
                            "machine can connect; use 127.0.0.1 unless that is intended (and then consider "
                            "tls and auth)")
    return endpoint


def server_tls(parent: Section) -> ServerTLSSettings | None:
    """``tls`` of a receiver: ``cert_file`` and ``key_file``, plus ``client_ca_file`` for mutual TLS."""
    tls = parent.section("tls")
    if tls is None:
        return None
    cert_file, key_file, client_ca_file = tls.file("cert_file"), tls.file("key_file"), tls.file("client_ca_file")
    tls.finish(_TLS_UNSUPPORTED, _SERVER_TLS_HINTS)
    if cert_file is None or key_file is None:
        tls.report.problem(tls.path, "a receiver needs both cert_file and key_file to serve TLS "
                                     "(client_ca_file adds mutual TLS); remove tls to serve plaintext")
        return None
    return ServerTLSSettings(cert_file, key_file, client_ca_file)


def client_tls(parent: Section) -> ClientTLSSettings:
    """``tls`` of an exporter; ``insecure: true`` cannot be combined with certificate files."""
    tls = parent.section("tls")
    if tls is None:
        return ClientTLSSettings()
    settings = ClientTLSSettings(
        insecure=tls.flag("insecure", False),
        ca_file=tls.file("ca_file"),
        cert_file=tls.file("cert_file"),
        key_file=tls.file("key_file"),
        server_name_override=tls.text("server_name_override"),
    )
    tls.finish(_TLS_UNSUPPORTED, _CLIENT_TLS_HINTS)
    files = [key for key in ("ca_file", "cert_file", "key_file") if getattr(settings, key)]
    if settings.insecure and files:
        tls.report.problem(tls.path, f"insecure: true turns TLS off, so {', '.join(files)} cannot be used; "
                                     "remove insecure, or remove the files for a plaintext connection")
    if (settings.cert_file is None) != (settings.key_file is None):
        tls.report.problem(tls.path, "a client certificate needs both cert_file and key_file; give both or neither")
    return settings


def bearer_auth(parent: Section) -> BearerTokenAuth | None:
    """``auth: {bearer_token: ...}`` of a receiver."""
    auth = parent.section("auth")
    if auth is None:
        return None
    token = auth.text("bearer_token")
    auth.finish(hints={"authenticator": "driftline has no auth extensions; "
                                        "write auth: {bearer_token: ${env:TOKEN}} instead"})
    if not token:
        auth.missing("bearer_token", "set the token clients must send, e.g. bearer_token: ${env:DRIFTLINE_TOKEN}")
        return None
    return BearerTokenAuth(token)


def retry(parent: Section) -> RetrySettings:
    """``retry_on_failure`` with the Collector's defaults and ``BackOffConfig.Validate`` rules."""
    default = RetrySettings()
    sec = parent.section("retry_on_failure")
    if sec is None:
        return default
    settings = RetrySettings(
        enabled=sec.flag("enabled", default.enabled),
        initial_interval=sec.duration("initial_interval", default.initial_interval),
        randomization_factor=sec.number("randomization_factor", default.randomization_factor,
                                        minimum=0, maximum=1),
        multiplier=sec.number("multiplier", default.multiplier, minimum=0),
        max_interval=sec.duration("max_interval", default.max_interval),
        max_elapsed_time=sec.duration("max_elapsed_time", default.max_elapsed_time),
    )
    sec.finish()
    if settings.enabled and settings.max_elapsed_time > 0:
        for key in ("initial_interval", "max_interval"):
            if settings.max_elapsed_time < getattr(settings, key):
                sec.report.problem(sec.key_path("max_elapsed_time"),
                                   f"must not be less than {key} (or 0 to retry for ever)")
    return settings


def queue(parent: Section) -> QueueSettings:
    """``sending_queue`` with the Collector's defaults; ``storage`` is a file path here."""
    default = QueueSettings()
    sec = parent.section("sending_queue")
    if sec is None:
        return default
    enabled = sec.flag("enabled", default.enabled)
    settings = QueueSettings(
        enabled=enabled,
        num_consumers=sec.integer("num_consumers", default.num_consumers, minimum=1 if enabled else None),
        queue_size=sec.integer("queue_size", default.queue_size, minimum=1 if enabled else None),
        storage=sec.text("storage"),
    )
    sec.finish(_QUEUE_UNSUPPORTED)
    if settings.storage is not None:
        if not settings.storage:
            sec.report.problem(sec.key_path("storage"), "is empty; give a file path, e.g. ./driftline-data/queue.db, "
                                                        "or remove it for an in-memory queue")
        elif settings.storage.split("/")[0] in _STORAGE_EXTENSIONS:
            sec.report.problem(sec.key_path("storage"),
                               f"{show(settings.storage)} looks like a Collector storage extension; driftline "
                               "takes the path of its queue database here, e.g. ./driftline-data/queue.db")
    return settings


def headers(parent: Section, *, lower_case: bool) -> dict[str, str]:
    """``headers`` sent with every request; gRPC metadata keys are lower-cased."""
    result: dict[str, str] = {}
    for name, value in parent.strings("headers", "header names to values").items():
        path = join(parent.key_path("headers"), name)
        if not name or any(c.isspace() or c == ":" for c in name):
            parent.report.problem(path, "is not a valid header name (no spaces or colons)")
            continue
        key = name.lower() if lower_case else name
        if key in result:
            parent.report.problem(path, f"repeats header {key} (names are case-insensitive); keep one")
            continue
        result[key] = value
    return result


def compression(parent: Section, default: Compression = "gzip") -> Compression:
    """``compression``: gzip or none (an empty value means none, as in the Collector)."""
    if parent.raw("compression") == "":
        return "none"
    choices: tuple[Compression, ...] = ("gzip", "none")
    return parent.choice("compression", default, choices)
