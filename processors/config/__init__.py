"""The processor's configuration: YAML in the OpenTelemetry Collector's shape, read into typed values.

>>> config = load_config("processor.yaml")          # doctest: +SKIP
>>> config.exporters[ComponentId("otlp", "jaeger")].retry_on_failure.initial_interval   # doctest: +SKIP
0.2

``load_config`` / ``parse_config`` raise :class:`ConfigError` whose ``problems`` name every bad key
with its fix; ``Config.warnings`` lists what works but deserves a look. Key names, value forms and
defaults are the Collector's unless a model docstring says otherwise.
"""

from driftline.processors.config.defaults import DEFAULT_CONFIG_YAML, default_config
from driftline.processors.config.durations import parse_duration
from driftline.processors.config.errors import ConfigError
from driftline.processors.config.load import load_config, parse_config
from driftline.processors.config.model import (
    BatchConfig,
    BearerTokenAuth,
    ClientTLSSettings,
    ComponentId,
    Config,
    DebugExporterConfig,
    DriftlineProcessorConfig,
    ExporterConfig,
    FileExporterConfig,
    GRPCReceiverSettings,
    HostPort,
    HTTPReceiverSettings,
    LogsTelemetryConfig,
    MemoryLimiterConfig,
    MetricsTelemetryConfig,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    OTLPReceiverConfig,
    PipelineConfig,
    PipelineId,
    ProcessorConfig,
    PrometheusExporterConfig,
    QueueSettings,
    ReceiverConfig,
    RetrySettings,
    RotationSettings,
    ServerTLSSettings,
    ServiceConfig,
    TelemetryConfig,
)

__all__ = [
    "DEFAULT_CONFIG_YAML",
    "BatchConfig",
    "BearerTokenAuth",
    "ClientTLSSettings",
    "ComponentId",
    "Config",
    "ConfigError",
    "DebugExporterConfig",
    "DriftlineProcessorConfig",
    "ExporterConfig",
    "FileExporterConfig",
    "GRPCReceiverSettings",
    "HTTPReceiverSettings",
    "HostPort",
    "LogsTelemetryConfig",
    "MemoryLimiterConfig",
    "MetricsTelemetryConfig",
    "OTLPExporterConfig",
    "OTLPHTTPExporterConfig",
    "OTLPReceiverConfig",
    "PipelineConfig",
    "PipelineId",
    "ProcessorConfig",
    "PrometheusExporterConfig",
    "QueueSettings",
    "ReceiverConfig",
    "RetrySettings",
    "RotationSettings",
    "ServerTLSSettings",
    "ServiceConfig",
    "TelemetryConfig",
    "default_config",
    "load_config",
    "parse_config",
    "parse_duration",
]
