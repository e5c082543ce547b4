"""The processor's configuration as typed, frozen values (what ``load_config`` returns).

The shape is the OpenTelemetry Collector's: components are defined under ``receivers``,
``processors`` and ``exporters`` by ``type[/name]`` id, and ``service.pipelines`` wires them.
Durations are seconds (float), sizes keep the unit their key names (``_mib`` MiB, else bytes).
Every value here has been validated; the service can use it without checking again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

Signal = Literal["traces", "metrics"]
Compression = Literal["gzip", "none"]


@dataclass(frozen=True)
class ComponentId:
    """``type[/name]``: ``otlp/jaeger`` is an ``otlp`` component named ``jaeger``."""

    type: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.type}/{self.name}" if self.name else self.type

    @classmethod
    def parse(cls, text: str) -> ComponentId:
        """Split ``type/name``; raise ``ValueError`` with the reason if ``text`` is not an id."""
        type_, slash, name = text.partition("/")
        if not type_ or not type_[0].isascii() or not type_[0].isalpha() or not all(
                c.isascii() and (c.isalnum() or c == "_") for c in type_):
            raise ValueError(f"the type part {type_!r} must start with a letter and use only letters, digits and _")
        if slash and not name:
            raise ValueError("nothing follows the /; write type/name, e.g. otlp/jaeger, or just the type")
        if any(c.isspace() or c == "/" for c in name):
            raise ValueError(f"the name part {name!r} must not contain spaces or another /")
        return cls(type_, name)


@dataclass(frozen=True)
class PipelineId:
    """``signal[/name]``: ``traces``, ``traces/sampled``, ``metrics``."""

    signal: Signal
    name: str = ""

    def __str__(self) -> str:
        return f"{self.signal}/{self.name}" if self.name else self.signal


@dataclass(frozen=True)
class HostPort:
    """A TCP address; ``host`` is a name or an IP literal (IPv6 without brackets), ``""`` = all interfaces."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def all_interfaces(self) -> bool:
        """True when listening here accepts connections from every network interface."""
        return self.host in ("", "0.0.0.0", "::")


# --- shared settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTLSSettings:
    """``tls`` of a receiver (Collector ``configtls.ServerConfig``); files exist at load time.

    ``client_ca_file`` turns on mutual TLS: clients must present a certificate signed by that CA.
    """

    cert_file: str
    key_file: str
    client_ca_file: str | None = None


@dataclass(frozen=True)
class BearerTokenAuth:
    """``auth: {bearer_token: ...}`` of a receiver: requests need ``authorization: Bearer <token>``.

    The Collector does this with the ``bearertokenauth`` extension; driftline has no extensions,
    so the token sits on the receiver. It never appears in ``repr``.
    """

    token: str = field(repr=False)


@dataclass(frozen=True)
class ClientTLSSettings:
    """``tls`` of an exporter (Collector ``configtls.ClientConfig``); files exist at load time.

    ``insecure: true`` means plaintext (the Collector's meaning for gRPC). ``ca_file`` replaces the
    system roots for verifying the server; ``cert_file``/``key_file`` are the client's own certificate
    (mutual TLS).
    """

    insecure: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name_override: str | None = None


@dataclass(frozen=True)
class RetrySettings:
    """``retry_on_failure`` (Collector ``configretry.BackOffConfig``, same defaults).

    Exponential backoff: the n-th wait is ``min(initial_interval * multiplier**n, max_interval)``,
    jittered by ``± randomization_factor``; data is dropped (and counted) once ``max_elapsed_time``
    has passed since the first attempt (0 = retry for ever).
    """

    enabled: bool = True
    initial_interval: float = 5.0
    randomization_factor: float = 0.5
    multiplier: float = 1.5
    max_interval: float = 30.0
    max_elapsed_time: float = 300.0


@dataclass(frozen=True)
class QueueSettings:
    """``sending_queue`` (Collector exporterhelper queue: ``enabled``, ``num_consumers``, ``queue_size``).

    ``queue_size`` counts requests (the Collector's default ``sizer: requests``). ``storage`` differs
    from the Collector on purpose: there it names a storage *extension*; here it is the path of the
    SQLite database that keeps the queue across restarts (``None`` = in memory), relative to the
    working directory unless absolute.
    """

    enabled: bool = True
    num_consumers: int = 10
    queue_size: int = 1000
    storage: str | None = None


# --- receivers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class GRPCReceiverSettings:
    """``receivers.otlp.protocols.grpc`` (Collector ``configgrpc.ServerConfig``, the supported subset)."""

    endpoint: HostPort = HostPort("127.0.0.1", 4317)
    max_recv_msg_size_mib: int = 64
    tls: ServerTLSSettings | None = None
    auth: BearerTokenAuth | None = None

    @property
    def max_recv_msg_size_bytes(self) -> int:
        """The largest accepted (decompressed) message in bytes."""
        return self.max_recv_msg_size_mib * 1024 * 1024


@dataclass(frozen=True)
class HTTPReceiverSettings:
    """``receivers.otlp.protocols.http`` (Collector ``confighttp.ServerConfig`` + ``traces_url_path``)."""

    endpoint: HostPort = HostPort("127.0.0.1", 4318)
    max_request_body_size: int = 64 * 1024 * 1024
    traces_url_path: str = "/v1/traces"
    tls: ServerTLSSettings | None = None
    auth: BearerTokenAuth | None = None


@dataclass(frozen=True)
class OTLPReceiverConfig:
    """An ``otlp`` receiver: at least one of gRPC and HTTP is set."""

    grpc: GRPCReceiverSettings | None = None
    http: HTTPReceiverSettings | None = None


ReceiverConfig = OTLPReceiverConfig


# --- processors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryLimiterConfig:
    """``memory_limiter`` (Collector keys): refuse data, retryably, above ``limit_mib - spike_limit_mib``.

    ``limit_mib`` is the hard limit; the soft limit is ``limit_mib - spike_limit_mib``; memory is
    measured every ``check_interval`` seconds.
    """

    limit_mib: int
    spike_limit_mib: int
    check_interval: float = 1.0

    @property
    def soft_limit_mib(self) -> int:
        """Above this, new data is refused with a retryable answer."""
        return self.limit_mib - self.spike_limit_mib


@dataclass(frozen=True)
class BatchConfig:
    """``batch``: accepted with the Collector's keys and defaults so configs carry over; no effect yet."""

    timeout: float = 0.2
    send_batch_size: int = 8192
    send_batch_max_size: int = 0


@dataclass(frozen=True)
class DriftlineProcessorConfig:
    """``driftline``: the analysis stage. Its keys belong to the analysis issues and are kept as given
    (after ``${env:...}`` expansion, whole-value references typed as YAML would type them)."""

    options: Mapping[str, object] = field(default_factory=dict)


ProcessorConfig = MemoryLimiterConfig | BatchConfig | DriftlineProcessorConfig


# --- exporters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OTLPExporterConfig:
    """``otlp``: OTLP/gRPC to ``endpoint`` (Collector keys and defaults).

    ``secure`` is whether the channel uses TLS, decided as the Collector decides it: TLS unless
    ``tls.insecure: true``, and always TLS for an ``https://`` endpoint. Header names are lower-cased
    (gRPC metadata keys are lower case); values never appear in ``repr``.
    """

    endpoint: HostPort
    secure: bool = True
    tls: ClientTLSSettings = ClientTLSSettings()
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    compression: Compression = "gzip"
    timeout: float = 5.0
    retry_on_failure: RetrySettings = RetrySettings()
    sending_queue: QueueSettings = QueueSettings()


@dataclass(frozen=True)
class OTLPHTTPExporterConfig:
    """``otlphttp``: OTLP/HTTP protobuf (Collector keys and defaults).

    ``endpoint`` is a base URL: ``/v1/traces`` (``/v1/metrics``) is appended unless
    ``traces_endpoint`` (``metrics_endpoint``) gives the full URL. The URL's scheme decides TLS.
    """

    endpoint: str | None = None
    traces_endpoint: str | None = None
    metrics_endpoint: str | None = None
    tls: ClientTLSSettings = ClientTLSSettings()
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    compression: Compression = "gzip"
    timeout: float = 30.0
    retry_on_failure: RetrySettings = RetrySettings()
    sending_queue: QueueSettings = QueueSettings()

    def url_for(self, signal: Signal) -> str:
        """The URL this exporter POSTs ``signal`` to (the Collector's rule for composing it)."""
        explicit = self.traces_endpoint if signal == "traces" else self.metrics_endpoint
        if explicit:
            return explicit
        if not self.endpoint:
            raise ValueError(f"neither endpoint nor {signal}_endpoint is set")
        separator = "" if self.endpoint.endswith("/") else "/"
        return f"{self.endpoint}{separator}v1/{signal}"

    def uses_tls(self, signal: Signal) -> bool:
        """True when the URL for ``signal`` is ``https://``."""
        return urlsplit(self.url_for(signal)).scheme == "https"


@dataclass(frozen=True)
class RotationSettings:
    """``rotation`` of the ``file`` exporter (Collector defaults); rotation is on only when given."""

    max_megabytes: int = 100
    max_days: int = 0
    max_backups: int = 100
    localtime: bool = False


@dataclass(frozen=True)
class FileExporterConfig:
    """``file``: OTLP-JSON, one ``ExportTraceServiceRequest`` per line, at ``path``.

    ``append`` defaults to true, unlike the Collector (which truncates on start): a restart must
    not erase spans already written. A relative ``path`` is relative to the working directory.
    """

    path: str
    rotation: RotationSettings | None = None
    append: bool = True
    flush_interval: float = 1.0


@dataclass(frozen=True)
class DebugExporterConfig:
    """``debug``: a summary (``basic``), one line per span (``normal``) or everything (``detailed``)."""

    verbosity: Literal["basic", "normal", "detailed"] = "basic"
    sampling_initial: int = 2
    sampling_thereafter: int = 1


@dataclass(frozen=True)
class PrometheusExporterConfig:
    """``prometheus``: serves metrics for scraping at ``http://endpoint/metrics`` (metrics pipelines only).

    When ``endpoint`` equals ``service.telemetry.metrics.address`` the two share one ``/metrics``.
    """

    endpoint: HostPort
    namespace: str = ""
    const_labels: Mapping[str, str] = field(default_factory=dict)
    metric_expiration: float = 300.0


ExporterConfig = (OTLPExporterConfig | OTLPHTTPExporterConfig | FileExporterConfig | DebugExporterConfig
                  | PrometheusExporterConfig)


# --- service -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineConfig:
    """One pipeline: data flows from every receiver, through the processors in order, to every exporter."""

    receivers: tuple[ComponentId, ...]
    exporters: tuple[ComponentId, ...]
    processors: tuple[ComponentId, ...] = ()


@dataclass(frozen=True)
class MetricsTelemetryConfig:
    """``service.telemetry.metrics``: the processor's own metrics at ``http://address/metrics``.

    ``level: none`` turns them off. The default address is driftline's (127.0.0.1:9464), not the
    Collector's 8888.
    """

    level: Literal["none", "basic", "normal", "detailed"] = "normal"
    address: HostPort = HostPort("127.0.0.1", 9464)


@dataclass(frozen=True)
class LogsTelemetryConfig:
    """``service.telemetry.logs``: the processor's own log level."""

    level: Literal["debug", "info", "warn", "error"] = "info"


@dataclass(frozen=True)
class TelemetryConfig:
    """``service.telemetry``."""

    metrics: MetricsTelemetryConfig = MetricsTelemetryConfig()
    logs: LogsTelemetryConfig = LogsTelemetryConfig()


@dataclass(frozen=True)
class ServiceConfig:
    """``service``: the pipelines to run and the processor's own telemetry."""

    pipelines: Mapping[PipelineId, PipelineConfig]
    telemetry: TelemetryConfig = TelemetryConfig()


@dataclass(frozen=True)
class Config:
    """A whole, valid processor configuration.

    Components are keyed by id in file order. ``warnings`` are things that work but deserve a look
    (listening on every interface, a setting with no effect); the CLI prints them.
    """

    receivers: Mapping[ComponentId, ReceiverConfig]
    processors: Mapping[ComponentId, ProcessorConfig]
    exporters: Mapping[ComponentId, ExporterConfig]
    service: ServiceConfig
    warnings: tuple[str, ...] = ()
