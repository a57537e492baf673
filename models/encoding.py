"""Input checks and encoders shared by the model families.

- :func:`infer_column_kinds` splits a frame's columns into numeric and categorical by dtype
  (object, category, bool and string are categorical), so every family reads a frame alike;
- :func:`check_features` / :func:`check_labels` validate what ``fit``/``predict`` receive;
- :class:`LabelCodec` maps labels of any type ("UP"/"DOWN", ints, bools) to codes ``0..k-1``
  and back, so every family predicts the original label values;
- :class:`TabularEncoder` standardises numeric columns and one-hot encodes categorical ones
  (unknown categories become all zeros), vectorised per frame; the torch family uses it.

>>> import pandas as pd
>>> X = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
>>> enc = TabularEncoder().fit(X)
>>> enc.transform(pd.DataFrame({"x": [2.0], "c": ["zzz"]})).tolist()
[[0.0, 0.0, 0.0]]
>>> codec = LabelCodec().fit(["UP", "DOWN", "UP"])
>>> codec.encode(["UP", "DOWN"]).tolist(), codec.decode([1, 0]).tolist()
([1, 0], ['UP', 'DOWN'])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from models.base import InvalidDataError, NotFittedError, Task


@dataclass(frozen=True)
class ColumnKinds:
    """Feature columns split by how they are encoded."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]


def _is_categorical(s: pd.Series) -> bool:
    dtype = s.dtype
    return (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def infer_column_kinds(X: pd.DataFrame) -> ColumnKinds:
    """Split the columns of ``X`` into numeric and categorical ones, keeping their order.

    Raises :class:`InvalidDataError` for column types no family encodes (datetimes, ...).

    >>> infer_column_kinds(pd.DataFrame({"a": [1.5], "b": ["x"], "c": [True]}))
    ColumnKinds(numeric=('a',), categorical=('b', 'c'))
    """
    numeric: list[str] = []
    categorical: list[str] = []
    unsupported: list[str] = []
    for name in X.columns:
        s = X[name]
        if _is_categorical(s):
            categorical.append(str(name))
        elif pd.api.types.is_numeric_dtype(s.dtype):
            numeric.append(str(name))
        else:
            unsupported.append(f"{name!r} ({s.dtype})")
    if unsupported:
        raise InvalidDataError(
            f"Feature columns must be numeric, bool, string, object or category. Got "
            f"{', '.join(unsupported)}; convert them to numbers (e.g. timestamps to seconds) or "
            "drop them before training."
        )
    return ColumnKinds(tuple(numeric), tuple(categorical))


def check_features(
    X: object, columns: Sequence[str] | None = None, *, where: str = "fit"
) -> pd.DataFrame:
    """Check ``X`` is a non-empty frame and return its ``columns`` in the fitted order.

    Extra columns are dropped; missing ones raise :class:`InvalidDataError` naming them.
    """
    if not isinstance(X, pd.DataFrame):
        raise InvalidDataError(
            f"The 'X' parameter of {where} must be a pandas DataFrame. Got {type(X).__name__} "
            "instead; wrap arrays with pd.DataFrame(array, columns=[...])."
        )
    if len(X) == 0 and where == "fit":
        raise InvalidDataError("The 'X' parameter of fit has no rows; pass at least one row.")
    if len(X.columns) == 0:
        raise InvalidDataError(f"The 'X' parameter of {where} has no feature columns.")
    not_str = [c for c in X.columns if not isinstance(c, str)]
    if not_str:
        raise InvalidDataError(
            f"The 'X' parameter of {where} must have string column names. Got {not_str[:5]}; "
            "rename them, e.g. X.columns = X.columns.astype(str)."
        )
    if X.columns.has_duplicates:
        dup = sorted({str(c) for c in X.columns[X.columns.duplicated()]})
        raise InvalidDataError(f"The 'X' parameter of {where} has duplicate columns {dup}.")
    if columns is None:
        return X
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise InvalidDataError(
            f"The 'X' parameter of {where} lacks the columns {missing} the model was fitted on "
            f"(fitted on {list(columns)}); pass a frame with these columns."
        )
    return X.loc[:, list(columns)]


def check_labels(y: ArrayLike, n_rows: int, task: Task, *, where: str = "fit") -> np.ndarray:
    """Return ``y`` as a 1-D array of ``n_rows`` labels without missing values.

    Regression targets become float64 and must be finite; class labels keep their type.
    """
    arr = y.to_numpy() if isinstance(y, pd.Series | pd.Index) else np.asarray(y)
    if arr.ndim != 1:
        raise InvalidDataError(
            f"The 'y' parameter of {where} must be 1-D. Got shape {arr.shape}; pass one label "
            "per row."
        )
    if len(arr) != n_rows:
        raise InvalidDataError(
            f"The 'y' parameter of {where} has {len(arr)} labels for {n_rows} rows of X; pass "
            "one label per row."
        )
    if task == "regression":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as err:
            raise InvalidDataError(
                f"The 'y' parameter of {where} must be numeric for regression. Got dtype "
                f"{arr.dtype} ({err})."
            ) from err
        bad = ~np.isfinite(arr)
    else:
        bad = np.asarray(pd.isna(arr))
    if bad.any():
        first = np.flatnonzero(bad)[:5].tolist()
        raise InvalidDataError(
            f"The 'y' parameter of {where} has {int(bad.sum())} missing or non-finite labels "
            f"(first at positions {first}); drop those rows before training."
        )
    return arr


class LabelCodec:
    """Maps class labels of any hashable type to codes ``0..k-1`` and back.

    ``fit`` sorts the labels it sees; ``extend`` appends labels it has not seen (so existing codes
    keep their meaning while an online or fine-tuned model meets a new class).
    """

    def fit(self, y: ArrayLike) -> LabelCodec:
        arr = np.asarray(y)
        try:
            self.classes_ = np.unique(arr)
        except TypeError as err:
            raise InvalidDataError(
                f"Class labels must be of one comparable type (all str or all int). Got {err}."
            ) from err
        return self

    def _index(self) -> pd.Index:
        if not hasattr(self, "classes_"):
            raise NotFittedError("This LabelCodec is not fitted yet; call fit(y) first.")
        return pd.Index(self.classes_)

    def unseen(self, y: ArrayLike) -> np.ndarray:
        """The distinct labels in ``y`` that the codec does not know yet."""
        arr = np.asarray(y)
        return pd.unique(arr[self._index().get_indexer(arr) < 0])

    def extend(self, y: ArrayLike) -> LabelCodec:
        """Append the labels of ``y`` not seen yet (in order of first appearance)."""
        new = self.unseen(y)
        if len(new):
            self.classes_ = np.concatenate([self.classes_, np.asarray(new)])
        return self

    def encode(self, y: ArrayLike) -> np.ndarray:
        """Codes of ``y`` as int64; unknown labels raise :class:`InvalidDataError`."""
        arr = np.asarray(y)
        codes = self._index().get_indexer(arr)
        if (codes < 0).any():
            raise InvalidDataError(
                f"Labels {pd.unique(arr[codes < 0]).tolist()} were not seen in fit (known: "
                f"{self.classes_.tolist()}); call extend(y) or refit."
            )
        return codes.astype(np.int64)

    def decode(self, codes: ArrayLike) -> np.ndarray:
        """The original labels of ``codes``."""
        self._index()
        return self.classes_[np.asarray(codes, dtype=np.int64)]

    @property
    def n_classes(self) -> int:
        return len(self._index())


def as_strings(X: pd.DataFrame) -> pd.DataFrame:
    """Categorical values as ``str`` (missing values become ``"nan"``), as every family sees them."""
    return pd.DataFrame(X).astype(str)


class TabularEncoder:
    """Standardise numeric columns and one-hot encode categorical ones into a float32 matrix.

    Column kinds are inferred in :meth:`fit` (see :func:`infer_column_kinds`). Missing numeric
    values are imputed with the column mean (0 after standardising); categories not seen in
    ``fit`` encode as all zeros. Output columns: numeric first, then one block per categorical.
    """

    def fit(self, X: pd.DataFrame) -> TabularEncoder:
        X = check_features(X, where="TabularEncoder.fit")
        kinds = infer_column_kinds(X)
        self.feature_names_in_ = tuple(X.columns)
        self.numeric_ = kinds.numeric
        self.categorical_ = kinds.categorical
        num = X.loc[:, list(self.numeric_)].to_numpy(dtype=np.float64, na_value=np.nan)
        with warnings.catch_warnings():  # all-missing columns warn; they are handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(num, axis=0) if num.size else np.zeros(0)
            scale = np.nanstd(num, axis=0) if num.size else np.zeros(0)
        self.mean_ = np.where(np.isfinite(mean), mean, 0.0)
        self.scale_ = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        cats = as_strings(X.loc[:, list(self.categorical_)])
        self.categories_ = tuple(pd.Index(sorted(pd.unique(cats[c]))) for c in cats.columns)
        self.n_features_out_ = len(self.numeric_) + sum(len(c) for c in self.categories_)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "feature_names_in_"):
            raise NotFittedError("This TabularEncoder is not fitted yet; call fit(X) first.")
        X = check_features(X, self.feature_names_in_, where="TabularEncoder.transform")
        out = np.zeros((len(X), self.n_features_out_), dtype=np.float32)
        num = X.loc[:, list(self.numeric_)].to_numpy(dtype=np.float64, na_value=np.nan)
        num = (num - self.mean_) / self.scale_
        out[:, : len(self.numeric_)] = np.nan_to_num(num, nan=0.0, posinf=0.0, neginf=0.0)
        offset = len(self.numeric_)
        cats = as_strings(X.loc[:, list(self.categorical_)])
        rows = np.arange(len(X))
        for col, categories in zip(cats.columns, self.categories_, strict=True):
            codes = categories.get_indexer(cats[col].to_numpy())
            known = codes >= 0
            out[rows[known], offset + codes[known]] = 1.0
            offset += len(categories)
        return out

    def fit_transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.fit(X).transform(X)
