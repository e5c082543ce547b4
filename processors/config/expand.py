"""``${env:VAR}`` expansion of scalar strings, before any value is typed (as the Collector does).

Forms, inside any string value (not in keys):

* ``${env:NAME}`` and ``${NAME}`` — the variable's value; an unset variable is an error naming it
  (the Collector only logs a warning and uses an empty string: a missing token or endpoint is
  better caught at start).
* ``${env:NAME:-default}`` (and ``${NAME:-default}``) — ``default`` when the variable is *unset*;
  a variable set to the empty string stays empty, as in the Collector.
* ``$$`` — a literal ``$``.

When a reference is the *whole* value, the result is typed the way the Collector types it: it is
read as a YAML scalar (``true`` a boolean, ``42`` an integer, ``5s`` a string), but a key that wants
a string still receives the original text. :class:`EnvValue` carries both. A reference inside a
longer string (``Bearer ${env:TOKEN}``) always yields a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from driftline.processors.config._path import join, show
from driftline.processors.config._report import Report

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"[-+]?[0-9]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z")
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


class EnvValue(str):
    """A whole-value ``${...}`` reference after expansion: the text, plus its YAML-typed reading.

    It *is* the original string (so string settings get ``"0123"``, not ``123``); :attr:`typed`
    is the value as the Collector would decode it into a number, boolean or duration setting.
    """

    typed: object

    def __new__(cls, text: str) -> EnvValue:
        value = super().__new__(cls, text)
        value.typed = yaml_scalar(text)
        return value


def yaml_scalar(text: str) -> object:
    """Read ``text`` as one YAML 1.2 core-schema scalar (null, bool, int, float, else the string)."""
    stripped = text.strip()
    if stripped in ("", "~", "null", "Null", "NULL"):
        return None
    if stripped in ("true", "True", "TRUE"):
        return True
    if stripped in ("false", "False", "FALSE"):
        return False
    if _INT.match(stripped):
        return int(stripped)
    if _HEX.match(stripped):
        return int(stripped, 16)
    if _OCT.match(stripped):
        return int(stripped[2:], 8)
    if _FLOAT.match(stripped):
        return float(stripped)
    if stripped.lower() in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[stripped.lower()]
    return text


def expand_tree(data: object, environ: Mapping[str, str], path: str, report: Report) -> object:
    """Return ``data`` with every string value expanded; unresolvable references go to ``report``."""
    if isinstance(data, str):
        return expand_string(data, environ, path, report)
    if isinstance(data, dict):
        return {key: expand_tree(value, environ, join(path, key), report) for key, value in data.items()}
    if isinstance(data, list):
        return [expand_tree(item, environ, f"{path}[{index}]", report) for index, item in enumerate(data)]
    return data


def expand_string(text: str, environ: Mapping[str, str], path: str, report: Report) -> str:
    """Expand the references in one string value (see the module docstring).

    A value with an unresolvable reference is left as written and its path silenced in ``report``,
    so the one problem is not followed by complaints about the unexpanded text.
    """
    if "$" not in text:
        return text
    pieces: list[str] = []
    position = 0
    failed = False
    while position < len(text):
        dollar = text.find("$", position)
        if dollar < 0:
            pieces.append(text[position:])
            break
        pieces.append(text[position:dollar])
        if text.startswith("$$", dollar):
            pieces.append("$")
            position = dollar + 2
            continue
        if not text.startswith("${", dollar):
            pieces.append("$")
            position = dollar + 1
            continue
        close = text.find("}", dollar)
        if close < 0:
            report.problem(path, f"{show(text)} has a ${{ without a closing }}; "
                                 "write ${env:NAME}, or $$ for a literal $")
            report.silence(path)
            return text
        resolved = _resolve(text[dollar + 2:close], environ, path, report)
        if resolved is None:
            failed = True  # keep scanning: every missing variable is reported in the same pass
        elif dollar == 0 and close == len(text) - 1:
            return EnvValue(resolved)
        else:
            pieces.append(resolved)
        position = close + 1
    if failed:
        report.silence(path)
        return text
    return "".join(pieces)


def _resolve(reference: str, environ: Mapping[str, str], path: str, report: Report) -> str | None:
    """The text one ``${...}`` stands for, or ``None`` after recording why it has none."""
    body = reference.removeprefix("env:")
    scheme, colon, rest = body.partition(":")
    if body == reference and colon and not rest.startswith("-"):
        report.problem(path, f"${{{reference}}} uses the {scheme}: provider, which driftline does not have; "
                        "only environment variables are supported: ${env:NAME}")
        return None
    name, has_default, default = body.partition(":-")
    if not _NAME.match(name):
        report.problem(path, f"${{{reference}}}: {show(name)} is not an environment variable name "
                        "(letters, digits and _, not starting with a digit)")
        return None
    if "$" in default:
        report.problem(path, f"${{{reference}}}: a default value cannot contain $ (no nested references)")
        return None
    value = environ.get(name)
    if value is not None:
        return value
    if has_default:
        return default
    report.problem(path, f"environment variable {name} is not set; set it, "
                    f"or give a default: ${{env:{name}:-value}}")
    return None

