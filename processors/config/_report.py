"""Where reading a configuration puts what it finds: problems (cannot run) and warnings (look at this)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    """Problems and warnings in the order found, each ``"<key path>: <what and how to fix>"``.

    A path can be *silenced* once its value is known to be unusable (an unset environment
    variable): later complaints about that value would only repeat the first one.
    """

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _silenced: set[str] = field(default_factory=set)

    def problem(self, path: str, message: str) -> None:
        """Record that the value at ``path`` cannot be used, and why."""
        if not self._is_silenced(path):
            self.problems.append(f"{path}: {message}" if path else message)

    def warn(self, path: str, message: str) -> None:
        """Record something at ``path`` that works but deserves a look."""
        if not self._is_silenced(path):
            self.warnings.append(f"{path}: {message}" if path else message)

    def silence(self, path: str) -> None:
        """Drop any later problem or warning about ``path`` or what is under it."""
        self._silenced.add(path)

    def _is_silenced(self, path: str) -> bool:
        return any(path == quiet or path.startswith((quiet + ".", quiet + "[")) for quiet in self._silenced)
