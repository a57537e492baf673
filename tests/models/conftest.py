"""Seeded synthetic streams for the models tests: learnable, with a categorical column,
a bool column and string labels, and a second concept to drift to."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

REGION_EFFECT = {"north": 0.8, "south": -0.8, "east": 0.0}


def synthetic(
    task: str,
    n: int,
    seed: int,
    *,
    concept: int = 0,
    start: int = 0,
    labels: tuple[object, object] = ("DOWN", "UP"),
) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows indexed by row offsets ``start..start+n-1``.

    Concept 0 and concept 1 differ by a rotated decision boundary (classification) or other
    coefficients (regression), so a model trained on one scores badly on the other.
    """
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        rng.normal(size=(n, 4)),
        columns=[f"x{i}" for i in range(4)],
        index=pd.RangeIndex(start, start + n),
    )
    X["region"] = rng.choice(list(REGION_EFFECT), n)
    X["flag"] = rng.random(n) < 0.3
    eff = X["region"].map(REGION_EFFECT).to_numpy()
    x0, x1, x2 = X["x0"].to_numpy(), X["x1"].to_numpy(), X["x2"].to_numpy()
    if task == "classification":
        s = x0 + 0.8 * x1 - 0.5 * x2 + eff if concept == 0 else 0.2 * x0 + 0.8 * x1 + 0.8 * x2 + eff
        return X, np.where(s > 0, labels[1], labels[0])
    if concept == 0:
        y = 2.0 * x0 - x1 + 0.5 * x2 + eff
    else:
        y = -1.0 * x0 + 0.5 * x1 + 1.5 * x2 - eff + 1.0
    return X, y + 0.1 * rng.normal(size=n)


@pytest.fixture(scope="session")
def make_data() -> Callable[..., tuple[pd.DataFrame, np.ndarray]]:
    """The :func:`synthetic` generator."""
    return synthetic
