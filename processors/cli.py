"""The ``driftline`` command: ``driftline <command> [options]``.

Today there is one command, ``processor``::

    driftline processor --check FILE          validate a configuration and exit
    driftline processor --print-default-config
    driftline processor [--config FILE]       run the processor (not available in this version)

Each command adds its own sub-parser and handler, so later ones (``driftline baseline build``)
slot in beside ``processor`` without touching it. Exit codes: 0 success, 2 bad usage or bad
configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.processors.config import Config

EXIT_OK = 0
EXIT_USAGE = 2
"""Bad usage or an invalid configuration (argparse uses 2 for usage errors too)."""

_Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``driftline`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error argparse has already printed
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    handler: _Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return handler(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Driftline: OpenTelemetry-native "
                                     "observability for AI systems.")
    commands = parser.add_subparsers(title="commands", metavar="<command>")
    _add_processor(commands)
    return parser


# --- driftline processor -----------------------------------------------------------------------


def _add_processor(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    processor = commands.add_parser(
        "processor", help="the OTLP processor: check or print its configuration",
        description="The OTLP processor. Without --config it uses the embedded default "
                    "(see --print-default-config).")
    mode = processor.add_mutually_exclusive_group()
    mode.add_argument("--config", metavar="FILE", help="run with this configuration file")
    mode.add_argument("--check", metavar="FILE", help="validate this configuration file and exit")
    mode.add_argument("--print-default-config", action="store_true",
                      help="print the embedded default configuration (YAML) and exit")
    processor.set_defaults(handler=_processor)


def _processor(args: argparse.Namespace) -> int:
    try:  # imported here so `driftline --help` works where the processor's dependencies are absent
        from driftline.processors.config import DEFAULT_CONFIG_YAML, ConfigError, default_config, load_config
    except ImportError as error:
        print(f"driftline processor: {error.name or error} is missing; install the processor with "
              "pip install 'driftline[processor]'", file=sys.stderr)
        return EXIT_USAGE
    if args.print_default_config:
        sys.stdout.write(DEFAULT_CONFIG_YAML)
        return EXIT_OK
    path: str | None = args.check or args.config
    try:
        config = load_config(path) if path else default_config()
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"config OK: {_count(len(config.receivers), 'receiver')}, {_count(len(config.exporters), 'exporter')}, "
              f"pipelines: {', '.join(str(pipeline) for pipeline in config.service.pipelines)}")
        _print_warnings(config)
        return EXIT_OK
    _print_warnings(config)
    return _serve(config)


def _serve(config: Config) -> int:
    """Run the processor with ``config`` until it is told to stop; the service is not built yet."""
    print("driftline processor: the processor service is not available in this version; "
          "use --check FILE to validate a configuration", file=sys.stderr)
    return EXIT_USAGE


def _print_warnings(config: Config) -> None:
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
