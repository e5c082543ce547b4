"""The ``driftline`` command: ``driftline <command> [options]``.

Today there is one command, ``processor``::

    driftline processor [--config FILE]       run the processor (the embedded default without --config)
    driftline processor --check FILE          validate a configuration and exit
    driftline processor --print-default-config

Each command adds its own sub-parser and handler, so later ones (``driftline baseline build``)
slot in beside ``processor`` without touching it. Exit codes: 0 success (also after a graceful
stop), 1 the processor could not start (a port in use, a file it cannot open), 2 bad usage or bad
configuration, 130 a second SIGTERM/SIGINT cut the drain short.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from driftline.processors.config import Config

EXIT_OK = 0
EXIT_START_FAILED = 1
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
        "processor", help="run the OTLP processor, or check or print its configuration",
        description="The OTLP processor. Without --config it uses the embedded default "
                    "(see --print-default-config).")
    mode = processor.add_mutually_exclusive_group()
    mode.add_argument("--config", metavar="FILE", help="run with this configuration file")
    mode.add_argument("--check", metavar="FILE", help="validate this configuration file and exit")
    mode.add_argument("--print-default-config", action="store_true",
                      help="print the embedded default configuration (YAML) and exit")
    processor.add_argument("--shutdown-timeout", metavar="DURATION", default="15s",
                           help="how long a graceful stop may spend draining the exporters' queues "
                                "(default 15s; Collector duration syntax)")
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
    from driftline.processors.config import parse_duration
    try:
        shutdown_timeout = parse_duration(args.shutdown_timeout)
    except ValueError as error:
        print(f"driftline processor: --shutdown-timeout {args.shutdown_timeout!r}: {error}; "
              "use a number with a unit, e.g. 15s or 1m30s", file=sys.stderr)
        return EXIT_USAGE
    if args.check:
        print(f"config OK: {_count(len(config.receivers), 'receiver')}, {_count(len(config.exporters), 'exporter')}, "
              f"pipelines: {', '.join(str(pipeline) for pipeline in config.service.pipelines)}")
        _print_warnings(config)
        return EXIT_OK
    _print_warnings(config)
    return _serve(config, shutdown_timeout)


def _serve(config: Config, shutdown_timeout: float) -> int:
    """Run the processor with ``config`` until SIGTERM/SIGINT; the exit code of the run."""
    from driftline.processors.service import configure_logging, run

    configure_logging(config.service.telemetry.logs.level)
    return run(config, shutdown_timeout=shutdown_timeout)


def _print_warnings(config: Config) -> None:
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
