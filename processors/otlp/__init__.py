"""The OTLP protocol layer the processor's receivers and exporters stand on (pure functions).

* :mod:`.json_codec` — OTLP/JSON ⇄ ``ExportTraceServiceRequest``.
* :mod:`.admission` — content types, bounded decompression, protobuf decoding, span counting.
* :mod:`.status` — OTLP responses, ``google.rpc.Status`` bodies, retryability and retry hints.

Reference: OTLP specification, https://opentelemetry.io/docs/specs/otlp/
"""
