"""Late labels: served predictions wait here until their labels arrive.

A row's label arrives ``delay`` rows after the row itself (``delay=0``: at once). The
:class:`LabelJoiner` keeps every served row (features, prediction, true label when the
source has one) and releases it, joined with its label, once the stream has moved far
enough. This is what makes the error stream, the labelled performance and the training
buffer honest under label delay: nothing is scored before its label would exist.

>>> import numpy as np, pandas as pd
>>> j = LabelJoiner(delay=2)
>>> X = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=[0, 1, 2])
>>> j.add(X, np.array([0, 1, 1]), pd.Series([0, 0, 1], index=[0, 1, 2]))
>>> j.release(position=3).rows.tolist()   # row r is labelled once r + 2 < 3
[0]
>>> j.pending
2
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitors.errors import ValidationError


@dataclass(frozen=True)
class LabelledRows:
    """Rows whose label has arrived: features, true labels and the prediction that was served."""

    rows: np.ndarray
    features: pd.DataFrame
    y: np.ndarray
    predictions: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def empty(cls, columns: list[str] | None = None) -> LabelledRows:
        return cls(
            rows=np.empty(0, dtype=np.int64),
            features=pd.DataFrame(columns=columns or []),
            y=np.empty(0, dtype=object),
            predictions=np.empty(0, dtype=object),
        )


class LabelJoiner:
    """Joins served predictions with labels that arrive ``delay`` rows later.

    Parameters
    ----------
    delay
        Rows between a row's arrival and its label's arrival (0 = immediately).
    """

    def __init__(self, delay: int = 0) -> None:
        if not isinstance(delay, int) or isinstance(delay, bool) or delay < 0:
            raise ValueError(
                f"The 'delay' parameter of LabelJoiner must be an int >= 0. Got {delay!r} instead."
            )
        self.delay = delay
        self._reset()

    def _reset(self) -> None:
        self._features: list[pd.DataFrame] = []
        self._preds: list[np.ndarray] = []
        self._labels: list[pd.Series] = []
        self._n_unlabelled = 0

    @property
    def pending(self) -> int:
        """Rows served and still waiting for their label."""
        return int(sum(len(f) for f in self._features))

    @property
    def n_unlabelled(self) -> int:
        """Rows released without a label (the source had none for them)."""
        return self._n_unlabelled

    def add(self, features: pd.DataFrame, predictions: np.ndarray, target: pd.Series | None) -> None:
        """Record served rows (indexed by row offset) with their predictions and true labels."""
        if len(features) != len(predictions):
            raise ValidationError(
                f"Got {len(predictions)} predictions for {len(features)} rows; the model must "
                "return one prediction per row."
            )
        if len(features) == 0:
            return
        if target is None:
            target = pd.Series(np.full(len(features), np.nan, dtype=object), index=features.index)
        self._features.append(features)
        self._preds.append(np.asarray(predictions))
        self._labels.append(target.loc[features.index])

    def release(self, position: int) -> LabelledRows:
        """Rows whose label has arrived once the stream has reached row offset ``position``.

        A row ``r`` is labelled when ``r + delay < position``.
        """
        return self._take(lambda idx: idx + self.delay < position)

    def flush(self) -> LabelledRows:
        """Every row still waiting (the stream ended; its labels arrive after the end)."""
        return self._take(lambda idx: np.ones(len(idx), dtype=bool))

    def _take(self, ready: Callable[[np.ndarray], np.ndarray]) -> LabelledRows:
        if not self._features:
            return LabelledRows.empty()
        X = pd.concat(self._features) if len(self._features) > 1 else self._features[0]
        p = np.concatenate(self._preds) if len(self._preds) > 1 else self._preds[0]
        y = pd.concat(self._labels) if len(self._labels) > 1 else self._labels[0]
        idx = X.index.to_numpy(dtype=np.int64)
        mask = np.asarray(ready(idx), dtype=bool)
        keep = ~mask
        self._features = [X[keep]] if keep.any() else []
        self._preds = [p[keep]] if keep.any() else []
        self._labels = [y[keep]] if keep.any() else []
        out_y = y[mask]
        has_label = out_y.notna().to_numpy()
        self._n_unlabelled += int((~has_label).sum())
        sel = mask.copy()
        sel[mask] = has_label
        return LabelledRows(
            rows=idx[sel],
            features=X[sel],
            y=out_y[has_label].to_numpy(),
            predictions=p[sel],
        )
