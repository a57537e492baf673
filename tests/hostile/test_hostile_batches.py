"""Hostile batches (issue 7, item 4): :class:`BatchValidator` against malformed frames.

Good frames are generated, then corrupted: cells get NaN, +-inf, huge values, text, lists,
dicts, bools, dates and complex numbers; columns are dropped, added, renamed, duplicated or
change dtype; rows are duplicated; batches are empty. Each outcome must be one of

* a :class:`~monitors.errors.ValidationError` whose message names the column and the
  problem (batch-level problems: the whole batch is refused), or
* a result that accounts for every row (``n_clean + n_quarantined == n_in``, the kept and
  the quarantined row offsets partition the batch), where every quarantined row has a reason
  naming the bad column, exactly the corrupted rows are set aside, and every good row is kept
  with its values unchanged,

and validating the next good batch afterwards must work as if nothing had happened.

The last section does the same for the prediction service's request check
(:func:`deploy.service.rows_to_frame`): any JSON row gets a 422-style ``PayloadError`` or a
frame, never a crash.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitors.errors import ValidationError
from monitors.stream import Batch
from monitors.validation import BatchValidator, Schema, ValidationConfig, ValidationResult

FEATURES = ("x", "n", "c", "z")  # float, int, categorical, nullable float
TARGET = "y"
CATEGORIES = ("a", "b", "c")
HUGE = 1e308
LIMIT = 1e6  # max_abs_value when a test sets one

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def reference() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "n": rng.integers(-5, 5, size=60),
            "c": [CATEGORIES[i % 3] for i in range(60)],
            "z": np.where(np.arange(60) % 7 == 0, np.nan, rng.normal(size=60)),
            TARGET: rng.integers(0, 2, size=60),
        }
    )


SCHEMA = Schema.infer(reference(), exclude=[TARGET])


def test_the_reference_schema_is_what_the_tests_assume() -> None:
    assert SCHEMA.features == FEATURES
    assert (SCHEMA.numeric, SCHEMA.categorical, SCHEMA.nullable) == (("x", "n", "z"), ("c",),
                                                                     ("z",))


# ------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------


@st.composite
def good_frames(draw: st.DrawFn, min_rows: int = 1, max_rows: int = 25) -> pd.DataFrame:
    """Frames that match the schema: finite numbers, known categories, NaN only in z."""
    n = draw(st.integers(min_rows, max_rows))
    finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
    return pd.DataFrame(
        {
            "x": draw(st.lists(finite, min_size=n, max_size=n)),
            "n": draw(st.lists(st.integers(-100, 100), min_size=n, max_size=n)),
            "c": draw(st.lists(st.sampled_from(CATEGORIES), min_size=n, max_size=n)),
            "z": draw(st.lists(finite | st.just(math.nan), min_size=n, max_size=n)),
            TARGET: draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)),
        }
    )


@dataclass(frozen=True)
class Cell:
    """A value written into a cell, and what validation must make of it.

    ``kinds``: the reason kinds of which one must be given for the cell when the row is set
    aside (empty: the value is fine and the row is kept, as ``kept``).
    """

    value: Any
    kinds: frozenset[str] = frozenset()
    kept: Any = None
    over_limit: bool = False  # set aside as "too_large" when max_abs_value=LIMIT

    def bad(self, limited: bool) -> bool:
        return bool(self.kinds) or (limited and self.over_limit)


NOT_A_NUMBER = frozenset({"non_numeric"})
_DATE = pd.Timestamp("2024-01-01")

NUMERIC_CELLS = [
    Cell(math.inf, frozenset({"inf"})),
    Cell(-math.inf, frozenset({"inf"})),
    Cell("inf", frozenset({"inf"})),
    Cell(HUGE, kept=HUGE, over_limit=True),
    Cell(-HUGE, kept=-HUGE, over_limit=True),
    Cell("1.5", kept=1.5),
    Cell("-2e3", kept=-2000.0),
    Cell("oops", NOT_A_NUMBER),
    Cell("", NOT_A_NUMBER),
    Cell("nan", NOT_A_NUMBER),
    Cell([1.0], NOT_A_NUMBER),
    Cell({"a": 1}, NOT_A_NUMBER),
    Cell(True, NOT_A_NUMBER),
    Cell(_DATE, NOT_A_NUMBER),
    Cell(b"1", NOT_A_NUMBER),
]
MISSING = [Cell(math.nan, frozenset({"missing"})), Cell(None, frozenset({"missing"}))]
NULLABLE_MISSING = [Cell(math.nan, kept=math.nan), Cell(None, kept=math.nan)]
CATEGORY_CELLS = [
    Cell("zzz", kept="zzz"),  # unseen: allowed and counted by default
    Cell(7, kept=7),
    Cell([1], frozenset({"bad_type"})),
    Cell({"k": "a"}, frozenset({"bad_type"})),
    Cell(_DATE, frozenset({"bad_type"})),
    Cell(math.nan, frozenset({"missing"})),
    Cell(None, frozenset({"missing"})),
]
TARGET_CELLS = [
    Cell(math.nan, frozenset({"missing_target"})),
    Cell(math.inf, frozenset({"inf_target"})),
    Cell(None, frozenset({"missing_target"})),
]

CELLS: dict[str, list[Cell]] = {
    "x": NUMERIC_CELLS + MISSING,
    "n": NUMERIC_CELLS + MISSING,
    "z": NUMERIC_CELLS + NULLABLE_MISSING,
    "c": CATEGORY_CELLS,
    TARGET: TARGET_CELLS,
}


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame, dict[tuple[int, str], Cell]]:
    """(good frame, corrupted copy, {(position, column): cell written there})."""
    good = draw(good_frames())
    n = len(good)
    cells: dict[tuple[int, str], Cell] = {}
    for _ in range(draw(st.integers(0, 6))):
        col = draw(st.sampled_from(sorted(CELLS)))
        cells[(draw(st.integers(0, n - 1)), col)] = draw(st.sampled_from(CELLS[col]))
    bad = good.copy()
    for col in {c for _, c in cells}:
        values = bad[col].tolist()
        for (i, c), cell in cells.items():
            if c == col:
                values[i] = cell.value
        bad[col] = pd.Series(values)  # typed from its values, as a reader would
    return good, bad, cells


def batch(frame: pd.DataFrame, start: int, target: bool = True) -> Batch:
    return Batch.from_frame(frame, start=start, target=TARGET if target else None)


# ------------------------------------------------------------------------------------------
# Checks shared by the properties
# ------------------------------------------------------------------------------------------


def assert_accounts_for_every_row(result: ValidationResult, b: Batch) -> None:
    assert result.n_in == len(b)
    assert result.n_clean + result.n_quarantined == result.n_in
    assert len(result.features) == result.n_clean
    kept = set(result.features.index)
    quarantined = set(result.quarantined["row"]) if result.n_quarantined else set()
    assert kept.isdisjoint(quarantined)
    assert kept | quarantined == set(b.rows.tolist())
    if result.n_quarantined:
        assert len(result.quarantined) == result.n_quarantined
        reasons = result.quarantined["reason"].str.split(";")
        assert reasons.map(len).min() >= 1 and not (result.quarantined["reason"] == "").any()
        # the counts per reason add up to the reasons given to the rows
        assert sum(result.reasons.values()) == int(reasons.map(len).sum())
    else:
        assert not result.reasons


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        return (math.isnan(a) and math.isnan(b)) if (pd.isna(a) or pd.isna(b)) else float(
            a
        ) == float(b)
    return bool(a == b)


def assert_good_rows_kept_unchanged(
    result: ValidationResult, good: pd.DataFrame, start: int, keep: set[int],
    cells: dict[tuple[int, str], Cell] | None = None,
) -> None:
    """Rows at positions ``keep`` are in the result with their values (or the cell's
    ``kept`` value where a fine cell was written)."""
    cells = cells or {}
    assert set(result.features.index) == {start + i for i in keep}
    assert list(result.features.columns) == list(FEATURES)
    for i in keep:
        row = result.features.loc[start + i]
        for col in FEATURES:
            want = cells[(i, col)].kept if (i, col) in cells else good.iloc[i][col]
            assert same(row[col], want), (i, col, row[col], want)
        if result.target is not None:
            want = cells[(i, TARGET)].kept if (i, TARGET) in cells else good.iloc[i][TARGET]
            assert same(result.target.loc[start + i], want)


# ------------------------------------------------------------------------------------------
# Bad cells: quarantined with a reason and a count, or refused naming the column
# ------------------------------------------------------------------------------------------


@SETTINGS
@given(data=corrupted(), start=st.integers(0, 10**9), limited=st.booleans())
def test_bad_cells_are_quarantined_with_reasons_and_no_good_row_is_lost(
    data: tuple[pd.DataFrame, pd.DataFrame, dict[tuple[int, str], Cell]], start: int,
    limited: bool,
) -> None:
    good, bad, cells = data
    config = ValidationConfig(max_abs_value=LIMIT if limited else None)
    with tempfile.TemporaryDirectory() as tmp:
        validator = BatchValidator(SCHEMA, config, quarantine_dir=tmp)
        b = batch(bad, start)
        result = validator.validate(b)
        assert_accounts_for_every_row(result, b)

        bad_rows = {i for (i, _), cell in cells.items() if cell.bad(limited)}
        assert set(result.quarantined["row"] if result.n_quarantined else []) == {
            start + i for i in bad_rows
        }
        # each set-aside row has, for each of its bad cells, a reason naming that cell
        for _, q in (result.quarantined.iterrows() if result.n_quarantined else iter(())):
            i = int(q["row"]) - start
            given_reasons = set(q["reason"].split(";"))
            for (pos, col), cell in cells.items():
                if pos != i or not cell.bad(limited):
                    continue
                if col == TARGET:
                    assert given_reasons & cell.kinds, (cell, given_reasons)
                else:
                    kinds = cell.kinds or {"too_large"}
                    assert given_reasons & {f"{k}:{col}" for k in kinds}, (col, cell, given_reasons)
            # ... and no reason names a column that was not corrupted in that row
            named = {r.partition(":")[2] for r in given_reasons if ":" in r}
            assert named <= {col for (pos, col) in cells if pos == i}
        unseen = sum(
            1 for (i, col), cell in cells.items()
            if col == "c" and not cell.kinds and i not in bad_rows
        )
        assert dict(result.unseen_categories) == ({"c": unseen} if unseen else {})

        assert_good_rows_kept_unchanged(result, good, start, set(range(len(good))) - bad_rows,
                                        cells)
        written = Path(tmp) / "quarantine.csv"
        if result.n_quarantined:
            assert len(pd.read_csv(written)) == result.n_quarantined
        else:
            assert not written.exists()

        # the next good batch goes through whole: nothing of the bad one stayed behind
        nxt = good.iloc[::-1].reset_index(drop=True)
        after = validator.validate(batch(nxt, b.end))
        assert after.all_clean
        assert_good_rows_kept_unchanged(after, nxt, b.end, set(range(len(nxt))))


@SETTINGS
@given(data=corrupted(), start=st.integers(0, 10**6))
def test_with_on_bad_rows_error_bad_cells_raise_naming_column_and_rows(
    data: tuple[pd.DataFrame, pd.DataFrame, dict[tuple[int, str], Cell]], start: int
) -> None:
    good, bad, cells = data
    validator = BatchValidator(SCHEMA, ValidationConfig(on_bad_rows="error"))
    b = batch(bad, start)
    bad_cells = {(i, col) for (i, col), cell in cells.items() if cell.bad(False)}
    if not bad_cells:
        result = validator.validate(b)
        assert result.all_clean
        assert_good_rows_kept_unchanged(result, good, start, set(range(len(good))), cells)
        return
    with pytest.raises(ValidationError) as info:
        validator.validate(b)
    message = str(info.value)
    assert f"rows {start}..{start + len(bad) - 1}" in message
    assert "on_bad_rows='quarantine'" in message  # the way out
    feature_cols = {col for _, col in bad_cells if col != TARGET}
    for col in feature_cols:
        assert f"column {col!r}" in message
    assert feature_cols <= set(info.value.columns)
    if any(col == TARGET for _, col in bad_cells):
        assert "the target" in message
    first = min(i for i, _ in bad_cells)
    assert str(start + first) in message  # the rows are named
    # still usable afterwards
    assert validator.validate(batch(good, b.end)).all_clean


@SETTINGS
@given(frame=good_frames(), start=st.integers(0, 10**6),
       copies=st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_duplicated_rows_are_all_kept_and_counted(
    frame: pd.DataFrame, start: int, copies: list[int]
) -> None:
    """Duplicates are data: a stream may repeat an event, and the validator cannot tell a
    repeat from a resend. They are kept and counted like any row (the drop folder drops a
    whole file sent twice, by its content hash)."""
    picks = [c % len(frame) for c in copies]
    doubled = pd.concat([frame, frame.iloc[picks]], ignore_index=True)
    result = BatchValidator(SCHEMA).validate(batch(doubled, start))
    assert (result.n_in, result.n_clean, result.n_quarantined) == (len(doubled),) * 2 + (0,)
    assert_good_rows_kept_unchanged(result, doubled, start, set(range(len(doubled))))


# ------------------------------------------------------------------------------------------
# Bad batches: refused as a whole, naming the column; the validator stays usable
# ------------------------------------------------------------------------------------------

_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=8)


@st.composite
def broken_layouts(draw: st.DrawFn) -> tuple[str, pd.DataFrame, str, list[str]]:
    """(what was done, frame, a regex the error must match, columns the error must name)."""
    frame = draw(good_frames())
    col = draw(st.sampled_from(FEATURES))
    new = draw(_NAMES.filter(lambda s: s not in (*FEATURES, TARGET)))
    how = draw(st.sampled_from(["drop", "extra", "rename", "duplicate", "empty"]))
    if how == "drop":
        return how, frame.drop(columns=col), rf"Columns \[{col!r}\] are missing", [col]
    if how == "extra":
        return how, frame.assign(**{new: 1.0}), rf"Columns \[{new!r}\] .* not in the schema", [new]
    if how == "rename":
        renamed = frame.rename(columns={col: new})
        return how, renamed, rf"Columns \[{col!r}\] are missing .*{new!r}", [col]
    if how == "duplicate":
        doubled = pd.concat([frame, frame[[col]]], axis=1)
        return how, doubled, rf"Columns \[{col!r}\] appear more than once", [col]
    return how, frame.iloc[:0], "is empty", []


@SETTINGS
@given(case=broken_layouts(), start=st.integers(0, 10**6))
def test_broken_layouts_raise_naming_the_column_and_the_next_batch_is_fine(
    case: tuple[str, pd.DataFrame, str, list[str]], start: int
) -> None:
    how, frame, message, columns = case
    validator = BatchValidator(SCHEMA)
    with pytest.raises(ValidationError, match=message) as info:
        validator.validate(batch(frame, start))
    assert info.value.columns == columns
    assert info.value.start == start
    good = reference().iloc[:10]
    after = validator.validate(batch(good, start + len(frame)))
    assert after.all_clean
    assert_good_rows_kept_unchanged(after, good, start + len(frame), set(range(10)))


@SETTINGS
@given(frame=good_frames(), extra=_NAMES.filter(lambda s: s not in (*FEATURES, TARGET)))
def test_extra_columns_are_dropped_and_reported_when_configured(
    frame: pd.DataFrame, extra: str
) -> None:
    validator = BatchValidator(SCHEMA, ValidationConfig(on_extra_columns="drop"))
    result = validator.validate(batch(frame.assign(**{extra: "junk"}), 0))
    assert result.dropped_columns == (extra,)
    assert result.n_clean == len(frame)
    assert_good_rows_kept_unchanged(result, frame, 0, set(range(len(frame))))


@SETTINGS
@given(frame=good_frames(), col=st.sampled_from(["x", "n", "z"]))
def test_a_numeric_column_read_as_text_is_parsed_back_exactly(
    frame: pd.DataFrame, col: str
) -> None:
    as_text = frame.assign(**{col: frame[col].astype(str)})  # "1.5", "nan": a CSV chunk
    result = BatchValidator(SCHEMA).validate(batch(as_text, 0))
    if col == "z":  # 'nan' as text is not a number, not a missing value: set aside
        nan_rows = set(np.flatnonzero(frame["z"].isna().to_numpy()).tolist())
        assert dict(result.reasons) == ({"non_numeric:z": len(nan_rows)} if nan_rows else {})
    else:
        nan_rows = set()
        assert result.all_clean
    assert_good_rows_kept_unchanged(result, frame, 0, set(range(len(frame))) - nan_rows)


_WHOLE_COLUMN = {
    "bools": lambda n: np.arange(n) % 2 == 0,
    "dates": lambda n: pd.date_range("2024-01-01", periods=n),
    "timedeltas": lambda n: pd.to_timedelta(np.arange(n), unit="s"),
    "complex": lambda n: np.arange(n) + 1j,
    "complex objects": lambda n: pd.Series([complex(i, 1) for i in range(n)], dtype=object),
    "lists": lambda n: pd.Series([[i] for i in range(n)], dtype=object),
}


@SETTINGS
@given(frame=good_frames(), col=st.sampled_from(["x", "n", "z"]),
       kind=st.sampled_from(sorted(_WHOLE_COLUMN)))
def test_a_numeric_column_of_another_type_is_never_taken_for_numbers(
    frame: pd.DataFrame, col: str, kind: str
) -> None:
    """Dates would pass as nanoseconds, bools as 0/1 and complex numbers would lose their
    imaginary part: each row is set aside as ``non_numeric`` instead."""
    swapped = frame.assign(**{col: _WHOLE_COLUMN[kind](len(frame))})
    result = BatchValidator(SCHEMA).validate(batch(swapped, 5))
    assert result.n_quarantined == len(frame) and result.n_clean == 0
    assert dict(result.reasons) == {f"non_numeric:{col}": len(frame)}
    with pytest.raises(ValidationError, match=rf"non numeric in column {col!r}"):
        BatchValidator(SCHEMA, ValidationConfig(on_bad_rows="error")).validate(
            batch(swapped, 5)
        )


def test_column_names_that_are_not_text_are_matched_by_their_text() -> None:
    ref = pd.DataFrame({"0": [1.0, 2.0], "1": ["a", "b"]})
    frame = pd.DataFrame({0: [3.0, 4.0], 1: ["a", "b"]})  # e.g. read without a header
    result = BatchValidator(Schema.infer(ref)).validate(Batch.from_frame(frame, start=0))
    assert result.all_clean and list(result.features.columns) == ["0", "1"]
    missing = pd.DataFrame({0: [3.0], 2: ["a"]})
    with pytest.raises(ValidationError, match=r"\['1'\] are missing .* columns \['0', '2'\]"):
        BatchValidator(Schema.infer(ref)).validate(Batch.from_frame(missing, start=0))


def test_quarantine_file_stays_one_table_over_many_bad_batches(tmp_path: Path) -> None:
    """Bad batches of every kind append rows under the same header; their rows all arrive."""
    validator = BatchValidator(SCHEMA, quarantine_dir=tmp_path)
    frame = reference().iloc[:6].reset_index(drop=True)
    variants = [
        frame.assign(x=["oops", 1.0, 2.0, 3.0, 4.0, 5.0]),
        frame.assign(c=[[1], "a", "b", "c", "a", None]),
        frame.assign(n=[True] * 6),
        frame.assign(y=[np.inf, 0, 1, 0, 1, 0]),
        frame.drop(columns=TARGET),
    ]
    total, start = 0, 0
    for variant in variants:
        target = TARGET in variant.columns
        result = validator.validate(batch(variant, start, target=target))
        total += result.n_quarantined
        start += len(variant)
    assert total == 1 + 2 + 6 + 1 + 0
    written = pd.read_csv(tmp_path / "quarantine.csv")
    assert len(written) == total
    assert list(written.columns) == ["row", "reason", *FEATURES, "target"]
    assert written["row"].tolist() == [0, 6, 11, *range(12, 18), 18]


# ------------------------------------------------------------------------------------------
# The prediction service's request check
# ------------------------------------------------------------------------------------------

_json_scalars = (
    st.none() | st.booleans() | st.text(max_size=5)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([10**400, -(10**400), 1e308, -1e308, 3.5e38, 2**31, 2**63, -(2**63)])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=2),
    max_leaves=4,
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(
    st.dictionaries(st.sampled_from(["d", "f", "i", "l", "b", "s", "extra"]), _json_values,
                    max_size=7),
    min_size=1, max_size=4,
))
def test_any_json_rows_get_a_payload_error_or_a_clean_frame(rows: list[dict[str, Any]]) -> None:
    from deploy.service import Column, PayloadError, rows_to_frame

    columns = (Column("d", "double"), Column("f", "float"), Column("i", "integer"),
               Column("l", "long"), Column("b", "boolean"), Column("s", "string"))
    try:
        frame = rows_to_frame(rows, columns)
    except PayloadError as exc:
        assert exc.errors
        for err in exc.errors:
            assert err["msg"].startswith(f"rows[{err['loc'][2]}].{err['loc'][3]}: ")
        return
    assert len(frame) == len(rows)
    assert list(frame.columns) == ["d", "f", "i", "l", "b", "s"]
    for col in ("d", "f"):  # numbers are finite, or NaN for null
        values = frame[col].to_numpy(dtype=float)
        assert not np.isinf(values).any()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (math.inf, "rows[0].d: must be a finite number, got inf; send null"),
        (-math.inf, "rows[0].d: must be a finite number, got -inf"),
        (10**400, "rows[0].d: is out of range for double: 1000000000"),
        ("1.5", "rows[0].d: must be a number, got '1.5'"),
        (True, "rows[0].d: must be a number, got True"),
    ],
)
def test_non_finite_and_huge_request_values_get_a_clear_error(value: Any, message: str) -> None:
    from deploy.service import Column, PayloadError, rows_to_frame

    with pytest.raises(PayloadError) as info:
        rows_to_frame([{"d": value}], (Column("d", "double"),))
    assert info.value.errors[0]["msg"].startswith(message)
    ok = rows_to_frame([{"d": None}, {"d": math.nan}, {"d": 1e308}], (Column("d", "double"),))
    assert ok["d"].isna().tolist() == [True, True, False]
