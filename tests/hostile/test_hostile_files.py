"""Hostile files (issue 7, item 4): what :class:`FileSource` and :class:`DropFolderSource`
make of empty, header-only, truncated, non-UTF-8, ragged, duplicated and out-of-order files.

Each bad file gets a :class:`~monitors.errors.SourceError` that names the file and the fix,
or, in a drop folder with ``on_bad_file="skip"``, a ``rejected`` record in the ledger (with
the reason) -- and the next good file is still read with every one of its rows.

Decisions these tests pin down:

* **Duplicated rows are data.** Identical rows, within a file or across files, are all kept
  and counted: a stream may repeat an event and no source can tell a repeat from a resend.
  Only a whole file dropped twice (same content) is recorded as ``duplicate`` and read once.
* **Short CSV rows** (fewer fields than the header) are read by pandas as missing values;
  validation then sets them aside, counted as ``missing:<col>`` / ``missing_target``. Rows
  with *more* fields than the header are refused (pandas would otherwise take the extra
  leading fields of the first row as an index and shift every column).
* **A 0-byte file in a drop folder** is taken as one being created: it is left pending, not
  recorded, and read once it has content (see ``test_files_still_being_written_are_left_for_
  later`` in ``tests/monitors/test_drop_folder.py``). A header-only file is a file with no
  rows: processed, with ``rows == 0``. A single ``FileSource`` file that is empty or has only
  a header is an error (covered in ``tests/monitors/test_sources.py``).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitors.errors import SourceError
from monitors.sources import (
    DropFolderSource,
    DropFolderSourceConfig,
    FileSource,
    FileSourceConfig,
)
from monitors.stream import Batch
from monitors.validation import BatchValidator, Schema

pytestmark = pytest.mark.filterwarnings("ignore:Could not infer format:UserWarning")

FILES = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])


def rows(start: int, n: int) -> pd.DataFrame:
    """``n`` rows whose x counts from ``start``: where each row ends up is visible."""
    x = np.arange(start, start + n)
    return pd.DataFrame({"x": x.astype(float), "c": [f"k{v % 3}" for v in x], "y": x % 2})


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


class Folder:
    """A drop folder whose files arrive one second apart, well in the past."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = 1_700_000_000

    def drop(self, name: str, data: bytes) -> Path:
        path = self.path / name
        path.write_bytes(data)
        self.clock += 1
        os.utime(path, (self.clock, self.clock))
        return path

    def source(self, **kw: Any) -> DropFolderSource:
        kw.setdefault("min_age_seconds", 0)
        return DropFolderSource(DropFolderSourceConfig(path=self.path, target="y", **kw))


@contextmanager
def folder() -> Iterator[Folder]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Folder(Path(tmp))


def file_source(path: Path, **kw: Any) -> FileSource:
    return FileSource(FileSourceConfig(path=path, target="y", **kw))


def replay(src: Any, batch_size: int = 7) -> pd.DataFrame:
    """Every row a source yields, features and target, checking the offsets on the way."""
    batches = list(src.batches(batch_size))
    if not batches:
        return pd.DataFrame()
    assert [b.start for b in batches] == list(range(0, batches[-1].end, batch_size))
    whole = Batch.concat(batches)
    return whole.features.assign(y=whole.target)


# ------------------------------------------------------------------------------------------
# Truncated Parquet
# ------------------------------------------------------------------------------------------

_PARQUET = parquet_bytes(rows(0, 50))


@FILES
@given(cut=st.integers(0, len(_PARQUET) - 1))
def test_a_truncated_parquet_file_is_refused_naming_it(cut: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cut.parquet"
        path.write_bytes(_PARQUET[:cut])
        expected = r"is empty \(0 bytes\)" if cut == 0 else "Cannot read .* as PARQUET.*valid PARQUET"
        with pytest.raises(SourceError, match=expected) as info:
            replay(file_source(path))
        assert str(path) in str(info.value)


@FILES
@given(cut=st.integers(1, len(_PARQUET) - 1), batch_size=st.integers(1, 40))
def test_a_truncated_parquet_drop_is_rejected_and_the_next_file_read_whole(
    cut: int, batch_size: int
) -> None:
    with folder() as f:
        f.drop("a.parquet", _PARQUET[:cut])
        f.drop("b.csv", csv_bytes(rows(100, 9)))
        with pytest.raises(SourceError, match=r"a.parquet as PARQUET.*on_bad_file='skip'"):
            f.source().pending()
        src = f.source(on_bad_file="skip")
        got = replay(src, batch_size)
        assert got["x"].tolist() == list(map(float, range(100, 109)))
        assert [(r["name"], r["status"], r["rows"]) for r in src.records] == [
            ("a.parquet", "rejected", 0),
            ("b.csv", "processed", 9),
        ]
        assert "a.parquet as PARQUET" in src.records[0]["reason"]
        assert f.source(on_bad_file="skip").pending().files == ()  # not retried


# ------------------------------------------------------------------------------------------
# Text that is not UTF-8
# ------------------------------------------------------------------------------------------

_LATIN1 = {
    "in the header": "x,caf\xe9,y\n1,2,0\n".encode("latin-1"),
    "in the first row": "x,c,y\n1,caf\xe9,0\n".encode("latin-1"),
    # far past the first buffer pandas decodes: found while the chunks are read
    "far down the file": (csv_bytes(rows(0, 60_000)).decode() + "1,caf\xe9,0\n").encode(
        "latin-1"
    ),
}


@pytest.mark.parametrize("where", sorted(_LATIN1))
def test_a_latin1_csv_names_the_file_and_how_to_convert_it(tmp_path: Path, where: str) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(_LATIN1[where])
    with pytest.raises(SourceError, match=r"latin.csv.*UnicodeDecodeError.*not UTF-8.*iconv"):
        replay(file_source(path, chunk_rows=5000), 5000)
    f = Folder(tmp_path)
    f.drop("z.csv", csv_bytes(rows(0, 3)))
    with pytest.raises(SourceError, match=r"latin.csv as CSV.*on_bad_file='skip'.*iconv"):
        f.source().pending()
    src = f.source(on_bad_file="skip")
    assert replay(src)["x"].tolist() == [0.0, 1.0, 2.0]
    assert {r["name"]: r["status"] for r in src.records} == {"latin.csv": "rejected",
                                                             "z.csv": "processed"}


_CSVISH = st.text(alphabet=list('01x,y.\n\r"- e\t'), max_size=80).map(str.encode)


@FILES
@given(tail=_CSVISH | st.binary(max_size=80), chunk_rows=st.integers(100, 1000))
def test_garbage_after_a_header_gives_an_error_or_every_row(tail: bytes, chunk_rows: int) -> None:
    """Random bytes after a good header: a SourceError naming the file, or exactly the rows
    pandas reads from the whole file -- never another exception, never a lost row.

    (One chunk: at chunk boundaries pandas lets too-long rows through, see
    :func:`test_pandas_lets_a_too_long_row_through_at_a_chunk_boundary`.)"""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junk.csv"
        path.write_bytes(b"x,y\n" + tail)
        try:
            expected: int | None = len(pd.read_csv(path))
        except Exception:
            expected = None
        try:
            got = replay(file_source(path, chunk_rows=chunk_rows), 3)
        except SourceError as exc:
            assert str(path) in str(exc)
            return
        assert expected is not None and len(got) == expected


@FILES
@given(tail=_CSVISH | st.binary(max_size=80))
def test_garbage_drops_are_rejected_or_read_whole_and_the_next_file_is_read(tail: bytes) -> None:
    with folder() as f:
        f.drop("a.csv", b"x,c,y\n" + tail)
        f.drop("b.csv", csv_bytes(rows(100, 4)))
        src = f.source(on_bad_file="skip")
        pending = src.pending()
        status = {r.name: r.status for r in pending.files}
        assert status["b.csv"] == "processed"
        x = pending.frame["x"].tolist()
        assert x[-4:] == [100.0, 101.0, 102.0, 103.0]  # the good file, whole, last
        if status["a.csv"] == "rejected":
            assert len(x) == 4
        else:
            assert len(x) == 4 + len(pd.read_csv(io.BytesIO(b"x,c,y\n" + tail)))


# ------------------------------------------------------------------------------------------
# Ragged rows and bad headers
# ------------------------------------------------------------------------------------------

_RAGGED = {
    # every row ends in a delimiter: pandas would make x the index and shift the columns
    "trailing delimiters": (b"x,c,y\n1,a,0,\n2,b,1,\n", "more fields than the 3 names"),
    "a long first row": (b"x,c,y\n1,a,0,9\n2,b,1\n", "more fields than the 3 names"),
    "a long later row": (b"x,c,y\n1,a,0\n2,b,1,9\n", r"Expected 3 fields in line 3, saw 4"),
    "a repeated header name": (b"x,x,y\n1,2,0\n", r"names the column\(s\) \['x'\] more than"),
}


@pytest.mark.parametrize("case", sorted(_RAGGED))
def test_rows_longer_than_the_header_are_refused(tmp_path: Path, case: str) -> None:
    data, message = _RAGGED[case]
    path = tmp_path / "ragged.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError, match=message) as info:
        replay(file_source(path))
    assert str(path) in str(info.value)
    f = Folder(tmp_path)
    f.drop("next.csv", csv_bytes(rows(0, 5)))
    with pytest.raises(SourceError, match=message):
        f.source().pending()
    src = f.source(on_bad_file="skip")
    assert replay(src)["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [r["status"] for r in src.records if r["name"] == "ragged.csv"] == ["rejected"]


@pytest.mark.parametrize("data", [b"x,c,y\n1,a\r\r 0\n", b"x,c,y\n1,a,0\n\r\r\t\n2,b,1\n"])
def test_stray_carriage_returns_are_refused_not_read_as_thousands_of_rows(
    tmp_path: Path, data: bytes
) -> None:
    """pandas 2.x reads these few bytes as 10,000 (chunked) or 262,145 rows of NaN
    (pandas GH#51141)."""
    path = tmp_path / "cr.csv"
    path.write_bytes(data)
    with pytest.raises(SourceError, match=r"cr.csv.*two carriage returns followed by .* at "
                                          r"byte \d+.*GH#51141.*dos2unix"):
        replay(file_source(path))
    f = Folder(tmp_path)
    f.drop("ok.csv", csv_bytes(rows(0, 2)))
    src = f.source(on_bad_file="skip")
    assert replay(src)["x"].tolist() == [0.0, 1.0]
    assert [r["status"] for r in src.records if r["name"] == "cr.csv"] == ["rejected"]
    # Windows line ends are fine, even doubled ones
    for ends in (b"\r\n", b"\r\r\n", b"\r"):
        path.write_bytes(ends.join([b"x,c,y", b"1,a,0", b" 2,b,1", b""]))
        assert replay(file_source(path))["x"].tolist() == [1, 2]


@pytest.mark.xfail(strict=True, reason="pandas GH#11569 (fixed upstream by PR #66944): with "
                   "chunksize, a too-long row that starts a chunk is cut to the header's width "
                   "instead of raising. FileSource reads CSVs in chunks, so such a row (only "
                   "at a chunk boundary) is kept with its extra fields dropped.")
def test_pandas_lets_a_too_long_row_through_at_a_chunk_boundary(tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_bytes(b"x,c,y\n1,a,0\n2,b,1,9\n3,c,0\n")
    with pytest.raises(SourceError, match="fields"):
        replay(file_source(path, chunk_rows=1))


def test_short_rows_become_missing_values_that_validation_counts(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_bytes(b"x,c,y\n1,a,0\n2,b\n3\n4,c,1\n")
    got = replay(file_source(path))
    assert len(got) == 4  # no row is lost ...
    schema = Schema.infer(rows(0, 30).drop(columns="y"))
    whole = Batch.concat(list(file_source(path).batches(10)))
    result = BatchValidator(schema).validate(whole)
    # ... and the short ones are set aside, counted
    assert (result.n_clean, result.n_quarantined) == (2, 2)
    assert dict(result.reasons) == {"missing:c": 1, "missing_target": 2}
    assert result.quarantined["row"].tolist() == [1, 2]


# ------------------------------------------------------------------------------------------
# Timestamps
# ------------------------------------------------------------------------------------------


@FILES
@given(
    times=st.lists(st.integers(0, 6), min_size=1, max_size=30),  # small range: many ties
    as_text=st.booleans(), chunk_rows=st.integers(1, 8), batch_size=st.integers(1, 8),
)
def test_timestamps_out_of_order_are_replayed_in_stable_time_order(
    times: list[int], as_text: bool, chunk_rows: int, batch_size: int
) -> None:
    stamps: list[Any] = (
        [f"2024-01-01T00:00:{t:02d}" for t in times] if as_text else list(times)
    )
    frame = pd.DataFrame({"ts": stamps, "x": range(len(times)), "y": [i % 2 for i in times]})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        frame.to_csv(path, index=False)
        src = file_source(path, timestamp="ts", chunk_rows=chunk_rows)
        batches = list(src.batches(batch_size))
        whole = Batch.concat(batches)
        order = np.argsort(np.asarray(times), kind="stable")
        assert whole.features["x"].tolist() == order.tolist()  # every row once, ties in order
        assert whole.timestamps is not None and whole.timestamps.is_monotonic_increasing
        assert list(whole.features.columns) == ["x"]

        strict = file_source(path, timestamp="ts", on_unordered="error", chunk_rows=chunk_rows)
        back = [i for i in range(1, len(times)) if times[i] < times[i - 1]]
        if not back:
            assert len(Batch.concat(list(strict.batches(batch_size)))) == len(times)
        else:
            with pytest.raises(SourceError, match=rf"not in order: row {back[0]} .*"
                                                  rf"{len(back)} row\(s\) go back"):
                next(strict.batches(batch_size))


@FILES
@given(n=st.integers(1, 30), data=st.data(), chunk_rows=st.integers(1, 8))
def test_an_unparseable_timestamp_names_its_row(n: int, data: st.DataObject,
                                                chunk_rows: int) -> None:
    bad_row = data.draw(st.integers(0, n - 1))
    bad = data.draw(st.sampled_from(["not a date", "2024-13-45", "yesterday", "12:00 ish"]))
    stamps = [f"2024-01-{1 + i % 28:02d}" for i in range(n)]
    stamps[bad_row] = bad
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.csv"
        pd.DataFrame({"ts": stamps, "x": range(n), "y": 0}).to_csv(path, index=False)
        with pytest.raises(SourceError, match=rf"not a date/time in row {bad_row}: {bad!r}"):
            list(file_source(path, timestamp="ts", chunk_rows=chunk_rows).batches(4))


def test_times_with_and_without_a_time_zone_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "tz.csv"
    path.write_text("ts,x,y\n2024-01-01T01:00+01:00,0,0\n2024-01-01T00:30,1,1\n")
    with pytest.raises(
        SourceError,
        match=r"tz.csv mixes times with a time zone \(row 0: '2024-01-01T01:00\+01:00'\) and "
        r"times without one \(row 1: '2024-01-01T00:30'\).*UTC offset",
    ):
        next(file_source(path, timestamp="ts").batches(5))
    f = Folder(tmp_path)
    f.drop("ok.csv", b"ts,x,y\n2024-01-02,5,0\n2024-01-01,6,1\n")
    src = f.source(timestamp="ts", on_bad_file="skip", patterns=("ok.csv", "tz.csv"))
    assert replay(src)["x"].tolist() == [6, 5]
    assert [r["status"] for r in src.records if r["name"] == "tz.csv"] == ["rejected"]


def test_times_with_different_offsets_are_ordered_as_instants_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "dst.csv"
    # 01:30+02:00 is 23:30 UTC the day before: the earliest instant, though last in the file
    path.write_text("ts,x,y\n2024-03-31T01:00+01:00,0,0\n2024-03-31T03:30+02:00,1,1\n"
                    "2024-03-31T01:30+02:00,2,0\n")
    whole = Batch.concat(list(file_source(path, timestamp="ts").batches(2)))
    assert whole.features["x"].tolist() == [2, 0, 1]
    assert whole.timestamps is not None and str(whole.timestamps.dt.tz) == "UTC"
    assert whole.timestamps.dt.strftime("%d %H:%M").tolist() == ["30 23:30", "31 00:00",
                                                                 "31 01:30"]


# ------------------------------------------------------------------------------------------
# Duplicated rows, header-only and empty files
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_duplicated_rows_are_kept_and_counted(tmp_path: Path, suffix: str) -> None:
    frame = pd.concat([rows(0, 3), rows(0, 3), rows(1, 1)], ignore_index=True)
    write = csv_bytes if suffix == "csv" else parquet_bytes
    path = tmp_path / f"dups.{suffix}"
    path.write_bytes(write(frame))
    assert replay(file_source(path))["x"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 1.0]
    f = Folder(tmp_path / "drop")
    f.path.mkdir()
    f.drop(f"a.{suffix}", write(frame))
    f.drop(f"b.{suffix}", write(rows(0, 2)))  # other file, same rows as a's first two
    src = f.source()
    assert len(replay(src)) == 7 + 2
    assert [(r["name"], r["rows"]) for r in src.records] == [(f"a.{suffix}", 7),
                                                             (f"b.{suffix}", 2)]


def test_header_only_and_empty_drops_hold_no_rows_and_lose_none(tmp_path: Path) -> None:
    f = Folder(tmp_path)
    f.drop("a.csv", b"x,c,y\n")
    f.drop("b.csv", b"")
    f.drop("c.csv", csv_bytes(rows(0, 3)))
    src = f.source()
    assert replay(src)["x"].tolist() == [0.0, 1.0, 2.0]
    assert [(r["name"], r["status"], r["rows"]) for r in src.records] == [
        ("a.csv", "processed", 0),
        ("c.csv", "processed", 3),
    ]
    (tmp_path / "b.csv").write_bytes(csv_bytes(rows(3, 2)))  # the empty file got its content
    os.utime(tmp_path / "b.csv", (f.clock + 1,) * 2)
    assert replay(f.source())["x"].tolist() == [3.0, 4.0]


# ------------------------------------------------------------------------------------------
# A drop folder fed good and bad files: every good row arrives, every bad file is recorded
# ------------------------------------------------------------------------------------------


def _bad_kinds() -> dict[str, tuple[str, bytes]]:
    """Bad files by kind: (suffix, content); the good files have columns x, c, y."""
    good = rows(900, 4)
    return {
        "truncated parquet": ("parquet", parquet_bytes(good)[:-20]),
        "not parquet": ("parquet", b"PAR1 but not really"),
        "latin-1": ("csv", "x,c,y\n1,caf\xe9,0\n".encode("latin-1")),
        "other columns": ("csv", csv_bytes(good.assign(z=1.0))),
        "no target": ("csv", csv_bytes(good.drop(columns="y"))),
        "trailing delimiters": ("csv", b"x,c,y\n1,a,0,\n"),
        "repeated header name": ("csv", b"x,c,c,y\n1,a,b,0\n"),
        "long later row": ("csv", b"x,c,y\n1,a,0\n2,b,1,3\n"),
        "unclosed quote": ("csv", b'x,c,y\n1,"a,0\n'),
    }


_FILE_KINDS = st.sampled_from(["good csv", "good parquet", "header only", "empty",
                               *sorted(_bad_kinds())])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kinds=st.lists(_FILE_KINDS, max_size=8), sizes=st.lists(st.integers(1, 6), min_size=9,
                                                                max_size=9),
       batch_size=st.integers(1, 10))
def test_every_good_row_arrives_and_every_bad_file_is_recorded(
    kinds: list[str], sizes: list[int], batch_size: int
) -> None:
    bad = _bad_kinds()
    with folder() as f:
        expected: list[float] = []
        records: list[tuple[str, str, int]] = []
        headers: set[str] = set()
        start = 0
        for i, kind in enumerate(["good csv", *kinds]):  # the first file fixes the columns
            name = f"f{i}"
            if kind.startswith("good"):
                suffix = kind.split()[1]
                frame = rows(start, sizes[i])
                f.drop(f"{name}.{suffix}", (csv_bytes if suffix == "csv" else parquet_bytes)(frame))
                expected += frame["x"].tolist()
                records.append((f"{name}.{suffix}", "processed", len(frame)))
                start += len(frame)
            elif kind == "header only":  # the same content again is a duplicate
                f.drop(f"{name}.csv", b"x,c,y\n")
                status = "duplicate" if any(r[0] in headers for r in records) else "processed"
                headers.add(f"{name}.csv")
                records.append((f"{name}.csv", status, 0))
            elif kind == "empty":
                f.drop(f"{name}.csv", b"")  # being created: pending, not recorded
            else:
                suffix, data = bad[kind]
                f.drop(f"{name}.{suffix}", data)
                records.append((f"{name}.{suffix}", "rejected", 0))
        src = f.source(on_bad_file="skip")
        got = replay(src, batch_size)
        assert (got["x"].tolist() if len(got) else []) == expected
        assert [(r["name"], r["status"], r["rows"]) for r in src.records] == records
        assert all(r.get("reason") for r in src.records if r["status"] == "rejected")
        assert list(f.source(on_bad_file="skip").batches(batch_size)) == []  # read once

        # with on_bad_file="error" the first bad file stops the read, named
        first_bad = next((r[0] for r in records if r[1] == "rejected"), None)
        (f.path / ".driftloop-processed.json").unlink()
        if first_bad is None:
            assert len(f.source().pending()) == len(expected)
        else:
            with pytest.raises(SourceError, match=first_bad.replace(".", r"\.")):
                f.source().pending()
