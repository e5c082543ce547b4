"""Model identity: ``set_model_info`` stores it on the model object, the recorders read it."""

from __future__ import annotations

import dataclasses
import threading
import weakref
from dataclasses import dataclass
from typing import Any

_ATTRIBUTE = "_driftline_model_info"
"""Instance attribute holding the :class:`ModelInfo` (pickled with the model, so the identity travels)."""

_fallback: weakref.WeakKeyDictionary[Any, ModelInfo] = weakref.WeakKeyDictionary()
_fallback_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What identifies a model on its spans (``ml.model.*``)."""

    name: str | None = None
    version: str | None = None
    framework: str | None = None
    task: str | None = None
    training_data: str | None = None
    """Reference to the training data (URI, dataset version or hash) for the audit trail."""

    def merged(self, other: ModelInfo | None) -> ModelInfo:
        """This info with the fields ``other`` sets (non-None) taking precedence."""
        if other is None:
            return self
        changes = {f.name: getattr(other, f.name) for f in dataclasses.fields(other)
                   if getattr(other, f.name) is not None}
        return dataclasses.replace(self, **changes) if changes else self


def set_model_info(model: Any, *, name: str | None = None, version: str | None = None,
                   framework: str | None = None, task: str | None = None,
                   training_data: str | None = None) -> None:
    """Name a model for its prediction spans; fields left ``None`` keep their previous (or default) value.

    >>> set_model_info(pipeline, name="churn", version="3", training_data="s3://ml/churn/2024-06.parquet")

    The info is kept in the ``_driftline_model_info`` attribute of ``model`` (so it survives pickling
    with the model); objects that refuse attributes are tracked in a weak mapping instead. Never raises
    for an unusual model object; a model that can hold neither is simply not named.
    """
    info = (get_model_info(model) or ModelInfo()).merged(
        ModelInfo(name=name, version=version, framework=framework, task=task, training_data=training_data))
    try:
        object.__setattr__(model, _ATTRIBUTE, info)
        return
    except (AttributeError, TypeError):
        pass
    try:
        with _fallback_lock:
            _fallback[model] = info
    except TypeError:
        pass


def get_model_info(model: Any) -> ModelInfo | None:
    """The :class:`ModelInfo` set on ``model`` with :func:`set_model_info`, if any."""
    # Hot path: one dict read per prediction for objects with a __dict__ (a failed getattr raises
    # and catches an AttributeError inside; the weak mapping costs a lock and a weakref).
    attrs = getattr(model, "__dict__", None)
    info = attrs.get(_ATTRIBUTE) if type(attrs) is dict else getattr(model, _ATTRIBUTE, None)
    if isinstance(info, ModelInfo):
        return info
    if not _fallback:
        return None
    try:
        with _fallback_lock:
            return _fallback.get(model)
    except TypeError:
        return None
