"""Zero-code activation: ``DRIFTLINE_AUTO_INSTRUMENT=true python app.py``.

The wheel ships ``driftline-auto.pth`` at the root of site-packages; Python runs its one line at
interpreter start. Unset, that line costs one environment lookup. Set, :func:`activate`:

* honours ``OTEL_SDK_DISABLED`` (does nothing) and ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``;
* registers post-import hooks, so each supported library is instrumented when the application
  imports it (nothing is imported eagerly: start-up stays cheap for libraries never used);
* configures the OpenTelemetry SDK from the standard ``OTEL_*`` variables lazily, on the first
  span driftline starts, and only if the application has not installed its own TracerProvider
  or MeterProvider by then (an application that configures OpenTelemetry itself keeps its own).

Defaults applied only when the variable is unset: ``OTEL_TRACES_EXPORTER=otlp``,
``OTEL_METRICS_EXPORTER=otlp``, ``OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf`` (the ``auto`` extra
ships the HTTP exporter; install ``opentelemetry-exporter-otlp-proto-grpc`` to use ``grpc``), and
``OTEL_LOGS_EXPORTER=otlp`` when content capture includes events.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

from driftline.semconv import names

# library top-level module → (entry-point name, "module:Class")
SUPPORTED: dict[str, tuple[str, str]] = {
    "openai": ("driftline_openai", "driftline.instrumentation.openai:OpenAIInstrumentor"),
    "anthropic": ("driftline_anthropic", "driftline.instrumentation.anthropic:AnthropicInstrumentor"),
    "mcp": ("driftline_mcp", "driftline.instrumentation.mcp:MCPInstrumentor"),
    "langchain_core": ("driftline_langchain", "driftline.instrumentation.langchain:LangChainInstrumentor"),
    "sklearn": ("driftline_sklearn", "driftline.instrumentation.sklearn:SklearnInstrumentor"),
}

_activated = False
_lock = threading.Lock()

_TRUE = ("1", "true", "yes", "on")


def _warn(message: str, *args: object) -> None:
    # logging is imported only when there is something to say: it costs ~15 ms at start-up.
    import logging

    logging.getLogger("driftline.instrumentation").warning(message, *args, exc_info=True)


def _disabled_names() -> set[str]:
    raw = os.environ.get(names.ENV_DISABLED_INSTRUMENTATIONS, "")
    return {item.strip() for item in raw.split(",") if item.strip()}


def activate() -> None:
    """Set up auto-instrumentation for this process (idempotent; never raises)."""
    global _activated
    with _lock:
        if _activated:
            return
        _activated = True
    try:
        if os.environ.get(names.ENV_SDK_DISABLED, "").strip().lower() in _TRUE:
            return
        from driftline.instrumentation._core import first_use

        from ._import_hook import when_imported

        first_use.hooks.append(configure_sdk)
        disabled = _disabled_names()
        for library, (ep_name, target) in SUPPORTED.items():
            if ep_name in disabled or library in disabled:
                continue
            when_imported(library, _instrument_hook(target))
    except Exception:
        _warn("driftline: auto-instrumentation could not start")


def _instrument_hook(target: str) -> Callable[[object], None]:
    def hook(_module: object) -> None:
        try:
            import importlib

            module_name, _, class_name = target.partition(":")
            instrumentor = getattr(importlib.import_module(module_name), class_name)()
            # The library was just imported, so it is present; its version is checked by the
            # patches themselves (absent methods are skipped), not by a metadata scan at start-up.
            instrumentor.instrument(skip_dep_check=True)
        except Exception:
            _warn("driftline: could not instrument %s", target)

    return hook


def configure_sdk() -> None:
    """Configure the OTel SDK from ``OTEL_*`` unless the application already did (never raises)."""
    try:
        from opentelemetry import metrics, trace

        if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return
        if not isinstance(metrics.get_meter_provider(), metrics._internal._ProxyMeterProvider):
            return
        try:
            from opentelemetry.sdk import environment_variables as sdk_env
            from opentelemetry.sdk._configuration import _OTelSDKConfigurator
        except ImportError:
            _warn("driftline: DRIFTLINE_AUTO_INSTRUMENT needs the OpenTelemetry SDK "
                  "(pip install 'driftline[auto]'); spans go to the global no-op provider")
            return
        from opentelemetry import environment_variables as api_env

        os.environ.setdefault(api_env.OTEL_TRACES_EXPORTER, "otlp")
        os.environ.setdefault(api_env.OTEL_METRICS_EXPORTER, "otlp")
        os.environ.setdefault(sdk_env.OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf")
        from driftline.instrumentation._core.config import parse_capture_mode

        if parse_capture_mode(os.environ.get(names.ENV_CAPTURE_MESSAGE_CONTENT)).on_event:
            os.environ.setdefault(api_env.OTEL_LOGS_EXPORTER, "otlp")
        from driftline.instrumentation._core.instrumentor import VERSION

        _OTelSDKConfigurator().configure(auto_instrumentation_version=VERSION)  # type: ignore[no-untyped-call]
    except Exception:
        _warn("driftline: could not configure the OpenTelemetry SDK")
