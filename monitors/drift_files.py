"""Data drift between two files (CSV or Parquet), one column at a time in bounded memory.

:func:`check_files` gives the same verdicts as profiling the whole reference and comparing the
whole window in memory (:func:`monitors.drift_engine.compare`), without ever holding either
file as a table::

    compare(ReferenceProfile.fit(pd.read_parquet(reference)), pd.read_parquet(current), ...)

Memory
------
**Parquet** (``.parquet``, ``.pq``) is read with pyarrow one column at a time, in batches of
``chunk_rows`` rows. A numerical column fills one preallocated float64 array (8 bytes per row,
its row count known from the file's metadata) with its finite values, which is then sorted in
place; a categorical column only ever holds its category counts. A numerical column in flight
therefore holds 8 bytes per row of the reference and of the window, and its stat test adds
temporaries of a few times that (the Wasserstein and K-S merges); a categorical one, its
categories. Add pyarrow's buffer for one row group of the column being read. At most
``n_jobs`` columns are in flight at once. (Two 4M-row x 7-column files, 200 MB each: peak RSS
about 370 MiB with ``n_jobs=1``, against 1.7 GiB reading both with pandas.)

**CSV** (``.csv``) has no column index: each column is parsed by pandas in its own pass over
the file (``read_csv(usecols=[name])``), so that its dtype is exactly the one ``pd.read_csv``
of the whole file would infer. A column in flight costs one pandas Series (numbers: 8 bytes a
row; strings: a Python object per row, much more), and the run costs one parse of the file per
column. For large files, convert them to Parquet once.

Column kinds follow :meth:`ReferenceProfile.fit`: inferred from the reference's dtypes (for
Parquet, from the Arrow schema as pandas would convert it: numbers except bool are numerical;
bool, string and dictionary/category columns categorical), overridable by explicit lists.

>>> import shutil, tempfile, numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> folder = Path(tempfile.mkdtemp())
>>> pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(list("ab"), 5000)}).to_parquet(
...     folder / "ref.parquet")
>>> pd.DataFrame({"x": rng.normal(1, 1, 2000), "c": rng.choice(list("ab"), 2000)}).to_parquet(
...     folder / "cur.parquet")
>>> report = check_files(folder / "ref.parquet", folder / "cur.parquet", chunk_rows=1000)
>>> [(c.name, c.method, c.drifted) for c in report.columns], report.dataset_drift
([('x', 'wasserstein', True), ('c', 'jensenshannon', False)], True)
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from monitors.drift_engine import (
    CORRECTIONS,
    METHOD_KINDS,
    ColumnDrift,
    ColumnProfile,
    Correction,
    Kind,
    check_column,
    correct,
    infer_kinds,
    kind_of,
    prepared_window,
)
from monitors.errors import DriftCheckError
from monitors.sources import csv_header, csv_layout_problem, not_utf8_hint

FileFormat = Literal["csv", "parquet"]
#: File suffixes :func:`check_files` reads (case-insensitive).
SUFFIXES: dict[str, FileFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


# ------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class FileDriftReport:
    """The drift verdicts of one file against a reference file.

    ``columns`` lists one :class:`~monitors.drift_engine.ColumnDrift` per compared column, in
    the order of :meth:`ReferenceProfile.fit` (numerical columns first). The dataset drifts when
    the share of drifted columns is at least ``drift_share`` (Evidently's
    ``DriftedColumnsCount`` test in ``DataDriftPreset``).
    """

    reference: str
    current: str
    columns: list[ColumnDrift]
    n_reference: int
    n_current: int
    method: str | None
    threshold: float | None
    correction: Correction
    drift_share: float
    elapsed_s: float

    @property
    def n_drifted(self) -> int:
        return sum(c.drifted for c in self.columns)

    @property
    def share_drifted(self) -> float:
        return self.n_drifted / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.share_drifted >= self.drift_share

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: a score that is not a number (NaN) becomes ``None``."""
        columns = []
        for c in self.columns:
            entry = c.to_dict()
            entry["score"] = c.score if math.isfinite(c.score) else None
            columns.append(entry)
        return {
            "columns": columns, "share_drifted": self.share_drifted,
            "n_drifted": self.n_drifted, "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference, "n_current": self.n_current,
            "elapsed_s": self.elapsed_s, "reference": self.reference, "current": self.current,
            "method": self.method, "threshold": self.threshold, "correction": self.correction,
            "drift_share": self.drift_share,
        }

    def table(self) -> str:
        """A plain-text table of the columns and a summary line."""
        header = ("column", "method", "score", "threshold", "drifted")
        rows = [(c.name, c.method, f"{c.score:.6g}", f"{c.threshold:.6g}",
                 "DRIFT" if c.drifted else "-") for c in self.columns]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                 for r in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = "yes" if self.dataset_drift else "no"
        lines.append(
            f"\n{self.n_drifted} of {len(self.columns)} columns drifted "
            f"({self.share_drifted:.0%}); dataset drift: {verdict} (it drifts at a share >= "
            f"{self.drift_share:g}). "
            f"Reference {self.n_reference} rows, current {self.n_current} rows; "
            f"{self.elapsed_s:.2f} s."
        )
        return "\n".join(lines)


# ------------------------------------------------------------------------------ readers
def _file_format(path: Path, role: str) -> FileFormat:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise DriftCheckError(
            f"The {role} file {str(path)!r} has the suffix {path.suffix!r}, which the drift check "
            f"cannot read; use one of {sorted(SUFFIXES)} (convert other formats to Parquet)."
        )
    if path.is_dir():
        raise DriftCheckError(
            f"The {role} path {str(path)!r} is a folder; pass a single {fmt} file."
        )
    if not path.is_file():
        raise DriftCheckError(
            f"The {role} file {str(path)!r} does not exist (resolved to {path.resolve()}); check "
            "the path."
        )
    return fmt


class _ParquetColumns:
    """A Parquet file read one column at a time; kinds and dtypes come from its schema."""

    def __init__(self, path: Path, role: str) -> None:
        self.path, self.role = path, role
        pf = self._open()
        try:
            self.n_rows = int(pf.metadata.num_rows)
            schema = pf.schema_arrow
            # The dtypes pandas would give, without reading any data (pandas metadata included).
            self.dtypes: dict[str, Any] = dict(schema.empty_table().to_pandas().dtypes.items())
            self.arrow_types = {f.name: f.type for f in schema}
        except Exception as exc:
            raise self._unreadable(exc) from exc
        finally:
            pf.close()
        if self.n_rows == 0:
            raise DriftCheckError(
                f"The {role} file {str(path)!r} has no rows; the drift check needs data on both "
                "sides."
            )

    @property
    def columns(self) -> list[str]:
        return list(self.dtypes)

    def _open(self) -> Any:
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(self.path)
        except Exception as exc:
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException, column: str | None = None) -> DriftCheckError:
        what = f"column {column!r} of " if column else ""
        return DriftCheckError(
            f"Could not read {what}the {self.role} Parquet file {str(self.path)!r}: "
            f"{type(exc).__name__}: {exc}. The file may be truncated or corrupt; write it again."
        )

    def _batches(self, name: str, chunk_rows: int) -> Iterator[Any]:
        pf = self._open()
        try:
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=[name]):
                yield batch.column(0)
        except DriftCheckError:
            raise
        except Exception as exc:
            raise self._unreadable(exc, name) from exc
        finally:
            pf.close()
            import pyarrow as pa

            # hand the column's decoded batches back to the OS: the pool would otherwise keep
            # them cached while the next column is read (about +100 MB at 10M rows)
            pa.default_memory_pool().release_unused()

    def numeric(self, name: str, chunk_rows: int) -> tuple[np.ndarray, bool]:
        """Finite values sorted (float64), and whether the column is integers without nulls."""
        _require_numeric(name, self.dtypes[name], self.role)
        import pyarrow as pa

        is_int = pa.types.is_integer(self.arrow_types[name])
        out = np.empty(self.n_rows, dtype=np.float64)
        pos = nulls = 0
        for arr in self._batches(name, chunk_rows):
            nulls += arr.null_count
            vals = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
            if not (is_int and arr.null_count == 0):
                vals = vals[np.isfinite(vals)]
            if pos + len(vals) > len(out):
                raise self._unreadable(ValueError("more rows than the metadata says"), name)
            out[pos:pos + len(vals)] = vals
            pos += len(vals)
        values = out[:pos]
        values.sort()
        return values, is_int and nulls == 0

    def counts(self, name: str, chunk_rows: int) -> dict[Any, int]:
        """Category -> count, missing (and non-finite) values left out, in order of first
        appearance; a dictionary column keeps its unused categories at zero, as pandas does."""
        import pyarrow as pa
        import pyarrow.compute as pc

        counts: dict[Any, int] = {}
        for arr in self._batches(name, chunk_rows):
            if pa.types.is_dictionary(arr.type):
                codes = pc.drop_null(arr.indices).to_numpy(zero_copy_only=False)
                per_key = np.bincount(codes, minlength=len(arr.dictionary)).tolist()
                keys = arr.dictionary.to_pylist()
            else:
                if pa.types.is_floating(arr.type):
                    arr = arr.filter(pc.is_finite(arr))
                vc = pc.value_counts(pc.drop_null(arr))
                keys, per_key = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
            for key, n in zip(keys, per_key, strict=True):
                counts[key] = counts.get(key, 0) + n
        return counts


class _CsvColumns:
    """A CSV file read one column at a time with pandas (one pass over the file per column)."""

    def __init__(self, path: Path, role: str) -> None:
        self.path, self.role = path, role
        try:
            head = pd.read_csv(path, nrows=1)
            problem = csv_layout_problem(head, csv_header(path))
        except pd.errors.EmptyDataError as exc:
            raise DriftCheckError(
                f"The {role} file {str(path)!r} is empty (no header, no rows)."
            ) from exc
        except Exception as exc:
            raise self._unreadable(exc) from exc
        if problem is not None:
            raise DriftCheckError(f"Could not read the {role} CSV file {str(path)!r}: {problem}.")
        if len(head) == 0:
            raise DriftCheckError(
                f"The {role} file {str(path)!r} has a header but no rows; the drift check needs "
                "data on both sides."
            )
        self.columns: list[str] = [str(c) for c in head.columns]
        self.n_rows = 0  # known once a column was read

    def _unreadable(self, exc: BaseException, column: str | None = None) -> DriftCheckError:
        what = f"column {column!r} of " if column else ""
        return DriftCheckError(
            f"Could not read {what}the {self.role} CSV file {str(self.path)!r}: "
            f"{type(exc).__name__}: {exc}.{not_utf8_hint(exc)}"
        )

    def series(self, name: str) -> pd.Series:
        try:
            column = pd.read_csv(self.path, usecols=[name])[name]
        except Exception as exc:
            raise self._unreadable(exc, name) from exc
        self.n_rows = len(column)
        return column


_Reader = _ParquetColumns | _CsvColumns


def _open(path: Path | str, role: str) -> _Reader:
    p = Path(path)
    return _ParquetColumns(p, role) if _file_format(p, role) == "parquet" else _CsvColumns(p, role)


def _require_numeric(name: str, dtype: Any, role: str) -> None:
    if ptypes.is_bool_dtype(dtype) or not ptypes.is_numeric_dtype(dtype):
        raise DriftCheckError(
            f"Column {name!r} is numerical in the reference but holds {dtype} values in the "
            f"{role} file; fix its type upstream or declare it categorical."
        )


# -------------------------------------------------------------------------- per column
def _kind(name: str, inferred: Kind | None, numerical: Sequence[str] | None,
          categorical: Sequence[str] | None) -> Kind | None:
    """The kind :func:`~monitors.drift_engine.infer_kinds` gives ``name``; ``None``: skip it."""
    if numerical is not None and name in numerical:
        return "num"
    if categorical is not None and name in categorical:
        return "cat"
    if inferred == "num" and numerical is None:
        return "num"
    if inferred == "cat" and categorical is None:
        return "cat"
    return None


def _profile(ref: _Reader, name: str, kind: Kind | None, numerical: Sequence[str] | None,
             categorical: Sequence[str] | None, chunk_rows: int) -> ColumnProfile | None:
    """The reference column's profile (``kind`` ``None``: infer it from a CSV column's dtype)."""
    if isinstance(ref, _CsvColumns):
        series = ref.series(name)
        kind = _kind(name, kind_of(series), numerical, categorical)
        return None if kind is None else ColumnProfile.fit(name, series, kind)
    if kind == "num":
        values, integer = ref.numeric(name, chunk_rows)
        profile = ColumnProfile(name, "num", values=values, integer=integer)
    else:
        counts = ref.counts(name, chunk_rows)
        profile = ColumnProfile(name, "cat", categories=list(counts),
                                counts=np.fromiter(counts.values(), dtype=np.int64,
                                                   count=len(counts)))
    if profile.n == 0:
        raise DriftCheckError(
            f"Column {name!r} holds no finite, non-missing value in the reference; the drift "
            "check cannot compare it. Fix or drop the column."
        )
    return profile


def _check(ref: _Reader, cur: _Reader, name: str, kind: Kind | None,
           numerical: Sequence[str] | None, categorical: Sequence[str] | None,
           method: str | None, threshold: float | None,
           chunk_rows: int) -> tuple[ColumnDrift, Kind] | None:
    """One column: profile the reference, read the window, test; both freed on return."""
    profile = _profile(ref, name, kind, numerical, categorical, chunk_rows)
    if profile is None:
        return None
    _method_fits(method, name, profile.kind)
    window: Any
    if isinstance(cur, _CsvColumns):
        window = cur.series(name)
    elif profile.kind == "num":
        values, integer = cur.numeric(name, chunk_rows)
        window = prepared_window(profile, values=values, integer=integer)
    else:
        window = prepared_window(profile, counts=cur.counts(name, chunk_rows))
    return check_column(profile, window, method=method, threshold=threshold), profile.kind


def _method_fits(method: str | None, name: str, kind: Kind) -> None:
    if method is not None and kind not in METHOD_KINDS[method]:
        fits = sorted(m for m, kinds in METHOD_KINDS.items() if kind in kinds)
        label = "numerical" if kind == "num" else "categorical"
        raise DriftCheckError(
            f"Method {method!r} does not apply to {label} column {name!r}; use one of {fits}, "
            "or no method for Evidently's default per column."
        )


# --------------------------------------------------------------------------- the check
def _validate(method: str | None, threshold: float | None, correction: str, drift_share: float,
              chunk_rows: int, n_jobs: int | None) -> None:
    if method is not None and method not in METHOD_KINDS:
        raise DriftCheckError(
            f"Unknown drift method {method!r}; use one of {sorted(METHOD_KINDS)}, or none for "
            "Evidently's default per column."
        )
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise DriftCheckError(
            f"'threshold' must be a positive number (a p-value or a distance); got {threshold!r}."
        )
    if correction not in CORRECTIONS:
        raise DriftCheckError(
            f"'correction' must be one of {list(CORRECTIONS)}; got {correction!r}."
        )
    if not (0 < drift_share <= 1):
        raise DriftCheckError(
            f"'drift_share' must be in (0, 1] (the share of drifted columns that makes the "
            f"dataset drift); got {drift_share!r}."
        )
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DriftCheckError(f"'chunk_rows' must be a positive int; got {chunk_rows!r}.")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int)
                               or n_jobs < 1):
        raise DriftCheckError(f"'n_jobs' must be a positive int or None; got {n_jobs!r}.")


def _candidates(ref: _Reader, columns: Sequence[str] | None,
                numerical: Sequence[str] | None,
                categorical: Sequence[str] | None) -> tuple[list[tuple[str, Kind | None]], list[str]]:
    """The reference columns to compare with their kind (``None``: decided on reading, CSV),
    and the order of the columns considered (the reference's, or that of ``columns``)."""
    if isinstance(columns, str):
        raise DriftCheckError(
            f"'columns' must be a list of column names. Got the string {columns!r}; wrap it in a "
            "list."
        )
    available = ref.columns
    if columns is not None:
        missing = [c for c in columns if c not in available]
        if missing:
            raise DriftCheckError(
                f"'columns' names column(s) {missing} that are not in the reference file "
                f"{str(ref.path)!r}; available columns: {available}."
            )
        available = list(dict.fromkeys(columns))
    if isinstance(ref, _ParquetColumns):
        frame = pd.DataFrame({c: pd.Series(dtype=ref.dtypes[c]) for c in available})
        num, cat = infer_kinds(frame, numerical, categorical)
        typed: list[tuple[str, Kind | None]] = [(c, "num") for c in num]
        return typed + [(c, "cat") for c in cat], available
    # CSV: dtypes are known only once a column is read. Check the lists now (on a frame of
    # untyped columns, so nothing is inferred numerical) and decide each kind on reading.
    infer_kinds(pd.DataFrame({c: pd.Series(dtype=object) for c in available}),
                numerical, categorical)
    listed = [*(numerical or []), *(categorical or [])]
    if numerical is not None and categorical is not None:
        return [(c, None) for c in listed], available
    return [(c, None) for c in dict.fromkeys([*listed, *available])], available


def _ordered(results: Iterable[tuple[ColumnDrift, Kind] | None],
             numerical: Sequence[str] | None, categorical: Sequence[str] | None,
             file_order: Sequence[str]) -> list[ColumnDrift]:
    """Results in profile order: listed numerical columns, then inferred numerical ones in file
    order, then the same for categorical ones (as :func:`infer_kinds` orders them)."""
    done = {r.name: (r, kind) for r, kind in (x for x in results if x is not None)}
    out: list[ColumnDrift] = []
    for kind, listed in (("num", numerical), ("cat", categorical)):
        names = dict.fromkeys([*(listed or []), *file_order])
        out.extend(done[c][0] for c in names if c in done and done[c][1] == kind)
    return out


def check_files(reference: Path | str, current: Path | str, *, method: str | None = None,
                threshold: float | None = None, correction: Correction = "none",
                drift_share: float = 0.5, columns: Sequence[str] | None = None,
                numerical_columns: Sequence[str] | None = None,
                categorical_columns: Sequence[str] | None = None,
                chunk_rows: int = 1_000_000, n_jobs: int | None = None) -> FileDriftReport:
    """Compare a current file with a reference file, column by column (see the module docstring
    for what is held in memory).

    Parameters
    ----------
    reference, current
        CSV (``.csv``) or Parquet (``.parquet``, ``.pq``) files; they need not be the same
        format.
    method
        An Evidently stat-test name for every column (``"wasserstein"``, ``"psi"``, ``"ks"``...),
        or ``None`` for Evidently's default per column.
    threshold
        The drift threshold, or ``None`` for the method's default.
    correction
        ``"none"``, ``"bonferroni"`` or ``"bh"`` for the p-value columns
        (:func:`~monitors.drift_engine.correct`).
    drift_share
        The dataset drifts when at least this share of the columns drift.
    columns
        Compare only these reference columns (default: all of them).
    numerical_columns, categorical_columns
        Kinds as in :meth:`~monitors.drift_engine.ReferenceProfile.fit`: a list left ``None`` is
        inferred from the reference's dtypes.
    chunk_rows
        Rows per Parquet batch (CSV columns are parsed whole).
    n_jobs
        Columns compared at once in threads (default: the CPU count); each holds its
        reference and window column.

    Raises
    ------
    DriftCheckError
        A file is missing, empty, unreadable or of an unsupported format, a column is missing
        from the current file, or a parameter is invalid; the message says which.
    """
    t0 = time.perf_counter()
    _validate(method, threshold, correction, drift_share, chunk_rows, n_jobs)
    ref, cur = _open(reference, "reference"), _open(current, "current")
    tasks, order = _candidates(ref, columns, numerical_columns, categorical_columns)
    if not tasks:
        raise DriftCheckError("No column to compare: 'columns' and the kind lists leave none.")
    missing = [name for name, _ in tasks if name not in cur.columns]
    if missing:
        raise DriftCheckError(
            f"The current file {str(cur.path)!r} lacks the column(s) {missing} of the reference; "
            f"its columns: {cur.columns}. Compare files with the same columns, or pass 'columns'."
        )
    for name, kind in tasks:  # Parquet kinds are known now: fail before reading anything
        if kind is not None:
            _method_fits(method, name, kind)

    def run(task: tuple[str, Kind | None]) -> tuple[ColumnDrift, Kind] | None:
        return _check(ref, cur, task[0], task[1], numerical_columns, categorical_columns,
                      method, threshold, chunk_rows)

    workers = min(len(tasks), n_jobs or os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, tasks))
    else:
        results = [run(t) for t in tasks]
    compared = _ordered(results, numerical_columns, categorical_columns, order)
    if not compared:
        raise DriftCheckError(
            f"The reference file {str(ref.path)!r} has no column of the kinds asked for; pass "
            "numerical_columns/categorical_columns."
        )
    return FileDriftReport(
        reference=str(reference), current=str(current), columns=correct(compared, correction),
        n_reference=ref.n_rows, n_current=cur.n_rows, method=method, threshold=threshold,
        correction=correction, drift_share=float(drift_share),
        elapsed_s=time.perf_counter() - t0,
    )
