"""The ``driftline`` command: ``driftline <command> [options]``.

Commands::

    driftline processor [--config FILE]       run the processor (the embedded default without --config)
    driftline processor --check FILE          validate a configuration and exit
    driftline processor --print-default-config
    driftline baseline build DATA --model NAME [options] -o FILE    a baseline from training data
    driftline baseline from-spans SPANS.jsonl --model NAME [options] -o FILE    ... from recorded spans
    driftline baseline show FILE              print a baseline as a table

Each command adds its own sub-parser and handler, so later ones slot in beside the others without
touching them. Exit codes: 0 success (also after a graceful stop), 1 the processor could not start
(a port in use, a file it cannot open), 2 bad usage, bad configuration or bad input data, 130 a
second SIGTERM/SIGINT cut the drain short (or Ctrl-C stopped a baseline build).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from driftline.processors.analysis.baseline import Baseline, BaselineSignal, BuildProgress
    from driftline.processors.config import Config

EXIT_OK = 0
EXIT_START_FAILED = 1
EXIT_USAGE = 2
"""Bad usage or an invalid configuration (argparse uses 2 for usage errors too)."""
EXIT_INTERRUPTED = 130

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
    _add_baseline(commands)
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


# --- driftline baseline --------------------------------------------------------------------------------


def _add_baseline(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    baseline = commands.add_parser(
        "baseline", help="build or inspect a model's drift baseline (reference distributions)",
        description="A baseline freezes a model's reference distributions (from its training data or "
                    "from recorded spans) for the processor's drift monitors. See docs/baseline.md.")
    actions = baseline.add_subparsers(title="actions", metavar="<action>")

    build = actions.add_parser(
        "build", help="build a baseline from training data (CSV or Parquet)",
        description="Profile every feature column of a training table (CSV, optionally gzip-compressed, or "
                    "Parquet) as the signal feature.<column>; --prediction and --score map to the signals "
                    "prediction and prediction.score, --target to the label distribution. Two streaming "
                    "passes: any file size, exact counts.")
    build.add_argument("data", metavar="DATA", help="the training table: .csv, .tsv, .csv.gz or .parquet")
    _model_options(build, version_default="")
    build.add_argument("--columns", metavar="A,B,...", action="append", default=[],
                       help="feature columns to profile (default: every column but the excluded, target, "
                            "prediction and score ones)")
    build.add_argument("--exclude", metavar="A,B,...", action="append", default=[],
                       help="columns to leave out (ids, timestamps)")
    build.add_argument("--categorical", metavar="A,B,...", action="append", default=[],
                       help="columns to treat as categorical even though they hold numbers (codes, ids)")
    build.add_argument("--target", metavar="COLUMN", help="the label column: stored as the label distribution")
    build.add_argument("--prediction", metavar="COLUMN", help="the model's prediction column (signal prediction)")
    build.add_argument("--score", metavar="COLUMN", help="the model's score column (signal prediction.score)")
    build.add_argument("--format", choices=("csv", "parquet"), dest="file_format",
                       help="the file's format (default: from its suffix or content)")
    build.add_argument("--delimiter", metavar="CHAR", help="CSV field delimiter (default: tab for .tsv, else ,)")
    _profile_options(build)
    build.set_defaults(handler=_baseline_build)

    spans = actions.add_parser(
        "from-spans", help="build a baseline from recorded spans (OTLP-JSON lines)",
        description="Build the same baseline from spans recorded by the processor's file exporter: every "
                    "signal the processor extracts for the model (features, prediction, score, LLM and "
                    "agent signals), feedback labels as the label distribution.")
    spans.add_argument("spans", metavar="SPANS", help="OTLP-JSON lines (the file exporter's output)")
    _model_options(spans, version_default=None)
    _profile_options(spans)
    spans.set_defaults(handler=_baseline_from_spans)

    show = actions.add_parser("show", help="print a baseline file as a table",
                              description="Print a baseline's model, source and one line per signal.")
    show.add_argument("file", metavar="FILE", help="a baseline file (from driftline baseline build)")
    show.set_defaults(handler=_baseline_show)

    def no_action(_: argparse.Namespace) -> int:
        baseline.print_help(sys.stderr)
        return EXIT_USAGE

    baseline.set_defaults(handler=no_action)


def _model_options(parser: argparse.ArgumentParser, version_default: str | None) -> None:
    parser.add_argument("--model", metavar="NAME", required=True,
                        help="the model's name, as its spans report it (ml.model.name / gen_ai.request.model)")
    parser.add_argument("--version", metavar="V", default=version_default,
                        help="the model's version (default: any)")
    parser.add_argument("--service", metavar="S", default=version_default,
                        help="the service running the model (service.name; default: any)")
    parser.add_argument("-o", "--output", metavar="FILE", required=True, help="where to write the baseline (JSON)")


def _profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bins", type=int, default=10, help="quantile bins per numeric signal (default 10)")
    parser.add_argument("--top-k", type=int, default=20, help="categories kept per categorical signal (default 20)")
    parser.add_argument("--sample", type=int, default=2000,
                        help="reservoir sample per signal: bin edges and the change detector's reference "
                             "(default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the reservoir sampling (default 0)")


def _names(values: Sequence[str]) -> list[str]:
    """Comma-separated, possibly repeated option values as one list of names."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _baseline_build(args: argparse.Namespace) -> int:
    def build(progress: Callable[[BuildProgress], None]) -> Baseline:
        from driftline.processors.analysis.baseline import build_from_table

        return build_from_table(
            args.data, model=args.model, version=args.version, service=args.service,
            columns=_names(args.columns) or None, exclude=_names(args.exclude), categorical=_names(args.categorical),
            target=args.target, prediction=args.prediction, score=args.score, bins=args.bins, top_k=args.top_k,
            sample=args.sample, seed=args.seed, file_format=args.file_format, delimiter=args.delimiter,
            progress=progress)

    return _run_build("driftline baseline build", args.data, args.output, build, "rows")


def _baseline_from_spans(args: argparse.Namespace) -> int:
    def build(progress: Callable[[BuildProgress], None]) -> Baseline:
        from driftline.processors.analysis.baseline import build_from_spans

        return build_from_spans(args.spans, model=args.model, version=args.version, service=args.service,
                                bins=args.bins, top_k=args.top_k, sample=args.sample, seed=args.seed,
                                progress=progress)

    return _run_build("driftline baseline from-spans", args.spans, args.output, build, "spans")


def _run_build(command: str, data: str, output: str, build: Callable[[Callable[[BuildProgress], None]], Baseline],
               unit: str) -> int:
    try:
        from driftline.processors.analysis.baseline import BaselineError
    except ImportError as error:
        print(f"{command}: {error.name or error} is missing; install the processor with "
              "pip install 'driftline[processor]'", file=sys.stderr)
        return EXIT_USAGE
    bar = _ProgressBar(sys.stderr, unit)
    started = time.monotonic()
    try:
        baseline = build(bar.update)
        baseline.save(output)
    except BaselineError as error:
        bar.clear()
        print(f"{command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        bar.clear()
        print(f"{command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    bar.clear()
    for warning in baseline.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rows = int(baseline.source.get("rows", 0))
    signals = len(baseline.signals) + (baseline.labels is not None)
    print(f"{command}: {rows:,} {unit} of {data} read in {bar.passes} pass{'es' if bar.passes != 1 else ''} "
          f"({time.monotonic() - started:.1f}s); wrote {output}: {_count(signals, 'signal')}", file=sys.stderr)
    return EXIT_OK


class _ProgressBar:
    """A one-line progress bar on a terminal (redrawn at most 10 times a second); silent elsewhere,
    where the caller prints a one-line summary instead."""

    _INTERVAL = 0.1

    def __init__(self, stream: TextIO, unit: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._unit = unit
        self._clock = clock
        self._enabled = bool(getattr(stream, "isatty", lambda: False)())
        self._last = -math.inf
        self._drawn = False
        self.passes = 1

    def update(self, progress: BuildProgress) -> None:
        """Record ``progress``; redraw if on a terminal and 0.1 s have passed (or a pass ended)."""
        self.passes = max(self.passes, progress.passes)
        if not self._enabled:
            return
        now = self._clock()
        if now - self._last < self._INTERVAL and not progress.done:
            return
        self._last = now
        fraction = min(1.0, max(0.0, progress.fraction))
        label = f"pass {progress.pass_number}/{progress.passes}"
        tail = f" {fraction:4.0%}  {progress.rows:,} {self._unit}"
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - len(label) - len(tail) - 4))
        filled = round(fraction * width)
        self._stream.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}]{tail}\x1b[K")
        self._stream.flush()
        self._drawn = True

    def clear(self) -> None:
        """Erase the bar (before a message or the summary)."""
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._drawn = False


def _baseline_show(args: argparse.Namespace) -> int:
    try:
        from driftline.processors.analysis.baseline import Baseline, BaselineError
    except ImportError as error:
        print(f"driftline baseline show: {error.name or error} is missing; install the processor with "
              "pip install 'driftline[processor]'", file=sys.stderr)
        return EXIT_USAGE
    try:
        baseline = Baseline.load(args.file)
    except BaselineError as error:
        print(f"driftline baseline show: {error}", file=sys.stderr)
        return EXIT_USAGE
    source = baseline.source
    model = baseline.name + (f" version {baseline.version}" if baseline.version else " (any version)") + \
        (f" of service {baseline.service}" if baseline.service else "")
    print(f"model:   {model}")
    print(f"created: {baseline.created}")
    digest = str(source.get("sha256", ""))
    print(f"source:  {source.get('path', '?')} ({source.get('format', '?')}, {int(source.get('rows', 0)):,} rows"
          + (f", sha256 {digest[:12]}…" if digest else "") + ")")
    entries: list[tuple[str, BaselineSignal]] = list(baseline.signals.items())
    if baseline.labels is not None:
        column = baseline.labels.column
        entries.append(("labels" + (f" ({column})" if column else ""), baseline.labels))
    table = [("signal", "kind", "rows", "bins/cats", "summary")]
    table += [(name, entry.kind, f"{entry.profile.total:,}", *_describe_signal(entry)) for name, entry in entries]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    print()
    for row in table:
        print("  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                         row[3].rjust(widths[3]), row[4]]).rstrip())
    return EXIT_OK


def _describe_signal(entry: BaselineSignal) -> tuple[str, str]:
    """(bins or categories, summary) of one signal for ``show``."""
    from driftline.processors.analysis.profile import NumericProfile

    profile: Any = entry.profile
    if isinstance(profile, NumericProfile):
        moments = profile.moments
        missing = int(profile.counts[-1])
        summary = f"mean {_number(moments.mean)}  std {_number(moments.std)}  " \
                  f"min {_number(moments.min)}  max {_number(moments.max)}"
        if missing:
            summary += f"  missing {missing:,}"
        return str(len(profile.edges) + 1), summary
    total = max(1, profile.total)
    counts = profile.counts.tolist()
    categories = len(profile.categories)
    # the most frequent categories, then the other / unseen / missing buckets that hold anything
    top = min(4, categories)
    shown = [f"{label} {count / total:.0%}" for label, count in zip(profile.labels[:top], counts[:top], strict=True)]
    if categories > 4:
        shown.append("…")
    shown += [f"{label} {count / total:.0%}" for label, count in
              zip(profile.labels[categories:], counts[categories:], strict=True) if count]
    return str(categories), ", ".join(shown)


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4g}"


if __name__ == "__main__":  # python -m driftline.processors.cli <command> ...
    sys.exit(main())
