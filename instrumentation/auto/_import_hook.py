"""Run a callback right after a top-level module is first imported (a post-import hook).

A tiny ``sys.meta_path`` finder instead of ``wrapt.register_post_import_hook``: importing wrapt
(which pulls in asyncio and importlib.metadata) at interpreter start cost ~45 ms, for every
Python process with ``DRIFTLINE_AUTO_INSTRUMENT=true``, whether it uses an LLM library or not.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

TYPE_CHECKING = False  # see driftline.instrumentation: typing stays unimported at start-up
if TYPE_CHECKING:
    from typing import Any

Hook = Callable[[ModuleType], None]


class _HookedLoader:
    """Delegates to the real loader; runs the hook once the module has executed."""

    def __init__(self, loader: Any, hook: Hook) -> None:
        self._loader = loader
        self._hook = hook

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        # The module is complete and in sys.modules; restore its real loader for introspection.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._hook(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._loader, name)


class ImportWatcher:
    """A meta-path finder that hooks the first import of each watched top-level module."""

    def __init__(self) -> None:
        self._hooks: dict[str, Hook] = {}
        self._lock = threading.Lock()

    def watch(self, name: str, hook: Hook) -> None:
        """Call ``hook(module)`` after ``name`` is imported (now, if it already is)."""
        module = sys.modules.get(name)
        if module is not None:
            hook(module)
            return
        with self._lock:
            self._hooks[name] = hook

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        """Find the real spec with the other finders and wrap its loader (watched names only)."""
        if fullname not in self._hooks:
            return None
        with self._lock:
            hook = self._hooks.pop(fullname, None)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find(fullname, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # namespace package or legacy loader: leave the import untouched
        spec.loader = _HookedLoader(spec.loader, hook)  # type: ignore[assignment]  # duck-typed Loader
        return spec


_watcher: ImportWatcher | None = None


def when_imported(name: str, hook: Hook) -> None:
    """Register ``hook`` to run after the first import of top-level module ``name``."""
    global _watcher
    if _watcher is None:
        _watcher = ImportWatcher()
        sys.meta_path.insert(0, _watcher)
    _watcher.watch(name, hook)
