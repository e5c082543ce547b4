"""Generate ``semconv/names.py`` and ``docs/semconv.md`` from ``semconv/registry.yaml`` and the
topic files in ``semconv/registry.d/*.yaml`` (same sections; merged in file-name order after the main
registry, so each instrumented area keeps its names in a file of its own).

Run ``python -m driftline.semconv.generate`` after editing the registry (``make semconv``);
``--check`` exits non-zero when either generated file is stale, which the test suite runs.
PyYAML is needed here only, never at run time: the generated module is plain Python.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
REGISTRY = _HERE / "registry.yaml"
FRAGMENTS = _HERE / "registry.d"
_SECTIONS = ("attributes", "extra_attributes", "metrics", "events", "values", "environment_variables")
NAMES_PY = _HERE / "names.py"
DOCS_MD = _HERE.parent / "docs" / "semconv.md"


def load_registry(path: Path = REGISTRY, fragments: Path | None = FRAGMENTS) -> dict[str, Any]:
    """Parse the registry YAML plus its topic files and validate the whole (unique names and constants)."""
    import yaml

    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    for fragment in sorted(fragments.glob("*.yaml")) if fragments is not None and fragments.is_dir() else ():
        extra = yaml.safe_load(fragment.read_text(encoding="utf-8")) or {}
        unknown = set(extra) - set(_SECTIONS)
        if unknown:
            raise ValueError(f"{fragment.name}: unknown sections {sorted(unknown)}; use {', '.join(_SECTIONS)}")
        for section in _SECTIONS:
            data.setdefault(section, [])
            data[section] = [*(data[section] or []), *(extra.get(section) or [])]
    seen_const: set[str] = set()
    # One namespace per kind, as in OpenTelemetry: an attribute and a metric may share a name
    # (driftline.drift.detected is both the span verdict and the gauge), two attributes may not.
    seen_name: dict[str, set[str]] = {}
    namespace = {"attributes": "attribute", "extra_attributes": "attribute", "metrics": "metric",
                 "events": "event", "environment_variables": "environment variable"}
    for section, kind in namespace.items():
        for entry in data.get(section, []):
            for key in ("name", "const", "brief"):
                if key not in entry:
                    raise ValueError(f"registry {section} entry {entry!r} lacks {key!r}")
            names_of_kind = seen_name.setdefault(kind, set())
            if entry["name"] in names_of_kind:
                raise ValueError(f"registry: {kind} name {entry['name']!r} defined twice")
            names_of_kind.add(entry["name"])
            if entry["const"] in seen_const:
                raise ValueError(f"registry: constant {entry['const']!r} defined twice")
            seen_const.add(entry["const"])
    for entry in data.get("values", []):
        if entry["const"] in seen_const:
            raise ValueError(f"registry: constant {entry['const']!r} defined twice")
        seen_const.add(entry["const"])
    return data


def render_names(data: dict[str, Any]) -> str:
    """Render the typed constants module."""
    out = [
        '"""Every attribute, metric, event and environment-variable name driftline uses.',
        "",
        "GENERATED from semconv/registry.yaml by ``python -m driftline.semconv.generate``: do not edit.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# typing is not imported at run time: zero-code activation reads this module at interpreter",
        "# start, where importing typing alone costs ~10 ms. Type checkers honour this constant.",
        "TYPE_CHECKING = False",
        "if TYPE_CHECKING:",
        "    from typing import Final",
        "",
    ]

    def emit(title: str, entries: list[dict[str, Any]]) -> None:
        out.append(f"# --- {title} " + "-" * (90 - len(title)))
        for e in entries:
            out.append(f"{e['const']}: Final = {e['name']!r}")
            out.append(f'"""{_one_line(e["brief"])}"""')
        out.append("")

    emit("attributes", data.get("attributes", []) + data.get("extra_attributes", []))
    emit("metrics", data.get("metrics", []))
    out.append("# --- metric details " + "-" * 76)
    for m in data.get("metrics", []):
        out.append(f"{m['const']}_UNIT: Final = {m['unit']!r}")
        out.append(f"{m['const']}_BUCKETS: Final[tuple[float, ...]] = {tuple(m.get('buckets') or ())!r}")
    out.append("")
    emit("events", data.get("events", []))
    out.append("# --- enumerated values " + "-" * 73)
    for v in data.get("values", []):
        out.append(f"{v['const']}: Final = {v['value']!r}")
        out.append(f'"""A value of ``{v["of"]}``."""')
    out.append("")
    emit("environment variables", data.get("environment_variables", []))
    out.append("ATTRIBUTE_NAMES: Final[frozenset[str]] = frozenset({")
    for e in data.get("attributes", []) + data.get("extra_attributes", []):
        out.append(f"    {e['const']},")
    out.append("})")
    out.append('"""All registered attribute names."""')
    out.append("")
    return "\n".join(out)


def render_docs(data: dict[str, Any]) -> str:
    """Render docs/semconv.md."""
    out = [
        "# Driftline semantic conventions",
        "",
        "<!-- GENERATED from semconv/registry.yaml by `python -m driftline.semconv.generate`;"
        " do not edit. -->",
        "",
        "Driftline follows the newest OpenTelemetry GenAI semantic conventions (`gen_ai.provider.name`,",
        "`gen_ai.input.messages`, ...) and adds a few `driftline.*` names of its own. Every name the",
        "code uses is listed here; the build fails when code spells a name that is not registered.",
        "",
        "## Attributes",
        "",
        "| Name | Type | Origin | Stability | Description | Examples |",
        "|---|---|---|---|---|---|",
    ]
    for e in data.get("attributes", []) + data.get("extra_attributes", []):
        examples = ", ".join(f"`{x}`" for x in e.get("examples", []))
        out.append(
            f"| `{e['name']}` | {e['type']} | {e['origin']} | {e['stability']} | "
            f"{_cell(e['brief'])} | {_cell(examples)} |"
        )
    out += ["", "## Metrics", "", "| Name | Instrument | Unit | Origin | Description | Buckets |",
            "|---|---|---|---|---|---|"]
    for m in data.get("metrics", []):
        buckets = ", ".join(str(b) for b in m.get("buckets") or ()) or "-"
        out.append(
            f"| `{m['name']}` | {m['instrument']} | `{m['unit']}` | {m['origin']} | "
            f"{_cell(m['brief'])} | {buckets} |"
        )
    out += ["", "## Events", "", "| Name | Origin | Description |", "|---|---|---|"]
    for e in data.get("events", []):
        out.append(f"| `{e['name']}` | {e['origin']} | {_cell(e['brief'])} |")
    out += ["", "## Enumerated values", "", "| Attribute | Value |", "|---|---|"]
    for v in data.get("values", []):
        out.append(f"| `{v['of']}` | `{v['value']}` |")
    out += ["", "## Environment variables", "", "| Name | Origin | Description |", "|---|---|---|"]
    for e in data.get("environment_variables", []):
        out.append(f"| `{e['name']}` | {e['origin']} | {_cell(e['brief'])} |")
    out.append("")
    return "\n".join(out)


def _one_line(text: str) -> str:
    return " ".join(str(text).split()).replace('"""', "'''")


def _cell(text: str) -> str:
    return _one_line(text).replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` verify) the generated files; return a process exit code."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if generated files are stale")
    args = parser.parse_args(argv)
    data = load_registry()
    wanted = {NAMES_PY: render_names(data), DOCS_MD: render_docs(data)}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p} is stale: run `make semconv`", file=sys.stderr)
        return 1 if stale else 0
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(wanted[p], encoding="utf-8")
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
