"""The promotion gate: does a challenger beat the champion on the holdout by a margin?

Scores are "higher is better" (:func:`models.metrics.score`: accuracy, or negative MAE for
regression), so one rule serves both tasks: promote when
``challenger_score >= champion_score + margin``; with no champion, promote if
``promote_first``.

>>> import numpy as np, pandas as pd
>>> from models.config import GateConfig
>>> class Constant:
...     task = "classification"
...     def __init__(self, label): self.label = label
...     def predict(self, X): return np.full(len(X), self.label)
>>> X, y = pd.DataFrame({"x": range(4)}), np.array([1, 1, 1, 0])
>>> result = evaluate_gate(Constant(0), Constant(1), X, y, GateConfig())
>>> result.promoted, result.champion_score, result.challenger_score
(True, 0.25, 0.75)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.base import ConfigError, DriftModel, InvalidDataError
from models.config import GateConfig
from models.metrics import metric_name, score

#: Scores closer than this count as equal, so a margin met exactly is met despite rounding
#: (188/200 - 187/200 is 0.004999999999999893 in floating point, not 0.005).
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class GateResult:
    """The gate's decision and the evidence for it."""

    champion_score: float | None
    challenger_score: float
    metric: str
    margin: float
    promoted: bool
    reason: str
    n_holdout: int

    def to_dict(self) -> dict[str, Any]:
        """Plain values, e.g. to log as run metrics and tags."""
        return asdict(self)


def evaluate_gate(
    champion: DriftModel | None,
    challenger: DriftModel,
    X_holdout: pd.DataFrame,
    y_holdout: np.ndarray,
    config: GateConfig,
    *,
    champion_predictions: np.ndarray | None = None,
) -> GateResult:
    """Score both models on the holdout and decide whether the challenger is promoted.

    ``champion_predictions``: what the champion predicted for the holdout rows *when it
    served them*. Pass it for a champion that learns online: it has since learnt those very
    rows, so predicting them again would score it on its own training data.
    """
    y = np.asarray(y_holdout)
    if len(y) == 0:
        raise InvalidDataError(
            "The holdout given to evaluate_gate is empty; the gate needs labelled rows to score."
        )
    if champion is not None and champion.task != challenger.task:
        raise ConfigError(
            f"The champion solves {champion.task!r} but the challenger {challenger.task!r}; "
            "only models of the same task can be compared."
        )
    task = challenger.task
    metric = metric_name(task)
    challenger_score = score(task, y, challenger.predict(X_holdout))
    champion_score: float | None = None
    if champion is None:
        promoted = config.promote_first
        reason = f"no champion yet; challenger {metric}={challenger_score:.4f} " + (
            "promoted (promote_first)" if promoted else "kept out (promote_first=False)"
        )
    else:
        served = champion.predict(X_holdout) if champion_predictions is None else champion_predictions
        if len(served) != len(y):
            raise InvalidDataError(
                f"champion_predictions has {len(served)} values for {len(y)} holdout rows; pass "
                "one served prediction per holdout row."
            )
        champion_score = score(task, y, np.asarray(served))
        gain = challenger_score - champion_score
        promoted = gain >= config.margin - _TOLERANCE
        verdict = "meets" if promoted else "is below"
        reason = (
            f"challenger {metric}={challenger_score:.4f} vs champion {champion_score:.4f}: "
            f"gain {gain:+.4f} {verdict} the margin {config.margin:.4f} on {len(y)} holdout rows"
            + (" (champion scored on its served predictions)" if champion_predictions is not None
               else "")
        )
    return GateResult(
        champion_score=champion_score,
        challenger_score=challenger_score,
        metric=metric,
        margin=config.margin,
        promoted=promoted,
        reason=reason,
        n_holdout=len(y),
    )
