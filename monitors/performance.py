"""Labelled performance: per-row losses, per-window metrics and prequential accuracy.

Scores follow one convention everywhere: **higher is better** (accuracy for classification,
negative MAE for regression), so the decision and the gate compare numbers the same way.

>>> import numpy as np
>>> p = window_performance("classification", np.array([1, 0, 1, 1]), np.array([1, 1, 1, 1]))
>>> p.accuracy, p.score, p.n
(0.75, 0.75, 4)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


def losses(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-row loss: 0/1 for classification, absolute error for regression."""
    if task == "classification":
        return (np.asarray(y_true) != np.asarray(y_pred)).astype(float)
    return np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))


@dataclass(frozen=True)
class Performance:
    """Labelled performance over a set of rows (``n`` = 0 when no label has arrived)."""

    task: str
    n: int
    accuracy: float | None = None
    f1: float | None = None
    mae: float | None = None
    rmse: float | None = None

    @property
    def score(self) -> float | None:
        """Higher is better: accuracy, or minus the MAE."""
        if self.n == 0:
            return None
        return self.accuracy if self.task == "classification" else -float(self.mae)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = self.score
        return d


def window_performance(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> Performance:
    """Accuracy and macro F1 (classification) or MAE and RMSE (regression)."""
    n = len(y_true)
    if n == 0:
        return Performance(task=task, n=0)
    if task == "classification":
        from sklearn.metrics import f1_score

        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        acc = float(np.mean(y_true == y_pred))
        f1 = float(f1_score(y_true.astype(str), y_pred.astype(str), average="macro", zero_division=0))
        return Performance(task=task, n=n, accuracy=acc, f1=f1)
    err = np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float)
    return Performance(task=task, n=n, mae=float(np.mean(np.abs(err))),
                       rmse=float(np.sqrt(np.mean(err**2))))


class Prequential:
    """Test-then-train score over every labelled row: each row scored by the model that served it.

    ``value`` is accuracy for classification and MAE for regression.
    """

    def __init__(self, task: str) -> None:
        self.task = task
        self.n = 0
        self._loss_sum = 0.0

    def add(self, row_losses: np.ndarray) -> None:
        self.n += len(row_losses)
        self._loss_sum += float(np.sum(row_losses))

    @property
    def value(self) -> float | None:
        if self.n == 0:
            return None
        mean = self._loss_sum / self.n
        return 1.0 - mean if self.task == "classification" else mean
