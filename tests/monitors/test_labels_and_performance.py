"""Late labels, per-window metrics and prequential accuracy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors.labels import LabelJoiner
from monitors.performance import Prequential, losses, window_performance


def frame(lo: int, hi: int, skip: tuple[int, ...] = ()) -> tuple[pd.DataFrame, pd.Series]:
    idx = [i for i in range(lo, hi) if i not in skip]
    return pd.DataFrame({"x": np.asarray(idx, float)}, index=idx), pd.Series(
        [i % 2 for i in idx], index=idx)


@pytest.mark.parametrize("delay", [0, 1, 250, 999, 2500])
def test_every_label_arrives_exactly_delay_rows_later_and_once(delay: int) -> None:
    j = LabelJoiner(delay)
    seen: list[int] = []
    for lo in range(0, 5000, 1000):
        X, y = frame(lo, lo + 1000)
        j.add(X, np.zeros(len(X), dtype=int), y)
        got = j.release(lo + 1000)
        assert (got.rows + delay < lo + 1000).all()
        seen += got.rows.tolist()
    # everything labelled before the end has arrived; the rest arrives at flush
    assert seen == list(range(max(0, 5000 - delay)))
    rest = j.flush()
    assert seen + rest.rows.tolist() == list(range(5000))
    assert j.pending == 0


def test_joined_rows_keep_features_labels_and_served_predictions_aligned() -> None:
    j = LabelJoiner(3)
    X, y = frame(10, 20, skip=(12, 15))  # gaps: rows quarantined upstream
    preds = X["x"].to_numpy() * 10
    j.add(X, preds, y)
    got = j.release(20)
    assert got.rows.tolist() == [10, 11, 13, 14, 16]
    assert got.features["x"].tolist() == got.rows.astype(float).tolist()
    assert got.predictions.tolist() == (got.rows * 10.0).tolist()
    assert got.y.tolist() == [r % 2 for r in got.rows]


def test_rows_without_labels_are_counted_not_scored() -> None:
    j = LabelJoiner(0)
    X, _ = frame(0, 5)
    j.add(X, np.zeros(5), None)
    assert len(j.release(5)) == 0
    assert j.n_unlabelled == 5


def test_prediction_count_must_match_rows() -> None:
    j = LabelJoiner(0)
    X, y = frame(0, 5)
    with pytest.raises(Exception, match="one prediction per row"):
        j.add(X, np.zeros(4), y)


def test_bad_delay_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="'delay' parameter of LabelJoiner"):
        LabelJoiner(-1)


def test_metrics() -> None:
    c = window_performance("classification", np.array(["a", "b", "a", "a"]),
                           np.array(["a", "a", "a", "a"]))
    assert c.accuracy == 0.75 and c.score == 0.75 and 0 < c.f1 < 1
    r = window_performance("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 6.0]))
    assert r.mae == pytest.approx(1.0) and r.rmse == pytest.approx(np.sqrt(3)) and r.score == -1.0
    assert window_performance("classification", np.array([]), np.array([])).score is None


def test_prequential_accumulates_over_batches() -> None:
    p = Prequential("classification")
    p.add(losses("classification", np.array([1, 1, 0]), np.array([1, 0, 0])))
    p.add(losses("classification", np.array([1]), np.array([1])))
    assert p.n == 4 and p.value == pytest.approx(0.75)
    q = Prequential("regression")
    q.add(losses("regression", np.array([0.0, 2.0]), np.array([1.0, 2.0])))
    assert q.value == pytest.approx(0.5)
