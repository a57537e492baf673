"""The one interface every driftloop model family implements.

A model family wraps a learner (a scikit-learn pipeline, a PyTorch MLP, a River online model)
behind the same small contract, so that training, the gate, the registry and serving never
care which family they hold:

- ``__init__`` only stores hyper-parameters (scikit-learn's estimator contract);
- :meth:`fit` learns from scratch on a labelled frame; learned attributes end in ``_``;
- :meth:`update` continues learning from the current state (fine-tune, online learning);
  families that cannot warm-start refit on the data they are given;
- :meth:`predict` takes a feature frame and returns a 1-D array, and raises
  :class:`NotFittedError` before :meth:`fit`;
- :meth:`score` is "higher is better": accuracy for classification, negative MAE for regression;
- :meth:`get_params` returns the hyper-parameters, so ``type(m)(**m.get_params())`` is a clone;
- ``learns_online`` says whether :meth:`update` is cheap and incremental enough to be called on
  every labelled batch (River) rather than only when a retrain is decided.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Literal, Protocol, cast, runtime_checkable

import numpy as np
import pandas as pd

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")


class ModelError(Exception):
    """Base class for errors raised by :mod:`models`."""


class NotFittedError(ModelError):
    """A model was asked to predict before it was fitted."""


class InvalidDataError(ModelError, ValueError):
    """Features or labels handed to a model are unusable (missing columns, empty, NaN labels)."""


class ConfigError(ModelError, ValueError):
    """A setting is not valid where it is used (unknown task, estimator or estimator parameter)."""


def check_task(task: object) -> Task:
    """Return ``task`` if it is a known task, else raise :class:`ConfigError` naming the choices."""
    if task not in TASKS:
        raise ConfigError(
            f"The 'task' parameter must be one of {list(TASKS)}. Got {task!r} instead."
        )
    return cast(Task, task)


@runtime_checkable
class DriftModel(Protocol):
    """What every model family provides (see module docstring)."""

    task: Task
    learns_online: bool

    def get_params(self) -> dict[str, Any]: ...

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> DriftModel: ...

    def update(self, X: pd.DataFrame, y: np.ndarray) -> DriftModel: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    def score(self, X: pd.DataFrame, y: np.ndarray) -> float: ...

    def clone(self) -> DriftModel:
        """An unfitted copy with the same hyper-parameters."""
        ...


class FamilyBase:
    """Shared plumbing of the built-in families: parameters, clone, score and the fitted check.

    Subclasses list their hyper-parameters as ``__init__`` keyword arguments (stored unchanged
    under the same names) and set ``feature_names_in_`` in ``fit``.
    """

    task: Task
    learns_online: bool = False

    def get_params(self) -> dict[str, Any]:
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def clone(self) -> Any:
        """An unfitted copy with the same hyper-parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "feature_names_in_")

    def _check_is_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X, y) before predict."
            )

    def predict(self, X: pd.DataFrame) -> np.ndarray:  # pragma: no cover - every family overrides
        raise NotImplementedError

    def score(self, X: pd.DataFrame, y: np.ndarray) -> float:
        """Higher-is-better score on ``(X, y)``: accuracy, or negative MAE for regression."""
        from models.metrics import score  # models.metrics imports this module

        return score(self.task, np.asarray(y), self.predict(X))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
