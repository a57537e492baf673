"""Drift between two files: the same verdicts as the in-memory check, read in bounded memory.

Every parity test compares :func:`check_files` with ``compare(ReferenceProfile.fit(read(ref)),
read(cur))`` on seeded frames that hold every kind of column the reader converts itself
(floats with NaN and inf, ints, nullable ints, uint8, float32, strings with None, a pandas
category with unused categories, nullable and plain bools), for large references (Wasserstein /
Jensen-Shannon) and small ones (K-S / chi-square / Z).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitors import drift_files
from monitors.drift_engine import ColumnDrift, ReferenceProfile, compare
from monitors.drift_files import FileDriftReport, check_files
from monitors.errors import DriftCheckError

ROW_GROUP = 700
CHUNK = 250  # rows per batch: several batches per row group, several row groups per file


def _frame(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1, n)
    x[rng.random(n) < 0.05] = np.nan
    x[:3] = [np.inf, -np.inf, np.nan]
    nullable = pd.array(rng.integers(0, 50, n), dtype="Int64")
    nullable[rng.random(n) < 0.1] = pd.NA
    with_nan = rng.integers(0, 50, n).astype(float)
    with_nan[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "x": x,
        "i": rng.integers(0, 1000, n) + int(shift * 100),
        "few": rng.integers(0, 4, n),
        "j": nullable,
        "jf": with_nan,
        "u8": rng.integers(0, 255, n).astype(np.uint8),
        "f32": rng.normal(size=n).astype(np.float32),
        "s": rng.choice(np.array(["a", "b", "c", None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1]),
        "c": pd.Categorical(rng.choice(["p", "q"], n), categories=["q", "unused", "p"]),
        "b": pd.array(rng.random(n) < 0.5 + shift / 2, dtype="boolean"),
        "bb": rng.random(n) < 0.5,
    })


def _key(c: ColumnDrift) -> tuple[Any, ...]:
    """Exact comparison, with NaN scores (chi-square over an unused category) equal to NaN."""
    return (c.name, c.method, None if math.isnan(c.score) else c.score, c.threshold, c.drifted)


def _same(got: FileDriftReport, expected: list[ColumnDrift]) -> None:
    assert [_key(c) for c in got.columns] == [_key(c) for c in expected]


@pytest.fixture(scope="module", params=[(4000, 2500), (800, 600)], ids=["large-ref", "small-ref"])
def files(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    n_ref, n_cur = request.param
    folder = tmp_path_factory.mktemp(f"files{n_ref}")
    ref, cur = _frame(1, n_ref), _frame(2, n_cur, shift=0.3)
    out = {}
    for role, frame in (("ref", ref), ("cur", cur)):
        out[f"{role}.parquet"] = folder / f"{role}.parquet"
        frame.to_parquet(out[f"{role}.parquet"], row_group_size=ROW_GROUP)
        out[f"{role}.csv"] = folder / f"{role}.csv"
        frame.to_csv(out[f"{role}.csv"], index=False)
    return out


READ: dict[str, Callable[[Path], pd.DataFrame]] = {"parquet": pd.read_parquet, "csv": pd.read_csv}


# ------------------------------------------------------------------------------- parity
@pytest.mark.parametrize(("method", "correction"), [
    (None, "none"), (None, "bh"), ("psi", "none"), ("jensenshannon", "bonferroni"),
    ("hellinger", "none"),
])
def test_parquet_verdicts_equal_the_in_memory_check(files: dict[str, Path], method: str | None,
                                                     correction: Any) -> None:
    ref, cur = pd.read_parquet(files["ref.parquet"]), pd.read_parquet(files["cur.parquet"])
    expected = compare(ReferenceProfile.fit(ref), cur, method=method, correction=correction)
    got = check_files(files["ref.parquet"], files["cur.parquet"], method=method,
                      correction=correction, chunk_rows=CHUNK)
    _same(got, expected)
    assert got.n_reference == len(ref) and got.n_current == len(cur)
    assert {c.name for c in got.columns} == set(ref.columns)


@pytest.mark.parametrize(("ref_fmt", "cur_fmt"), [("csv", "csv"), ("parquet", "csv"),
                                                  ("csv", "parquet")])
def test_csv_and_mixed_formats_equal_the_in_memory_check(files: dict[str, Path], ref_fmt: str,
                                                         cur_fmt: str) -> None:
    ref_path, cur_path = files[f"ref.{ref_fmt}"], files[f"cur.{cur_fmt}"]
    expected = compare(ReferenceProfile.fit(READ[ref_fmt](ref_path)), READ[cur_fmt](cur_path))
    _same(check_files(ref_path, cur_path, chunk_rows=CHUNK), expected)


def test_the_parquet_columns_are_read_in_several_batches(files: dict[str, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[int]] = {}
    original = drift_files._ParquetColumns._batches

    def spy(self: Any, name: str, chunk_rows: int) -> Any:
        for arr in original(self, name, chunk_rows):
            seen.setdefault(f"{self.role}:{name}", []).append(len(arr))
            yield arr

    monkeypatch.setattr(drift_files._ParquetColumns, "_batches", spy)
    check_files(files["ref.parquet"], files["cur.parquet"], chunk_rows=CHUNK)
    n_ref = len(pd.read_parquet(files["ref.parquet"], columns=["x"]))
    assert len(seen) == 2 * 11  # each column of each file read on its own
    assert all(max(sizes) <= CHUNK for sizes in seen.values())
    assert sum(seen["reference:x"]) == n_ref and len(seen["reference:x"]) > 2


def test_explicit_kinds_and_column_subset_equal_fit_on_the_same_columns(
        files: dict[str, Path]) -> None:
    cols, num, cat = ["i", "s", "x", "few"], ["x"], ["few", "s"]
    for fmt in ("parquet", "csv"):
        ref_path, cur_path = files[f"ref.{fmt}"], files[f"cur.{fmt}"]
        ref, cur = READ[fmt](ref_path), READ[fmt](cur_path)
        expected = compare(ReferenceProfile.fit(ref[cols], numerical_columns=num,
                                                categorical_columns=cat), cur)
        got = check_files(ref_path, cur_path, columns=cols, numerical_columns=num,
                          categorical_columns=cat)
        _same(got, expected)
        assert [c.name for c in got.columns] == ["x", "few", "s"]  # "i" is not listed
        # only one list given: the other kind is inferred, in the order of `columns`
        expected = compare(ReferenceProfile.fit(ref[cols], categorical_columns=["few"]), cur)
        _same(check_files(ref_path, cur_path, columns=cols, categorical_columns=["few"]),
              expected)


def test_parallel_and_serial_runs_agree(files: dict[str, Path]) -> None:
    one = check_files(files["ref.parquet"], files["cur.parquet"], n_jobs=1)
    three = check_files(files["ref.parquet"], files["cur.parquet"], n_jobs=3)
    assert [_key(c) for c in one.columns] == [_key(c) for c in three.columns]


# ------------------------------------------------------------------------------- report
def test_report_summary_and_json(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"a": rng.normal(size=3000), "b": rng.normal(size=3000),
                        "s": rng.choice(list("xyz"), 3000)})
    cur = pd.DataFrame({"a": rng.normal(2, 1, 2000), "b": rng.normal(size=2000),
                        "s": rng.choice(list("xyz"), 2000)})
    ref.to_parquet(tmp_path / "ref.pq")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    report = check_files(tmp_path / "ref.pq", tmp_path / "cur.csv")
    assert [(c.name, c.drifted) for c in report.columns] == [("a", True), ("b", False),
                                                             ("s", False)]
    assert report.n_drifted == 1 and report.share_drifted == pytest.approx(1 / 3)
    assert not report.dataset_drift  # 1/3 < 0.5
    lowered = check_files(tmp_path / "ref.pq", tmp_path / "cur.csv", drift_share=1 / 3)
    assert lowered.dataset_drift  # share >= drift_share, as Evidently's DriftedColumnsCount
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) >= {"columns", "share_drifted", "n_drifted", "dataset_drift", "n_reference",
                         "n_current", "elapsed_s", "reference", "current", "method",
                         "threshold", "correction"}
    assert data["columns"][0] == {"name": "a", "method": "wasserstein",
                                  "score": report.columns[0].score, "threshold": 0.1,
                                  "drifted": True}
    assert (data["n_reference"], data["n_current"], data["method"]) == (3000, 2000, None)
    table = report.table()
    assert table.splitlines()[0].split() == ["column", "method", "score", "threshold", "drifted"]
    assert "1 of 3 columns drifted" in table and "dataset drift: no" in table


def test_a_nan_score_is_null_in_json(tmp_path: Path) -> None:
    # one category on both sides: chi-square has 0 degrees of freedom and a NaN p-value, as
    # in Evidently (and the column is not flagged)
    frame = pd.DataFrame({"c": ["a"] * 50})
    frame.to_parquet(tmp_path / "ref.parquet")
    frame.to_parquet(tmp_path / "cur.parquet")
    report = check_files(tmp_path / "ref.parquet", tmp_path / "cur.parquet", method="chisquare")
    assert math.isnan(report.columns[0].score) and not report.columns[0].drifted
    assert json.loads(json.dumps(report.to_dict()))["columns"][0]["score"] is None


# ------------------------------------------------------------------------------- errors
@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=2000), "s": rng.choice(list("ab"), 2000)})
    frame.to_parquet(tmp_path / "ref.parquet", row_group_size=500)
    frame.to_parquet(tmp_path / "cur.parquet")
    return tmp_path / "ref.parquet", tmp_path / "cur.parquet"


def _raises(match: str, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DriftCheckError, match=match) as info:
        check_files(*args, **kwargs)
    return str(info.value)


def test_missing_file_and_unsupported_suffix(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = pair
    msg = _raises("current file .* does not exist", ref, tmp_path / "nope.parquet")
    assert "check the path" in msg
    (tmp_path / "data.json").write_text("{}")
    msg = _raises("suffix '.json'", tmp_path / "data.json", cur)
    assert "'.csv'" in msg and "'.parquet'" in msg
    folder = tmp_path / "dataset.parquet"
    folder.mkdir()
    _raises("is a folder", folder, cur)


def test_column_missing_in_current(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = pair
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "only_x.parquet")
    msg = _raises(r"lacks the column\(s\) \['s'\]", ref, tmp_path / "only_x.parquet")
    assert "its columns: ['x']" in msg
    assert check_files(ref, tmp_path / "only_x.parquet", columns=["x"]).columns[0].name == "x"
    pd.DataFrame({"x": [1.0, 2.0]}).to_csv(tmp_path / "only_x.csv", index=False)
    _raises(r"lacks the column\(s\) \['s'\]", ref, tmp_path / "only_x.csv")


def test_truncated_and_corrupt_parquet(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = pair
    data = ref.read_bytes()
    (tmp_path / "truncated.parquet").write_bytes(data[: len(data) // 2])
    msg = _raises("Could not read the current Parquet file", ref, tmp_path / "truncated.parquet")
    assert "truncated or corrupt" in msg
    (tmp_path / "garbage.parquet").write_bytes(b"not a parquet file at all")
    _raises("Could not read the reference Parquet file", tmp_path / "garbage.parquet", cur)


def test_empty_files(pair: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = pair
    (tmp_path / "empty.csv").write_text("")
    _raises("is empty", ref, tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("x,s\n")
    _raises("has a header but no rows", tmp_path / "header.csv", ref)
    pd.DataFrame({"x": pd.Series(dtype=float), "s": pd.Series(dtype=object)}).to_parquet(
        tmp_path / "empty.parquet")
    _raises("has no rows", ref, tmp_path / "empty.parquet")
    pd.DataFrame({"x": [np.nan, np.inf], "s": ["a", "b"]}).to_parquet(tmp_path / "nan.parquet")
    _raises("'x' holds no finite, non-missing value in the window", ref, tmp_path / "nan.parquet")


def test_bad_parameters(pair: tuple[Path, Path]) -> None:
    ref, cur = pair
    msg = _raises("Unknown drift method 'wasserstien'", ref, cur, method="wasserstien")
    assert "'wasserstein'" in msg
    _raises("'ks' does not apply to categorical column 's'", ref, cur, method="ks")
    _raises("'threshold' must be a positive number", ref, cur, threshold=-1.0)
    _raises("'correction' must be one of", ref, cur, correction="holm")
    _raises("'drift_share' must be in", ref, cur, drift_share=0.0)
    _raises("'chunk_rows' must be a positive int", ref, cur, chunk_rows=0)
    _raises("'n_jobs' must be a positive int", ref, cur, n_jobs=0)
    _raises("wrap it in a list", ref, cur, columns="x")
    _raises(r"'columns' names column\(s\) \['y'\]", ref, cur, columns=["y"])
    _raises("'s' is numerical in the reference but holds", ref, cur, numerical_columns=["s"],
            categorical_columns=[])
