"""Data drift with real Evidently, in-process, on seeded data with known shifts."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from monitors.data_drift import (
    P_VALUE_METHODS,
    DataDriftCheck,
    DataDriftConfig,
    DataDriftResult,
    DriftWorkspace,
)
from monitors.errors import DriftCheckError
from monitors.stream import Window

FEATURES = [f"f{i}" for i in range(10)]
SHIFTED = ["f2", "f5", "f7"]
WINDOW = Window(index=3, start=5000, end=6500)
N_REF, N_CUR = 3000, 1500
#: Sampling noise alone moves Evidently's normed Wasserstein up to ~0.1 (its default threshold)
#: at these sizes, so the tests that name exactly which columns drift use 0.2; shifted columns
#: score ~1.5.
THRESHOLD = 0.2


def numeric_frame(seed: int, n: int, shift: dict[str, float] | None = None,
                  start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES,
                         index=pd.RangeIndex(start, start + n))
    for col, delta in (shift or {}).items():
        frame[col] += delta
    return frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return numeric_frame(seed=1, n=N_REF)


@pytest.fixture(scope="module")
def check(reference: pd.DataFrame) -> DataDriftCheck:
    return DataDriftCheck(DataDriftConfig(threshold=THRESHOLD)).fit(reference)


@pytest.fixture(scope="module")
def shifted_result(check: DataDriftCheck) -> DataDriftResult:
    current = numeric_frame(seed=2, n=N_CUR, shift=dict.fromkeys(SHIFTED, 1.5), start=5000)
    return check.calculate(current, WINDOW)


# ------------------------------------------------------------------------------------ verdicts

def test_no_drift_keeps_share_low(reference: pd.DataFrame) -> None:
    check = DataDriftCheck().fit(reference)  # Evidently's defaults throughout
    result = check.calculate(numeric_frame(seed=3, n=N_CUR, start=5000), WINDOW)

    assert [c.name for c in result.columns] == FEATURES
    assert result.share_drifted <= 0.2
    assert result.n_drifted == len(result.drifted_columns) == round(10 * result.share_drifted)
    assert result.dataset_drift is False
    assert result.prediction_drift is None
    # Evidently's default for > 1000 numerical reference rows
    assert {(c.method, c.threshold) for c in result.columns} == {("wasserstein", 0.1)}
    assert all(c.drifted == (c.score >= c.threshold) for c in result.columns)
    assert (result.n_rows, result.n_reference) == (N_CUR, N_REF)


def test_mean_shift_in_three_columns_flags_exactly_those(shifted_result: DataDriftResult) -> None:
    r = shifted_result
    assert r.window == WINDOW
    assert r.drifted_columns == tuple(SHIFTED)
    assert r.n_drifted == 3 and r.share_drifted == pytest.approx(0.3)
    assert r.dataset_drift is False  # 0.3 < default drift_share 0.5
    assert {(c.method, c.threshold) for c in r.columns} == {("wasserstein", THRESHOLD)}
    for name in SHIFTED:
        col = r.column(name)
        assert col.drifted and col.score > col.threshold
        assert col.score > 1.0  # a 1.5-sigma shift is about 1.5 normed Wasserstein
    assert all(c.score < c.threshold for c in r.columns if c.name not in SHIFTED)
    assert r.elapsed_s > 0


def test_dataset_drift_when_share_reaches_drift_share(reference: pd.DataFrame) -> None:
    check = DataDriftCheck(DataDriftConfig(threshold=THRESHOLD, drift_share=0.3)).fit(reference)
    current = numeric_frame(seed=2, n=N_CUR, shift=dict.fromkeys(SHIFTED, 1.5))
    result = check.calculate(current, WINDOW)
    assert result.share_drifted == pytest.approx(0.3)
    assert result.dataset_drift is True  # share >= drift_share


def test_categorical_shift_is_detected() -> None:
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({
        "x": rng.normal(size=2000),
        "count": rng.integers(0, 50, size=2000),
        "city": rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=2000),
    })
    current = pd.DataFrame({
        "x": rng.normal(size=800),
        "count": rng.integers(0, 50, size=800),
        "city": rng.choice(["a", "b", "c"], p=[0.1, 0.3, 0.6], size=800),
    })
    check = DataDriftCheck().fit(reference)
    assert check.numerical_columns_ == ("x", "count")
    assert check.categorical_columns_ == ("city",)

    result = check.calculate(current, Window(0, 2000, 2800))
    city = result.column("city")
    assert city.drifted and city.method == "jensenshannon" and city.score > city.threshold
    assert result.drifted_columns == ("city",)


@pytest.mark.parametrize(("method", "threshold"), [("psi", 0.2), ("ks", 0.001)])
def test_method_override_is_reported_per_column(
    reference: pd.DataFrame, method: str, threshold: float
) -> None:
    check = DataDriftCheck(DataDriftConfig(method=method, threshold=threshold)).fit(reference)
    current = numeric_frame(seed=2, n=N_CUR, shift=dict.fromkeys(SHIFTED, 1.5))
    result = check.calculate(current, WINDOW)

    assert {(c.method, c.threshold) for c in result.columns} == {(method, threshold)}
    assert result.drifted_columns == tuple(SHIFTED)
    for c in result.columns:
        beyond = c.score < threshold if method in P_VALUE_METHODS else c.score >= threshold
        assert beyond == c.drifted, c


def test_prediction_drift_is_reported_apart_from_features(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(11)
    check = DataDriftCheck(DataDriftConfig(threshold=THRESHOLD)).fit(
        reference, reference_predictions=rng.normal(size=N_REF)
    )
    current = numeric_frame(seed=3, n=N_CUR)

    shifted = check.calculate(current, WINDOW, predictions=rng.normal(loc=1.0, size=N_CUR))
    assert shifted.prediction_drift is not None
    assert shifted.prediction_drift.name == "prediction"
    assert shifted.prediction_drift.drifted
    assert shifted.prediction_drift.score > shifted.prediction_drift.threshold
    # the prediction column is neither a feature nor counted in the share
    assert [c.name for c in shifted.columns] == FEATURES
    assert shifted.share_drifted <= 0.2 and len(shifted.columns) == 10

    same = check.calculate(current, WINDOW, predictions=rng.normal(size=N_CUR))
    assert same.prediction_drift is not None and not same.prediction_drift.drifted

    without = check.calculate(current, WINDOW)
    assert without.prediction_drift is None


def test_class_label_predictions_are_compared_as_categorical(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(12)
    check = DataDriftCheck().fit(reference, reference_predictions=rng.integers(0, 2, size=N_REF))
    labels = (rng.random(N_CUR) < 0.9).astype(int)  # from ~50% to ~90% positives
    result = check.calculate(numeric_frame(seed=3, n=N_CUR), WINDOW, predictions=labels)
    assert result.prediction_drift is not None and result.prediction_drift.drifted
    assert result.prediction_drift.method == "jensenshannon"


def test_gapped_row_offset_index_gives_the_same_result(check: DataDriftCheck) -> None:
    full = numeric_frame(seed=2, n=1650, shift=dict.fromkeys(SHIFTED, 1.5), start=5000)
    gapped = full.drop(index=full.index[::11])  # rows quarantined upstream
    assert len(gapped) == N_CUR and not gapped.index.equals(pd.RangeIndex(5000, 6500))
    plain = gapped.reset_index(drop=True)

    a = check.calculate(gapped, WINDOW)
    b = check.calculate(plain, WINDOW)
    assert a.n_rows == N_CUR
    assert a.columns == b.columns
    assert a.drifted_columns == tuple(SHIFTED)

    shuffled = gapped.sample(frac=1.0, random_state=0)  # any index order works too
    assert check.calculate(shuffled, WINDOW).columns == a.columns


# ------------------------------------------------------------------------ result and config

def test_result_is_frozen_and_serialises(shifted_result: DataDriftResult) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        shifted_result.n_drifted = 0  # type: ignore[misc]
    d = json.loads(json.dumps(shifted_result.to_dict()))
    assert d["window"] == {"index": 3, "start": 5000, "end": 6500}
    assert d["drifted_columns"] == SHIFTED
    assert [c["name"] for c in d["columns"]] == FEATURES
    assert "snapshot" not in repr(shifted_result)
    assert dataclasses.replace(shifted_result, snapshot=None) == shifted_result


def test_snapshot_carries_window_name_timestamp_and_tags(check: DataDriftCheck) -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    result = check.calculate(numeric_frame(seed=3, n=300), WINDOW, timestamp=when)
    assert result.timestamp == datetime(2024, 5, 1, 10, 0)  # UTC, naive as Evidently stores
    model = result.snapshot.to_snapshot_model()
    assert model.name == "window 3 [rows 5000:6500)"
    assert model.timestamp == datetime(2024, 5, 1, 10, 0)
    assert {"window=3", "rows=5000:6500"} <= set(model.tags)
    assert model.metadata["start_row"] == "5000" and model.metadata["end_row"] == "6500"


def test_reference_is_sampled_with_the_seed(reference: pd.DataFrame) -> None:
    cfg = DataDriftConfig(reference_size=500, seed=5)
    a = DataDriftCheck(cfg).fit(reference)
    b = DataDriftCheck(cfg).fit(reference)
    assert len(a.reference_) == 500
    pd.testing.assert_frame_equal(a.reference_, b.reference_)
    c = DataDriftCheck(cfg.model_copy(update={"seed": 6})).fit(reference)
    assert not a.reference_.equals(c.reference_)


@pytest.mark.parametrize(
    ("kwargs", "needles"),
    [
        ({"method": "wasserstain"}, ["data_drift.method", "'wasserstain'", "'wasserstein'", "'psi'"]),
        ({"drift_share": 1.5}, ["drift_share", "less than or equal to 1", "1.5"]),
        ({"threshold": -0.1}, ["threshold", "greater than 0", "-0.1"]),
        ({"reference_size": 0}, ["reference_size", "greater than or equal to 2", "input_value=0"]),
        ({"drift_shares": 0.5}, ["drift_shares", "Extra inputs are not permitted"]),
    ],
)
def test_bad_config_names_key_allowed_and_received(kwargs: dict, needles: list[str]) -> None:
    with pytest.raises(ValidationError) as info:
        DataDriftConfig(**kwargs)
    for needle in needles:
        assert needle in str(info.value)


def test_config_round_trips_through_json() -> None:
    cfg = DataDriftConfig(method="psi", threshold=0.2, drift_share=0.3, reference_size=1000)
    assert DataDriftConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(ValidationError):
        cfg.method = "ks"  # type: ignore[misc]


def test_method_that_cannot_handle_a_column_kind_is_refused_at_fit() -> None:
    frame = pd.DataFrame({"x": np.arange(20.0), "city": ["a", "b"] * 10})
    with pytest.raises(DriftCheckError) as info:
        DataDriftCheck(DataDriftConfig(method="wasserstein")).fit(frame)
    message = str(info.value)
    assert "'wasserstein'" in message and "['city']" in message and "'psi'" in message


def test_usage_errors_name_the_problem(check: DataDriftCheck, reference: pd.DataFrame) -> None:
    with pytest.raises(DriftCheckError, match="not fitted"):
        DataDriftCheck().calculate(reference, WINDOW)
    with pytest.raises(DriftCheckError, match=r"lacks the feature column\(s\) \['f4'\]"):
        check.calculate(reference.drop(columns="f4"), WINDOW)
    with pytest.raises(DriftCheckError, match="no rows"):
        check.calculate(reference.iloc[:0], WINDOW)
    empty = reference.iloc[:200].assign(f1=np.nan)
    with pytest.raises(DriftCheckError, match=r"\['f1'\] hold only missing values.*window 3"):
        check.calculate(empty, WINDOW)
    with pytest.raises(DriftCheckError, match="one prediction per row"):
        check.calculate(reference.iloc[:200], WINDOW, predictions=np.zeros(10))
    with pytest.raises(DriftCheckError, match=r"numerical_columns.*\['nope'\]"):
        DataDriftCheck().fit(reference, numerical_columns=["nope"])
    with pytest.raises(DriftCheckError, match="prediction_column 'f0' is also a feature"):
        DataDriftCheck(DataDriftConfig(prediction_column="f0")).fit(reference)


# ------------------------------------------------------------------------------- workspace

def test_workspace_round_trip_and_html(tmp_path, check: DataDriftCheck,
                                       shifted_result: DataDriftResult) -> None:
    path = tmp_path / "evidently"
    ws = DriftWorkspace(path, "driftloop-test")
    results = [
        check.calculate(numeric_frame(seed=20 + i, n=300), Window(i, 2000 + 300 * i, 2300 + 300 * i),
                        timestamp=datetime(2024, 1, 1) + timedelta(hours=i))
        for i in range(3)
    ]
    ids = [ws.add(r) for r in results]
    assert len(set(ids)) == 3

    reopened = DriftWorkspace(path, "driftloop-test")
    assert reopened.project_id == ws.project_id
    assert sorted(reopened.snapshot_ids()) == sorted(ids)
    stored = reopened.snapshots()
    assert [s.name for s in stored] == [str(r.window) for r in results]
    assert [s.timestamp for s in stored] == [r.timestamp for r in results]
    assert [p.name for p in reopened._workspace.list_projects()] == ["driftloop-test"]

    html = ws.save_html(shifted_result, tmp_path / "reports" / "window-3.html")
    text = html.read_text(encoding="utf-8")
    assert html.stat().st_size > 10_000
    assert "Count of Drifted Columns" in text and "Value Drift for column f2" in text


def test_results_without_snapshots_cannot_be_stored(tmp_path, reference: pd.DataFrame) -> None:
    check = DataDriftCheck(DataDriftConfig(snapshots=False)).fit(reference)
    result = check.calculate(numeric_frame(seed=3, n=300), WINDOW)
    assert result.snapshot is None and [c.name for c in result.columns] == FEATURES
    with pytest.raises(DriftCheckError, match="snapshots=True"):
        DriftWorkspace(tmp_path / "ws", "p").add(result)


def test_snapshots_torn_by_a_crash_are_removed_when_the_workspace_opens(
        tmp_path, check: DataDriftCheck, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "evidently"
    ws = DriftWorkspace(path, "driftloop-test")
    ids = [ws.add(check.calculate(numeric_frame(seed=40 + i, n=300), Window(i, 300 * i,
                                                                            300 * (i + 1))))
           for i in range(3)]
    files = {f.stem: f for f in path.glob("*/snapshots/*.json")}
    files[ids[1]].write_bytes(b"")  # killed as the write began
    data = files[ids[2]].read_bytes()
    files[ids[2]].write_bytes(data[: len(data) // 2])  # killed half-way
    with caplog.at_level("WARNING"):
        reopened = DriftWorkspace(path, "driftloop-test")
    assert reopened.snapshot_ids() == [ids[0]]
    assert "Removed 2 torn Evidently snapshot file(s)" in caplog.text
    assert reopened.add(check.calculate(numeric_frame(seed=50, n=300), Window(3, 900, 1200)))
