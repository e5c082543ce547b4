"""``observe_model``: the prediction span for any model callable (PyTorch, ONNX Runtime, HTTP clients)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast, overload

import wrapt

from ._model_info import ModelInfo, get_model_info
from ._recorder import MLRecorder, Prediction, default_recorder, record_async_call, record_call

F = TypeVar("F", bound=Callable[..., Any])


def _select(args: tuple[Any, ...], kwargs: dict[str, Any], which: int | str) -> Any:
    if isinstance(which, str):
        return kwargs.get(which)
    return args[which] if len(args) > which else None


@overload
def observe_model(model: F, *, name: str | None = ..., version: str | None = ..., framework: str | None = ...,
                  task: str | None = ..., training_data: str | None = ..., method: str | None = ...,
                  inputs: int | str = ..., feature_names: Sequence[str] | None = ...,
                  predictions: Callable[[Any], Any] | None = ..., scores: Callable[[Any], Any] | None = ...,
                  score_labels: Sequence[Any] | None = ..., score_type: str | None = ...) -> F: ...


@overload
def observe_model(model: None = ..., *, name: str | None = ..., version: str | None = ...,
                  framework: str | None = ..., task: str | None = ..., training_data: str | None = ...,
                  method: str | None = ..., inputs: int | str = ..., feature_names: Sequence[str] | None = ...,
                  predictions: Callable[[Any], Any] | None = ..., scores: Callable[[Any], Any] | None = ...,
                  score_labels: Sequence[Any] | None = ..., score_type: str | None = ...) -> Callable[[F], F]: ...


def observe_model(model: Callable[..., Any] | None = None, *, name: str | None = None, version: str | None = None,
                  framework: str | None = None, task: str | None = None, training_data: str | None = None,
                  method: str | None = None, inputs: int | str = 0, feature_names: Sequence[str] | None = None,
                  predictions: Callable[[Any], Any] | None = None, scores: Callable[[Any], Any] | None = None,
                  score_labels: Sequence[Any] | None = None, score_type: str | None = None) -> Any:
    """Record every call of ``model`` as a ``predict {name}`` span, with the sklearn span shape.

    As a decorator (``@observe_model(name="churn", version="3")``) or a wrapper around a callable
    object (``observe_model(torch_module, name="resnet")``; attributes of the object stay reachable
    through the wrapper).

    - ``inputs``: which argument holds the model input (position or keyword; default the first).
      For ONNX Runtime ``session.run(None, {"x": X})`` use ``inputs=1``.
    - ``feature_names``: column names when the input carries none (DataFrames, dicts and lists of
      dicts carry their own; otherwise ``x0 .. xn``).
    - ``predictions`` / ``scores``: functions reading them from the return value (default: the
      return value is the predictions); run only when the span is recorded. ``score_labels``
      names score columns, ``score_type`` says what they are (``probability``, ...).
    - Identity: ``name`` (default the callable's name), ``version``, ``framework``, ``task``,
      ``training_data``; :func:`set_model_info` on the wrapped object overrides them.

    Coroutine functions are supported. The call's result and exceptions are the model's own.
    """
    def decorate(target: F) -> F:
        base = ModelInfo(name=name or _default_name(target), version=version, framework=framework, task=task,
                         training_data=training_data)
        called: str = method or ("__call__" if not inspect.isfunction(target) and not inspect.ismethod(target)
                            else str(getattr(target, "__name__", "__call__")))

        def identity() -> ModelInfo:
            return base.merged(get_model_info(target))

        def interpret(rec: MLRecorder, pred: Prediction, result: Any) -> None:
            if not pred.recording:
                return
            rec.outputs(pred, predictions(result) if predictions else result,
                        scores(result) if scores else None, score_labels, score_type)

        names_fn = (lambda _target: feature_names) if feature_names is not None else None

        if inspect.iscoroutinefunction(target):
            @wrapt.decorator
            async def async_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...],
                                    kwargs: dict[str, Any]) -> Any:
                async def run() -> Any:
                    return await wrapped(*args, **kwargs)

                return await record_async_call(default_recorder(), identity, called,
                                               _select(args, kwargs, inputs), run, interpret, names_fn)

            return cast(F, async_wrapper(target))

        @wrapt.decorator
        def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return record_call(default_recorder(), identity, called, _select(args, kwargs, inputs),
                               lambda: wrapped(*args, **kwargs), interpret, names_fn)

        return cast(F, wrapper(target))

    if model is not None:
        return decorate(model)
    return decorate


def _default_name(target: Any) -> str:
    return str(getattr(target, "__name__", None) or type(target).__name__)

