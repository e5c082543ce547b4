"""``/metrics``: the Prometheus scrape endpoint for the processor's own metrics."""

from __future__ import annotations

import logging
from typing import Protocol

from aiohttp import web

from driftline.processors.config.model import HostPort

__all__ = ["Exposition", "MetricsServer"]

_log = logging.getLogger(__name__)

_OPENMETRICS = "application/openmetrics-text"


class Exposition(Protocol):
    """What can be scraped: the self-telemetry, or a ``prometheus`` exporter's series."""

    def render(self, openmetrics: bool = False) -> tuple[bytes, str]:
        """The exposition body and its content type (OpenMetrics when asked: it carries exemplars)."""
        ...


class MetricsServer:
    """Serves ``telemetry`` at ``http://address/metrics`` (and ``/`` → a pointer to it).

    ``config_key`` names the address's configuration key in the error raised when it cannot listen.
    """

    def __init__(self, telemetry: Exposition, address: HostPort, *,
                 config_key: str = "service.telemetry.metrics.address") -> None:
        self._telemetry = telemetry
        self._address = address
        self._config_key = config_key
        self._runner: web.AppRunner | None = None
        self.bound: HostPort | None = None
        """The address actually listened on (its port differs from the configured one for port 0)."""

    async def start(self) -> None:
        """Bind and serve; a port in use raises ``OSError`` naming the address."""
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self._address.host or None, self._address.port, reuse_address=True)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise OSError(error.errno, f"cannot listen on {self._address} ({self._config_key}): "
                          f"{error.strerror}") from error
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self._address.port
        self.bound = HostPort(self._address.host, port)

    async def _metrics(self, request: web.Request) -> web.Response:
        # Prometheus asks for OpenMetrics first; only that format carries exemplars (trace ids).
        body, content_type = self._telemetry.render(_OPENMETRICS in request.headers.get("Accept", ""))
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="driftline processor: metrics at /metrics\n")

    async def stop(self) -> None:
        """Stop serving."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
