"""The drop-folder source: new CSV/Parquet files are read exactly once, across restarts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

import monitors.sources as sources
from monitors.errors import SourceError
from monitors.sources import (
    LEDGER_NAME,
    DropFolderSource,
    DropFolderSourceConfig,
    DroppedFile,
    FileSourceConfig,
    SourceConfig,
    StreamSource,
    make_source,
)
from monitors.stream import Batch

_CLOCK = [1_700_000_000]  # drop times: one second apart, well in the past


def drop(folder: Path, name: str, frame: pd.DataFrame, *, at: int | None = None) -> Path:
    """Write ``frame`` as ``name`` (CSV or Parquet by suffix) with a distinct, old mtime."""
    path = folder / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    if at is None:
        _CLOCK[0] += 1
        at = _CLOCK[0]
    os.utime(path, (at, at))
    return path


def rows(start: int, n: int) -> pd.DataFrame:
    """``n`` rows whose x counts from ``start``: the order they come out in is visible."""
    x = np.arange(start, start + n)
    return pd.DataFrame({"x": x.astype(float), "c": [f"k{v % 3}" for v in x], "y": x % 2})


def source(folder: Path, **kw: Any) -> DropFolderSource:
    kw.setdefault("min_age_seconds", 0)
    return DropFolderSource(DropFolderSourceConfig(path=folder, target="y", **kw))


def xs(batches: list[Batch]) -> list[float]:
    return [v for b in batches for v in b.features["x"].tolist()]


def assert_offsets(batches: list[Batch], n: int) -> None:
    assert [b.start for b in batches] == list(range(0, n, len(batches[0])))[: len(batches)]
    assert batches[-1].end == n


# ------------------------------------------------------------------------------------------
# Exactly once
# ------------------------------------------------------------------------------------------


def test_new_files_are_read_once_in_arrival_order_across_a_restart(tmp_path: Path) -> None:
    drop(tmp_path, "b.csv", rows(0, 5))  # older than a.csv: comes first despite its name
    drop(tmp_path, "a.csv", rows(5, 4))
    first = source(tmp_path)
    assert isinstance(first, StreamSource)
    got = list(first.batches(3))
    assert [(b.start, b.end) for b in got] == [(0, 3), (3, 6), (6, 9)]
    assert xs(got) == list(map(float, range(9)))
    assert first.task == "classification" and first.name == f"folder:{tmp_path.name}"
    ledger = json.loads((tmp_path / LEDGER_NAME).read_text())
    assert [(r["name"], r["rows"], r["status"]) for r in ledger["files"]] == [
        ("b.csv", 5, "processed"),
        ("a.csv", 4, "processed"),
    ]
    record = ledger["files"][0]
    assert record["size"] == (tmp_path / "b.csv").stat().st_size
    assert len(record["sha256"]) == 64 and record["processed_at"].endswith("+00:00")
    assert ledger["columns"] == ["x", "c", "y"] and ledger["task"] == "classification"

    restarted = source(tmp_path)  # a new process sharing the ledger
    assert list(restarted.batches(3)) == []
    assert len(restarted.pending()) == 0 and restarted.pending().files == ()
    assert restarted.task == "classification"  # remembered, no file needed


def test_a_file_dropped_later_is_read_by_the_next_poll(tmp_path: Path) -> None:
    drop(tmp_path, "1.csv", rows(0, 4))
    src = source(tmp_path)
    assert xs(list(src.batches(10))) == [0.0, 1.0, 2.0, 3.0]
    assert list(src.batches(10)) == []
    drop(tmp_path, "2.csv", rows(4, 3))
    later = list(src.batches(2))
    assert [(b.start, b.end) for b in later] == [(0, 2), (2, 3)]  # offsets from 0 per poll
    assert xs(later) == [4.0, 5.0, 6.0]
    assert list(source(tmp_path).batches(2)) == []


def test_csv_parquet_and_gzip_files_are_read_alike(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 3))
    drop(tmp_path, "b.parquet", rows(3, 3))
    path = tmp_path / "c.csv.gz"
    rows(6, 2).to_csv(path, index=False, compression="gzip")
    os.utime(path, (_CLOCK[0] + 5, _CLOCK[0] + 5))
    pending = source(tmp_path, patterns=("*.csv", "*.parquet", "*.csv.gz")).pending()
    assert [f.name for f in pending.files] == ["a.csv", "b.parquet", "c.csv.gz"]
    assert [f.first_row for f in pending.files] == [0, 3, 6]
    expected = rows(0, 8)
    pd.testing.assert_frame_equal(pending.frame, expected, check_dtype=False)


def test_files_still_being_written_are_left_for_later(tmp_path: Path) -> None:
    for name in (".hidden.csv", "~lock.csv", "x.csv.tmp", "x.csv.part", "y.parquet.partial"):
        drop(tmp_path, name, rows(100, 2))
    (tmp_path / "empty.csv").touch()  # created, nothing written yet
    os.utime(tmp_path / "empty.csv", (1, 1))
    (tmp_path / "sub.csv").mkdir()  # a folder whose name matches: not a file
    young = tmp_path / "young.csv"
    rows(0, 2).to_csv(young, index=False)  # mtime now: may still be growing
    src = source(tmp_path, min_age_seconds=60, patterns=("*",), format="csv")
    assert src.pending().files == ()
    assert list(src.batches(5)) == []
    os.utime(young, (time.time() - 120,) * 2)  # nobody wrote to it for two minutes
    assert xs(list(src.batches(5))) == [0.0, 1.0]
    names = [r["name"] for r in src.records]
    assert names == ["young.csv"]


def test_a_file_changing_while_read_is_left_for_the_next_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = drop(tmp_path, "a.csv", rows(0, 3))
    real = Path.read_bytes

    def read_then_append(self: Path) -> bytes:
        data = real(self)
        with open(self, "a") as fh:
            fh.write("9,k0,1\n")
        return data

    monkeypatch.setattr(Path, "read_bytes", read_then_append)
    assert source(tmp_path).pending().files == ()
    monkeypatch.undo()
    os.utime(path, (1, 1))
    assert len(source(tmp_path).pending()) == 4


def test_a_redropped_file_with_new_content_is_read_again_same_content_is_not(
    tmp_path: Path,
) -> None:
    drop(tmp_path, "daily.csv", rows(0, 3))
    assert len(list(source(tmp_path).batches(10))) == 1
    drop(tmp_path, "daily.csv", rows(3, 2))  # same name, new content: new data
    drop(tmp_path, "copy.csv", rows(3, 2))  # the same new content again: read once
    got = list(source(tmp_path).batches(10))
    assert xs(got) == [3.0, 4.0]
    path = drop(tmp_path, "daily.csv", rows(3, 2))  # re-written identically (new mtime)
    assert source(tmp_path).pending().files[0].status == "duplicate"
    assert list(source(tmp_path).batches(10)) == []
    statuses = [(r["name"], r["status"]) for r in source(tmp_path).records]
    assert statuses == [
        ("daily.csv", "processed"),
        ("daily.csv", "processed"),
        ("copy.csv", "duplicate"),
        ("daily.csv", "duplicate"),
    ]
    assert path.exists()  # the source never moves or deletes the user's files


# ------------------------------------------------------------------------------------------
# Commit: after handover, or by the caller
# ------------------------------------------------------------------------------------------


def test_a_crash_between_read_and_commit_leaves_the_files_pending(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 3))
    drop(tmp_path, "b.csv", rows(3, 3))
    read = source(tmp_path).pending()  # ... and the run dies before commit
    assert [f.name for f in read.files] == ["a.csv", "b.csv"]
    assert not (tmp_path / LEDGER_NAME).exists()
    again = source(tmp_path)
    pending = again.pending()
    assert len(pending) == 6
    again.commit(pending.files)  # the run succeeded
    again.commit(pending.files)  # committing twice records once
    assert len(source(tmp_path).records) == 2
    assert source(tmp_path).pending().files == ()


def test_batches_commit_a_file_only_after_its_rows_were_handed_over(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 3))
    drop(tmp_path, "b.csv", rows(3, 3))
    stream = source(tmp_path).batches(3)
    assert xs([next(stream)]) == [0.0, 1.0, 2.0]
    assert source(tmp_path).records == []  # a's rows are out, but not yet handled
    assert xs([next(stream)]) == [3.0, 4.0, 5.0]  # asking for more: a was handled
    assert [r["name"] for r in source(tmp_path).records] == ["a.csv"]
    stream.close()  # the consumer stops: b stays pending (at least once)
    assert [f.name for f in source(tmp_path).pending().files] == ["b.csv"]


def test_manual_commit_collects_the_delivered_files(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 2))
    src = source(tmp_path, commit="manual")
    assert len(list(src.batches(4))) == 1
    assert [f.name for f in src.delivered] == ["a.csv"] and src.records == []
    assert len(source(tmp_path).pending()) == 2
    src.commit()
    assert src.delivered == [] and [r["name"] for r in src.records] == ["a.csv"]
    assert source(tmp_path).pending().files == ()


def test_the_ledger_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drop(tmp_path, "a.csv", rows(0, 2))
    list(source(tmp_path).batches(5))
    before = (tmp_path / LEDGER_NAME).read_bytes()
    drop(tmp_path, "b.csv", rows(2, 2))

    def crash(src: str, dst: str) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(sources.os, "replace", crash)
    src = source(tmp_path)
    with pytest.raises(OSError, match="power cut"):
        src.commit(src.pending().files)
    monkeypatch.undo()
    assert (tmp_path / LEDGER_NAME).read_bytes() == before  # the old ledger, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [LEDGER_NAME, "a.csv", "b.csv"]
    assert [f.name for f in source(tmp_path).pending().files] == ["b.csv"]


def test_mark_processed_skips_history(tmp_path: Path) -> None:
    drop(tmp_path, "old1.csv", rows(0, 2))
    drop(tmp_path, "old2.csv", rows(2, 2))
    src = source(tmp_path)
    assert [f.name for f in src.mark_processed(["old1.csv"])] == ["old1.csv"]
    with pytest.raises(SourceError, match=r"\['old1.csv'\] are not pending files"):
        src.mark_processed(["old1.csv"])
    src.mark_processed()
    drop(tmp_path, "new.csv", rows(4, 2))
    assert xs(list(source(tmp_path).batches(5))) == [4.0, 5.0]


def test_the_ledger_can_live_in_a_state_folder(tmp_path: Path) -> None:
    folder, state = tmp_path / "drop", tmp_path / "state" / "ledgers"
    folder.mkdir()
    drop(folder, "a.csv", rows(0, 2))
    ledger = state / "folder.json"
    assert len(list(source(folder, ledger=ledger).batches(5))) == 1
    assert ledger.exists() and not (folder / LEDGER_NAME).exists()
    assert list(source(folder, ledger=ledger).batches(5)) == []
    assert len(list(source(folder).batches(5))) == 1  # another ledger: read again


def test_an_unreadable_ledger_says_how_to_recover(tmp_path: Path) -> None:
    (tmp_path / LEDGER_NAME).write_text("{not json")
    with pytest.raises(SourceError, match=r"Cannot read the drop-folder ledger .*delete it"):
        source(tmp_path)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_paths_outside_the_folder_are_rejected(tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    outside = drop(tmp_path, "secret.csv", rows(0, 2))
    (folder / "link.csv").symlink_to(outside)
    with pytest.raises(SourceError, match=r"link.csv is a link to .*secret.csv, outside the drop"):
        source(folder).pending()
    drop(folder, "real.csv", rows(5, 2))
    (folder / "inner.csv").symlink_to(folder / "real.csv")  # a link inside: same content
    skipping = source(folder, on_bad_file="skip")
    pending = skipping.pending()
    # the link shares real.csv's mtime and sorts first by name: one is read, one is a duplicate
    assert [(f.name, f.status) for f in pending.files] == [
        ("inner.csv", "processed"),
        ("real.csv", "duplicate"),
    ]
    assert len(pending) == 2
    with pytest.raises(SourceError, match=r"'../secret.csv' is not a plain file name"):
        skipping.mark_processed(["../secret.csv"])
    forged = DroppedFile(name="../secret.csv", size=1, mtime_ns=1, sha256="0" * 64, rows=1)
    with pytest.raises(SourceError, match="not a plain file name"):
        skipping.commit([forged])
    with pytest.raises(pydantic.ValidationError, match=r"patterns \['../\*.csv'\]"):
        DropFolderSourceConfig(path=folder, target="y", patterns=("../*.csv",))


def test_a_file_with_other_columns_is_an_error_naming_file_and_columns(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 2))
    list(source(tmp_path).batches(5))
    drop(tmp_path, "b.csv", rows(2, 2)[["y", "c", "x"]])  # another order: fine
    wide = rows(4, 2).assign(z=1.0).drop(columns="c")
    drop(tmp_path, "c.csv", wide)
    with pytest.raises(
        SourceError,
        match=r"c.csv has other columns .*missing \['c'\], "
        r"unexpected \['z'\] \(expected \['x', 'c', 'y'\]\)",
    ):
        source(tmp_path).pending()
    # skip: rejected with the reason, recorded, not retried; the rest goes on
    src = source(tmp_path, on_bad_file="skip")
    assert xs(list(src.batches(5))) == [2.0, 3.0]
    assert list(src.pending().frame.columns) == ["x", "c", "y"]
    rejected = [r for r in src.records if r["status"] == "rejected"]
    assert [r["name"] for r in rejected] == ["c.csv"] and "unexpected ['z']" in rejected[0][
        "reason"
    ]
    assert source(tmp_path, on_bad_file="skip").pending().files == ()


def test_unreadable_file_and_missing_target_name_the_file(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 2).drop(columns="y"))
    with pytest.raises(SourceError, match=r"target column 'y' is not in .*a.csv"):
        source(tmp_path).pending()
    (tmp_path / "a.csv").unlink()
    bad = tmp_path / "b.parquet"
    bad.write_bytes(b"PAR1 not really")
    os.utime(bad, (1, 1))
    with pytest.raises(SourceError, match=r"Cannot read .*b.parquet as PARQUET.*on_bad_file"):
        source(tmp_path).pending()


def test_timestamps_are_parsed_and_ordered_within_each_file(tmp_path: Path) -> None:
    frame = rows(0, 3).assign(ts=["2024-01-03", "2024-01-01", "2024-01-02"])
    drop(tmp_path, "a.csv", frame)
    got = list(source(tmp_path, timestamp="ts").batches(5))
    assert xs(got) == [1.0, 2.0, 0.0]
    assert got[0].timestamps is not None
    assert str(got[0].timestamps.iloc[0]) == "2024-01-01 00:00:00"
    drop(tmp_path, "b.csv", frame.assign(x=9.0))  # other content than the processed a.csv
    with pytest.raises(SourceError, match=r"'ts' of .*b.csv is not in order: row 1"):
        source(tmp_path, timestamp="ts", on_unordered="error").pending()


def test_the_task_is_detected_once_and_remembered(tmp_path: Path) -> None:
    src = source(tmp_path)
    with pytest.raises(
        SourceError, match="Cannot detect the task.*Set DropFolderSourceConfig.task"
    ):
        _ = src.task
    drop(tmp_path, "a.csv", pd.DataFrame({"x": range(30), "y": np.linspace(0, 1, 30)}))
    assert src.task == "regression"
    list(src.batches(50))
    drop(tmp_path, "b.csv", pd.DataFrame({"x": range(2), "y": [0.0, 1.0]}))
    assert source(tmp_path).task == "regression"  # from the ledger, not from b.csv
    assert source(tmp_path, task="classification").task == "classification"


# ------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patterns": ()}, "patterns is empty"),
        ({"patterns": ("a/*.csv",)}, "not plain file-name globs"),
        ({"timestamp": "y"}, "timestamp and target are both 'y'"),
        ({"min_age_seconds": -1}, "min_age_seconds\n.*greater than or equal to 0"),
        ({"commit": "later"}, "commit\n.*'auto' or 'manual'"),
        ({"on_bad_file": "ignore"}, "on_bad_file\n.*'error' or 'skip'"),
        ({"pattern": "*.csv"}, "pattern\n.*Extra inputs are not permitted"),
        ({"target": ""}, "target\n.*at least 1 character"),
    ],
)
def test_bad_config_names_the_key_and_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        DropFolderSourceConfig(**{"path": "drop", "target": "y", **kwargs})


def test_config_defaults_round_trip_and_missing_folder(tmp_path: Path) -> None:
    cfg = DropFolderSourceConfig(path=tmp_path, target="y", patterns="*.parquet")
    assert cfg.patterns == ("*.parquet",) and cfg.ledger_path == tmp_path / LEDGER_NAME
    assert DropFolderSourceConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.target = "z"  # type: ignore[misc]
    with pytest.raises(SourceError, match=r"drop folder .*nope does not exist.*Create it"):
        DropFolderSource(DropFolderSourceConfig(path=tmp_path / "nope", target="y"))
    drop(tmp_path, "f.csv", rows(0, 1))
    with pytest.raises(SourceError, match="is not a folder"):
        DropFolderSource(DropFolderSourceConfig(path=tmp_path / "f.csv", target="y"))


def test_make_source_and_the_source_union_build_a_folder(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 2))
    src = make_source(
        {"kind": "folder", "path": str(tmp_path), "target": "y", "min_age_seconds": 0}
    )
    assert isinstance(src, DropFolderSource) and len(src.pending()) == 2
    assert isinstance(make_source(src.config), DropFolderSource)

    union: pydantic.TypeAdapter = pydantic.TypeAdapter(SourceConfig)
    assert isinstance(
        union.validate_python({"path": str(tmp_path), "target": "y"}), DropFolderSourceConfig
    )  # an existing folder
    assert isinstance(
        union.validate_python({"path": "later/", "target": "y"}), DropFolderSourceConfig
    )  # a folder-to-be
    assert isinstance(
        union.validate_python({"path": "x", "target": "y", "ledger": "l.json"}),
        DropFolderSourceConfig,
    )  # a key only folders have
    assert isinstance(
        union.validate_python({"path": str(tmp_path / "a.csv"), "target": "y"}), FileSourceConfig
    )
    cfg = union.validate_python({"kind": "folder", "path": "d", "target": "y"})
    assert union.validate_json(union.dump_json(cfg)) == cfg


def test_history_reads_back_the_newest_processed_rows_in_order(tmp_path: Path) -> None:
    drop(tmp_path, "a.csv", rows(0, 5))
    drop(tmp_path, "b.parquet", rows(5, 5))
    src = source(tmp_path)
    assert src.history(10).empty  # nothing processed yet
    src.commit(src.pending().files)
    drop(tmp_path, "c.csv", rows(10, 5))  # dropped, not processed: not history
    again = source(tmp_path)  # a restart reads the ledger
    assert again.history(7)["x"].tolist() == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert again.history(100)["x"].tolist() == [float(v) for v in range(10)]
    # a processed file whose content changed since is left out, with a warning
    (tmp_path / "a.csv").write_text("x,c,y\n99,k0,1\n")
    assert again.history(100)["x"].tolist() == [float(v) for v in range(5, 10)]
    with pytest.raises(SourceError, match="positive row count"):
        again.history(0)
