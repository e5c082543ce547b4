"""The exporters' loggers: children of ``driftline.processors.exporters``, so the level that
``service.telemetry.logs`` sets on the ``driftline`` logger applies to them."""

from __future__ import annotations

import logging

__all__ = ["child_logger"]

_PACKAGE = logging.getLogger(__package__)


def child_logger(name: str) -> logging.Logger:
    """The logger ``<this package>.<name>``."""
    return _PACKAGE.getChild(name)
