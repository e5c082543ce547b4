"""Build hooks that pyproject.toml cannot express.

* The three top-level folders map onto ``driftline.instrumentation``, ``driftline.processors`` and
  ``driftline.semconv``; their sub-packages are discovered here so a new folder needs no edit.
* ``build_py`` also places ``driftline-auto.pth`` at the root of the wheel's purelib, which is how
  ``DRIFTLINE_AUTO_INSTRUMENT=true`` activates at interpreter start without a wrapper command.
  Editable installs do not run ``build_py``, so they do not get the .pth (tests that need it
  install the built wheel).
"""

from __future__ import annotations

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

_ROOTS = {"instrumentation": "driftline.instrumentation", "processors": "driftline.processors",
          "semconv": "driftline.semconv"}
_PTH = os.path.join("instrumentation", "auto", "driftline-auto.pth")


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder, name in _ROOTS.items():
        package_dir[name] = folder
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__")))
            if "__init__.py" in filenames:
                rel = os.path.relpath(dirpath, folder)
                packages.append(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    return packages, package_dir


class _BuildPyWithPth(build_py):
    """``build_py`` that also ships the auto-activation .pth at the purelib root."""

    def run(self) -> None:
        super().run()
        target = os.path.join(self.build_lib, "driftline-auto.pth")
        self.mkpath(self.build_lib)
        shutil.copyfile(_PTH, target)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, "driftline-auto.pth")]


_packages_found, _package_dir = _packages()
setup(packages=_packages_found, package_dir=_package_dir, cmdclass={"build_py": _BuildPyWithPth})
