"""The one exception a configuration can fail with: every problem found, each naming its key."""

from __future__ import annotations


class ConfigError(Exception):
    """A configuration that cannot run, with every problem found in one pass.

    Each entry of :attr:`problems` starts with the dotted key path it is about
    (``exporters.otlp/jaeger.timeout: ...``) and says how to fix it.
    """

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.source = source
        super().__init__(self._render())

    def _render(self) -> str:
        where = f" in {self.source}" if self.source else ""
        count = len(self.problems)
        head = f"invalid configuration{where} ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {problem}" for problem in self.problems)])
