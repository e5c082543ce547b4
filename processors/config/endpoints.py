"""Addresses as the Collector writes them: ``host:port`` to listen on or dial, URLs for OTLP/HTTP.

Each parser raises ``ValueError`` whose text completes ``<key>: <value> ...`` with the reason and
the form to use instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from driftline.processors.config.model import HostPort


def parse_listen(text: str) -> HostPort:
    """``host:port`` to listen on; an empty host (``:4317``) means every interface, as in Go."""
    if "://" in text:
        raise ValueError("is a URL; a listen endpoint is host:port without a scheme, e.g. 127.0.0.1:4317")
    return _host_port(text, host_required=False)


def parse_dial(text: str) -> tuple[HostPort, str]:
    """``host:port`` of a gRPC server, optionally prefixed ``http://`` or ``https://``; returns the scheme.

    The Collector strips those prefixes (``https://`` also forces TLS); other gRPC target schemes
    (``dns:///``, ``unix://``) are not supported here.
    """
    scheme = ""
    for prefix in ("http://", "https://"):
        if text.startswith(prefix):
            scheme, text = prefix[:-3], text[len(prefix):]
            break
    else:
        if "://" in text:
            raise ValueError("has a scheme driftline cannot dial; use host:port, e.g. jaeger:4317")
    if "/" in text:
        raise ValueError("has a path; an OTLP/gRPC endpoint is host:port, e.g. jaeger:4317")
    return _host_port(text, host_required=True), scheme


def check_url(text: str, *, base: bool) -> None:
    """An ``http(s)://host[:port][/path]`` URL; a ``base`` URL gets ``/v1/<signal>`` appended."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise ValueError(f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("needs a scheme: use https://host[:port] (or http:// for plaintext)")
    if not parts.hostname:
        raise ValueError("has no host; use e.g. https://otlp.example.com")
    if port == 0:
        raise ValueError("has port 0; use a port between 1 and 65535")
    if base and (parts.query or parts.fragment):
        raise ValueError("must not have a ?query or #fragment, because /v1/traces is appended to it; "
                         "put a full URL in traces_endpoint instead")


def _host_port(text: str, *, host_required: bool) -> HostPort:
    example = "jaeger:4317" if host_required else "127.0.0.1:4317"
    if any(c.isspace() for c in text):
        raise ValueError(f"contains spaces; use host:port, e.g. {example}")
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not text[close + 1:].startswith(":"):
            raise ValueError("is not [ipv6]:port, e.g. [::1]:4317")
        host, port_text = text[1:close], text[close + 2:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ValueError(f"has no port; use host:port, e.g. {example}")
        if ":" in host:
            raise ValueError("has an IPv6 address without brackets; write it as [::1]:4317")
    if host_required and not host:
        raise ValueError("has no host; use host:port, e.g. jaeger:4317")
    if not port_text.isdigit() or not port_text.isascii():
        raise ValueError(f"has port {port_text!r}, which is not a number; use host:port, e.g. {example}")
    port = int(port_text)
    # Port 0 to listen on means "any free port", as in Go's net.Listen; the bound port is logged.
    lowest = 1 if host_required else 0
    if not lowest <= port <= 65535:
        raise ValueError(f"has port {port}; use a port between {lowest} and 65535")
    return HostPort(host, port)
