"""Batch validation against a reference schema, with quarantine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from monitors.errors import ValidationError
from monitors.sources import SyntheticSource, SyntheticStreamConfig
from monitors.stream import Batch
from monitors.validation import BatchValidator, Schema, ValidationConfig, ValidationResult

REFERENCE = pd.DataFrame(
    {
        "x": [0.5, 1.5, 2.5, 3.5],
        "n": [1, 2, 3, 4],
        "c": ["red", "blue", "red", "green"],
        "opt": [1.0, np.nan, 2.0, 3.0],  # nullable: missing in the reference
    }
)
SCHEMA = Schema.infer(REFERENCE)


def batch(rows: dict, start: int = 100, target: list | None = None) -> Batch:
    frame = pd.DataFrame(rows)
    if target is not None:
        frame["y"] = target
        return Batch.from_frame(frame, start=start, target="y")
    return Batch.from_frame(frame, start=start)


def good(n_rows: int = 6, **override: list) -> dict:
    rows = {
        "x": [float(i) for i in range(n_rows)],
        "n": list(range(n_rows)),
        "c": ["red", "blue"] * (n_rows // 2) + ["red"] * (n_rows % 2),
        "opt": [1.0] * n_rows,
    }
    rows.update(override)
    return rows


def check_accounting(result: ValidationResult, b: Batch) -> None:
    """Every row in is either clean or quarantined, never both, never lost."""
    assert result.n_in == len(b) == result.n_clean + result.n_quarantined
    clean = set(result.features.index)
    quarantined = set(result.quarantined["row"]) if result.n_quarantined else set()
    assert clean.isdisjoint(quarantined)
    assert clean | quarantined == set(range(b.start, b.end))
    if result.target is not None:
        assert result.target.index.equals(result.features.index)


# ------------------------------------------------------------------------------------------
# Schema
# ------------------------------------------------------------------------------------------


def test_schema_infers_kinds_categories_and_nullable_columns() -> None:
    assert SCHEMA.features == ("x", "n", "c", "opt")
    assert SCHEMA.numeric == ("x", "n", "opt")
    assert SCHEMA.categorical == ("c",)
    assert SCHEMA.categories == {"c": ("blue", "green", "red")}
    assert SCHEMA.nullable == ("opt",)
    assert Schema.model_validate_json(SCHEMA.model_dump_json()) == SCHEMA


def test_schema_overrides_and_exclusions() -> None:
    frame = REFERENCE.assign(flag=[True, False, True, True], y=[0, 1, 0, 1])
    s = Schema.infer(frame, categorical=["n"], exclude=["y"])
    assert "y" not in s.features
    assert s.categorical == ("n", "c", "flag")
    assert s.categories["n"] == (1, 2, 3, 4)
    assert s.categories["flag"] == (False, True)
    assert Schema.model_validate_json(s.model_dump_json()) == s
    # A Batch is accepted too (its features are used).
    assert Schema.infer(batch(good())) == Schema.infer(pd.DataFrame(good()))


def test_schema_refuses_dates_and_unknown_columns() -> None:
    with pytest.raises(ValueError, match=r"Columns \['when'\] hold dates"):
        Schema.infer(REFERENCE.assign(when=pd.Timestamp("2024-01-01")))
    with pytest.raises(ValueError, match=r"\['zzz'\] passed to Schema.infer are not in the frame"):
        Schema.infer(REFERENCE, exclude=["zzz"])
    with pytest.raises(pydantic.ValidationError, match="both numeric and categorical"):
        Schema(features=("a",), numeric=("a",), categorical=("a",))
    with pytest.raises(pydantic.ValidationError, match=r"unclassified \['b'\]"):
        Schema(features=("a", "b"), numeric=("a",))


# ------------------------------------------------------------------------------------------
# Batch-level errors
# ------------------------------------------------------------------------------------------


def test_clean_batch_passes_untouched() -> None:
    b = batch(good(), target=[0, 1, 0, 1, 0, 1])
    result = BatchValidator(SCHEMA).validate(b)
    check_accounting(result, b)
    assert (result.n_clean, result.n_quarantined, dict(result.reasons)) == (6, 0, {})
    assert result.all_clean
    pd.testing.assert_frame_equal(result.features, b.features)
    pd.testing.assert_series_equal(result.target, b.target)
    assert result.quarantine_path is None


def test_empty_batch_is_an_error_naming_the_row() -> None:
    b = Batch.from_frame(pd.DataFrame(good(0)), start=250)
    with pytest.raises(ValidationError, match="batch starting at row 250 is empty") as info:
        BatchValidator(SCHEMA).validate(b)
    assert (info.value.start, info.value.end) == (250, 250)


def test_missing_columns_are_always_an_error() -> None:
    b = batch({k: v for k, v in good().items() if k not in ("x", "c")})
    for cfg in (ValidationConfig(), ValidationConfig(on_extra_columns="drop")):
        with pytest.raises(
            ValidationError,
            match=r"Columns \['x', 'c'\] are missing from rows "
            r"100\.\.105",
        ) as info:
            BatchValidator(SCHEMA, cfg).validate(b)
        assert info.value.columns == ["x", "c"]
        assert (info.value.start, info.value.end) == (100, 106)


def test_extra_columns_error_or_drop() -> None:
    b = batch(good(extra=[9] * 6, more=["?"] * 6))
    with pytest.raises(
        ValidationError,
        match=r"Columns \['extra', 'more'\] in rows 100\.\.105 "
        r"are not in the schema.*on_extra_columns='drop'",
    ):
        BatchValidator(SCHEMA).validate(b)
    result = BatchValidator(SCHEMA, ValidationConfig(on_extra_columns="drop")).validate(b)
    check_accounting(result, b)
    assert result.dropped_columns == ("extra", "more")
    assert list(result.features.columns) == list(SCHEMA.features)
    assert result.n_clean == 6


def test_columns_come_back_in_schema_order() -> None:
    rows = good()
    b = batch({k: rows[k] for k in ("opt", "c", "x", "n")})
    result = BatchValidator(SCHEMA).validate(b)
    assert list(result.features.columns) == ["x", "n", "c", "opt"]


# ------------------------------------------------------------------------------------------
# Row-level problems
# ------------------------------------------------------------------------------------------


def test_non_numeric_cells_are_coerced_and_bad_rows_quarantined(tmp_path: Path) -> None:
    b = batch(good(x=["0.5", "abc", 2.0, "3", None, "x1"]), target=[0, 1, 0, 1, 0, 1])
    result = BatchValidator(SCHEMA, quarantine_dir=tmp_path / "q").validate(b)
    check_accounting(result, b)
    assert (result.n_in, result.n_clean, result.n_quarantined) == (6, 3, 3)
    assert dict(result.reasons) == {"non_numeric:x": 2, "missing:x": 1}
    # The clean rows keep their row offsets (with gaps) and numbers instead of text.
    assert list(result.features.index) == [100, 102, 103]
    assert result.features["x"].tolist() == [0.5, 2.0, 3.0]
    assert result.features["x"].dtype == np.float64
    assert result.target.tolist() == [0, 0, 1]
    # The set-aside rows are written with their offset, reason and raw values.
    path = tmp_path / "q" / "quarantine.csv"
    assert result.quarantine_path == path
    written = pd.read_csv(path)
    assert list(written.columns) == ["row", "reason", "x", "n", "c", "opt", "target"]
    assert written["row"].tolist() == [101, 104, 105]
    assert written["reason"].tolist() == ["non_numeric:x", "missing:x", "non_numeric:x"]
    assert written["x"].tolist()[0] == "abc"
    assert written["target"].tolist() == [1, 0, 1]


def test_bad_rows_error_names_column_and_rows() -> None:
    b = batch(good(x=["0.5", "abc", 2.0, "3", "4", "x1"]))
    cfg = ValidationConfig(on_bad_rows="error")
    with pytest.raises(
        ValidationError,
        match=r"Bad rows in rows 100\.\.105: non numeric in "
        r"column 'x': 2 rows 101, 105 \(first value "
        r"'abc'\).*on_bad_rows='quarantine'",
    ) as info:
        BatchValidator(SCHEMA, cfg).validate(b)
    assert info.value.columns == ["x"]
    assert (info.value.start, info.value.end) == (100, 106)


def test_nan_inf_and_huge_values(tmp_path: Path) -> None:
    b = batch(
        good(
            x=[1.0, np.nan, np.inf, -1e12, 5.0, 6.0],
            n=[0, 1, 2, 3, 4, 10**9],
            opt=[np.nan, 1.0, 1.0, 1.0, -np.inf, 1.0],
        )
    )
    cfg = ValidationConfig(max_abs_value=1e6)
    result = BatchValidator(SCHEMA, cfg, tmp_path).validate(b)
    check_accounting(result, b)
    assert dict(result.reasons) == {
        "missing:x": 1,
        "inf:x": 1,
        "too_large:x": 1,
        "too_large:n": 1,
        "inf:opt": 1,
    }
    # NaN is fine in 'opt' (nullable in the reference): row 100 is kept.
    assert list(result.features.index) == [100]
    assert result.n_quarantined == 5
    assert len(pd.read_csv(tmp_path / "quarantine.csv")) == 5


def test_without_a_limit_huge_finite_values_pass() -> None:
    b = batch(good(x=[1e300] * 6))
    assert BatchValidator(SCHEMA).validate(b).n_clean == 6


def test_a_row_with_several_problems_is_counted_once(tmp_path: Path) -> None:
    b = batch(
        good(x=["bad", 1.0, 2.0, 3.0, 4.0, 5.0], c=[None, "red", "red", "red", "red", "red"]),
        target=[None, 1, 0, 1, 0, 1],
    )
    result = BatchValidator(SCHEMA, quarantine_dir=tmp_path).validate(b)
    check_accounting(result, b)
    assert result.n_quarantined == 1
    assert dict(result.reasons) == {"non_numeric:x": 1, "missing:c": 1, "missing_target": 1}
    written = pd.read_csv(tmp_path / "quarantine.csv")
    assert written["reason"].tolist() == ["non_numeric:x;missing:c;missing_target"]


def test_missing_and_infinite_targets_are_quarantined(tmp_path: Path) -> None:
    b = batch(good(), start=0, target=[1.0, np.nan, 2.0, np.inf, 3.0, None])
    result = BatchValidator(SCHEMA, quarantine_dir=tmp_path).validate(b)
    check_accounting(result, b)
    assert dict(result.reasons) == {"missing_target": 2, "inf_target": 1}
    assert list(result.features.index) == [0, 2, 4]
    assert result.target.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValidationError, match="missing target in the target: 2 rows 1, 5"):
        BatchValidator(SCHEMA, ValidationConfig(on_bad_rows="error")).validate(b)


def test_batch_without_target_has_no_target_checks() -> None:
    result = BatchValidator(SCHEMA).validate(batch(good()))
    assert result.target is None and result.n_clean == 6


# ------------------------------------------------------------------------------------------
# Unseen categories
# ------------------------------------------------------------------------------------------


UNSEEN = good(c=["red", "purple", "blue", "purple", "teal", "red"])


def test_unseen_categories_allowed_and_counted() -> None:
    b = batch(UNSEEN)
    result = BatchValidator(SCHEMA).validate(b)
    check_accounting(result, b)
    assert result.n_clean == 6
    assert dict(result.unseen_categories) == {"c": 3}


def test_unseen_categories_quarantined(tmp_path: Path) -> None:
    b = batch(UNSEEN)
    cfg = ValidationConfig(on_unseen_category="quarantine")
    result = BatchValidator(SCHEMA, cfg, tmp_path).validate(b)
    check_accounting(result, b)
    assert dict(result.reasons) == {"unseen_category:c": 3}
    assert list(result.features.index) == [100, 102, 105]
    assert pd.read_csv(tmp_path / "quarantine.csv")["row"].tolist() == [101, 103, 104]


def test_unseen_categories_error() -> None:
    cfg = ValidationConfig(on_unseen_category="error")
    with pytest.raises(
        ValidationError,
        match=r"Column 'c' has 3 unseen categories \['purple', "
        r"'teal'\] in rows 101, 103, 104 \(rows "
        r"100\.\.105\); known: \['blue', 'green', 'red'\]",
    ):
        BatchValidator(SCHEMA, cfg).validate(batch(UNSEEN))


# ------------------------------------------------------------------------------------------
# The quarantine file
# ------------------------------------------------------------------------------------------


def test_quarantine_appends_across_batches_with_one_header(tmp_path: Path) -> None:
    cfg = ValidationConfig(quarantine_file="bad_rows.csv")
    validator = BatchValidator(SCHEMA, cfg, tmp_path)
    first = batch(good(x=[np.nan, 1.0, 2.0, 3.0, 4.0, 5.0]), start=0, target=[0] * 6)
    second = batch(good(x=[1.0, 1.0, "?", "?", 4.0, 5.0]), start=6, target=[1] * 6)
    r1, r2 = validator.validate(first), validator.validate(second)
    check_accounting(r1, first)
    check_accounting(r2, second)
    written = pd.read_csv(tmp_path / "bad_rows.csv")
    assert written["row"].tolist() == [0, 8, 9]
    assert (tmp_path / "bad_rows.csv").read_text().count("row,reason") == 1
    assert r1.n_quarantined + r2.n_quarantined == len(written)


def test_quarantine_file_of_another_schema_is_not_mixed(tmp_path: Path) -> None:
    (tmp_path / "quarantine.csv").write_text("row,reason,a,target\n1,x,2,3\n")
    with pytest.raises(ValidationError, match="has columns .* written for another schema"):
        BatchValidator(SCHEMA, quarantine_dir=tmp_path).validate(batch(good(x=[np.nan] * 6)))


def test_without_quarantine_dir_rows_are_returned_not_written(tmp_path: Path) -> None:
    b = batch(good(x=[np.nan, 1.0, 2.0, 3.0, 4.0, 5.0]))
    result = BatchValidator(SCHEMA).validate(b)
    check_accounting(result, b)
    assert result.quarantine_path is None
    assert result.quarantined["row"].tolist() == [100]
    assert result.quarantined["reason"].tolist() == ["missing:x"]


def test_quarantine_columns_avoid_feature_names(tmp_path: Path) -> None:
    ref = pd.DataFrame({"row": [1.0, 2.0], "target": [3.0, 4.0]})
    b = Batch.from_frame(
        pd.DataFrame({"row": [1.0, np.nan], "target": [1.0, 2.0], "y": [0, 1]}), start=0, target="y"
    )
    BatchValidator(Schema.infer(ref), quarantine_dir=tmp_path).validate(b)
    written = pd.read_csv(tmp_path / "quarantine.csv")
    assert list(written.columns) == ["_row", "reason", "row", "target", "_target"]
    assert written["_row"].tolist() == [1]


# ------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------


def test_validation_config_defaults_and_round_trip() -> None:
    cfg = ValidationConfig()
    assert (
        cfg.on_bad_rows,
        cfg.on_extra_columns,
        cfg.on_unseen_category,
        cfg.max_abs_value,
        cfg.quarantine_file,
    ) == ("quarantine", "error", "allow", None, "quarantine.csv")
    assert ValidationConfig.model_validate_json(cfg.model_dump_json()) == cfg


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"on_bad_rows": "drop"}, r"on_bad_rows\n.*'error' or 'quarantine'.*input_value='drop'"),
        (
            {"on_unseen_category": "ignore"},
            r"on_unseen_category\n.*'allow', 'quarantine' or "
            r"'error'",
        ),
        ({"on_extra_columns": "keep"}, r"on_extra_columns\n.*'error' or 'drop'"),
        ({"max_abs_value": -1}, r"max_abs_value\n.*greater than 0"),
        ({"max_abs_value": float("inf")}, "max_abs_value must be finite"),
        ({"quarantine_file": "../q.csv"}, "quarantine_file must be a plain file name"),
        ({"quarantine": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_validation_config_names_the_key(kwargs: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        ValidationConfig(**kwargs)


# ------------------------------------------------------------------------------------------
# With a real stream
# ------------------------------------------------------------------------------------------


def test_a_clean_synthetic_stream_validates_without_losses(tmp_path: Path) -> None:
    src = SyntheticSource(
        SyntheticStreamConfig(generator="agrawal", n_rows=3000, drift_rows=(1500,))
    )
    batches = list(src.batches(1000))
    schema = Schema.infer(batches[0].features, categorical=src.categorical_features)
    assert schema.categorical == ("elevel", "car", "zipcode")
    validator = BatchValidator(schema, ValidationConfig(on_unseen_category="error"), tmp_path)
    results = [validator.validate(b) for b in batches]
    assert sum(r.n_clean for r in results) == 3000
    assert not (tmp_path / "quarantine.csv").exists()


def test_corrupted_stream_loses_no_good_row(tmp_path: Path) -> None:
    src = SyntheticSource(SyntheticStreamConfig(generator="sea", n_rows=2000, drift_rows=()))
    b = next(src.batches(2000))
    rng = np.random.default_rng(0)
    features = b.features.astype({"x0": object})
    bad_rows = np.sort(rng.choice(2000, size=37, replace=False))
    features.loc[bad_rows[:20], "x0"] = "n/a"
    features.loc[bad_rows[20:], "x1"] = np.inf
    corrupted = Batch(start=0, features=features, target=b.target)
    result = BatchValidator(Schema.infer(b.features), quarantine_dir=tmp_path).validate(corrupted)
    check_accounting(result, corrupted)
    assert result.n_quarantined == 37
    assert dict(result.reasons) == {"non_numeric:x0": 20, "inf:x1": 17}
    assert sorted(pd.read_csv(tmp_path / "quarantine.csv")["row"]) == bad_rows.tolist()
    expected = b.features.drop(index=bad_rows)
    pd.testing.assert_frame_equal(result.features, expected)
