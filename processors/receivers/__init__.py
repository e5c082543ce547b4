"""Receivers: where telemetry enters the processor.

:class:`OTLPReceiver` serves OTLP/gRPC (``grpc.aio``) and OTLP/HTTP (aiohttp) on one event loop. The
transport modules (:mod:`.grpc`, :mod:`.http`) only frame requests and answers; what a request goes
through (shutdown and auth checks, admission, hand-off, self-metrics) is :mod:`.intake`, shared.
"""

from driftline.processors.receivers.receiver import OTLPReceiver

__all__ = ["OTLPReceiver"]
