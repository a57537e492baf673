"""driftloop's data-drift numerics: Evidently's stat tests on a reference profile fitted once.

Evidently's ``DataDriftPreset`` recomputes every column's test three times per report, sorts
the reference again on every run and renders histograms nobody asked for; on 1M x 20 numeric
rows it takes minutes. This module computes the same statistics, with the same default choice
of test per column and the same thresholds, from a :class:`ReferenceProfile` that is fitted
once per reference:

- numerical columns keep their finite values **sorted** (and their standard deviation, as
  Evidently's normalisation uses it), so a window costs one sort of its own values and a
  merge;
- categorical columns keep their category counts.

Evidently's default per column (``method=None``), from its stat-test registry:

=====================  ================================  ==============================
reference rows         numerical                         categorical
=====================  ================================  ==============================
<= 1000                K-S (> 5 values), chi-square      chi-square (> 2 values), Z
                       (3-5 values), Z (<= 2 values)
> 1000                 Wasserstein, normed (> 5 values)  Jensen-Shannon
                       Jensen-Shannon (<= 5 values)
=====================  ================================  ==============================

"Values" counts the distinct values of reference and window together; "rows" the reference's
non-missing rows. Missing and infinite values are dropped first, as Evidently does.

Implemented here: ``wasserstein``, ``jensenshannon``, ``ks``, ``chisquare``, ``z``, ``psi``,
``hellinger`` and ``anderson``. Any other Evidently method name (``kl_div``, ``mannw``...) is
delegated to Evidently's own implementation on the same cleaned data, so every method gives
Evidently's verdict. For p-value methods a column drifts when the p-value is below the
threshold (at or below for K-S, as in Evidently); for distances when the score is at or above
it. Scores agree with Evidently's to within :data:`SCORE_RTOL` (relative; the order of
floating-point sums over categories can differ), and verdicts are identical except for a score
that lies within that tolerance of its threshold.

Optionally a correction for testing many columns at once (:func:`correct`) applies
Bonferroni's or Benjamini-Hochberg's rule to the p-value columns.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(list("abc"), 5000)})
>>> cur = pd.DataFrame({"x": rng.normal(0.5, 1, 2000), "c": rng.choice(list("abc"), 2000)})
>>> profile = ReferenceProfile.fit(ref)
>>> [(d.name, d.method, round(d.score, 3), d.drifted) for d in compare(profile, cur)]
[('x', 'wasserstein', 0.548, True), ('c', 'jensenshannon', 0.007, False)]
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from monitors.errors import DriftCheckError

Kind = Literal["num", "cat"]
Correction = Literal["none", "bonferroni", "bh"]
CORRECTIONS: tuple[str, ...] = get_args(Correction)

#: Relative tolerance of scores against Evidently's (sums over categories may run in another
#: order; everything else is computed the same way).
SCORE_RTOL = 1e-9

#: Methods whose score is a p-value (the column drifts when it is small).
P_VALUE_METHODS: frozenset[str] = frozenset(
    {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "es", "fisher_exact", "g_test",
     "mannw", "t_test"}
)
#: Methods computed by this module; the others are delegated to Evidently.
NATIVE_METHODS: frozenset[str] = frozenset(
    {"wasserstein", "jensenshannon", "ks", "chisquare", "z", "psi", "hellinger", "anderson"}
)
#: Default thresholds (Evidently's).
DEFAULT_THRESHOLDS: dict[str, float] = {
    "wasserstein": 0.1, "jensenshannon": 0.1, "psi": 0.1, "hellinger": 0.1, "kl_div": 0.1,
    "anderson": 0.1, "ks": 0.05, "chisquare": 0.05, "z": 0.05,
}
#: Which column kinds each method accepts (from Evidently's stat-test registry).
METHOD_KINDS: dict[str, frozenset[str]] = {
    **{m: frozenset({"num"}) for m in ("wasserstein", "ks", "anderson", "cramer_von_mises",
                                       "ed", "es", "mannw", "empirical_mmd", "t_test")},
    **{m: frozenset({"cat"}) for m in ("chisquare", "z", "fisher_exact", "g_test", "TVD")},
    **{m: frozenset({"num", "cat"}) for m in ("jensenshannon", "psi", "hellinger", "kl_div")},
}

#: Above this many current values in a frame, columns are computed in parallel threads.
PARALLEL_MIN_VALUES = 200_000
_BLOCK = 1 << 20  # values per block where a statistic is summed in blocks
_KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp switches from exact to asymptotic above this


@dataclass(frozen=True)
class ColumnDrift:
    """The drift verdict for one column in one window.

    ``method`` is Evidently's stat-test name (``"wasserstein"``, ``"psi"``...) and ``threshold``
    the one applied (after a multiple-testing correction, if any); for p-value methods
    (:data:`P_VALUE_METHODS`) the column drifts when ``score`` is below the threshold, for
    distances when it is at or above it.
    """

    name: str
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "method": self.method, "score": self.score,
                "threshold": self.threshold, "drifted": self.drifted}


# ----------------------------------------------------------------------------- cleaning
def _clean_numeric(values: Any, name: str) -> tuple[np.ndarray, bool]:
    """Finite values of a numerical column as a sorted float64 array, and whether they are ints."""
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if ptypes.is_bool_dtype(series) or not ptypes.is_numeric_dtype(series):
        raise DriftCheckError(
            f"Column {name!r} is numerical in the reference but holds {series.dtype} values; "
            "fix its type upstream or declare it categorical."
        )
    # A nullable integer column (Int64...) stays integer once its missing values are dropped,
    # as in Evidently (numpy's Sturges bins are then at least 1 wide); only numpy int columns
    # cannot hold NaN, so no missing-value condition here.
    integer = ptypes.is_integer_dtype(series)
    arr = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(arr)
    if not finite.all():
        arr = arr[finite]
    return np.sort(arr), integer  # a sorted copy: the caller's frame is never touched


def _clean_categorical(values: Any) -> pd.Series:
    series = values if isinstance(values, pd.Series) else pd.Series(values)
    if ptypes.is_float_dtype(series):
        series = series.replace([-np.inf, np.inf], np.nan)
    return series.dropna()


def _category_counts(series: pd.Series) -> pd.Series:
    """Counts of the values present, in order of first appearance (as ``series.unique()``).

    ``value_counts(sort=False)`` gives that order, except for a pandas ``category`` column: it
    lists the categories in their declared order, unused ones with a zero count. Evidently
    iterates ``set(unique())``, whose order (hence the order of its floating-point sums) depends
    on the order of insertion, and counts only the values present.

    An object column can also hold float infinities, which Evidently drops as missing in every
    column; they are dropped here from the counts (a look at the distinct values, not a pass
    over the data).
    """
    vc = series.value_counts(sort=False)
    if isinstance(series.dtype, pd.CategoricalDtype):
        vc = vc.loc[list(series.unique())]
    elif ptypes.is_object_dtype(series):
        infinite = [k for k in vc.index if isinstance(k, float) and math.isinf(k)]
        if infinite:
            vc = vc.drop(infinite)
    return vc


def _std(values: np.ndarray) -> float:
    """Standard deviation (ddof 0) as Evidently takes it (``np.std`` of a pandas Series).

    Long columns are summed in blocks (two passes, the same formula) so that no temporary of
    the column's size is made; the result differs from pandas' by rounding only.
    """
    n = len(values)
    if n <= 4 * _BLOCK:
        return float(pd.Series(values).std(ddof=0))
    mean = sum(float(values[i:i + _BLOCK].sum()) for i in range(0, n, _BLOCK)) / n
    ss = 0.0
    for i in range(0, n, _BLOCK):
        dev = values[i:i + _BLOCK] - mean
        ss += float(np.dot(dev, dev))
    return math.sqrt(ss / n)


def _distinct_upto(sorted_values: np.ndarray, limit: int) -> int:
    """Distinct values of a sorted array, counted no further than ``limit`` (``limit`` binary
    searches, no pass over the array)."""
    i, count, n = 0, 0, len(sorted_values)
    while i < n and count < limit:
        count += 1
        i = int(np.searchsorted(sorted_values, sorted_values[i], side="right"))
    return count


def _sorted_unique(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values and their counts of an already sorted array (``np.unique`` without the sort)."""
    if len(sorted_values) == 0:
        return sorted_values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(starts, len(sorted_values)))
    return sorted_values[starts], counts


# ------------------------------------------------------------------------------ profile
class ColumnProfile:
    """What the tests need to know about one reference column.

    Numerical: the finite values sorted (``values``), whether they were integers, and the
    standard deviation (``std``, ddof 0, as Evidently normalises the Wasserstein distance).
    Categorical: the categories (``categories``) and their counts (``counts``).
    """

    def __init__(self, name: str, kind: Kind, *, values: np.ndarray | None = None,
                 integer: bool = False, std: float | None = None,
                 categories: Sequence[Any] | None = None,
                 counts: np.ndarray | None = None) -> None:
        self.name = name
        self.kind: Kind = kind
        if kind == "num":
            assert values is not None
            self.values = values
            self.integer = integer
            self.std = _std(values) if std is None else float(std)
            self.n = len(values)
        else:
            assert categories is not None and counts is not None
            counts = np.asarray(counts, dtype=np.int64)
            # Unused categories of a pandas ``category`` column come with a zero count; Evidently
            # counts only the values present (``nunique``, ``unique``), so drop them here.
            self.categories = [c for c, k in zip(categories, counts.tolist(), strict=True) if k]
            self.counts = counts[counts != 0]
            self.n = int(self.counts.sum())

    @classmethod
    def fit(cls, name: str, values: Any, kind: Kind) -> ColumnProfile:
        if kind == "num":
            arr, integer = _clean_numeric(values, name)
            prof = cls(name, "num", values=arr, integer=integer)
        else:
            vc = _category_counts(_clean_categorical(values))
            prof = cls(name, "cat", categories=list(vc.index), counts=vc.to_numpy())
        if prof.n == 0:
            raise DriftCheckError(
                f"Column {name!r} holds no finite, non-missing value in the reference; the drift "
                "check cannot compare it. Fix or drop the column."
            )
        return prof

    @cached_property
    def uniques(self) -> tuple[np.ndarray, np.ndarray]:
        """Numerical: the distinct values and their counts."""
        return _sorted_unique(self.values)

    @cached_property
    def count_map(self) -> dict[Any, int]:
        """Categorical: category -> count."""
        return dict(zip(self.categories, self.counts.tolist(), strict=True))

    def series(self) -> pd.Series:
        """The reference column rebuilt as a Series (for methods delegated to Evidently)."""
        if self.kind == "num":
            return pd.Series(self.values.astype(np.int64) if self.integer else self.values)
        return pd.Series(np.repeat(np.array(self.categories, dtype=object), self.counts))

    def __repr__(self) -> str:
        return f"ColumnProfile({self.name!r}, {self.kind!r}, n={self.n})"


class ReferenceProfile:
    """The reference, reduced to what the drift tests need; fitted once, reused every window.

    Build it with :meth:`fit`; :meth:`save` and :meth:`load` store it as a zip of NumPy arrays
    and JSON (no pickle), so it can travel with the model version it belongs to.

    Attributes
    ----------
    columns : dict of str to ColumnProfile
        One profile per feature, numerical columns first, then categorical ones.
    n_rows : int
        Rows of the reference.
    """

    FORMAT = "driftloop.reference-profile/1"

    def __init__(self, columns: Mapping[str, ColumnProfile], n_rows: int) -> None:
        self.columns = dict(columns)
        self.n_rows = int(n_rows)

    @property
    def numerical_columns(self) -> tuple[str, ...]:
        return tuple(n for n, c in self.columns.items() if c.kind == "num")

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        return tuple(n for n, c in self.columns.items() if c.kind == "cat")

    @classmethod
    def fit(cls, reference: pd.DataFrame, *, numerical_columns: Iterable[str] | None = None,
            categorical_columns: Iterable[str] | None = None) -> ReferenceProfile:
        """Profile ``reference``. Column lists left ``None`` are inferred from the dtypes of the
        other columns: numbers (not bool) are numerical; bool, category, object and string
        columns are categorical."""
        if not isinstance(reference, pd.DataFrame):
            raise DriftCheckError(
                f"ReferenceProfile.fit needs a pandas DataFrame; got {type(reference).__name__}."
            )
        num, cat = infer_kinds(reference, numerical_columns, categorical_columns)
        columns = {n: ColumnProfile.fit(n, reference[n], "num") for n in num}
        columns.update({n: ColumnProfile.fit(n, reference[n], "cat") for n in cat})
        return cls(columns, len(reference))

    # -------------------------------------------------------------- storage
    def save(self, path: Path | str) -> Path:
        """Write the profile to ``path`` (a zip of ``.npy`` arrays and a JSON manifest)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, Any] = {"format": self.FORMAT, "n_rows": self.n_rows, "columns": []}
        tmp = out.with_name(out.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for i, col in enumerate(self.columns.values()):
                entry: dict[str, Any] = {"name": col.name, "kind": col.kind, "array": f"{i}.npy"}
                buf = io.BytesIO()
                if col.kind == "num":
                    np.save(buf, col.values, allow_pickle=False)
                    entry.update(integer=col.integer, std=col.std)
                else:
                    np.save(buf, col.counts, allow_pickle=False)
                    entry["categories"] = [_json_scalar(v, col.name) for v in col.categories]
                zf.writestr(entry["array"], buf.getvalue())
                manifest["columns"].append(entry)
            zf.writestr("manifest.json", json.dumps(manifest))
        os.replace(tmp, out)
        return out

    @classmethod
    def load(cls, path: Path | str) -> ReferenceProfile:
        """Read a profile written by :meth:`save`."""
        src = Path(path)
        try:
            with zipfile.ZipFile(src) as zf:
                manifest = json.loads(zf.read("manifest.json"))
                if manifest.get("format") != cls.FORMAT:
                    raise DriftCheckError(
                        f"{src} is not a driftloop reference profile (format "
                        f"{manifest.get('format')!r}, expected {cls.FORMAT!r})."
                    )
                columns: dict[str, ColumnProfile] = {}
                for e in manifest["columns"]:
                    arr = np.load(io.BytesIO(zf.read(e["array"])), allow_pickle=False)
                    if e["kind"] == "num":
                        columns[e["name"]] = ColumnProfile(e["name"], "num", values=arr,
                                                           integer=e["integer"], std=e["std"])
                    else:
                        columns[e["name"]] = ColumnProfile(e["name"], "cat", counts=arr,
                                                           categories=e["categories"])
        except DriftCheckError:
            raise
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise DriftCheckError(
                f"Could not read the reference profile {src}: {type(exc).__name__}: {exc}. "
                "Fit it again with ReferenceProfile.fit and save it."
            ) from exc
        return cls(columns, manifest["n_rows"])

    def __repr__(self) -> str:
        return (f"ReferenceProfile(n_rows={self.n_rows}, numerical={list(self.numerical_columns)}, "
                f"categorical={list(self.categorical_columns)})")


def _json_scalar(value: Any, column: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise DriftCheckError(
        f"Categorical column {column!r} holds a {type(value).__name__} category ({value!r}); a "
        "saved profile keeps only str, int, float and bool categories. Convert the column first."
    )


def kind_of(series: pd.Series) -> Kind | None:
    """``"num"`` for numbers, ``"cat"`` for bool, category, object and string; else ``None``."""
    if ptypes.is_bool_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype):
        return "cat"
    if ptypes.is_numeric_dtype(series) and not ptypes.is_complex_dtype(series):
        return "num"
    if ptypes.is_object_dtype(series) or ptypes.is_string_dtype(series):
        return "cat"
    return None


def infer_kinds(frame: pd.DataFrame, numerical: Iterable[str] | None,
                categorical: Iterable[str] | None) -> tuple[list[str], list[str]]:
    """Resolve the numerical and categorical feature lists of ``frame`` (see
    :meth:`ReferenceProfile.fit`)."""
    for key, given in (("numerical_columns", numerical), ("categorical_columns", categorical)):
        if given is None:
            continue
        if isinstance(given, str):
            raise DriftCheckError(
                f"'{key}' must be a list of column names. Got the string {given!r}; wrap it in a list."
            )
        missing = [c for c in given if c not in frame.columns]
        if missing:
            raise DriftCheckError(
                f"'{key}' names column(s) {missing} that are not in the reference; available "
                f"columns: {list(frame.columns)}."
            )
    num = list(numerical) if numerical is not None else []
    cat = list(categorical) if categorical is not None else []
    both = sorted(set(num) & set(cat))
    if both:
        raise DriftCheckError(f"Column(s) {both} are listed as both numerical and categorical; list each once.")
    if numerical is None or categorical is None:
        taken = set(num) | set(cat)
        unsupported = []
        for name in frame.columns:
            if name in taken:
                continue
            kind = kind_of(frame[name])
            if kind == "num" and numerical is None:
                num.append(name)
            elif kind == "cat" and categorical is None:
                cat.append(name)
            elif kind is None:
                unsupported.append(f"{name} ({frame[name].dtype})")
        if unsupported:
            raise DriftCheckError(
                f"Cannot infer the drift kind of column(s) {unsupported}; pass "
                "numerical_columns/categorical_columns, or drop them."
            )
    if not num and not cat:
        raise DriftCheckError(
            "The data-drift check has no features to compare: the reference has no numerical or "
            f"categorical columns (columns: {list(frame.columns)})."
        )
    return num, cat


# ------------------------------------------------------------------------ the window side
class _Current:
    """A window's column, cleaned once and shared by the tests."""

    def __init__(self, profile: ColumnProfile, values: Any) -> None:
        self.profile = profile
        if profile.kind == "num":
            self.values, self.integer = _clean_numeric(values, profile.name)
            self.n = len(self.values)
        else:
            vc = _category_counts(_clean_categorical(values))
            self.count_map: dict[Any, int] = {  # without unused categories (see ColumnProfile)
                k: v for k, v in zip(vc.index, vc.to_numpy().tolist(), strict=True) if v}
            self.n = int(sum(self.count_map.values()))
        self._require_values()

    @classmethod
    def from_clean(cls, profile: ColumnProfile, *, values: np.ndarray | None = None,
                   integer: bool = False, counts: Mapping[Any, int] | None = None) -> _Current:
        """A window column that is already clean, taken as it is (see :func:`prepared_window`)."""
        self = cls.__new__(cls)
        self.profile = profile
        if profile.kind == "num":
            if values is None:
                raise DriftCheckError(
                    f"prepared_window needs 'values' (sorted finite float64) for numerical column "
                    f"{profile.name!r}; got None."
                )
            self.values, self.integer, self.n = values, bool(integer), len(values)
        else:
            if counts is None:
                raise DriftCheckError(
                    f"prepared_window needs 'counts' (category -> count) for categorical column "
                    f"{profile.name!r}; got None."
                )
            self.count_map = {k: v for k, v in counts.items() if v}  # zero counts: unused
            self.n = int(sum(self.count_map.values()))
        self._require_values()
        return self

    def _require_values(self) -> None:
        if self.n == 0:
            raise DriftCheckError(
                f"Column {self.profile.name!r} holds no finite, non-missing value in the window; "
                "the drift check cannot compare it. Fix or quarantine these rows upstream."
            )

    def category_series(self) -> pd.Series:
        """Categorical: the window's values rebuilt from the counts (for delegated methods)."""
        return pd.Series(np.repeat(np.array(list(self.count_map), dtype=object),
                                   np.fromiter(self.count_map.values(), dtype=np.int64)))

    @cached_property
    def uniques(self) -> tuple[np.ndarray, np.ndarray]:
        return _sorted_unique(self.values)

    def keyed_counts(self) -> tuple[list[Any], np.ndarray, np.ndarray]:
        """The union of distinct values and the reference's and window's count of each."""
        p = self.profile
        if p.kind == "num":
            ru, rc = p.uniques
            cu, cc = self.uniques
            keys = np.union1d(ru, cu)
            ref = np.zeros(len(keys), dtype=np.int64)
            cur = np.zeros(len(keys), dtype=np.int64)
            ref[np.searchsorted(keys, ru)] = rc
            cur[np.searchsorted(keys, cu)] = cc
            return keys.tolist(), ref, cur
        rmap, cmap = p.count_map, self.count_map
        keys_list = list(dict.fromkeys([*rmap, *cmap]))
        return (keys_list, np.array([rmap.get(k, 0) for k in keys_list], dtype=np.int64),
                np.array([cmap.get(k, 0) for k in keys_list], dtype=np.int64))

    def n_values(self) -> int:
        """Distinct values in reference and window together (Evidently's ``nunique``)."""
        p = self.profile
        if p.kind == "num":
            # only "more than 5" matters: count no further than 6 (no pass over long columns)
            if _distinct_upto(p.values, 6) > 5 or _distinct_upto(self.values, 6) > 5:
                return 6
            return len(np.union1d(p.uniques[0], self.uniques[0]))
        return len(set(p.count_map) | set(self.count_map))


def prepared_window(profile: ColumnProfile, *, values: np.ndarray | None = None,
                    integer: bool = False, counts: Mapping[Any, int] | None = None) -> _Current:
    """A window column that is already clean, for :func:`check_column` (no copy, no cleaning).

    For callers that build the window column themselves without holding it as a Series, such as
    :mod:`monitors.drift_files`, which reads a file one column at a time. Numerical: ``values``
    must be the window's finite values as a **sorted** float64 array, and ``integer`` whether
    the column was an integer column without missing values. Categorical: ``counts`` maps each
    category to its count (missing values left out; order of first appearance, as
    ``value_counts(sort=False)`` gives them; zero counts, which ``value_counts`` gives the
    unused categories of a pandas ``category`` column, are ignored). Nothing is checked beyond that the column is not empty: values that are not
    sorted or not finite give wrong scores.

    >>> prof = ColumnProfile("c", "cat", categories=["a", "b"], counts=np.array([50, 50]))
    >>> r = check_column(prof, prepared_window(prof, counts={"a": 50, "b": 50}))
    >>> (r.method, r.score, r.drifted)
    ('z', 1.0, False)
    """
    return _Current.from_clean(profile, values=values, integer=integer, counts=counts)


def default_method(profile: ColumnProfile, current: _Current) -> str:
    """Evidently's default stat test for this column (see the module docstring)."""
    n_values = current.n_values()
    if profile.n <= 1000:
        if profile.kind == "num" and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if profile.kind == "num":
        return "jensenshannon" if n_values <= 5 else "wasserstein"
    return "jensenshannon"


# ------------------------------------------------------------------------------ the tests
def _merge_counts(r: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both sorted arrays merged, with the running count of reference and window values.

    Equal values keep the reference's first. Inside a run of equal values the running counts
    are partial; at the run's last element they equal ``searchsorted(..., side="right")``,
    which is what the CDFs need.
    """
    n, m = len(r), len(c)
    pos = np.searchsorted(r, c, side="right") + np.arange(m)
    is_c = np.zeros(n + m, dtype=bool)
    is_c[pos] = True
    merged = np.empty(n + m, dtype=np.float64)
    merged[pos] = c
    merged[~is_c] = r
    cnt_c = np.cumsum(is_c)
    cnt_r = np.arange(1, n + m + 1) - cnt_c
    return merged, cnt_r, cnt_c


def _merged_blocks(r: np.ndarray, c: np.ndarray
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, float | None]]:
    """:func:`_merge_counts` in blocks of about ``_BLOCK`` reference values, so that its
    temporaries stay small for long columns: yields each block's merged values, the running
    counts (over the whole arrays) and the next merged value after the block (``None`` at the
    end)."""
    n, m = len(r), len(c)
    step = max(_BLOCK, 1)
    for a in range(0, max(n, 1), step):
        b = min(n, a + step)
        # window values go after equal reference values: those below r[a] precede the block
        ca = 0 if a == 0 else int(np.searchsorted(c, r[a], side="left"))
        cb = m if b >= n else int(np.searchsorted(c, r[b], side="left"))
        merged, cnt_r, cnt_c = _merge_counts(r[a:b], c[ca:cb])
        cnt_r += a
        cnt_c += ca
        following = [v for v in ((r[b] if b < n else None), (c[cb] if cb < m else None))
                     if v is not None]
        yield merged, cnt_r, cnt_c, (float(min(following)) if following else None)


def wasserstein_norm(profile: ColumnProfile, current: _Current) -> float:
    """``scipy.stats.wasserstein_distance(reference, window) / max(std(reference), 0.001)``.

    The distance is the area between the two empirical CDFs, computed from the sorted values
    by a merge (or, when ``lcm(n, m)`` is small, as the mean gap between the quantile
    functions, which is the same area).
    """
    r, c = profile.values, current.values
    n, m = len(r), len(c)
    lcm = math.lcm(n, m)
    if lcm <= 4 * (n + m):
        # The same integral over quantiles: with L = lcm(n, m) equal steps of 1/L, the
        # reference's quantile function is each value repeated L/n times (one pass, no merge).
        # Summed in blocks so that the temporaries stay small (10M-row columns included).
        step_r, step_c = lcm // n, lcm // m
        total = 0.0
        for k0 in range(0, lcm, _BLOCK):
            k1 = min(lcm, k0 + _BLOCK)
            if step_r == step_c == 1:
                gap = r[k0:k1] - c[k0:k1]
            else:
                k = np.arange(k0, k1)
                gap = r[k // step_r] - c[k // step_c]
            np.abs(gap, out=gap)
            total += float(gap.sum())
        dist = total / lcm
    else:
        dist = 0.0
        for merged, cnt_r, cnt_c, following in _merged_blocks(r, c):
            if following is None:
                merged, cnt_r, cnt_c = merged, cnt_r[:-1], cnt_c[:-1]
            else:
                merged = np.append(merged, following)
            deltas = np.diff(merged)
            dist += float(np.sum(np.abs(cnt_r / n - cnt_c / m) * deltas))
    return dist / max(profile.std, 0.001)


def ks_pvalue(profile: ColumnProfile, current: _Current) -> float:
    """Two-sided two-sample K-S p-value, as ``scipy.stats.ks_2samp`` (method ``auto``)."""
    from scipy import stats

    r, c = profile.values, current.values
    n, m = len(r), len(c)
    if max(n, m) <= _KS_EXACT_MAX_N:
        return float(stats.ks_2samp(r, c).pvalue)
    d = 0.0
    for merged, cnt_r, cnt_c, following in _merged_blocks(r, c):
        last = np.append(merged[1:] != merged[:-1], following is None or following != merged[-1])
        if last.any():
            d = max(d, float(np.max(np.abs(cnt_r[last] / n - cnt_c[last] / m))))
    big, small = sorted([float(n), float(m)], reverse=True)
    en = big * small / (big + small)
    return float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))


def _sturges_edges(lo: float, hi: float, size: int, integer: bool) -> np.ndarray:
    """``np.histogram_bin_edges(data, bins="sturges")`` from the data's min, max, size, int-ness."""
    ptp = hi - lo
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    width = ptp / (np.log2(size) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        n_bins = int(np.ceil((hi - lo) / width))
    else:
        n_bins = 1
    return np.linspace(lo, hi, n_bins + 1, endpoint=True, dtype=np.float64)


def _hist_counts(sorted_values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``np.histogram(values, edges)[0]`` for sorted values inside ``[edges[0], edges[-1]]``."""
    left = np.searchsorted(sorted_values, edges, side="left")
    counts = np.diff(left)
    counts[-1] += np.searchsorted(sorted_values, edges[-1], side="right") - left[-1]
    return counts


def _binned(profile: ColumnProfile, current: _Current, fill_zeroes: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's ``get_binned_data``: Sturges bins over both for numerical columns with more
    than 20 reference values, shares per value otherwise."""
    if profile.kind == "num" and _distinct_upto(profile.values, 21) > 20:
        r, c = profile.values, current.values
        edges = _sturges_edges(min(r[0], c[0]), max(r[-1], c[-1]), len(r) + len(c),
                               profile.integer and current.integer)
        ref = _hist_counts(r, edges) / len(r)
        cur = _hist_counts(c, edges) / len(c)
    else:
        _, rc, cc = current.keyed_counts()
        ref = rc / profile.n
        cur = cc / current.n
    if fill_zeroes:
        for arr in (ref, cur):
            low = arr[arr != 0].min()
            np.place(arr, arr == 0, low / 10**6 if low <= 0.0001 else 0.0001)
    return ref, cur


def jensenshannon(profile: ColumnProfile, current: _Current) -> float:
    from scipy.spatial import distance

    ref, cur = _binned(profile, current, fill_zeroes=False)
    return float(distance.jensenshannon(ref, cur))


def psi(profile: ColumnProfile, current: _Current) -> float:
    ref, cur = _binned(profile, current, fill_zeroes=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def chisquare_pvalue(profile: ColumnProfile, current: _Current) -> float:
    from scipy.stats import chisquare

    _, rc, cc = current.keyed_counts()
    k_norm = current.n / profile.n
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(chisquare(cc.tolist(), (rc * k_norm).tolist())[1])


def z_pvalue(profile: ColumnProfile, current: _Current) -> float:
    from scipy.stats import norm

    keys, rc, cc = current.keyed_counts()
    ref_keys = [k for k, v in zip(keys, rc.tolist(), strict=True) if v]
    cur_keys = [k for k, v in zip(keys, cc.tolist(), strict=True) if v]
    if len(ref_keys) == 1 and len(cur_keys) == 1 and ref_keys[0] == cur_keys[0]:
        return 1.0
    first = sorted(keys)[0]
    i = keys.index(first)
    n1, n2 = profile.n, current.n
    p1 = float(n1 - int(rc[i])) / n1
    p2 = float(n2 - int(cc[i])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        return float(2 * (1 - norm.cdf(np.abs(z))))


def hellinger(profile: ColumnProfile, current: _Current) -> float:
    if profile.kind == "cat":
        # As Evidently: one term at a time over ``list(set(ref values) | set(window values))``,
        # both in order of first appearance. Near identical distributions the score is the
        # square root of a cancellation (1 - total), so the order of this sum decides it at the
        # 1e-8 level (Evidently's own score changes with PYTHONHASHSEED there); in the same
        # process the same set operations give the same order and the same bits.
        rmap, cmap = profile.count_map, current.count_map
        total = 0.0
        for key in list(set(list(rmap)) | set(list(cmap))):
            total += math.sqrt(float(rmap.get(key, 0) / profile.n)
                               * float(cmap.get(key, 0) / current.n))
    else:
        keys, _, _ = current.keyed_counts()
        u = np.asarray(keys, dtype=np.float64)
        # Evidently bins ``np.asarray(list(set(ref.unique()) | set(window.unique())))``: a value
        # on both sides is the reference's object there, so the keys are ints when the reference
        # is an int column and the window adds no value of its own, whatever the window's dtype.
        integer = profile.integer and (current.integer or len(u) == len(profile.uniques[0]))
        edges = _sturges_edges(u[0], u[-1], len(u), integer)
        h = []
        for values in (profile.values, current.values):
            counts = _hist_counts(values, edges)
            db = np.array(np.diff(edges), float)
            h.append(counts / db / counts.sum())
        width = (max(edges) - min(edges)) / (len(edges) - 1)
        total = 0.0
        for p1, p2 in zip(h[0], h[1], strict=True):
            total += math.sqrt(float(p1) * float(p2)) * width
    total = float(np.clip(total, 0, 1))
    return math.sqrt(1 - total)


def anderson_pvalue(profile: ColumnProfile, current: _Current) -> float:
    from scipy.stats import anderson_ksamp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(anderson_ksamp([profile.values, current.values])[2])


_NATIVE = {
    "wasserstein": wasserstein_norm, "ks": ks_pvalue, "jensenshannon": jensenshannon,
    "psi": psi, "chisquare": chisquare_pvalue, "z": z_pvalue, "hellinger": hellinger,
    "anderson": anderson_pvalue,
}


def _is_drift(method: str, score: float, threshold: float) -> bool:
    if method == "ks":
        return bool(score <= threshold)
    if method in P_VALUE_METHODS:
        return bool(score < threshold)
    return bool(score >= threshold)


def _delegate(method: str, profile: ColumnProfile, current: _Current,
              threshold: float | None) -> tuple[float, bool, float]:
    """Run Evidently's own implementation of a method this module does not compute."""
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    ctype = ColumnType.Numerical if profile.kind == "num" else ColumnType.Categorical
    if profile.kind == "num":
        # Back to int64 when the window was an int column, as profile.series() does for the
        # reference: numpy's Sturges bins (kl_div's binning) are at least 1 wide for int data.
        cur = pd.Series(current.values.astype(np.int64) if current.integer else current.values)
    else:  # rebuilt from the cleaned counts (no infinities; same order of first appearance)
        cur = current.category_series()
    ref = profile.series()
    result = get_stattest(ref, cur, ctype, method)(ref, cur, ctype, threshold)
    return float(result.drift_score), bool(result.drifted), float(result.actual_threshold)


def check_column(profile: ColumnProfile, values: Any, *, method: str | None = None,
                 threshold: float | None = None) -> ColumnDrift:
    """Compare one window column with its reference profile.

    Parameters
    ----------
    profile
        The reference column's profile.
    values
        The window's values (Series or array); missing and infinite values are dropped. Or a
        column already cleaned by :func:`prepared_window`, used as it is.
    method
        An Evidently stat-test name, or ``None`` for Evidently's default for this column.
    threshold
        The drift threshold, or ``None`` for the method's default.
    """
    if method is not None and method in METHOD_KINDS and profile.kind not in METHOD_KINDS[method]:
        fits = sorted(m for m, kinds in METHOD_KINDS.items() if profile.kind in kinds)
        label = "numerical" if profile.kind == "num" else "categorical"
        raise DriftCheckError(
            f"Method {method!r} does not apply to {label} column {profile.name!r}; use one of "
            f"{fits}, or None for Evidently's default."
        )
    current = values if isinstance(values, _Current) else _Current(profile, values)
    name = method or default_method(profile, current)
    if name not in _NATIVE and name not in METHOD_KINDS:
        raise DriftCheckError(
            f"Unknown drift method {name!r} for column {profile.name!r}; use one of "
            f"{sorted(METHOD_KINDS)}, or None for Evidently's default."
        )
    try:
        if name not in _NATIVE:
            score, drifted, used = _delegate(name, profile, current, threshold)
            return ColumnDrift(profile.name, name, score, used, drifted)
        used = DEFAULT_THRESHOLDS[name] if threshold is None else float(threshold)
        score = _NATIVE[name](profile, current)
    except (ValueError, ArithmeticError, TypeError) as exc:
        raise DriftCheckError(
            f"The {name!r} test failed on column {profile.name!r}: {type(exc).__name__}: {exc}. "
            "Choose another method for this column (e.g. None for Evidently's default)."
        ) from exc
    return ColumnDrift(profile.name, name, score, used, _is_drift(name, score, used))


def compare(profile: ReferenceProfile, current: pd.DataFrame, *, method: str | None = None,
            threshold: float | None = None, correction: Correction = "none",
            n_jobs: int | None = None) -> list[ColumnDrift]:
    """Compare every profiled column of ``current`` with the reference, in profile order.

    Columns run in parallel threads (``n_jobs``, default: the CPU count) when the window holds
    more than :data:`PARALLEL_MIN_VALUES` values. ``correction`` adjusts the p-value columns for
    testing several at once (see :func:`correct`).
    """
    missing = [c for c in profile.columns if c not in current.columns]
    if missing:
        raise DriftCheckError(
            f"The window lacks the feature column(s) {missing} the reference was profiled on."
        )
    cols = list(profile.columns.values())
    workers = min(len(cols), n_jobs or os.cpu_count() or 1)
    if workers > 1 and len(current) * len(cols) > PARALLEL_MIN_VALUES:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(
                lambda p: check_column(p, current[p.name], method=method, threshold=threshold), cols))
    else:
        results = [check_column(p, current[p.name], method=method, threshold=threshold) for p in cols]
    return correct(results, correction)


def correct(results: Sequence[ColumnDrift], correction: Correction) -> list[ColumnDrift]:
    """Apply a multiple-testing correction to the p-value columns of one window.

    ``"bonferroni"`` tests each of the ``k`` p-value columns at ``threshold / k``;
    ``"bh"`` (Benjamini-Hochberg) finds the largest ``i`` with the ``i``-th smallest p-value
    ``<= i * threshold / k`` and flags the ``i`` smallest. The reported threshold is the
    effective one (a column drifts when its p-value is at or below it). Distance columns and
    ``"none"`` leave results as they are.

    >>> rs = [ColumnDrift(n, "ks", p, 0.05, p <= 0.05) for n, p in [("a", 0.001), ("b", 0.03)]]
    >>> [(r.name, r.threshold, r.drifted) for r in correct(rs, "bonferroni")]
    [('a', 0.025, True), ('b', 0.025, False)]
    >>> [(r.name, r.drifted) for r in correct(rs, "bh")]
    [('a', True), ('b', True)]
    """
    if correction not in CORRECTIONS:
        raise DriftCheckError(f"correction must be one of {list(CORRECTIONS)}; got {correction!r}.")
    out = list(results)
    idx = [i for i, r in enumerate(out) if r.method in P_VALUE_METHODS]
    if correction == "none" or not idx:
        return out
    k = len(idx)
    for i in idx:
        r = out[i]
        if correction == "bonferroni":
            eff = r.threshold / k
        else:
            # Rank among the *uncorrected* results: ``out`` already holds corrected thresholds
            # for the columns done so far, which would drop them from the group.
            group = [results[j] for j in idx if results[j].threshold == r.threshold]
            ps = sorted(x.score for x in group if not math.isnan(x.score))
            passing = [rank for rank, p in enumerate(ps, start=1)
                       if p <= rank * r.threshold / k]
            eff = (max(passing) if passing else 1) * r.threshold / k
        drifted = (not math.isnan(r.score)) and r.score <= eff
        out[i] = ColumnDrift(r.name, r.method, r.score, eff, bool(drifted))
    return out
