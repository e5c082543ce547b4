"""Checks across components: signals each pipeline member supports, addresses and files in use twice,
what is defined but unused, and processor order."""

from __future__ import annotations

import os.path
from collections.abc import Mapping
from dataclasses import dataclass

from driftline.processors.config import exporters as exporter_types
from driftline.processors.config import processors as processor_types
from driftline.processors.config import receivers as receiver_types
from driftline.processors.config._path import join
from driftline.processors.config._report import Report
from driftline.processors.config.model import (
    ComponentId,
    ExporterConfig,
    FileExporterConfig,
    HostPort,
    OTLPExporterConfig,
    OTLPHTTPExporterConfig,
    ProcessorConfig,
    PrometheusExporterConfig,
    ReceiverConfig,
    ServiceConfig,
)
from driftline.processors.config.registry import ComponentType
from driftline.processors.config.service import pipeline_path

_TYPES: Mapping[str, Mapping[str, ComponentType[object]]] = {
    "receivers": receiver_types.TYPES, "processors": processor_types.TYPES, "exporters": exporter_types.TYPES,
}


@dataclass(frozen=True)
class Components:
    """Everything defined, by kind; what the checks look at besides the service."""

    receivers: Mapping[ComponentId, ReceiverConfig]
    processors: Mapping[ComponentId, ProcessorConfig]
    exporters: Mapping[ComponentId, ExporterConfig]

    def of(self, kind: str) -> Mapping[ComponentId, object]:
        """The components defined under ``kind`` (``receivers``, ``processors`` or ``exporters``)."""
        return {"receivers": self.receivers, "processors": self.processors, "exporters": self.exporters}[kind]


def check(components: Components, service: ServiceConfig, report: Report) -> None:
    """Run every cross-component check, adding problems and warnings to ``report``."""
    _check_signals(service, report)
    _check_otlphttp_urls(components, service, report)
    _check_processor_order(service, report)
    _check_unused(components, service, report)
    _check_listeners(components, service, report)
    _check_files(components, report)


def _check_signals(service: ServiceConfig, report: Report) -> None:
    for pipeline_id, pipeline in service.pipelines.items():
        for kind, ids in (("receivers", pipeline.receivers), ("processors", pipeline.processors),
                          ("exporters", pipeline.exporters)):
            for component in ids:
                supported = _TYPES[kind][component.type].signals
                if pipeline_id.signal not in supported:
                    what = f"{component.type} {kind[:-1]}"
                    subject = f"{component} is a {what}, which" if component.name else f"the {what}"
                    report.problem(pipeline_path(pipeline_id, kind),
                                   f"{subject} supports only {' and '.join(supported)} pipelines; "
                                   f"remove it from this {pipeline_id.signal} pipeline")


def _check_otlphttp_urls(components: Components, service: ServiceConfig, report: Report) -> None:
    for pipeline_id, pipeline in service.pipelines.items():
        for component in pipeline.exporters:
            exporter = components.exporters[component]
            if not isinstance(exporter, OTLPHTTPExporterConfig):
                continue
            signal = pipeline_id.signal
            explicit = exporter.traces_endpoint if signal == "traces" else exporter.metrics_endpoint
            if not explicit and not exporter.endpoint and (exporter.traces_endpoint or exporter.metrics_endpoint):
                report.problem(join("exporters", str(component)),
                               f"is used by the {pipeline_id} pipeline but has neither endpoint nor "
                               f"{signal}_endpoint; set one of them")


def _check_processor_order(service: ServiceConfig, report: Report) -> None:
    for pipeline_id, pipeline in service.pipelines.items():
        limiters = [index for index, component in enumerate(pipeline.processors) if component.type == "memory_limiter"]
        if limiters and limiters[0] != 0:
            report.warn(pipeline_path(pipeline_id, "processors"),
                        f"{pipeline.processors[limiters[0]]} should come first, so data is refused before "
                        "other processors spend memory on it")


def _check_unused(components: Components, service: ServiceConfig, report: Report) -> None:
    used = {component for pipeline in service.pipelines.values()
            for component in (*pipeline.receivers, *pipeline.processors, *pipeline.exporters)}
    for kind in ("receivers", "processors", "exporters"):
        for component in components.of(kind):
            if component not in used:
                report.warn(join(kind, str(component)), "is defined but not used in any pipeline, so it will not run")


def _check_listeners(components: Components, service: ServiceConfig, report: Report) -> None:
    """Two listeners on one port fail at start; say so now. A prometheus exporter may share the
    processor's own metrics address: they are then served by one ``/metrics``."""
    used = {component for pipeline in service.pipelines.values()
            for component in (*pipeline.receivers, *pipeline.exporters)}
    listeners: list[tuple[str, HostPort]] = []
    for component, receiver in components.receivers.items():
        if component in used:
            if receiver.grpc:
                listeners.append((f"receivers.{component}.protocols.grpc.endpoint", receiver.grpc.endpoint))
            if receiver.http:
                listeners.append((f"receivers.{component}.protocols.http.endpoint", receiver.http.endpoint))
    telemetry = service.telemetry.metrics
    shared_metrics = telemetry.address if telemetry.level != "none" else None
    if shared_metrics is not None:
        listeners.append(("service.telemetry.metrics.address", shared_metrics))
    for component, exporter in components.exporters.items():
        if (component in used and isinstance(exporter, PrometheusExporterConfig)
                and exporter.endpoint != shared_metrics):
            listeners.append((f"exporters.{component}.endpoint", exporter.endpoint))
    for index, (path, address) in enumerate(listeners):
        for other_path, other in listeners[:index]:
            if address.port and address.port == other.port and _hosts_overlap(address, other):
                report.problem(path, f"{address} is also used by {other_path}; give each listener its own port")
                break


def _hosts_overlap(first: HostPort, second: HostPort) -> bool:
    if first.all_interfaces or second.all_interfaces:
        return True
    return _canonical(first.host) == _canonical(second.host)


def _canonical(host: str) -> str:
    return "127.0.0.1" if host == "localhost" else host.lower()


def _check_files(components: Components, report: Report) -> None:
    """Each exporter writes its own files: two writers on one file would corrupt it."""
    owners: dict[str, str] = {}
    for component, exporter in components.exporters.items():
        files: list[tuple[str, str]] = []
        if isinstance(exporter, FileExporterConfig) and exporter.path:
            files.append((f"exporters.{component}.path", exporter.path))
        if isinstance(exporter, (OTLPExporterConfig, OTLPHTTPExporterConfig)) and exporter.sending_queue.storage:
            files.append((f"exporters.{component}.sending_queue.storage", exporter.sending_queue.storage))
        for path, file in files:
            key = _normalise(file)
            if key in owners:
                report.problem(path, f"{file} is also written by {owners[key]}; give each its own file")
            else:
                owners[key] = path


def _normalise(file: str) -> str:
    return os.path.normcase(os.path.abspath(file))
