"""Classic ML model inference: the ``ml.*`` span shape, shared by every model instrumentation.

>>> from driftline.instrumentation.ml import observe_model, record_feedback, last_prediction_id
>>> @observe_model(name="churn", version="3")
... def predict(features): ...
>>> predict(rows); pid = last_prediction_id()
>>> record_feedback(pid, 1, model="churn", row=0)

scikit-learn (and xgboost/lightgbm sklearn-API) models are instrumented by
:class:`driftline.instrumentation.sklearn.SklearnInstrumentor`, which records the same span shape.
See docs/ml.md for the span shape, the feature encoding, the environment variables and
:func:`decode_span_attributes`, the reference decoder.
"""

from __future__ import annotations

from ._decode import DecodedSpan, decode_span_attributes
from ._feedback import record_feedback
from ._model_info import ModelInfo, get_model_info, set_model_info
from ._observe import observe_model
from ._recorder import configure, last_prediction_id, prediction_id

__all__ = [
    "DecodedSpan",
    "ModelInfo",
    "configure",
    "decode_span_attributes",
    "get_model_info",
    "last_prediction_id",
    "observe_model",
    "prediction_id",
    "record_feedback",
    "set_model_info",
]
