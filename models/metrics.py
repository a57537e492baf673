"""Evaluation metrics, vectorised in numpy, and the "higher is better" score used by the gate.

>>> accuracy(["UP", "DOWN", "UP"], ["UP", "UP", "UP"])
0.6666666666666666
>>> round(macro_f1([0, 1, 1, 0], [0, 1, 0, 0]), 4)
0.7333
>>> score("regression", [1.0, 2.0], [1.5, 2.0]), metric_name("regression")
(-0.25, 'neg_mae')
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from models.base import InvalidDataError, Task, check_task


def _pair(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise InvalidDataError(
            f"y_true and y_pred must be 1-D of the same length. Got shapes {t.shape} and {p.shape}."
        )
    if len(t) == 0:
        raise InvalidDataError("Cannot score an empty set of labels; pass at least one row.")
    return t, p


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of predictions equal to the true label."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def macro_f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Unweighted mean of per-class F1 over the classes in ``y_true`` or ``y_pred``.

    A class that is never predicted nor present cannot occur; a class with no true positives
    scores 0, as in scikit-learn's ``f1_score(average="macro", zero_division=0)``.
    """
    t, p = _pair(y_true, y_pred)
    _, codes = np.unique(np.concatenate([t.astype(object), p.astype(object)]), return_inverse=True)
    k = int(codes.max()) + 1
    ct, cp = codes[: len(t)], codes[len(t) :]
    tp = np.bincount(ct[ct == cp], minlength=k).astype(np.float64)
    denom = np.bincount(ct, minlength=k) + np.bincount(cp, minlength=k)
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(t.astype(np.float64) - p.astype(np.float64))))


def metric_name(task: Task) -> str:
    """Name of the gate's score for ``task``: ``"accuracy"`` or ``"neg_mae"``."""
    return "accuracy" if check_task(task) == "classification" else "neg_mae"


def score(task: Task, y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Higher-is-better score: accuracy for classification, negative MAE for regression."""
    if check_task(task) == "classification":
        return accuracy(y_true, y_pred)
    return -mae(y_true, y_pred)
