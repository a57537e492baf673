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
- :meth:`score` is "higher is better": accuracy for classification, negative MAE for regression.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

Task = Literal["classification", "regression"]


class ModelError(Exception):
    """Base class for errors raised by :mod:`models`."""


class NotFittedError(ModelError):
    """A model was asked to predict before it was fitted."""


@runtime_checkable
class DriftModel(Protocol):
    """What every model family provides (see module docstring)."""

    task: Task

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> DriftModel: ...

    def update(self, X: pd.DataFrame, y: np.ndarray) -> DriftModel: ...

    def predict(self, X: pd.DataFrame) -> np.ndarray: ...

    def score(self, X: pd.DataFrame, y: np.ndarray) -> float: ...

    def clone(self) -> DriftModel:
        """An unfitted copy with the same hyper-parameters."""
        ...
