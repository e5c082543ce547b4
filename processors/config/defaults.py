"""The embedded default: what ``driftline processor`` runs without ``--config``.

OTLP gRPC on 127.0.0.1:4317 and OTLP HTTP on 127.0.0.1:4318, the processor's metrics at
http://127.0.0.1:9464/metrics, and spans written as OTLP-JSON lines under ``./driftline-data/``, so
a first run shows results without any backend. ``deploy/processor/default.yaml`` is this text
(a test keeps them equal).
"""

from __future__ import annotations

from driftline.processors.config.load import parse_config
from driftline.processors.config.model import Config

DEFAULT_CONFIG_YAML = """\
# Driftline processor: the embedded default configuration.
# `driftline processor` runs this when no --config is given; print it with
# `driftline processor --print-default-config` and edit the copy.
# Everything listens on loopback only, and no backend is needed.

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:4317        # OTLP/gRPC (TraceService), gzip accepted
      http:
        endpoint: 127.0.0.1:4318        # POST /v1/traces, protobuf or JSON

processors:
  memory_limiter:                       # above 512 - 128 MiB, refuse data with a retryable answer
    check_interval: 1s
    limit_mib: 512
    spike_limit_mib: 128
  driftline:                            # the analysis stage: drift on every model, LLM and agent seen
    state: ./driftline-data/drift-state.sqlite   # baselines survive restarts

exporters:
  file:                                 # OTLP-JSON, one request per line
    path: ./driftline-data/spans.jsonl
    rotation:
      max_megabytes: 100
      max_backups: 3

service:
  telemetry:
    metrics:
      address: 127.0.0.1:9464           # the processor's own metrics: http://127.0.0.1:9464/metrics
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, driftline]
      exporters: [file]
"""
"""The default configuration as YAML, comments included."""


def default_config() -> Config:
    """The embedded default, validated (no environment variables are involved)."""
    return parse_config(DEFAULT_CONFIG_YAML, source="<default configuration>", environ={})
