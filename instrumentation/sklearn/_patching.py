"""Class-level patching of the prediction methods, and what a call records.

Each class in an estimator's MRO that *defines* a prediction method gets it replaced by a wrapper
(``available_if`` descriptors keep their availability check: only their ``fn`` is swapped).
Inherited methods are thereby wrapped once, where they are defined, for every subclass.

One span per user-level call: a call is recorded only when its caller is not scikit-learn (or
xgboost, lightgbm, joblib) itself — so a Pipeline's final step, a forest's trees, ``score()``,
``GridSearchCV`` scoring and ``predict`` → ``predict_proba`` chains are not recorded — and when no
other prediction is being recorded in this context (user subclasses calling ``super().predict``).
"""

from __future__ import annotations

import functools
import inspect
import sys
import weakref
from collections.abc import Callable
from typing import Any

from driftline.instrumentation.ml import _recorder
from driftline.instrumentation.ml._model_info import ModelInfo, get_model_info
from driftline.instrumentation.ml._recorder import MLRecorder, Prediction, record_bound_call
from driftline.semconv import names

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function")
"""The estimator methods recorded."""

_LIBRARIES = frozenset({"sklearn", "xgboost", "lightgbm", "joblib", "catboost", "imblearn"})
"""Packages whose own calls to prediction methods are internal, never user-level."""

_FRAMEWORKS = frozenset({"sklearn", "xgboost", "lightgbm", "catboost", "imblearn"})

_SCORE_TYPES = {
    "predict_proba": names.ML_SCORE_TYPE_PROBABILITY,
    "predict_log_proba": names.ML_SCORE_TYPE_LOG_PROBABILITY,
    "decision_function": names.ML_SCORE_TYPE_DECISION,
}

_ORIGINAL = "_driftline_original"

_in_prediction = _recorder._IN_PREDICTION.get
"""Whether a recorded prediction runs in this context (bound once: the wrappers' first check)."""


class _Binding:
    __slots__ = ("init_subclass", "patched", "recorder", "seen")

    def __init__(self) -> None:
        self.recorder: MLRecorder | None = None
        self.init_subclass: tuple[type, Any] | None = None
        self.patched: list[tuple[type, str, Any, Any]] = []
        self.seen: set[type] = set()


binding = _Binding()
"""Link from the installed wrappers to the active recorder (None = pass through) and what to undo."""


def patch_class(cls: type) -> None:
    """Wrap the prediction methods defined by ``cls`` or any class of its MRO (each class once)."""
    for klass in cls.__mro__:
        if klass is object or klass in binding.seen:
            continue
        binding.seen.add(klass)
        for method in METHODS:
            attr = klass.__dict__.get(method)
            if attr is None:
                continue
            if inspect.isfunction(attr):
                if not hasattr(attr, _ORIGINAL):
                    setattr(klass, method, _wrap(attr, method))
                    binding.patched.append((klass, method, attr, None))
            elif inspect.isfunction(getattr(attr, "fn", None)) and not hasattr(attr.fn, _ORIGINAL):
                original = attr.fn  # sklearn.utils.available_if: keep the descriptor and its check
                attr.fn = _wrap(original, method)
                binding.patched.append((klass, method, original, attr))


def unpatch_all() -> None:
    """Put back every original method."""
    while binding.patched:
        klass, method, original, descriptor = binding.patched.pop()
        if descriptor is not None:
            descriptor.fn = original
        else:
            setattr(klass, method, original)
    binding.seen.clear()


def _wrap(fn: Callable[..., Any], method: str) -> Callable[..., Any]:
    score_type = _SCORE_TYPES.get(method)

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        # Hot path: every prediction call of every estimator passes here.
        rec = binding.recorder
        if rec is None or _in_prediction():
            # Nested calls (predict_proba -> decision_function, a Pipeline's steps) end here,
            # before any frame inspection.
            return fn(self, *args, **kwargs)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller.partition(".")[0] in _LIBRARIES:
            return fn(self, *args, **kwargs)
        inputs = args[0] if args else kwargs.get("X")
        return record_bound_call(rec, self, identity, method, inputs, fn, args, kwargs,
                                 _interpret_predictions if score_type is None else _interpret_scores,
                                 _feature_names, score_type)

    setattr(wrapper, _ORIGINAL, fn)
    return wrapper


_identities: dict[int, tuple[weakref.ref[Any], ModelInfo | None, tuple[Any, ...], ModelInfo]] = {}
"""Per estimator (by id, while it lives): the model info and attribute values (held) an identity was
computed from, and that identity."""


def _state(estimator: Any) -> tuple[Any, ...]:
    """What the estimator's task can depend on: its attribute values (and a Pipeline's steps)."""
    attrs = estimator.__dict__
    steps = attrs.get("steps")
    if type(steps) is list:
        return (*attrs.values(), *steps)
    return tuple(attrs.values())


def identity(estimator: Any) -> ModelInfo:
    """The estimator's model identity: class name, framework and task, overridden by set_model_info.

    Cached per estimator; recomputed when its model info (:func:`set_model_info`) or any of its
    attributes (a Pipeline's steps included) is replaced.
    """
    info = get_model_info(estimator)
    key = id(estimator)
    try:
        state = _state(estimator)
    except Exception:
        return _identity(estimator, info)
    entry = _identities.get(key)
    if entry is not None and entry[0]() is estimator and entry[1] is info and _same_objects(entry[2], state):
        return entry[3]
    result = _identity(estimator, info)
    try:
        ref = weakref.ref(estimator, functools.partial(_forget, key))
    except TypeError:
        return result
    _identities[key] = (ref, info, state, result)
    return result


def _same_objects(kept: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    """Whether two attribute snapshots hold the same objects, position by position.

    Tuple comparison tests identity first, so unchanged attributes never reach ``__eq__``; a
    replaced one may (numpy arrays answer with arrays): any such doubt counts as a change.
    """
    if len(kept) != len(now):
        return False
    try:
        return bool(kept == now)
    except Exception:
        return False


def _forget(key: int, ref: weakref.ref[Any]) -> None:
    entry = _identities.get(key)
    if entry is not None and entry[0] is ref:
        _identities.pop(key, None)


def _identity(estimator: Any, info: ModelInfo | None) -> ModelInfo:
    cls = type(estimator)
    top = cls.__module__.partition(".")[0]
    base = ModelInfo(name=cls.__name__, framework=top if top in _FRAMEWORKS else names.ML_FRAMEWORK_SKLEARN,
                     task=_task(estimator))
    return base.merged(info)


def _task(estimator: Any) -> str | None:
    try:
        from sklearn.utils import get_tags  # type: ignore[import-untyped]

        kind = get_tags(estimator).estimator_type
    except Exception:
        kind = getattr(estimator, "_estimator_type", None)
    return {"classifier": names.ML_TASK_CLASSIFICATION, "regressor": names.ML_TASK_REGRESSION,
            "clusterer": names.ML_TASK_CLUSTERING, "outlier_detector": names.ML_TASK_OUTLIER_DETECTION}.get(
        kind if isinstance(kind, str) else "")


_names_cache: dict[int, tuple[Any, tuple[str, ...]]] = {}
"""Per ``feature_names_in_`` object (by id, held so the id is not reused): its names as strings."""


def _feature_names(estimator: Any) -> tuple[str, ...] | None:
    names_in = getattr(estimator, "feature_names_in_", None)
    if names_in is None:
        return None
    entry = _names_cache.get(id(names_in))
    if entry is not None and entry[0] is names_in:
        return entry[1]
    result = tuple(str(n) for n in names_in)
    if len(_names_cache) >= 1024:
        _names_cache.clear()
    _names_cache[id(names_in)] = (names_in, result)
    return result


def _interpret_predictions(rec: MLRecorder, pred: Prediction, result: Any, estimator: Any,
                           score_type: str | None) -> None:
    if not pred.recording:
        return
    rec.outputs(pred, predictions=result)


def _interpret_scores(rec: MLRecorder, pred: Prediction, result: Any, estimator: Any, score_type: str | None) -> None:
    if not pred.recording:
        return
    classes = getattr(estimator, "classes_", None)
    scores, sampled = result, False
    indices = pred.indices
    if indices is not None and _is_batch_array(result, pred.batch):
        # Only the recorded rows are read: pick them before the argmax and the class lookup.
        scores, sampled = result[indices], True
    predicted, labels = _derive_classes(scores, classes)
    rec.outputs(pred, predictions=predicted, scores=scores, score_labels=labels, score_type=score_type,
                sampled=sampled)


def _is_batch_array(value: Any, batch: int | None) -> bool:
    """Whether ``value`` is a numpy array of one row per input row (its rows can be picked by index)."""
    np = sys.modules.get("numpy")
    return (np is not None and type(value) is np.ndarray and 1 <= value.ndim <= 2
            and value.shape[0] == batch)


_classes_cache: dict[int, tuple[Any, Any, list[Any] | None]] = {}
"""Per ``classes_`` object (by id, held so the id is not reused): it as an array, and its labels."""


def _derive_classes(scores: Any, classes: Any) -> tuple[Any, list[Any] | None]:
    """The predicted classes (argmax, or the sign of a binary decision) and the score column labels."""
    np = sys.modules.get("numpy")
    if np is None or classes is None or not isinstance(scores, np.ndarray):
        return None, None
    cached = _classes_cache.get(id(classes))
    if cached is not None and cached[0] is classes:
        classes, labels = cached[1], cached[2]
    else:
        held = classes
        classes = np.asarray(classes)
        labels = classes.tolist() if classes.ndim == 1 else None
        if classes.dtype.kind in "biu":
            # Numeric labels are recorded as doubles: convert the classes once, not the predictions per call.
            classes = classes.astype(np.float64)
        if len(_classes_cache) >= 1024:
            _classes_cache.clear()
        _classes_cache[id(held)] = (held, classes, labels)
    if classes.ndim != 1:
        return None, None
    if scores.ndim == 2 and scores.shape[1] == len(classes):
        return classes[scores.argmax(axis=1)], labels
    if scores.ndim == 1 and len(classes) == 2:
        return classes[(scores > 0).astype(np.intp)], [labels[1]] if labels is not None else None
    return None, None
