"""The tabular encoder, the label codec and the metrics (checked against scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error

from models.base import InvalidDataError, NotFittedError
from models.encoding import LabelCodec, TabularEncoder, check_labels, infer_column_kinds
from models.metrics import accuracy, macro_f1, mae, metric_name, score


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "num": [1.0, 2.0, 3.0, np.nan],
            "count": pd.array([1, 2, None, 4], dtype="Int64"),
            "city": ["a", "b", "a", None],
            "flag": [True, False, True, True],
            "level": pd.Categorical(["lo", "hi", "lo", "hi"]),
            "name": pd.array(["x", "y", "x", "y"], dtype="string"),
        }
    )


def test_column_kinds_inferred_from_dtypes() -> None:
    kinds = infer_column_kinds(frame())
    assert kinds.numeric == ("num", "count")
    assert kinds.categorical == ("city", "flag", "level", "name")
    with pytest.raises(InvalidDataError, match="'when'.*datetime"):
        infer_column_kinds(pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])}))


def test_encoder_standardises_and_one_hot_encodes() -> None:
    enc = TabularEncoder().fit(frame())
    out = enc.transform(frame())
    assert out.dtype == np.float32
    # 2 numeric + city {a, b, nan} + flag {False, True} + level {hi, lo} + name {x, y}
    assert out.shape == (4, 2 + 3 + 2 + 2 + 2) == (4, enc.n_features_out_)
    observed = out[[0, 1, 2], 0]
    np.testing.assert_allclose(observed.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(observed.std(), 1.0, atol=1e-6)
    assert out[3, 0] == 0.0 and out[2, 1] == 0.0  # missing numeric -> the mean, i.e. 0
    np.testing.assert_array_equal(out[:, 2:].sum(axis=1), [4, 4, 4, 4])  # one hot per column


def test_encoder_ignores_unknown_categories_and_extra_columns() -> None:
    enc = TabularEncoder().fit(frame())
    new = frame().head(1).assign(city="zzz", extra=5)[list(reversed(frame().columns)) + ["extra"]]
    out = enc.transform(new)
    assert out[0, 2:5].sum() == 0.0  # the city block is all zeros
    np.testing.assert_array_equal(out[:, 5:], enc.transform(frame().head(1))[:, 5:])


def test_encoder_errors() -> None:
    with pytest.raises(NotFittedError):
        TabularEncoder().transform(frame())
    enc = TabularEncoder().fit(frame())
    with pytest.raises(InvalidDataError, match=r"\['city'\]"):
        enc.transform(frame().drop(columns="city"))
    with pytest.raises(InvalidDataError, match="string column names"):
        TabularEncoder().fit(pd.DataFrame(np.zeros((2, 2))))


@pytest.mark.parametrize("labels", [["UP", "DOWN", "UP"], [3, 7, 3], [True, False, False]])
def test_label_codec_round_trips_any_label_type(labels) -> None:
    y = np.asarray(labels)
    codec = LabelCodec().fit(y)
    codes = codec.encode(y)
    assert codes.dtype == np.int64 and set(codes.tolist()) == {0, 1}
    decoded = codec.decode(codes)
    np.testing.assert_array_equal(decoded, y)
    assert decoded.dtype == y.dtype


def test_label_codec_extend_keeps_existing_codes() -> None:
    codec = LabelCodec().fit(["b", "a"])
    before = codec.encode(["a", "b"])
    with pytest.raises(InvalidDataError, match="'c'"):
        codec.encode(["c"])
    codec.extend(["c", "a", "c"])
    np.testing.assert_array_equal(codec.encode(["a", "b", "c"]), [*before, 2])
    assert codec.n_classes == 3


def test_check_labels() -> None:
    assert check_labels(pd.Series([1, 2]), 2, "regression").dtype == np.float64
    with pytest.raises(InvalidDataError, match="numeric for regression"):
        check_labels(np.array(["a", "b"]), 2, "regression")
    with pytest.raises(InvalidDataError, match="1 missing or non-finite"):
        check_labels(np.array([1.0, np.inf]), 2, "regression")


def test_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    t = rng.choice(["a", "b", "c", "d"], 500)
    p = np.where(rng.random(500) < 0.6, t, rng.choice(["a", "b", "c", "e"], 500))
    assert accuracy(t, p) == pytest.approx(accuracy_score(t, p))
    assert macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro", zero_division=0))
    yt, yp = rng.normal(size=100), rng.normal(size=100)
    assert mae(yt, yp) == pytest.approx(mean_absolute_error(yt, yp))


def test_score_is_higher_is_better() -> None:
    assert metric_name("classification") == "accuracy"
    assert metric_name("regression") == "neg_mae"
    assert score("regression", [0.0, 0.0], [1.0, 3.0]) == -2.0
    assert score("classification", [1, 0], [1, 1]) == 0.5
    with pytest.raises(InvalidDataError, match="empty"):
        score("classification", [], [])
