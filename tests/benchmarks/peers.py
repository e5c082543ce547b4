"""The peer instrumentations driftline is compared with, and how each gets its own virtualenv.

Every peer is installed with its ``[instruments]`` extra, which carries the peer's declared
``openai`` range, so pip picks the newest ``openai`` the peer says it supports. Content capture
is turned off with each peer's own switch (read from its source, see ``content_off``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .venvs import BENCH_DIR, SetupError, Venv


@dataclass(frozen=True)
class Peer:
    """One peer instrumentation of the ``openai`` SDK."""

    key: str
    """Directory name under ``.bench/`` and the short name in the report."""
    label: str
    """Human name for the report."""
    distribution: str
    """The PyPI distribution."""
    target: str
    """``module:Class`` of its ``BaseInstrumentor``."""
    content_off: dict[str, str] = field(default_factory=dict)
    """Environment that turns its prompt/completion capture off."""
    content_note: str = ""
    """Where that switch comes from (for the report)."""
    extra_distributions: tuple[str, ...] = ()
    """Helper distributions whose versions the report lists."""
    pins: tuple[str, ...] = ()
    """Extra requirements without which the peer does not import with the newest openai."""
    pin_note: str = ""
    """Why :attr:`pins` are needed (for the report)."""

    @property
    def venv(self) -> Venv:
        """Its scratch environment."""
        return Venv(BENCH_DIR / self.key)

    @property
    def requirement(self) -> str:
        """What pip installs for it (the extra pins the peer's own ``openai`` range)."""
        return f"{self.distribution}[instruments]"


PEERS: tuple[Peer, ...] = (
    Peer(
        key="otel-genai-openai",
        label="OTel GenAI `opentelemetry-instrumentation-genai-openai`",
        distribution="opentelemetry-instrumentation-genai-openai",
        target="opentelemetry.instrumentation.genai.openai:OpenAIInstrumentor",
        content_off={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"},
        content_note="`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=NO_CONTENT` (util-genai; also the default)",
        extra_distributions=("opentelemetry-util-genai",),
    ),
    Peer(
        key="otel-openai-v2",
        label="OTel contrib `opentelemetry-instrumentation-openai-v2`",
        distribution="opentelemetry-instrumentation-openai-v2",
        target="opentelemetry.instrumentation.openai_v2:OpenAIInstrumentor",
        content_off={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false"},
        content_note=("`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false` (`utils.is_content_enabled`, read on "
                      "its default, non-experimental path; the default)"),
        extra_distributions=("opentelemetry-util-genai",),
        pins=("httpx", "opentelemetry-util-genai<1"),
        pin_note=("2.4b0 imports `httpx` (openai 3 is built on httpx2 and no longer installs it) and "
                  "`opentelemetry.util.genai.instruments`, which util-genai 1.x removed; both added/pinned"),
    ),
    Peer(
        key="openinference",
        label="OpenInference `openinference-instrumentation-openai`",
        distribution="openinference-instrumentation-openai",
        target="openinference.instrumentation.openai:OpenAIInstrumentor",
        content_off={"OPENINFERENCE_HIDE_INPUTS": "true", "OPENINFERENCE_HIDE_OUTPUTS": "true"},
        content_note="`OPENINFERENCE_HIDE_INPUTS=true`, `OPENINFERENCE_HIDE_OUTPUTS=true` (`TraceConfig`)",
        extra_distributions=("openinference-instrumentation",),
    ),
    Peer(
        key="openllmetry",
        label="OpenLLMetry `opentelemetry-instrumentation-openai`",
        distribution="opentelemetry-instrumentation-openai",
        target="opentelemetry.instrumentation.openai:OpenAIInstrumentor",
        content_off={"TRACELOOP_TRACE_CONTENT": "false"},
        content_note="`TRACELOOP_TRACE_CONTENT=false` (`utils.should_send_prompts`); metrics left on (default)",
        extra_distributions=("opentelemetry-semantic-conventions-ai",),
    ),
)

COMMON_DISTRIBUTIONS = ("openai", "opentelemetry-sdk", "opentelemetry-api", "opentelemetry-instrumentation",
                        "httpx", "httpx2", "pydantic", "wrapt")


def ensure(peer: Peer, log: list[str]) -> dict[str, str]:
    """Create and install the peer's environment unless a previous run did; return its versions.

    Raises :class:`SetupError` (with pip's reason) when the peer cannot be installed.
    """
    venv = peer.venv
    if venv.ready():
        log.append(f"{peer.key}: reusing {venv.path}")
        return venv.recorded()
    log.append(f"{peer.key}: creating {venv.path}")
    venv.create()
    venv.pip("install", "--quiet", peer.requirement, "opentelemetry-sdk", *peer.pins)
    versions = venv.versions([peer.distribution, *peer.extra_distributions, *COMMON_DISTRIBUTIONS])
    if versions.get("openai", "-") == "-":
        raise SetupError(f"{peer.requirement} did not bring in openai")
    venv.mark_ready(versions)
    return versions
