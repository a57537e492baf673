"""The promotion gate: margin boundary, first promotion, regression sign, real models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.base import ConfigError, InvalidDataError
from models.config import GateConfig, ModelConfig
from models.families import make_model
from models.gate import GateResult, evaluate_gate

N = 200
X = pd.DataFrame({"x": np.arange(N, dtype=float)})
Y = np.array(["UP"] * N)


class Fixed:
    """A stand-in model whose predictions are given."""

    learns_online = False

    def __init__(self, predictions: np.ndarray, task: str = "classification") -> None:
        self.predictions = predictions
        self.task = task

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predictions[: len(X)]


def correct(n_right: int) -> Fixed:
    """A classifier right on exactly ``n_right`` of the N holdout rows."""
    return Fixed(np.where(np.arange(N) < n_right, "UP", "DOWN"))


@pytest.mark.parametrize(
    ("champion_right", "challenger_right", "promoted"),
    [
        (160, 161, True),  # 0.805 vs 0.800: gain == margin
        (187, 188, True),  # 0.940 vs 0.935: gain == margin, 0.004999999999999893 in floats
        (160, 162, True),
        (160, 160, False),  # equal scores
        (160, 159, False),
    ],
)
def test_margin_boundary(champion_right: int, challenger_right: int, promoted: bool) -> None:
    result = evaluate_gate(
        correct(champion_right), correct(challenger_right), X, Y, GateConfig(margin=0.005)
    )
    assert result.promoted is promoted
    assert result.champion_score == champion_right / N
    assert result.challenger_score == challenger_right / N
    assert result.metric == "accuracy" and result.margin == 0.005 and result.n_holdout == N
    assert ("meets" if promoted else "is below") in result.reason


def test_zero_margin_promotes_a_tie() -> None:
    assert evaluate_gate(correct(150), correct(150), X, Y, GateConfig(margin=0.0)).promoted


@pytest.mark.parametrize("promote_first", [True, False])
def test_first_promotion(promote_first: bool) -> None:
    result = evaluate_gate(None, correct(100), X, Y, GateConfig(promote_first=promote_first))
    assert result.promoted is promote_first
    assert result.champion_score is None and result.challenger_score == 0.5
    assert "no champion" in result.reason


def test_regression_scores_are_negative_mae() -> None:
    y = np.zeros(N)
    good = Fixed(np.full(N, 0.5), task="regression")  # MAE 0.5 -> score -0.5
    bad = Fixed(np.full(N, -1.0), task="regression")  # MAE 1.0 -> score -1.0
    up = evaluate_gate(bad, good, X, y, GateConfig())
    assert up.promoted and up.metric == "neg_mae"
    assert (up.champion_score, up.challenger_score) == (-1.0, -0.5)
    down = evaluate_gate(good, bad, X, y, GateConfig())
    assert not down.promoted and "-0.5000" in down.reason


def test_gate_errors() -> None:
    with pytest.raises(InvalidDataError, match="empty"):
        evaluate_gate(None, correct(1), X.head(0), Y[:0], GateConfig())
    with pytest.raises(ConfigError, match="same task"):
        evaluate_gate(Fixed(np.zeros(N), "regression"), correct(1), X, Y, GateConfig())


def test_result_is_frozen_and_serialisable() -> None:
    result = evaluate_gate(None, correct(120), X, Y, GateConfig())
    assert isinstance(result, GateResult)
    assert result.to_dict()["challenger_score"] == 0.6
    with pytest.raises(AttributeError):
        result.promoted = False  # type: ignore[misc]


def test_a_model_trained_on_the_current_concept_beats_a_stale_champion(make_data) -> None:
    X_old, y_old = make_data("classification", 1000, seed=20)
    X_new, y_new = make_data("classification", 1000, seed=21, concept=1)
    X_hold, y_hold = make_data("classification", 500, seed=22, concept=1)
    config = ModelConfig(estimator="logistic_regression")
    champion = make_model(config, "classification").fit(X_old, y_old)
    challenger = make_model(config, "classification").fit(X_new, y_new)
    result = evaluate_gate(champion, challenger, X_hold, y_hold, GateConfig())
    assert result.promoted and result.challenger_score > 0.9
    assert result.challenger_score > result.champion_score + 0.1
    # and the other way round the stale model is not promoted
    assert not evaluate_gate(challenger, champion, X_hold, y_hold, GateConfig()).promoted


def test_online_champion_is_scored_on_what_it_served() -> None:
    # the champion has since learnt the holdout (it would now predict it perfectly), but it
    # served only 150 of the 200 rows right: that is its score, and the challenger wins
    champion, challenger = correct(N), correct(170)
    served = correct(150).predict(X)
    gate = evaluate_gate(champion, challenger, X, Y, GateConfig(margin=0.01),
                         champion_predictions=served)
    assert gate.champion_score == pytest.approx(0.75) and gate.promoted
    assert "served predictions" in gate.reason
    with pytest.raises(InvalidDataError, match="one served prediction per holdout row"):
        evaluate_gate(champion, challenger, X, Y, GateConfig(), champion_predictions=served[:10])
