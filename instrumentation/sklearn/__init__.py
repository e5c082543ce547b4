"""scikit-learn instrumentation: one ``predict {model}`` span per user-level prediction call.

>>> from driftline.instrumentation.sklearn import SklearnInstrumentor
>>> SklearnInstrumentor().instrument()

Covers ``predict``, ``predict_proba``, ``predict_log_proba`` and ``decision_function`` of every
estimator class derived from ``sklearn.base.BaseEstimator`` — scikit-learn's own, Pipelines and
other meta-estimators, your own subclasses and the sklearn-API models of xgboost and lightgbm —
including classes defined after ``instrument()`` (a hook on ``BaseEstimator.__init_subclass__``
patches each new class as it is created). Also activated by ``DRIFTLINE_AUTO_INSTRUMENT=true`` and
``opentelemetry-instrument`` (entry point ``driftline_sklearn``). See docs/ml.md.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from driftline.instrumentation._core.safety import report_fault
from driftline.instrumentation.ml._recorder import MLRecorder

from ._patching import METHODS, binding, patch_class, unpatch_all

__all__ = ["METHODS", "SklearnInstrumentor"]

SCOPE = "driftline.instrumentation.sklearn"


class SklearnInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Prediction spans, the ML duration histogram and feature/prediction capture for scikit-learn.

    ``instrument()`` accepts ``tracer_provider`` and ``meter_provider`` (defaults: the global ones)
    and reads the ``DRIFTLINE_ML_*`` settings. Instrumenting twice is a no-op; ``uninstrument()``
    puts every original method back (the very same function objects).
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        """scikit-learn 1.3 or newer."""
        return ("scikit-learn >= 1.3",)

    def _instrument(self, **kwargs: Any) -> None:
        from sklearn.base import BaseEstimator  # type: ignore[import-untyped]

        binding.recorder = MLRecorder.create(SCOPE, kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        original = BaseEstimator.__dict__.get("__init_subclass__")

        def on_subclass(cls: type[Any], /, **kw: Any) -> None:
            if original is not None:
                original.__func__(cls, **kw)
            else:
                super(BaseEstimator, cls).__init_subclass__(**kw)
            try:
                patch_class(cls)
            except Exception:
                report_fault("sklearn.patch")

        binding.init_subclass = (BaseEstimator, original)
        BaseEstimator.__init_subclass__ = classmethod(on_subclass)
        pending: list[type] = [BaseEstimator]
        while pending:
            cls = pending.pop()
            patch_class(cls)
            pending.extend(cls.__subclasses__())

    def _uninstrument(self, **kwargs: Any) -> None:
        binding.recorder = None
        if binding.init_subclass is not None:
            base, original = binding.init_subclass
            if original is not None:
                base.__init_subclass__ = original  # type: ignore[method-assign]
            else:
                del base.__init_subclass__
            binding.init_subclass = None
        unpatch_all()
