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


_ndarray: Any = None
"""numpy.ndarray once numpy has been imported (by the application: never imported here)."""


def _ndarray_type() -> Any:
    global _ndarray
    if _ndarray is None:
        np = sys.modules.get("numpy")
        _ndarray = getattr(np, "ndarray", None) if np is not None else None
    return _ndarray


def _is_pandas_frame(x: Any) -> bool:
    """Whether ``x`` is a pandas DataFrame (checked by type: pandas is never imported here)."""
    pd = sys.modules.get("pandas")
    frame_type = getattr(pd, "DataFrame", None) if pd is not None else None
    return frame_type is not None and isinstance(x, frame_type)


def _is_frame(x: Any) -> bool:
    # Hot path: a type check first. ``hasattr(frame, "dtypes")`` would build a pandas Series;
    # the duck-typed test remains for other frame libraries.
    if _is_pandas_frame(x):
        return True
    if type(x) is _ndarray_type():
        return False
    return hasattr(x, "iloc") and hasattr(x, "columns") and hasattr(x, "dtypes")


def is_frame(x: Any) -> bool:
    """Whether ``x`` is read as a data frame (pandas, or anything frame-like)."""
    return _is_frame(x)


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
    if type(x) is _ndarray_type():  # hot path: numpy input
        shape = x.shape
        if len(shape) == 2:
            return int(shape[0]), int(shape[1])
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


class Table:
    """Feature values of the recorded rows, split by kind.

    ``numeric`` is row-major; when the values were read from a numpy matrix or pandas frame they are
    kept as a float64 matrix and turned into lists only in the order the encoding asks for
    (:meth:`numeric_columns` for per-feature attributes, ``numeric`` for the packed encoding).
    """

    __slots__ = ("_matrix", "_numeric", "categorical", "categorical_names", "names", "numeric_names", "rows")

    def __init__(self, rows: int, names: list[str], numeric_names: list[str], numeric: list[float] | None,
                 categorical_names: list[str], categorical: list[Any], matrix: Any = None) -> None:
        self.rows = rows
        self.names = names
        """All feature names, in column order."""
        self.numeric_names = numeric_names
        self._numeric = numeric
        self._matrix = matrix
        self.categorical_names = categorical_names
        self.categorical = categorical
        """``rows x len(categorical_names)`` values, row-major; None = missing; not yet stringified."""

    @property
    def numeric(self) -> list[float]:
        """``rows x len(numeric_names)`` values, row-major; NaN = missing."""
        if self._numeric is None:
            self._numeric = self._matrix.ravel().tolist() if self._matrix is not None else []
        return self._numeric

    def numeric_columns(self) -> list[list[float]]:
        """The numeric values column by column (one list per name of ``numeric_names``)."""
        if self._numeric is None and self._matrix is not None:
            columns: list[list[float]] = self._matrix.T.tolist()
            return columns
        width = len(self.numeric_names)
        values = self.numeric
        return [values[j::width] for j in range(width)]


_DEFAULT_NAMES: dict[int, list[str]] = {}
_CACHED_NAMES = 4096
"""Widths up to this have their default names built once (the lists are shared: never mutated)."""


def default_names(count: int) -> list[str]:
    """``x0 .. x{count-1}``, the names used when the input carries none (shared list: do not mutate)."""
    cached = _DEFAULT_NAMES.get(count)
    if cached is not None:
        return cached
    result = [f"x{j}" for j in range(count)]
    if count <= _CACHED_NAMES:
        _DEFAULT_NAMES[count] = result
    return result


def _pick_rows(x: Any, indices: list[int] | None) -> Any:
    return x if indices is None else x[indices]


def read_features(x: Any, indices: list[int] | None, names: Sequence[str] | None) -> Table | None:
    """The recorded rows of input ``x`` as a :class:`Table`; None when the input cannot be read."""
    # Hot path for sklearn: DataFrame and ndarray inputs.
    if type(x) is _ndarray_type():  # hot path: a numpy matrix
        if x.ndim == 2:
            return _from_matrix(_pick_rows(x, indices), names, _numpy())
    elif _is_pandas_frame(x):
        return _from_frame(x, indices)
    if _is_frame(x):
        return _from_frame(x, indices)
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


_GIVEN_NAMES: dict[int, tuple[Sequence[str], list[str]]] = {}
"""Per given names sequence (by id, held so its id cannot be reused): its names as strings."""


def _names_for(names: Sequence[str] | None, width: int) -> list[str]:
    """The given names as strings (shared list: do not mutate), else ``x0 ..``."""
    if names is not None and len(names) == width:
        entry = _GIVEN_NAMES.get(id(names))
        if entry is not None and entry[0] is names and type(names) is tuple:
            return entry[1]
        result = [str(n) for n in names]
        if type(names) is tuple:  # immutable: safe to cache by identity
            if len(_GIVEN_NAMES) >= _CACHED_COLUMNS:
                _GIVEN_NAMES.clear()
            _GIVEN_NAMES[id(names)] = (names, result)
        return result
    return default_names(width)


def _frame_dtypes(frame: Any) -> tuple[list[Any], bool]:
    """The frame's column dtypes, and whether its values are one block (``to_numpy()`` is then a view).

    ``frame.dtypes`` builds a pandas Series on every access; the block manager's ``get_dtypes()``
    (what ``dtypes`` is built from) is read instead when present, ``dtypes`` otherwise.
    """
    mgr: Any = getattr(frame, "_mgr", None)
    try:
        dtypes = list(mgr.get_dtypes())
        single = mgr.is_single_block is True
        if len(dtypes) == len(frame.columns):
            return dtypes, single
    except Exception:
        pass
    return list(frame.dtypes), False


_COLUMN_NAMES: dict[int, tuple[Any, list[str]]] = {}
"""Per column index (by id, the index held so its id cannot be reused): its names as strings."""
_CACHED_COLUMNS = 1024


def _frame_names(frame: Any) -> list[str]:
    """The frame's column names as strings (shared list: do not mutate), cached per column index."""
    columns = frame.columns
    entry = _COLUMN_NAMES.get(id(columns))
    if entry is not None and entry[0] is columns:
        return entry[1]
    names = [str(c) for c in columns.tolist()]
    if len(_COLUMN_NAMES) >= _CACHED_COLUMNS:
        _COLUMN_NAMES.clear()
    _COLUMN_NAMES[id(columns)] = (columns, names)
    return names


def _single_numeric_block(frame: Any, np: Any) -> bool:
    """Whether the frame's values are one plain numeric numpy block (``to_numpy()`` is then a view)."""
    blocks = getattr(getattr(frame, "_mgr", None), "blocks", None)
    if type(blocks) is not tuple or len(blocks) != 1:
        return False
    dtype = getattr(blocks[0], "dtype", None)
    return isinstance(dtype, np.dtype) and dtype.kind in "biuf"


_frame_cls: Any = None
"""pandas.DataFrame once pandas has been imported (by the application: never imported here)."""


def _frame_type() -> Any:
    global _frame_cls
    if _frame_cls is None:
        pd = sys.modules.get("pandas")
        _frame_cls = getattr(pd, "DataFrame", None) if pd is not None else None
    return _frame_cls


def numeric_matrix(x: Any) -> tuple[Any, list[str] | None] | None:
    """The common input shapes, recognised without the generic readers: ``(x, column names)``.

    A 2-D numeric numpy array (names None: the model's or ``x0..`` apply), or a pandas DataFrame
    whose columns are one plain numeric block (its names given; :func:`matrix_of` is then a view).
    None for anything else, which goes through :func:`dims` and :func:`read_features`.
    Nothing is converted here: a sampled-out call reads no values.
    """
    cls = type(x)
    if cls is (_ndarray if _ndarray is not None else _ndarray_type()):
        if x.ndim == 2 and x.dtype.kind in "biuf":
            return x, None
        return None
    if cls is _frame_type() and cls is not None:
        np = _numpy()
        if np is not None and _single_numeric_block(x, np):
            return x, _frame_names(x)
    return None


def matrix_of(x: Any, frame: bool, indices: list[int] | None) -> Any:
    """The float64 matrix of the recorded rows of an input :func:`numeric_matrix` recognised."""
    np = _numpy()
    matrix = x.to_numpy() if frame else x
    if indices is not None:
        matrix = matrix[indices]
    return matrix.astype(np.float64, copy=False)


def matrix_names(names: Sequence[str] | None, width: int) -> list[str]:
    """Feature names for a matrix of ``width`` columns: the given ones as strings, else ``x0 ..``."""
    return _names_for(names, width)


def _from_frame(frame: Any, indices: list[int] | None) -> Table:
    """The recorded rows (``indices``, None = all) of a DataFrame; only those rows are converted."""
    np = _numpy()
    names = _frame_names(frame)
    if np is not None and _single_numeric_block(frame, np):
        # Hot path: one plain numpy block holds every column; pick the recorded rows from the view.
        matrix = _pick_rows(frame.to_numpy(), indices).astype(np.float64, copy=False)
        return Table(int(matrix.shape[0]), names, names, None, [], [], matrix)
    dtypes, single = _frame_dtypes(frame)
    kinds = [getattr(dtype, "kind", "O") for dtype in dtypes]
    if all(kind in "biuf" for kind in kinds):
        # All numeric: one vectorised conversion of the recorded rows.
        if single and np is not None and dtypes and isinstance(dtypes[0], np.dtype):
            # One plain numpy block: to_numpy() is a view and holds no NA sentinel; pick the rows from it.
            matrix = _pick_rows(frame.to_numpy(), indices).astype(np.float64, copy=False)
        else:
            sub = frame.iloc[indices] if indices is not None else frame
            matrix = sub.to_numpy(dtype="float64", na_value=np.nan)
        return Table(int(matrix.shape[0]), names, names, None, [], [], matrix)
    if indices is not None:
        frame = frame.iloc[indices]
    num_idx = [j for j, kind in enumerate(kinds) if kind in "biuf"]
    cat_idx = [j for j, kind in enumerate(kinds) if kind not in "biuf"]
    numeric_matrix = None
    if num_idx:
        numeric_matrix = frame.iloc[:, num_idx].to_numpy(dtype="float64", na_value=np.nan)
    categorical: list[Any] = []
    if cat_idx:
        block = frame.iloc[:, cat_idx] if num_idx else frame
        values = block.to_numpy(dtype=object, copy=True)  # a copy: pandas may hand out read-only views
        values[block.isna().to_numpy()] = None
        categorical = values.ravel().tolist()
    return Table(len(frame), names, [names[j] for j in num_idx], None, [names[j] for j in cat_idx], categorical,
                 numeric_matrix)


def _from_matrix(matrix: Any, names: Sequence[str] | None, np: Any) -> Table:
    rows, width = int(matrix.shape[0]), int(matrix.shape[1])
    all_names = _names_for(names, width)
    if matrix.dtype.kind in "biuf":
        return Table(rows, all_names, all_names, None, [], [], matrix.astype(np.float64, copy=False))
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
    if type(y) is _ndarray_type():  # hot path: scikit-learn's outputs
        return _output_from_array(y, indices, batch, _numpy())
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
        return _output_from_array(y, indices, batch, np)
    if isinstance(y, (list, tuple)):
        if batch is not None and len(y) != batch:
            return None
        sub_list = list(y) if indices is None else [y[i] for i in indices]
        if sub_list and not _is_scalar(sub_list[0]):
            width = len(sub_list[0])
            return _output_from_list([v for row in sub_list for v in row], len(sub_list), width)
        return _output_from_list(sub_list, len(sub_list), 1)
    return None


def numeric_rows(y: Any, indices: list[int] | None, batch: int | None) -> tuple[list[float], int] | None:
    """(row-major values, width) of the recorded rows of a numeric 1-D/2-D ndarray of ``batch`` rows.

    The hot path for model outputs; None for anything else (:func:`read_output` reads it).
    """
    if type(y) is not (_ndarray if _ndarray is not None else _ndarray_type()) or y.dtype.kind not in "biuf":
        return None
    ndim = y.ndim
    if ndim == 1:
        width = 1
    elif ndim == 2:
        width = int(y.shape[1])
    else:
        return None
    if batch is not None and y.shape[0] != batch:
        return None
    sub = y if indices is None else y[indices]
    if sub.dtype.kind != "f" or sub.dtype.itemsize != 8:
        sub = sub.astype(_numpy().float64)
    values: list[float] = sub.ravel().tolist()
    return values, width


def _output_from_array(y: Any, indices: list[int] | None, batch: int | None, np: Any) -> Output | None:
    if y.ndim == 0:
        y = y.reshape(1)
    if y.ndim > 2:
        return None
    rows = int(y.shape[0])
    if batch is not None and rows != batch:
        return None
    sub = y if indices is None else y[indices]
    width = 1 if sub.ndim == 1 else int(sub.shape[1])
    kind = sub.dtype.kind
    if kind in "biuf":
        if kind != "f" or sub.dtype.itemsize != 8:
            sub = sub.astype(np.float64)
        return Output(int(sub.shape[0]), width, sub.ravel().tolist(), True)
    return _output_from_list(sub.astype(object).ravel().tolist(), int(sub.shape[0]), width)


def _output_from_list(values: list[Any], rows: int, width: int) -> Output:
    if all(_is_missing(v) or _is_number(v) for v in values):
        return Output(rows, width, [math.nan if _is_missing(v) else float(v) for v in values], True)
    return Output(rows, width, [None if _is_missing(v) else v for v in values], False)
