"""Client TLS material from ``ClientTLSSettings``, for the gRPC and HTTP exporters."""

from __future__ import annotations

import ssl

import grpc  # type: ignore[import-untyped, unused-ignore]

from driftline.processors.config.model import ClientTLSSettings

__all__ = ["grpc_credentials", "ssl_context"]


def _read(path: str | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as file:
        return file.read()


def grpc_credentials(tls: ClientTLSSettings) -> grpc.ChannelCredentials:
    """Channel credentials: ``ca_file`` (else the system roots) verifies the server; ``cert_file`` and
    ``key_file`` are the client's certificate for mutual TLS. Reads the files (call off the loop)."""
    return grpc.ssl_channel_credentials(root_certificates=_read(tls.ca_file), private_key=_read(tls.key_file),
                                        certificate_chain=_read(tls.cert_file))


def ssl_context(tls: ClientTLSSettings) -> ssl.SSLContext:
    """A verifying client context: ``ca_file`` replaces the system roots, ``cert_file``/``key_file`` add
    the client certificate for mutual TLS. Reads the files (call off the loop)."""
    context = ssl.create_default_context(cafile=tls.ca_file)  # with cafile, the system roots are not loaded
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context
