"""The registry is the only place a name is spelled, and the generated files are current."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from driftline.semconv import generate, names

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = {"instrumentation": "driftline.instrumentation", "processors": "driftline.processors"}
NAME_LIKE = re.compile(r"^(gen_ai|ml|server|error|driftline)\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
ENV_LIKE = re.compile(r"^(DRIFTLINE|OTEL)_[A-Z0-9_]+$")


def _module_paths() -> set[str]:
    """Dotted names of every driftline module/package (logger and scope names use these)."""
    found = {"driftline"}
    for folder, dotted in PACKAGE_DIRS.items():
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            found.add(".".join([dotted, *parts]) if parts else dotted)
    found.add("driftline.semconv")
    return found


def _literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_generated_files_are_current() -> None:
    assert generate.main(["--check"]) == 0, "run `make semconv`"


def test_no_name_is_spelled_outside_semconv() -> None:
    modules = _module_paths()
    offenders: list[str] = []
    for folder in PACKAGE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for lineno, value in _literals(path):
                if (NAME_LIKE.match(value) and value not in modules) or ENV_LIKE.match(value):
                    offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {value!r}")
    assert offenders == [], "spell these names in semconv/registry.yaml and import the constant:\n" + \
        "\n".join(offenders)


def test_scanner_catches_a_spelled_name(tmp_path: Path) -> None:
    # Guard against a scanner that can never fail.
    bad = tmp_path / "bad.py"
    bad.write_text('ATTR = "gen_ai.usage.input_tokens"\nENV = "DRIFTLINE_CONTENT_REDACT"\n"""gen_ai.doc"""\n')
    values = [v for _, v in _literals(bad)]
    assert "gen_ai.usage.input_tokens" in values
    assert "DRIFTLINE_CONTENT_REDACT" in values
    assert NAME_LIKE.match("gen_ai.usage.input_tokens")
    assert ENV_LIKE.match("DRIFTLINE_CONTENT_REDACT")


def test_registry_shape_and_upstream_names() -> None:
    data = yaml.safe_load((ROOT / "semconv" / "registry.yaml").read_text())
    for entry in data["attributes"]:
        assert {"name", "const", "type", "stability", "brief", "origin"} <= entry.keys(), entry
        assert entry["type"] in {"string", "int", "double", "boolean", "string[]", "int[]", "double[]"}
    # The newest GenAI conventions, not the deprecated ones.
    assert names.GEN_AI_PROVIDER_NAME == "gen_ai.provider.name"
    assert "gen_ai.system" not in names.ATTRIBUTE_NAMES
    for required in ("gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.id",
                     "gen_ai.response.model", "gen_ai.response.finish_reasons", "gen_ai.usage.input_tokens",
                     "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
                     "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
                     "gen_ai.tool.definitions", "error.type", "server.address", "server.port"):
        assert required in names.ATTRIBUTE_NAMES, required


def test_duplicate_names_are_rejected(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    entry = {"name": "gen_ai.x", "const": "X", "brief": "b", "type": "string", "origin": "upstream",
             "stability": "development"}
    registry.write_text(yaml.safe_dump({"attributes": [entry, {**entry, "const": "Y"}]}))
    with pytest.raises(ValueError, match="defined twice"):
        generate.load_registry(registry)


def test_names_are_unique_per_kind_not_across_kinds(tmp_path: Path) -> None:
    registry = tmp_path / "registry.yaml"
    attr = {"name": "driftline.x", "const": "X_ATTR", "brief": "b", "type": "boolean", "origin": "driftline",
            "stability": "development"}
    metric = {"name": "driftline.x", "const": "X_METRIC", "brief": "b", "instrument": "gauge", "unit": "1",
              "origin": "driftline", "stability": "development", "buckets": []}
    registry.write_text(yaml.safe_dump({"attributes": [attr], "metrics": [metric]}))
    data = generate.load_registry(registry, None)
    assert [m["const"] for m in data["metrics"]] == ["X_METRIC"]
    # span attributes and metric attributes share one namespace
    registry.write_text(yaml.safe_dump({"attributes": [attr], "extra_attributes": [{**attr, "const": "X2"}]}))
    with pytest.raises(ValueError, match=r"attribute name 'driftline\.x' defined twice"):
        generate.load_registry(registry, None)


def test_auto_pth_uses_the_registered_variable() -> None:
    pth = (ROOT / "instrumentation" / "auto" / "driftline-auto.pth").read_text()
    assert pth.count("\n") == 1, "a .pth executes one line"
    assert f'"{names.ENV_AUTO_INSTRUMENT}"' in pth


def test_docs_list_every_name() -> None:
    doc = (ROOT / "docs" / "semconv.md").read_text()
    for name in names.ATTRIBUTE_NAMES:
        assert f"`{name}`" in doc
