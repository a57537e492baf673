"""The scikit-learn family: ``Pipeline(ColumnTransformer(...), estimator)``.

Numeric columns are median-imputed and standardised, categorical columns one-hot encoded with
unknown categories ignored. Class labels are coded with :class:`~models.encoding.LabelCodec`
so any label type works and ``predict`` returns the original values. scikit-learn estimators
do not warm-start here: :meth:`SklearnModel.update` refits on the data it is given.

>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"x": np.arange(40.0), "c": ["a", "b"] * 20})
>>> y = np.where(X["x"] > 20, "UP", "DOWN")
>>> model = SklearnModel("classification", estimator="logistic_regression").fit(X, y)
>>> model.predict(X.iloc[[0, -1]]).tolist()
['DOWN', 'UP']
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import (
    LinearRegression,
    LogisticRegression,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import ThreadpoolController

from models.base import ConfigError, FamilyBase, Task, check_task
from models.config import ParamValue, estimator_names
from models.encoding import (
    ColumnKinds,
    LabelCodec,
    as_strings,
    check_features,
    check_labels,
    infer_column_kinds,
)

#: Estimator classes by task and name (names match :data:`models.config.ESTIMATORS`).
ESTIMATOR_CLASSES: dict[str, dict[str, type[BaseEstimator]]] = {
    "classification": {
        "hist_gradient_boosting": HistGradientBoostingClassifier,
        "logistic_regression": LogisticRegression,
        "random_forest": RandomForestClassifier,
        "sgd": SGDClassifier,
    },
    "regression": {
        "hist_gradient_boosting": HistGradientBoostingRegressor,
        "ridge": Ridge,
        "random_forest": RandomForestRegressor,
        "linear": LinearRegression,
        "sgd": SGDRegressor,
    },
}

#: Defaults that differ from scikit-learn's (a logistic regression on unscaled one-hot columns
#: can need more than 100 iterations to converge).
_DEFAULTS: dict[str, dict[str, Any]] = {"logistic_regression": {"max_iter": 1000}}


@functools.cache
def _threadpools() -> ThreadpoolController:
    """The process's OpenMP/BLAS pools, found once (a fresh scan costs ~4 ms per call)."""
    return ThreadpoolController()


@contextmanager
def limit_threads(n_threads: int | None) -> Iterator[None]:
    """Cap OpenMP and BLAS threads inside the block (process-wide while it runs)."""
    with nullcontext() if n_threads is None else _threadpools().limit(limits=n_threads):
        yield


def estimator_class(name: str, task: Task) -> type[BaseEstimator]:
    """The scikit-learn class behind ``name`` for ``task``; lists the valid names when unknown."""
    names = estimator_names("sklearn", check_task(task))
    if name not in names:
        raise ConfigError(
            f"The 'estimator' parameter of SklearnModel for {task} must be one of {list(names)}. "
            f"Got {name!r} instead."
        )
    return ESTIMATOR_CLASSES[task][name]


def check_params(name: str, task: Task, params: Mapping[str, ParamValue]) -> None:
    """Raise :class:`ConfigError` when ``params`` has keys the estimator does not accept."""
    valid = set(estimator_class(name, task)().get_params())
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ConfigError(
            f"The 'params' of sklearn estimator {name!r} ({task}) has unknown keys {unknown}; "
            f"valid keys are {sorted(valid)}."
        )


def build_estimator(
    name: str, task: Task, params: Mapping[str, ParamValue], seed: int
) -> BaseEstimator:
    """An unfitted estimator: family defaults, then ``random_state=seed``, then ``params``."""
    check_params(name, task, params)
    cls = estimator_class(name, task)
    kwargs: dict[str, Any] = dict(_DEFAULTS.get(name, {}))
    if "random_state" in cls().get_params():
        kwargs["random_state"] = seed
    kwargs.update(params)
    return cls(**kwargs)


def build_preprocessor(kinds: ColumnKinds) -> ColumnTransformer:
    """Impute + standardise numeric columns, one-hot categorical ones (unknowns ignored)."""
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("as_str", FunctionTransformer(as_strings, feature_names_out="one-to-one")),
            ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(kinds.numeric)),
            ("categorical", categorical, list(kinds.categorical)),
        ],
        remainder="drop",
        sparse_threshold=0.0,
    )


class SklearnModel(FamilyBase):
    """A scikit-learn estimator behind the :class:`~models.base.DriftModel` contract.

    Parameters
    ----------
    task
        ``"classification"`` or ``"regression"``.
    estimator
        One of :data:`models.config.ESTIMATORS` ``["sklearn"][task]``.
    params
        Keyword arguments of the estimator (checked against its signature in ``fit``).
    seed
        ``random_state`` of estimators that take one.
    n_threads
        OpenMP/BLAS threads while fitting and predicting (None: leave the process setting).

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        The fitted preprocessing + estimator pipeline.
    codec_ : LabelCodec or None
        Class labels (classification only).
    feature_names_in_ : tuple of str
        The columns seen in ``fit``; ``predict`` selects them (extra columns are ignored).
    """

    learns_online = False

    def __init__(
        self,
        task: Task = "classification",
        estimator: str = "hist_gradient_boosting",
        params: Mapping[str, ParamValue] | None = None,
        seed: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        self.task = task
        self.estimator = estimator
        self.params = params
        self.seed = seed
        self.n_threads = n_threads

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> SklearnModel:
        task = check_task(self.task)
        X = check_features(X)
        y = check_labels(y, len(X), task)
        estimator = build_estimator(self.estimator, task, dict(self.params or {}), self.seed)
        target: np.ndarray = y
        codec = None
        if task == "classification":
            codec = LabelCodec().fit(y)
            target = codec.encode(y)
            if codec.n_classes == 1:  # most classifiers refuse one class; predicting it is right
                estimator = DummyClassifier(strategy="most_frequent")
        pipeline = Pipeline(
            [
                ("preprocess", build_preprocessor(infer_column_kinds(X))),
                ("estimator", estimator),
            ]
        )
        with limit_threads(self.n_threads):
            pipeline.fit(X, target)
        self.pipeline_ = pipeline
        self.codec_ = codec
        self.feature_names_in_ = tuple(X.columns)
        return self

    def update(self, X: pd.DataFrame, y: np.ndarray) -> SklearnModel:
        """Refit on ``(X, y)``: this family does not warm-start."""
        return self.fit(X, y)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self._check_is_fitted()
        X = check_features(X, self.feature_names_in_, where="predict")
        if len(X) == 0:  # scikit-learn refuses empty input
            raw = np.zeros(0, dtype=np.int64 if self.codec_ is not None else np.float64)
        else:
            with limit_threads(self.n_threads):
                raw = self.pipeline_.predict(X)
        if self.codec_ is not None:
            return self.codec_.decode(raw)
        return np.asarray(raw, dtype=np.float64)
