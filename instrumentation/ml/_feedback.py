"""``record_feedback``: ground truth for earlier predictions, as a span the processor joins on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from driftline.instrumentation._core.safety import report_fault

from ._model_info import ModelInfo, get_model_info
from ._recorder import FAULT_PREFIX, default_recorder
from ._tabular import read_output


def record_feedback(prediction_id: str, label: Any, *, model: Any = None, version: str | None = None,
                    row: int | Sequence[int] | None = None) -> None:
    """Emit a ``feedback {model}`` span carrying the true ``label`` of a recorded prediction.

    >>> y = model.predict(X); pid = last_prediction_id()
    >>> ...                                     # later, maybe in another service
    >>> record_feedback(pid, 1, model="churn", row=3)        # the label of batch row 3
    >>> record_feedback(pid, [1, 0, 1], model="churn")       # labels of rows 0, 1, 2

    ``label``: one label, or a sequence/array of labels (numbers or strings). ``row``: the batch
    position(s) the labels are for (default ``0``, or ``0 .. len(label)-1`` for a sequence).
    ``model``: the model's name, or the model object (its :func:`set_model_info` identity is used);
    give the same name as the prediction's ``ml.model.name``. The span is a child of the current
    span and, when the prediction was made in this process recently, links to the prediction span;
    the processor joins on (``ml.prediction.id``, row). Never raises.
    """
    try:
        if isinstance(model, str) or model is None:
            info = ModelInfo(name=model, version=version)
        else:
            info = (get_model_info(model) or ModelInfo(name=type(model).__name__)).merged(ModelInfo(version=version))
            if info.name is None:
                info = info.merged(ModelInfo(name=type(model).__name__))
        labels = read_output(label, None, None)
        if labels is None:
            raise TypeError(f"unreadable label of type {type(label).__name__}")
        if row is None:
            rows: list[int] = list(range(labels.rows))
        elif isinstance(row, int):
            rows = [row]
        else:
            rows = [int(r) for r in row]
        default_recorder().feedback(str(prediction_id), labels, rows, info)
    except Exception:
        report_fault(FAULT_PREFIX + "feedback")
