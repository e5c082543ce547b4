"""Server TLS from a receiver's ``tls`` settings, for both transports.

``client_ca_file`` turns on mutual TLS: a client must present a certificate signed by that CA, or
the handshake fails before any request is read. As the Collector does by default, TLS 1.2 is the
lowest version accepted.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped, unused-ignore]

from driftline.processors.config.model import ServerTLSSettings

__all__ = ["grpc_server_credentials", "http_ssl_context"]


def grpc_server_credentials(tls: ServerTLSSettings) -> Any:
    """``grpc.ServerCredentials`` serving ``tls.cert_file``; client certificates required with a client CA."""
    key = Path(tls.key_file).read_bytes()
    cert = Path(tls.cert_file).read_bytes()
    client_ca = Path(tls.client_ca_file).read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=client_ca,
                                       require_client_auth=client_ca is not None)


def http_ssl_context(tls: ServerTLSSettings) -> ssl.SSLContext:
    """A server ``SSLContext`` serving ``tls.cert_file``; client certificates required with a client CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=tls.client_ca_file)
    return context
