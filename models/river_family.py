"""The River family: online learners that keep learning on every labelled batch.

The pipeline is ``(Select(numeric) | StandardScaler) + (Select(categorical) | OneHotEncoder) |
model``. :meth:`RiverModel.fit` starts a fresh pipeline and learns the rows in order;
:meth:`RiverModel.update` keeps learning from the current state, which is why the family sets
``learns_online = True``: the pipeline can update it on every labelled batch, not only on a
retrain.

Rows are learnt one by one with ``learn_one`` (River's online semantics); with
``RiverConfig(learn_batch_size=k > 1)`` models that support it learn mini-batches with
``learn_many``. Prediction uses ``predict_many`` on the whole frame where the model supports it
and the frame has no missing values, else ``predict_one`` per row. Missing numeric values are
left out of a row's features, which is how River represents them.

>>> import numpy as np, pandas as pd
>>> X = pd.DataFrame({"x": np.linspace(-1, 1, 300), "c": ["a", "b", "c"] * 100})
>>> y = np.where(X["x"] > 0, "UP", "DOWN")
>>> model = RiverModel("classification", estimator="logistic_regression").fit(X, y)
>>> model.predict(X.iloc[[0, -1]]).tolist()
['DOWN', 'UP']
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from river import base as river_base
from river import compose, forest, linear_model, multiclass, naive_bayes, preprocessing, tree

from models.base import ConfigError, FamilyBase, Task, check_task
from models.config import ParamValue, RiverConfig, estimator_names
from models.encoding import (
    ColumnKinds,
    LabelCodec,
    as_strings,
    check_features,
    check_labels,
    infer_column_kinds,
)

#: River estimator classes by task and name (names match :data:`models.config.ESTIMATORS`).
ESTIMATOR_CLASSES: dict[str, dict[str, type[river_base.Estimator]]] = {
    "classification": {
        "hoeffding_adaptive_tree": tree.HoeffdingAdaptiveTreeClassifier,
        "arf": forest.ARFClassifier,
        "hoeffding_tree": tree.HoeffdingTreeClassifier,
        "logistic_regression": linear_model.LogisticRegression,
        "gaussian_nb": naive_bayes.GaussianNB,
    },
    "regression": {
        "hoeffding_adaptive_tree": tree.HoeffdingAdaptiveTreeRegressor,
        "arf": forest.ARFRegressor,
        "hoeffding_tree": tree.HoeffdingTreeRegressor,
        "linear_regression": linear_model.LinearRegression,
    },
}


def estimator_class(name: str, task: Task) -> type[river_base.Estimator]:
    """The River class behind ``name`` for ``task``; lists the valid names when unknown."""
    names = estimator_names("river", check_task(task))
    if name not in names:
        raise ConfigError(
            f"The 'estimator' parameter of RiverModel for {task} must be one of {list(names)}. "
            f"Got {name!r} instead."
        )
    return ESTIMATOR_CLASSES[task][name]


def check_params(name: str, task: Task, params: Mapping[str, ParamValue]) -> None:
    """Raise :class:`ConfigError` when ``params`` has keys the estimator does not accept."""
    valid = set(inspect.signature(estimator_class(name, task)).parameters)
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ConfigError(
            f"The 'params' of river estimator {name!r} ({task}) has unknown keys {unknown}; "
            f"valid keys are {sorted(valid)}."
        )


def build_estimator(
    name: str, task: Task, params: Mapping[str, ParamValue], seed: int
) -> river_base.Estimator:
    """An unlearnt estimator: ``seed`` where the class takes one, then ``params``.

    River's logistic regression is binary, so it is wrapped one-vs-rest: that handles any
    number of classes, including ones first seen in ``update``.
    """
    check_params(name, task, params)
    cls = estimator_class(name, task)
    kwargs: dict[str, Any] = {}
    if "seed" in inspect.signature(cls).parameters:
        kwargs["seed"] = seed
    kwargs.update(params)
    model = cls(**kwargs)
    if task == "classification" and name == "logistic_regression":
        return multiclass.OneVsRestClassifier(cast(river_base.Classifier, model))
    return model


class SelectPresent(compose.Select):
    """``compose.Select`` that skips absent keys and keeps the keys' given order.

    River represents a missing value by leaving its key out, which ``Select`` turns into a
    ``KeyError``; and ``Select`` iterates a ``set``, whose order changes with the process's
    hash seed, which can change what a model learns (ARF samples features by position).
    """

    def __init__(self, *keys: str) -> None:
        super().__init__(*keys)
        self.ordered_keys = tuple(keys)

    def transform_one(self, x: dict[Hashable, Any]) -> dict[Hashable, Any]:
        return {k: x[k] for k in self.ordered_keys if k in x}


def build_pipeline(kinds: ColumnKinds, model: river_base.Estimator) -> compose.Pipeline:
    """Scale numeric features, one-hot categorical ones, then ``model``."""
    parts: list[Any] = []
    if kinds.numeric:
        parts.append(SelectPresent(*kinds.numeric) | preprocessing.StandardScaler())
    if kinds.categorical:
        parts.append(SelectPresent(*kinds.categorical) | preprocessing.OneHotEncoder())
    pre = parts[0] if len(parts) == 1 else compose.TransformerUnion(*parts)
    return pre | model


class RiverModel(FamilyBase):
    """A River online pipeline behind the :class:`~models.base.DriftModel` contract.

    Parameters
    ----------
    task
        ``"classification"`` or ``"regression"``.
    estimator
        One of :data:`models.config.ESTIMATORS` ``["river"][task]``.
    params
        Keyword arguments of the River estimator (checked against its signature in ``fit``).
    config
        :class:`~models.config.RiverConfig` (learning batch size); defaults if None.
    seed
        ``seed`` of estimators that take one (adaptive trees, ARF).

    Attributes
    ----------
    pipeline_ : river.compose.Pipeline
        The learning pipeline.
    codec_ : LabelCodec or None
        Class labels (classification only); River learns the integer codes.
    kinds_ : ColumnKinds
        Numeric and categorical columns found in ``fit``.
    n_learnt_ : int
        Rows learnt since ``fit`` started the pipeline.
    """

    learns_online = True

    def __init__(
        self,
        task: Task = "classification",
        estimator: str = "hoeffding_adaptive_tree",
        params: Mapping[str, ParamValue] | None = None,
        config: RiverConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.task = task
        self.estimator = estimator
        self.params = params
        self.config = config
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RiverModel:
        task = check_task(self.task)
        X = check_features(X)
        y = check_labels(y, len(X), task)
        model = build_estimator(self.estimator, task, dict(self.params or {}), self.seed)
        self.kinds_ = infer_column_kinds(X)
        self.pipeline_ = build_pipeline(self.kinds_, model)
        self.codec_ = LabelCodec().fit(y) if task == "classification" else None
        self.n_learnt_ = 0
        self._learn(X, y)
        self.feature_names_in_ = tuple(X.columns)  # fitted only once learning succeeded
        return self

    def update(self, X: pd.DataFrame, y: np.ndarray) -> RiverModel:
        """Keep learning from the current state (``fit`` if not fitted yet)."""
        if not self.is_fitted:
            return self.fit(X, y)
        X = check_features(X, self.feature_names_in_, where="update")
        y = check_labels(y, len(X), self.task, where="update")
        if self.codec_ is not None:
            self.codec_.extend(y)  # River learns new classes as they come
        self._learn(X, y)
        return self

    # -- helpers --------------------------------------------------------------------------------

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Features as River sees them: numbers as float64 (NaN if missing), categories as str."""
        X = X.copy()
        if self.kinds_.numeric:
            num = list(self.kinds_.numeric)
            X[num] = X[num].to_numpy(dtype=np.float64, na_value=np.nan)
        if self.kinds_.categorical:
            cats = list(self.kinds_.categorical)
            X[cats] = as_strings(X[cats])
        return X

    def _has_missing(self, X: pd.DataFrame) -> bool:
        return bool(X[list(self.kinds_.numeric)].isna().to_numpy().any())

    def _records(self, X: pd.DataFrame) -> list[dict[str, Any]]:
        records = X.to_dict("records")
        if self._has_missing(X):  # River's way to say "missing": leave the key out
            return [{k: v for k, v in r.items() if v == v} for r in records]
        return records

    def _learn(self, X: pd.DataFrame, y: np.ndarray) -> None:
        X = self._frame(X)
        target = self.codec_.encode(y) if self.codec_ is not None else y.astype(np.float64)
        batch = (self.config or RiverConfig()).learn_batch_size
        final = list(self.pipeline_.steps.values())[-1]
        if batch > 1 and hasattr(final, "learn_many") and not self._has_missing(X):
            series = pd.Series(target, index=X.index)
            for start in range(0, len(X), batch):
                self.pipeline_.learn_many(
                    X.iloc[start : start + batch], series.iloc[start : start + batch]
                )
        else:
            for x, t in zip(self._records(X), target.tolist(), strict=True):  # River is per-row
                self.pipeline_.learn_one(x, t)
        self.n_learnt_ += len(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        self._check_is_fitted()
        X = self._frame(check_features(X, self.feature_names_in_, where="predict"))
        final = list(self.pipeline_.steps.values())[-1]
        if hasattr(final, "predict_many") and len(X) and not self._has_missing(X):
            raw = pd.Series(self.pipeline_.predict_many(X)).to_numpy()
        else:
            raw = np.array([self.pipeline_.predict_one(x) for x in self._records(X)], dtype=object)
        if self.codec_ is None:
            return raw.astype(np.float64)
        # A classifier that has seen no class yet predicts None; fall back to the first class.
        raw = np.asarray(raw, dtype=object)
        raw[pd.isna(raw)] = 0
        return self.codec_.decode(raw.astype(np.int64))
