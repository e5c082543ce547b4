"""Reading model inputs and outputs into bounded, row-major Python lists.

Inputs arrive as pandas DataFrames, numpy arrays, scipy sparse matrices, torch tensors, mappings
or lists. Rows are sampled *before* anything is converted, so the work is bounded by
``recorded rows x features`` whatever the batch size; numpy and pandas inputs are converted with
vectorised calls (``to_numpy``/``astype``/``ravel().tolist()``), never cell by cell. numpy is
never imported here: it is used only when the application already handed us a numpy-backed value.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_CELLS = 65536
"""Upper bound on recorded rows x features (a 2000-feature model records 32 rows; 20000 features, 3)."""

MAX_FEATURES = 16384
"""Inputs with more columns than this (sparse text vectors, images) record no feature values."""

_rng = random.Random()


def sample_indices(n: int, max_rows: int) -> list[int] | None:
    """Ascending uniform sample (without replacement) of ``max_rows`` of ``range(n)``; None = all rows."""
    if n <= max_rows:
        return None
    return sorted(_rng.sample(range(n), max_rows))


def _numpy() -> Any:
    return sys.modules.get("numpy")


def _is_frame(x: Any) -> bool:
    return hasattr(x, "iloc") and hasattr(x, "columns") and hasattr(x, "dtypes")


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "detach") and hasattr(x, "numpy") and hasattr(x, "shape")


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "tocsr") and hasattr(x, "shape")


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "ndim")


def _is_scalar(x: Any) -> bool:
    return x is None or isinstance(x, (str, bytes, int, float, bool)) or (
        _is_array(x) and getattr(x, "ndim", 1) == 0)


def dims(x: Any) -> tuple[int | None, int | None]:
    """(rows, features) of a model input, None where unknown. A 1-D input is one row of features."""
    if _is_frame(x) or _is_sparse(x) or _is_tensor(x) or _is_array(x):
        shape = tuple(x.shape)
        if len(shape) == 0:
            return 1, 1
        if len(shape) == 1:
            return 1, int(shape[0])
        features = 1
        for d in shape[1:]:
            features *= int(d)
        return int(shape[0]), features
    if isinstance(x, Mapping):
        values = list(x.values())
        if len(values) == 1 and _is_array(values[0]) and getattr(values[0], "ndim", 0) >= 2:
            return dims(values[0])  # an ONNX-style feed: {"input": matrix}
        if values and not _is_scalar(values[0]):
            return len(values[0]), len(values)
        return 1, len(values)
    if isinstance(x, (list, tuple)):
        if not x:
            return 0, None
        first = x[0]
        if isinstance(first, Mapping):
            return len(x), len(first)
        if _is_scalar(first):
            return 1, len(x)
        try:
            return len(x), len(first)
        except TypeError:
            return len(x), None
    return None, None


@dataclass(slots=True)
class Table:
    """Feature values of the recorded rows, split by kind, row-major."""

    rows: int
    names: list[str]
    """All feature names, in column order."""
    numeric_names: list[str]
    numeric: list[float]
    """``rows x len(numeric_names)`` values, row-major; NaN = missing."""
    categorical_names: list[str]
    categorical: list[Any]
    """``rows x len(categorical_names)`` values, row-major; None = missing; not yet stringified."""


def default_names(count: int) -> list[str]:
    """``x0 .. x{count-1}``, the names used when the input carries none."""
    return [f"x{j}" for j in range(count)]


def _pick_rows(x: Any, indices: list[int] | None) -> Any:
    return x if indices is None else x[indices]


def read_features(x: Any, indices: list[int] | None, names: Sequence[str] | None) -> Table | None:
    """The recorded rows of input ``x`` as a :class:`Table`; None when the input cannot be read."""
    # Hot path for sklearn: DataFrame and ndarray inputs.
    if _is_frame(x):
        return _from_frame(x.iloc[indices] if indices is not None else x)
    if _is_sparse(x):
        x = _pick_rows(x.tocsr(), indices).toarray()
        indices = None
    elif _is_tensor(x):
        x = _pick_rows(x, indices).detach().cpu().numpy()
        indices = None
    if _is_array(x):
        np = _numpy()
        if np is None or not isinstance(x, np.ndarray):
            return None
        if x.ndim == 1:
            x = x.reshape(1, -1)
        elif x.ndim > 2:
            return None
        return _from_matrix(_pick_rows(x, indices), names, np)
    if isinstance(x, Mapping):
        values = list(x.values())
        if len(values) == 1 and _is_array(values[0]) and getattr(values[0], "ndim", 0) >= 2:
            return read_features(values[0], indices, names)
        keys = [str(k) for k in x]
        if values and not _is_scalar(values[0]):
            columns = [list(v) for v in values]
            if indices is not None:
                columns = [[col[i] for i in indices] for col in columns]
            return _from_columns(keys, columns)
        return _from_columns(keys, [[v] for v in values])
    if isinstance(x, (list, tuple)):
        if not x:
            return None
        rows_in = x if indices is None else [x[i] for i in indices]
        if isinstance(x[0], Mapping):
            keys = list(x[0])
            return _from_columns([str(k) for k in keys], [[row.get(k) for row in rows_in] for k in keys])
        if _is_scalar(x[0]):
            rows_in = [x]
        width = max(len(r) for r in rows_in)
        cols = [[r[j] if j < len(r) else None for r in rows_in] for j in range(width)]
        return _from_columns(_names_for(names, width), cols)
    return None


def _names_for(names: Sequence[str] | None, width: int) -> list[str]:
    if names is not None and len(names) == width:
        return [str(n) for n in names]
    return default_names(width)


def _from_frame(frame: Any) -> Table:
    np = _numpy()
    names = [str(c) for c in frame.columns]
    kinds = [getattr(dtype, "kind", "O") for dtype in frame.dtypes]
    num_idx = [j for j, kind in enumerate(kinds) if kind in "biuf"]
    cat_idx = [j for j, kind in enumerate(kinds) if kind not in "biuf"]
    numeric: list[float] = []
    if num_idx:
        numeric = frame.iloc[:, num_idx].to_numpy(dtype="float64", na_value=np.nan).ravel().tolist()
    categorical: list[Any] = []
    if cat_idx:
        block = frame.iloc[:, cat_idx]
        values = block.to_numpy(dtype=object, copy=True)  # a copy: pandas may hand out read-only views
        values[block.isna().to_numpy()] = None
        categorical = values.ravel().tolist()
    return Table(len(frame), names, [names[j] for j in num_idx], numeric, [names[j] for j in cat_idx], categorical)


def _from_matrix(matrix: Any, names: Sequence[str] | None, np: Any) -> Table:
    rows, width = int(matrix.shape[0]), int(matrix.shape[1])
    all_names = _names_for(names, width)
    if matrix.dtype.kind in "biuf":
        return Table(rows, all_names, all_names, matrix.astype(np.float64).ravel().tolist(), [], [])
    if matrix.dtype.kind in "USM":
        return Table(rows, all_names, [], [], all_names, matrix.astype(object).ravel().tolist())
    # object arrays: the column kind is decided per column, on the sampled rows only.
    return _from_columns(all_names, matrix.T.tolist())


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NAType", "NaTType")


def _is_number(v: Any) -> bool:
    if isinstance(v, (str, bytes)):
        return False
    if isinstance(v, (int, float, bool)):
        return True
    np = _numpy()
    return np is not None and isinstance(v, np.number | np.bool_)


def _from_columns(names: list[str], columns: list[list[Any]]) -> Table:
    rows = len(columns[0]) if columns else 0
    num_cols: list[list[float]] = []
    cat_cols: list[list[Any]] = []
    num_names: list[str] = []
    cat_names: list[str] = []
    for name, col in zip(names, columns, strict=False):
        if all(_is_missing(v) or _is_number(v) for v in col):
            num_names.append(name)
            num_cols.append([math.nan if _is_missing(v) else float(v) for v in col])
        else:
            cat_names.append(name)
            cat_cols.append([None if _is_missing(v) else v for v in col])
    numeric = [v for row in zip(*num_cols, strict=True) for v in row] if num_cols else []
    categorical = [v for row in zip(*cat_cols, strict=True) for v in row] if cat_cols else []
    return Table(rows, names, num_names, numeric, cat_names, categorical)


@dataclass(slots=True)
class Output:
    """Model outputs (predictions or scores) of the recorded rows, row-major."""

    rows: int
    width: int
    values: list[Any]
    numeric: bool


def read_output(y: Any, indices: list[int] | None, batch: int | None) -> Output | None:
    """The recorded rows of output ``y``; None when unreadable or not one row per input row."""
    if _is_frame(y) or (hasattr(y, "iloc") and hasattr(y, "to_numpy")):
        y = y.to_numpy()
    elif _is_tensor(y):
        y = y.detach().cpu().numpy()
    elif _is_sparse(y):
        y = y.toarray()
    np = _numpy()
    if _is_scalar(y) and not _is_array(y):
        return _output_from_list([y], 1, 1)
    if np is not None and isinstance(y, (list, tuple)) and y:
        y = np.asarray(y)
    if np is not None and isinstance(y, np.ndarray):
        if y.ndim == 0:
            y = y.reshape(1)
        if y.ndim > 2:
            return None
        rows = int(y.shape[0])
        if batch is not None and rows != batch:
            return None
        sub = y if indices is None else y[indices]
        width = 1 if sub.ndim == 1 else int(sub.shape[1])
        if sub.dtype.kind in "biuf":
            return Output(int(sub.shape[0]), width, sub.astype(np.float64).ravel().tolist(), True)
        return _output_from_list(sub.astype(object).ravel().tolist(), int(sub.shape[0]), width)
    if isinstance(y, (list, tuple)):
        if batch is not None and len(y) != batch:
            return None
        sub_list = list(y) if indices is None else [y[i] for i in indices]
        if sub_list and not _is_scalar(sub_list[0]):
            width = len(sub_list[0])
            return _output_from_list([v for row in sub_list for v in row], len(sub_list), width)
        return _output_from_list(sub_list, len(sub_list), 1)
    return None


def _output_from_list(values: list[Any], rows: int, width: int) -> Output:
    if all(_is_missing(v) or _is_number(v) for v in values):
        return Output(rows, width, [math.nan if _is_missing(v) else float(v) for v in values], True)
    return Output(rows, width, [None if _is_missing(v) else v for v in values], False)
