"""The post-import hook used by zero-code activation."""

from __future__ import annotations

import importlib
import importlib.resources
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from driftline.instrumentation.auto._import_hook import ImportWatcher


@pytest.fixture
def watcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ImportWatcher]:
    pkg = tmp_path / "dl_hooked_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("VALUE = 41\n")
    (pkg / "data.txt").write_text("resource")
    monkeypatch.syspath_prepend(str(tmp_path))
    w = ImportWatcher()
    sys.meta_path.insert(0, w)
    yield w
    sys.meta_path.remove(w)
    sys.modules.pop("dl_hooked_pkg", None)


def test_hook_runs_once_after_the_module_executed(watcher: ImportWatcher) -> None:
    seen: list[int] = []

    def hook(module: ModuleType) -> None:
        seen.append(module.VALUE)
        module.VALUE += 1

    watcher.watch("dl_hooked_pkg", hook)
    module = importlib.import_module("dl_hooked_pkg")
    assert seen == [41]
    assert module.VALUE == 42
    importlib.reload(module)  # a reload is not a first import
    assert seen == [41]
    # The module's real loader is restored, so resources and introspection behave as usual.
    assert type(module.__loader__).__name__ == "SourceFileLoader"
    assert importlib.resources.files("dl_hooked_pkg").joinpath("data.txt").read_text() == "resource"


def test_already_imported_module_runs_hook_immediately(watcher: ImportWatcher) -> None:
    module = importlib.import_module("dl_hooked_pkg")
    seen: list[ModuleType] = []
    watcher.watch("dl_hooked_pkg", seen.append)
    assert seen == [module]


def test_unwatched_and_missing_modules_are_untouched(watcher: ImportWatcher) -> None:
    seen: list[ModuleType] = []
    watcher.watch("dl_module_that_does_not_exist", seen.append)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("dl_module_that_does_not_exist")
    module = importlib.import_module("dl_hooked_pkg")
    assert module.VALUE == 41
    assert seen == []
