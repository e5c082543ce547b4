"""``service``: pipelines (which defined components each signal flows through) and ``telemetry``."""

from __future__ import annotations

from collections.abc import Mapping

from driftline.processors.config._path import join, show
from driftline.processors.config._reader import Section
from driftline.processors.config._report import Report
from driftline.processors.config.model import (
    ComponentId,
    LogsTelemetryConfig,
    MetricsTelemetryConfig,
    PipelineConfig,
    PipelineId,
    ServiceConfig,
    Signal,
    TelemetryConfig,
)
from driftline.processors.config.shared import listen_endpoint

KINDS = ("receivers", "processors", "exporters")
"""The top-level sections that define components, in pipeline order."""

_SIGNALS: tuple[Signal, ...] = ("traces", "metrics")
_EXAMPLE = "traces: {receivers: [otlp], exporters: [file]}"
_EXAMPLE_IDS = {"receivers": "otlp", "processors": "memory_limiter", "exporters": "file"}


def read_service(section: Section, defined: Mapping[str, Mapping[ComponentId, object]]) -> ServiceConfig:
    """Read ``service``; every id a pipeline names must be defined (under the right kind) in ``defined``."""
    pipelines: dict[PipelineId, PipelineConfig] = {}
    section_of_pipelines = section.section("pipelines", "pipelines")
    if section_of_pipelines is None:
        section.missing("pipelines", f"add at least one pipeline, e.g. pipelines: {{{_EXAMPLE}}}")
    else:
        for key in section_of_pipelines.names():
            body = Section.of(section_of_pipelines.raw(key), section_of_pipelines.key_path(key), section.report)
            pipeline_id = _pipeline_id(key, section_of_pipelines.key_path(key), section.report)
            if body is not None:
                pipeline = _read_pipeline(body, defined)
                if pipeline_id is not None:
                    pipelines[pipeline_id] = pipeline
        if not section_of_pipelines.names():
            section.report.problem(section_of_pipelines.path, f"defines no pipeline; add one, e.g. {_EXAMPLE}")
    telemetry = section.section("telemetry")
    settings = ServiceConfig(pipelines=pipelines,
                             telemetry=_read_telemetry(telemetry) if telemetry else TelemetryConfig())
    section.finish(hints={"extensions": "driftline has no extensions; remove service.extensions"})
    return settings


def _pipeline_id(key: str, path: str, report: Report) -> PipelineId | None:
    signal, _, name = key.partition("/")
    for known in _SIGNALS:
        if signal == known and (name or "/" not in key) and not any(c.isspace() or c == "/" for c in name):
            return PipelineId(known, name)
    if signal in ("logs", "profiles"):
        report.problem(path, f"{signal} pipelines are not supported; driftline handles traces and metrics")
    else:
        report.problem(path, f"{show(key)} is not a pipeline id; use traces, metrics, or signal/name, e.g. traces/2")
    return None


def _read_pipeline(section: Section, defined: Mapping[str, Mapping[ComponentId, object]]) -> PipelineConfig:
    receivers = _references(section, "receivers", defined, required=True)
    processors = _references(section, "processors", defined, required=False)
    exporters = _references(section, "exporters", defined, required=True)
    section.finish()
    return PipelineConfig(receivers=receivers, processors=processors, exporters=exporters)


def _references(section: Section, kind: str, defined: Mapping[str, Mapping[ComponentId, object]], *,
                required: bool) -> tuple[ComponentId, ...]:
    singular = kind[:-1]
    path = section.key_path(kind)
    raw = section.raw(kind)
    if raw is None or raw == []:
        if required:
            example = _first(defined[kind]) or _EXAMPLE_IDS[kind]
            section.report.problem(path, f"a pipeline needs at least one {singular}, e.g. {kind}: [{example}]")
        return ()
    if not isinstance(raw, list):
        example = raw if isinstance(raw, str) else _first(defined[kind]) or _EXAMPLE_IDS[kind]
        section.report.problem(path, f"expected a list of {singular} ids, e.g. [{example}]")
        return ()
    ids: list[ComponentId] = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, str):
            section.report.problem(where, f"{show(item)} is not a {singular} id")
            continue
        try:
            component = ComponentId.parse(item)
        except ValueError as error:
            section.report.problem(where, f"{show(item)} is not a component id: {error}")
            continue
        if component in ids:
            section.report.problem(where, f"{show(item)} is listed twice; list each {singular} once")
            continue
        if component not in defined[kind]:
            section.report.problem(where, _undefined(item, kind, defined))
            continue
        ids.append(component)
    return tuple(ids)


def _undefined(item: str, kind: str, defined: Mapping[str, Mapping[ComponentId, object]]) -> str:
    component = ComponentId.parse(item)
    for other in KINDS:
        if other != kind and component in defined[other]:
            return (f"{show(item)} is {_article(other)} {other[:-1]}, not {_article(kind)} {kind[:-1]}; "
                    f"move it to {other}")
    names = ", ".join(str(known) for known in defined[kind])
    choices = f"define it under {kind}, or use one of: {names}" if names else f"define it under {kind}"
    return f"{show(item)} is not defined under {kind}; {choices}"


def _read_telemetry(section: Section) -> TelemetryConfig:
    default = TelemetryConfig()
    metrics_section = section.section("metrics")
    metrics = default.metrics
    if metrics_section is not None:
        metrics = MetricsTelemetryConfig(
            level=metrics_section.choice("level", default.metrics.level, ("none", "basic", "normal", "detailed")),
            address=listen_endpoint(metrics_section, "address", default.metrics.address),
        )
        metrics_section.finish(hints={"readers": "is not supported; driftline serves its own metrics at "
                                                 "http://<address>/metrics, e.g. address: 127.0.0.1:9464"})
    logs_section = section.section("logs")
    logs = default.logs
    if logs_section is not None:
        logs = LogsTelemetryConfig(level=logs_section.choice("level", default.logs.level,
                                                             ("debug", "info", "warn", "error")))
        logs_section.finish(("encoding", "output_paths", "error_output_paths", "development", "disable_caller",
                             "disable_stacktrace", "sampling", "initial_fields", "processors"))
    section.finish(("resource", "traces"))
    return TelemetryConfig(metrics=metrics, logs=logs)


def _first(components: Mapping[ComponentId, object]) -> str:
    return str(next(iter(components))) if components else ""


def _article(kind: str) -> str:
    return "an" if kind[0] in "aeiou" else "a"


def pipeline_path(pipeline: PipelineId, kind: str = "") -> str:
    """The dotted path of a pipeline (or of one of its lists)."""
    return join(join("service.pipelines", str(pipeline)), kind) if kind else join("service.pipelines", str(pipeline))
