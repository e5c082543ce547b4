"""YAML text → :class:`Config`, or a :class:`ConfigError` listing every problem at once.

Order of work, as in the Collector: parse the YAML (``safe_load``; duplicate keys are refused, not
silently overwritten), expand ``${env:...}`` in string values, read each component's settings by
type, read ``service``, then check across components.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import yaml

from driftline.processors.config import exporters, processors, receivers
from driftline.processors.config._path import join, show
from driftline.processors.config._reader import Section
from driftline.processors.config._report import Report
from driftline.processors.config.crosscheck import Components, check
from driftline.processors.config.errors import ConfigError
from driftline.processors.config.expand import expand_tree
from driftline.processors.config.model import ComponentId, Config
from driftline.processors.config.registry import ComponentType
from driftline.processors.config.service import KINDS, read_service

_C = TypeVar("_C")
_EXAMPLES = {"receivers": "otlp: {protocols: {grpc: {}, http: {}}}",
             "exporters": "file: {path: ./driftline-data/spans.jsonl}"}
_TOP_HINTS = {
    "extensions": "driftline has no extensions; remove this section (receiver auth is auth: {bearer_token: ...})",
    "connectors": "connectors are not supported; connect components with service.pipelines",
}


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the configuration file at ``path`` (``environ`` defaults to ``os.environ``)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise ConfigError([f"{os.fspath(path)}: cannot read the file: {reason}"], source=os.fspath(path)) from None
    return parse_config(text, source=os.fspath(path), environ=environ)


def parse_config(text: str, *, source: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Validate configuration ``text``; ``source`` names it in the error (a path, ``<default>``, ...)."""
    report = Report()
    data = _parse_yaml(text, report)
    if report.problems:
        raise ConfigError(report.problems, source)
    data = expand_tree(data, os.environ if environ is None else environ, "", report)
    config = _read(data, report)
    if report.problems or config is None:
        raise ConfigError(report.problems, source)
    return config


def _read(data: object, report: Report) -> Config | None:
    if data is None:
        report.problem("", "the configuration is empty; start from the output of "
                               "`driftline processor --print-default-config`")
        return None
    if not isinstance(data, dict):
        report.problem("", f"the configuration must be a mapping with receivers, exporters and service, "
                               f"not {show(data)}")
        return None
    top = Section(data, "", report)
    components = Components(
        receivers=_components(top, "receivers", receivers.TYPES, required=True),
        processors=_components(top, "processors", processors.TYPES, required=False),
        exporters=_components(top, "exporters", exporters.TYPES, required=True),
    )
    service_section = top.section("service")
    top.finish(hints=_TOP_HINTS)
    if service_section is None:
        top.missing("service", "add service.pipelines, e.g. service: {pipelines: "
                               "{traces: {receivers: [otlp], exporters: [file]}}}")
        return None
    service = read_service(service_section, {kind: components.of(kind) for kind in KINDS})
    check(components, service, report)
    return Config(receivers=components.receivers, processors=components.processors,
                  exporters=components.exporters, service=service, warnings=tuple(report.warnings))


def _components(top: Section, kind: str, types: Mapping[str, ComponentType[_C]], *,
                required: bool) -> dict[ComponentId, _C]:
    """Read every ``type[/name]`` entry under ``kind`` with its type's reader."""
    singular = kind[:-1]
    section = top.section(kind, f"{singular} ids to settings")
    if section is None or not section.names():
        if required:
            top.report.problem(kind, f"defines no {singular}; add one, e.g. {kind}: {{{_EXAMPLES[kind]}}}")
        return {}
    result: dict[ComponentId, _C] = {}
    for key in section.names():
        path = section.key_path(key)
        value = section.raw(key)
        try:
            component = ComponentId.parse(key)
        except ValueError as error:
            top.report.problem(path, f"is not a component id ({error})")
            continue
        component_type = types.get(component.type)
        if component_type is None:
            top.report.problem(path, f"unknown {singular} type {show(component.type)}; "
                                     f"known {singular} types: {', '.join(sorted(types))}")
            continue
        body = Section.of(value, path, top.report)
        if body is not None:
            result[component] = component_type.read(body)
    return result


def _parse_yaml(text: str, report: Report) -> object:
    """``yaml.safe_load``, after a pass over the node tree that reports duplicate keys with their lines."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _find_duplicates(node, "", report, set())
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        report.problem("", f"{where}invalid YAML: {reason}")
        return None


def _find_duplicates(node: yaml.Node, path: str, report: Report, open_nodes: set[int]) -> None:
    if id(node) in open_nodes:  # an alias that contains itself
        report.problem(path, "a YAML alias refers to itself; remove the cycle")
        return
    open_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                report.problem(join(path, key), f"appears twice (lines {first_line[key]} and {line}); keep one")
            first_line.setdefault(key, line)
            _find_duplicates(value_node, join(path, key), report, open_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _find_duplicates(item, f"{path}[{index}]", report, open_nodes)
    open_nodes.discard(id(node))
