"""A tiny DriftModel and data for the registry and champion-loader tests.

It lives in an importable module (``tests/`` is on ``sys.path`` through ``tests/conftest.py``) so
cloudpickle pickles the class by reference, as it does for the real model families.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from models.base import NotFittedError

FEATURES = ("x0", "x1", "x2")


class TinyLogReg:
    """Logistic regression on numeric columns, behind the DriftModel protocol."""

    task = "classification"
    learns_online = False

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def get_params(self) -> dict[str, Any]:
        return {"C": self.C}

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> TinyLogReg:
        self.columns_ = list(X.columns)
        self.estimator_ = LogisticRegression(C=self.C).fit(X.to_numpy(float), y)
        return self

    def update(self, X: pd.DataFrame, y: np.ndarray) -> TinyLogReg:
        return self.fit(X, y)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise NotFittedError("TinyLogReg is not fitted yet; call fit first.")
        return self.estimator_.predict(X[self.columns_].to_numpy(float))

    def score(self, X: pd.DataFrame, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == y))

    def clone(self) -> TinyLogReg:
        return TinyLogReg(**self.get_params())


def make_frame(n: int, *, seed: int, flip: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Seeded features; the label is the sign of x0, or of -x0 after a (concept) drift."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=list(FEATURES))
    y = ((X["x0"] > 0) != flip).to_numpy(int)
    return X, y


def fitted(*, seed: int, flip: bool = False, C: float = 1.0) -> TinyLogReg:
    X, y = make_frame(200, seed=seed, flip=flip)
    return TinyLogReg(C=C).fit(X, y)


@dataclass(frozen=True)
class Store:
    """An MLflow tracking DB (SQLite) and artifact folder for one test module."""

    tracking_uri: str
    artifact_root: Path


def make_store(root: Path) -> Store:
    root.mkdir(parents=True, exist_ok=True)
    return Store(f"sqlite:///{(root / 'mlflow.db').resolve()}", root / "mlartifacts")
