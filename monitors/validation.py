"""Batch validation against a reference schema, with quarantine of bad rows.

A :class:`Schema` is inferred once from reference data (the first window, or the training
data): the feature names, which are numeric and which categorical, the categories seen, and
which columns may hold missing values. A :class:`BatchValidator` then checks every batch
against it.

Problems with the *batch* (empty, missing columns, unexpected columns) raise
:class:`~monitors.errors.ValidationError`. Problems with *rows* (non-numeric, missing,
infinite or huge values, missing target, unseen categories) either raise or set the rows
aside: the rows go to a quarantine CSV with their row offset and the reasons, and are counted
in the :class:`ValidationResult`. No row is ever dropped without being counted and written.

>>> import pandas as pd
>>> from monitors.stream import Batch
>>> ref = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"]})
>>> validator = BatchValidator(Schema.infer(ref))
>>> batch = Batch.from_frame(
...     pd.DataFrame({"x": [1.0, "oops", 2.0], "c": ["a", "b", "b"], "y": [0, 1, 0]}),
...     start=100, target="y")
>>> result = validator.validate(batch)
>>> result.n_in, result.n_clean, result.n_quarantined, dict(result.reasons)
(3, 2, 1, {'non_numeric:x': 1})
>>> list(result.features.index)
[100, 102]
"""

from __future__ import annotations

import contextlib
import csv
import decimal
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitors.errors import ValidationError
from monitors.stream import Batch

__all__ = ["BatchValidator", "Schema", "ValidationConfig", "ValidationResult"]

logger = logging.getLogger(__name__)

Category = str | int | float | bool


def _rows_text(rows: Sequence[int] | np.ndarray, limit: int = 5) -> str:
    """``"rows 3, 7, 9"`` or ``"rows 3, 7, 9, 11, 12 and 40 more"``."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _is_numeric(s: pd.Series) -> bool:
    """Real numbers: ints and floats, not booleans or complex numbers."""
    return (
        pd.api.types.is_numeric_dtype(s)
        and not pd.api.types.is_bool_dtype(s)
        and not pd.api.types.is_complex_dtype(s)
    )


#: ``infer_dtype`` kinds of an object column whose values are all plain numbers or text.
_NUMBER_KINDS = frozenset({"string", "integer", "floating", "mixed-integer-float", "empty"})
#: ... and of one whose values can all be categories.
_CATEGORY_KINDS = frozenset(
    {"string", "integer", "floating", "mixed-integer-float", "boolean", "empty"}
)


def _is_number(v: object) -> bool:
    """A value ``pd.to_numeric`` may take: text (parsed, or not a number) or a real number."""
    if isinstance(v, bool | np.bool_):
        return False
    return isinstance(v, str | int | float | decimal.Decimal | np.integer | np.floating)


def _is_category(v: object) -> bool:
    """A value that can be a category (:data:`Category`): text, a real number or a bool."""
    return isinstance(v, str | int | float | bool | np.integer | np.floating | np.bool_)


def _wrong_type(
    values: pd.Series, kinds: frozenset[str], ok: Callable[[object], bool]
) -> np.ndarray:
    """Mask of the present values that are of the wrong type.

    In a column of Python objects (or pandas strings or categories) these are the values
    for which ``ok(value)`` is false (lists, dicts, dates, ...), looked at one by one only
    when ``infer_dtype`` does not already say the column is one of ``kinds``. Any other
    dtype (bools, dates, complex numbers, ...) is wrong as a whole: every present value is.
    """
    present = values.notna().to_numpy()
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype | pd.CategoricalDtype):
        if pd.api.types.infer_dtype(values, skipna=True) in kinds:
            return np.zeros(len(values), dtype=bool)
        wrong = np.fromiter((not ok(v) for v in values.astype(object)), dtype=bool,
                            count=len(values))
        return wrong & present
    return present


def _exact(values: pd.Series, parsed: pd.Series) -> pd.Series:
    """``parsed`` with the numbers that were text parsed again by ``float``: the fast parser
    of ``pd.to_numeric`` may be one unit in the last place off, and a kept row must keep its
    value exactly."""
    text = np.fromiter((isinstance(v, str) for v in values.astype(object)), dtype=bool,
                       count=len(values)) & parsed.notna().to_numpy()
    if not text.any():
        return parsed
    out = parsed.to_numpy(dtype=float, copy=True)
    for i in np.flatnonzero(text):
        with contextlib.suppress(ValueError):  # float() reads all that to_numeric reads
            out[i] = float(values.iat[i])
    return pd.Series(out, index=parsed.index, name=parsed.name)


class Schema(BaseModel):
    """The features a model expects: names, kinds, known categories, nullable columns.

    Parameters
    ----------
    features
        Feature names, in order.
    numeric
        The numeric features.
    categorical
        The categorical features (every feature is one or the other).
    categories
        The known values of each categorical feature.
    nullable
        Features that may be missing (they were missing somewhere in the reference data).

    Examples
    --------
    >>> import pandas as pd
    >>> s = Schema.infer(pd.DataFrame({"x": [1.5, None], "n": [1, 2], "c": ["b", "a"]}),
    ...                  categorical=["n"])
    >>> s.numeric, s.categorical, s.categories["c"], s.nullable
    (('x',), ('n', 'c'), ('a', 'b'), ('x',))
    >>> Schema.model_validate_json(s.model_dump_json()) == s
    True
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] = Field(min_length=1)
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    categories: dict[str, tuple[Category, ...]] = Field(default_factory=dict)
    nullable: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Schema:
        if len(set(self.features)) != len(self.features):
            dup = sorted({f for f in self.features if self.features.count(f) > 1})
            raise ValueError(f"Schema.features has duplicate names {dup}; names must be unique.")
        both = set(self.numeric) & set(self.categorical)
        if both:
            raise ValueError(
                f"Features {sorted(both)} are both numeric and categorical; "
                "list each in one of them."
            )
        kinds = set(self.numeric) | set(self.categorical)
        if kinds != set(self.features):
            raise ValueError(
                f"Every feature must be numeric or categorical, and only features can be: "
                f"unclassified {sorted(set(self.features) - kinds)}, unknown "
                f"{sorted(kinds - set(self.features))}."
            )
        bad = sorted(set(self.categories) - set(self.categorical)) + sorted(
            set(self.nullable) - set(self.features)
        )
        if bad:
            raise ValueError(
                f"Schema.categories/nullable name columns that are not "
                f"(categorical) features: {bad}."
            )
        return self

    @classmethod
    def infer(
        cls, frame: pd.DataFrame, *, categorical: Sequence[str] = (), exclude: Sequence[str] = (),
        numeric_text: float | None = None,
    ) -> Schema:
        """Infer the schema of the feature columns of ``frame``.

        Numeric columns (ints and floats, not booleans) are numeric unless listed in
        ``categorical``; all other columns (strings, booleans, pandas categoricals) are
        categorical and their distinct values become the known categories. Columns with any
        missing value are nullable. Columns in ``exclude`` (e.g. the target) are left out.

        ``numeric_text`` (e.g. 0.99): a text column whose non-missing values parse as numbers
        at least this often is numeric, and the rows that do not parse are left out of the
        inference. One bad cell makes pandas read a whole CSV chunk's column as text; without
        this the column would become a category per distinct number, and the bad cell an
        "unseen category" instead of a quarantined row.

        >>> Schema.infer(pd.DataFrame({"x": ["1.5", "2", "abc"] * 40}), numeric_text=0.6).numeric
        ('x',)
        """
        if isinstance(frame, Batch):  # a common slip: take its features
            frame = frame.features
        if numeric_text is not None:
            frame = _parse_numeric_text(frame, numeric_text, skip=(*categorical, *exclude))
        unknown = [c for c in [*categorical, *exclude] if c not in frame.columns]
        if unknown:
            raise ValidationError(
                f"Columns {unknown} passed to Schema.infer are not in the frame; "
                f"its columns are {list(frame.columns)}."
            )
        cols = [str(c) for c in frame.columns if c not in set(exclude)]
        if not cols:
            raise ValidationError(
                "Schema.infer needs at least one feature column; the frame has "
                f"none besides {list(exclude)}."
            )
        dates = [c for c in cols if pd.api.types.is_datetime64_any_dtype(frame[c])]
        if dates:
            raise ValidationError(
                f"Columns {dates} hold dates; a schema describes features. Pass them as the "
                "stream's timestamp, or derive numeric features from them, or exclude=[...] them."
            )
        numeric = [c for c in cols if c not in set(categorical) and _is_numeric(frame[c])]
        cat = [c for c in cols if c not in set(numeric)]
        categories = {}
        for c in cat:
            values = pd.unique(frame[c].dropna())
            categories[c] = tuple(
                sorted(
                    (v.item() if isinstance(v, np.generic) else v for v in values),
                    key=lambda v: (str(type(v)), str(v)),
                )
            )
        nullable = [c for c in cols if frame[c].isna().any()]
        return cls(
            features=tuple(cols),
            numeric=tuple(numeric),
            categorical=tuple(cat),
            categories=categories,
            nullable=tuple(nullable),
        )


def _parse_numeric_text(frame: pd.DataFrame, share: float, skip: Sequence[str]) -> pd.DataFrame:
    """Parse mostly-numeric text columns as numbers; drop the rows whose cells do not parse."""
    bad = pd.Series(False, index=frame.index)
    for col in frame.columns:
        values = frame[col]
        if col in skip or values.dtype != object or not values.notna().any():
            continue
        parsed = pd.to_numeric(values, errors="coerce")
        not_number = parsed.isna() & values.notna()
        if not_number.sum() <= (1.0 - share) * values.notna().sum():
            frame = frame.assign(**{col: parsed})
            bad |= not_number
    return frame[~bad] if bad.any() else frame


class ValidationConfig(BaseModel):
    """How a :class:`BatchValidator` treats bad data.

    Parameters
    ----------
    on_bad_rows
        ``"quarantine"``: set bad rows aside (counted, written to the quarantine file) and go
        on with the clean ones; ``"error"``: raise naming the column(s) and rows.
    on_extra_columns
        Columns the schema does not know: ``"error"`` or ``"drop"`` (reported in
        :attr:`ValidationResult.dropped_columns`).
    on_unseen_category
        Values of a categorical feature not seen in the reference: ``"allow"`` (kept, and
        counted in :attr:`ValidationResult.unseen_categories`), ``"quarantine"`` (bad rows,
        handled like the others by ``on_bad_rows``) or ``"error"`` (always raise).
    max_abs_value
        Numeric values with a larger absolute value are bad (None: no limit; inf is always
        bad).
    quarantine_file
        File name of the quarantine CSV inside the validator's ``quarantine_dir``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    on_bad_rows: Literal["error", "quarantine"] = "quarantine"
    on_extra_columns: Literal["error", "drop"] = "error"
    on_unseen_category: Literal["allow", "quarantine", "error"] = "allow"
    max_abs_value: float | None = Field(default=None, gt=0)
    quarantine_file: str = "quarantine.csv"

    @field_validator("quarantine_file")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not v or v in {".", ".."} or "/" in v or "\\" in v:
            raise ValueError(
                f"quarantine_file must be a plain file name such as 'quarantine.csv' (the "
                f"folder is the validator's quarantine_dir). Got {v!r}."
            )
        return v

    @field_validator("max_abs_value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"max_abs_value must be finite or None. Got {v}.")
        return v


@dataclass(frozen=True)
class ValidationResult:
    """What validation made of one batch.

    Attributes
    ----------
    start, end
        The batch's row range ``[start, end)``.
    features
        The clean rows, in schema column order, still indexed by their row offsets (with gaps
        where rows were set aside). Numeric columns that held text are converted to numbers.
    target
        The clean rows' target (same index), or None when the batch had no target.
    n_in, n_clean, n_quarantined
        Rows in, rows kept, rows set aside; ``n_in == n_clean + n_quarantined``.
    reasons
        Reason -> number of quarantined rows with that reason (a row may have several), e.g.
        ``{"nan:x1": 3, "missing_target": 1}``.
    dropped_columns
        Extra columns dropped (``on_extra_columns="drop"``).
    unseen_categories
        Column -> number of kept rows with a category the reference did not have
        (``on_unseen_category="allow"``).
    quarantined
        The rows set aside as written to the quarantine file (row offset, reasons, raw values).
    quarantine_path
        The quarantine file the rows were appended to (None when nothing was written).
    """

    start: int
    end: int
    features: pd.DataFrame
    target: pd.Series | None
    n_in: int
    n_clean: int
    n_quarantined: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    dropped_columns: tuple[str, ...] = ()
    unseen_categories: Mapping[str, int] = field(default_factory=dict)
    quarantined: pd.DataFrame = field(default_factory=pd.DataFrame)
    quarantine_path: Path | None = None

    def __post_init__(self) -> None:
        if self.n_in != self.n_clean + self.n_quarantined or len(self.features) != self.n_clean:
            raise AssertionError(  # an internal bug, never bad input
                f"Row accounting broken for rows {self.start}..{self.end - 1}: in={self.n_in}, "
                f"clean={self.n_clean} ({len(self.features)} kept), "
                f"quarantined={self.n_quarantined}."
            )

    @property
    def all_clean(self) -> bool:
        """True when no row was set aside."""
        return self.n_quarantined == 0


class BatchValidator:
    """Checks batches against a :class:`Schema`; see the module docstring.

    Parameters
    ----------
    schema
        The expected features.
    config
        What to do with bad data (defaults: quarantine bad rows, error on extra columns,
        allow unseen categories).
    quarantine_dir
        Folder of the quarantine file (created on the first quarantined row). ``None``: set
        aside rows are only returned in :attr:`ValidationResult.quarantined` and logged.

    Notes
    -----
    Row checks, each a reason in :attr:`ValidationResult.reasons`:

    ``non_numeric:<col>``  a numeric feature holds a value that is not a number (text that
                           does not parse, a bool, a date, a complex number, a list, ...);
    ``missing:<col>``      a value is missing in a column not nullable in the reference;
    ``inf:<col>``          a numeric value is +-inf;
    ``too_large:<col>``    ``|value| > max_abs_value``;
    ``bad_type:<col>``     a categorical feature holds a value that cannot be a category
                           (a list, a dict, a date, ...);
    ``missing_target``     the batch has a target and it is missing in the row;
    ``inf_target``         a numeric target is +-inf;
    ``bad_type_target``    the target is not a number, text or a bool (a list, a date, ...);
    ``unseen_category:<col>``  with ``on_unseen_category="quarantine"``.
    """

    def __init__(
        self,
        schema: Schema,
        config: ValidationConfig | None = None,
        quarantine_dir: Path | str | None = None,
    ) -> None:
        self.schema = schema
        self.config = config if config is not None else ValidationConfig()
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir is not None else None

    def __repr__(self) -> str:
        return (
            f"BatchValidator(features={list(self.schema.features)}, config={self.config!r}, "
            f"quarantine_dir={self.quarantine_dir!r})"
        )

    @property
    def quarantine_path(self) -> Path | None:
        """Where quarantined rows are appended (None without a quarantine_dir)."""
        if self.quarantine_dir is None:
            return None
        return self.quarantine_dir / self.config.quarantine_file

    # -- the checks --------------------------------------------------------------------------

    def validate(self, batch: Batch) -> ValidationResult:
        """Validate one batch; return its clean rows and the account of the rest.

        Raises
        ------
        ValidationError
            For an empty batch, missing columns, extra columns (``on_extra_columns="error"``),
            bad rows (``on_bad_rows="error"``) or unseen categories
            (``on_unseen_category="error"``); the error names the column(s) and rows.
        """
        schema, cfg = self.schema, self.config
        start, end, n = batch.start, batch.end, len(batch)
        span = f"rows {start}..{end - 1}"
        if n == 0:
            raise ValidationError(
                f"The batch starting at row {start} is empty; a source must not yield empty "
                "batches (check the source and its batch size).",
                start=start,
                end=start,
            )
        features = batch.features
        columns = [str(c) for c in features.columns]
        twice = sorted(c for c, k in Counter(columns).items() if k > 1)
        if twice:
            raise ValidationError(
                f"Columns {twice} appear more than once in {span} (columns: {columns}); a "
                "column name must be unique. Rename or drop the duplicates in the source.",
                columns=twice,
                start=start,
                end=end,
            )
        if any(not isinstance(c, str) for c in features.columns):
            features = features.set_axis(columns, axis=1)  # e.g. 0, 1 as read without a header
        missing = [c for c in schema.features if c not in columns]
        if missing:
            raise ValidationError(
                f"Columns {missing} are missing from {span}, which has columns {columns}. The "
                f"schema expects {list(schema.features)}; fix the source, or infer the schema "
                "again from data that matches this stream.",
                columns=missing,
                start=start,
                end=end,
            )
        extra = [c for c in columns if c not in set(schema.features)]
        if extra and cfg.on_extra_columns == "error":
            raise ValidationError(
                f"Columns {extra} in {span} are not in the schema {list(schema.features)}. "
                "Set ValidationConfig.on_extra_columns='drop' to drop them, or infer the "
                "schema from data that has them.",
                columns=extra,
                start=start,
                end=end,
            )
        raw = features[list(schema.features)]
        clean = raw.copy()
        bad: dict[str, np.ndarray] = {}  # reason -> row mask
        unseen_allowed: dict[str, np.ndarray] = {}  # column -> row mask
        nullable = set(schema.nullable)

        for col in schema.numeric:
            values = raw[col]
            if not _is_numeric(values):
                wrong = _wrong_type(values, _NUMBER_KINDS, _is_number)
                if wrong.any():  # never converted: bools, dates, complex numbers, lists, ...
                    values = values.astype(object).where(~wrong)
                coerced = pd.to_numeric(values, errors="coerce")
                not_number = (coerced.isna() & values.notna()).to_numpy() | wrong
                if not_number.any():
                    bad[f"non_numeric:{col}"] = not_number
                coerced = _exact(values, coerced.astype(float))
                clean[col] = coerced
                values = coerced
            arr = values.to_numpy(dtype=float, na_value=np.nan)
            nan = np.isnan(arr) & ~bad.get(f"non_numeric:{col}", np.zeros(n, dtype=bool))
            if nan.any() and col not in nullable:
                bad[f"missing:{col}"] = nan
            inf = np.isinf(arr)
            if inf.any():
                bad[f"inf:{col}"] = inf
            if cfg.max_abs_value is not None:
                with np.errstate(invalid="ignore"):
                    large = np.isfinite(arr) & (np.abs(arr) > cfg.max_abs_value)
                if large.any():
                    bad[f"too_large:{col}"] = large

        for col in schema.categorical:
            values = raw[col]
            absent = values.isna().to_numpy()
            if absent.any() and col not in nullable:
                bad[f"missing:{col}"] = absent
            wrong = np.zeros(n, dtype=bool)
            if not (_is_numeric(values) or pd.api.types.is_bool_dtype(values)):
                wrong = _wrong_type(values, _CATEGORY_KINDS, _is_category)
                if wrong.any():
                    bad[f"bad_type:{col}"] = wrong
            known = schema.categories.get(col, ())
            unseen = (~values.isin(known)).to_numpy() & ~absent & ~wrong
            if unseen.any():
                if cfg.on_unseen_category == "error":
                    rows = batch.rows[unseen]
                    new = sorted({str(v) for v in values[unseen]})[:5]
                    raise ValidationError(
                        f"Column {col!r} has {int(unseen.sum())} unseen categor"
                        f"{'y' if unseen.sum() == 1 else 'ies'} {new} in {_rows_text(rows)} "
                        f"({span}); known: {list(known)[:10]}. Set "
                        "ValidationConfig.on_unseen_category to 'allow' or 'quarantine', or "
                        "infer the schema from data that has them.",
                        columns=[col],
                        start=start,
                        end=end,
                    )
                if cfg.on_unseen_category == "quarantine":
                    bad[f"unseen_category:{col}"] = unseen
                else:
                    unseen_allowed[col] = unseen

        target = batch.target
        if target is not None:
            t_missing = target.isna().to_numpy()
            if t_missing.any():
                bad["missing_target"] = t_missing
            if _is_numeric(target):
                t_inf = np.isinf(target.to_numpy(dtype=float, na_value=np.nan))
                if t_inf.any():
                    bad["inf_target"] = t_inf
            elif not pd.api.types.is_bool_dtype(target):
                t_wrong = _wrong_type(target, _CATEGORY_KINDS, _is_category)
                if t_wrong.any():
                    bad["bad_type_target"] = t_wrong

        if not bad:
            return ValidationResult(
                start=start,
                end=end,
                features=clean,
                target=target,
                n_in=n,
                n_clean=n,
                n_quarantined=0,
                dropped_columns=tuple(extra),
                unseen_categories={c: int(m.sum()) for c, m in unseen_allowed.items()},
            )
        if cfg.on_bad_rows == "error":
            raise self._bad_rows_error(batch, raw, bad, span)

        any_bad = np.logical_or.reduce(list(bad.values()))
        keep = ~any_bad
        unseen_kept = {c: int((m & keep).sum()) for c, m in unseen_allowed.items()}
        quarantined = self._quarantine_frame(batch, raw, bad, any_bad)
        path = self._append(quarantined)
        reasons = {reason: int(mask.sum()) for reason, mask in bad.items()}
        logger.warning(
            "Quarantined %d of %d rows in %s%s: %s",
            int(any_bad.sum()),
            n,
            span,
            f" (written to {path})" if path else "",
            reasons,
        )
        return ValidationResult(
            start=start,
            end=end,
            features=clean[keep],
            target=None if target is None else target[keep],
            n_in=n,
            n_clean=int(keep.sum()),
            n_quarantined=int(any_bad.sum()),
            reasons=reasons,
            dropped_columns=tuple(extra),
            unseen_categories={c: k for c, k in unseen_kept.items() if k},
            quarantined=quarantined,
            quarantine_path=path,
        )

    def _bad_rows_error(
        self, batch: Batch, raw: pd.DataFrame, bad: dict[str, np.ndarray], span: str
    ) -> ValidationError:
        lines = []
        columns: list[str] = []
        for reason, mask in bad.items():
            kind, _, col = reason.partition(":")
            rows = batch.rows[mask]
            where = f"column {col!r}" if col else "the target"
            example = ""
            if col:
                example = f" (first value {raw[col].to_numpy()[mask][0]!r})"
                columns.append(col)
            elif batch.target is not None:
                columns.append(str(batch.target.name))
            lines.append(
                f"{kind.replace('_', ' ')} in {where}: {int(mask.sum())} "
                f"{_rows_text(rows)}{example}"
            )
        return ValidationError(
            f"Bad rows in {span}: " + "; ".join(lines) + ". Fix the data upstream, or set "
            "ValidationConfig.on_bad_rows='quarantine' to set such rows aside.",
            columns=list(dict.fromkeys(columns)),
            start=batch.start,
            end=batch.end,
        )

    # -- quarantine --------------------------------------------------------------------------

    def _quarantine_columns(self) -> tuple[str, str, str]:
        """Names of the row, reason and target columns, clear of the feature names."""
        taken = set(self.schema.features)
        names = []
        for base in ("row", "reason", "target"):
            name = base
            while name in taken:
                name = "_" + name
            names.append(name)
            taken.add(name)
        return names[0], names[1], names[2]

    def _quarantine_frame(
        self, batch: Batch, raw: pd.DataFrame, bad: dict[str, np.ndarray], any_bad: np.ndarray
    ) -> pd.DataFrame:
        row_col, reason_col, target_col = self._quarantine_columns()
        per_row: list[list[str]] = [[] for _ in range(int(any_bad.sum()))]
        positions = np.flatnonzero(any_bad)
        index_of = {int(p): i for i, p in enumerate(positions)}
        for reason, mask in bad.items():
            for p in np.flatnonzero(mask):
                per_row[index_of[int(p)]].append(reason)
        out = raw.iloc[positions].copy()
        out.insert(0, reason_col, [";".join(r) for r in per_row])
        out.insert(0, row_col, batch.rows[positions])
        out[target_col] = (
            batch.target.iloc[positions].to_numpy() if batch.target is not None else None
        )
        return out

    def _append(self, quarantined: pd.DataFrame) -> Path | None:
        path = self.quarantine_path
        if path is None:
            return None
        header = [str(c) for c in quarantined.columns]
        exists = path.exists() and path.stat().st_size > 0
        if exists:
            with path.open(newline="") as fh:
                found = next(csv.reader(fh), [])
            if found != header:
                raise ValidationError(
                    f"The quarantine file {path} has columns {found}, not {header} (it was "
                    "written for another schema). Move it away or set "
                    "ValidationConfig.quarantine_file to another name.",
                )
        path.parent.mkdir(parents=True, exist_ok=True)
        quarantined.to_csv(path, mode="a", header=not exists, index=False)
        return path
