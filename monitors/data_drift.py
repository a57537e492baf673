"""Per-window data drift, and the local Evidently workspace that keeps it.

:class:`DataDriftCheck` is fitted on the reference (the rows the champion was trained on) and
then compares every window with it. Two engines give the same verdicts:

- ``engine="driftloop"`` (the default) fits a :class:`~monitors.drift_engine.ReferenceProfile`
  once and computes Evidently's stat tests from it (:mod:`monitors.drift_engine`). With
  ``snapshots`` on, the numbers are produced inside an Evidently ``Report`` by
  :class:`~monitors.evidently_plugin.DriftloopDataDriftPreset`, so the workspace, the UI and the
  HTML reports still come from Evidently; with ``snapshots`` off no Evidently code runs at all.
- ``engine="evidently"`` runs Evidently's own ``DataDriftPreset`` (one ``ValueDrift`` per
  feature and ``DriftedColumnsCount``), about 50-100 times slower.

Either way, when the model's predictions are given for both the reference and the window, the
prediction column is compared too and reported apart. With a snapshot, every number in a
:class:`DataDriftResult` is read back from it.

:class:`DriftWorkspace` stores each window's snapshot in a local Evidently workspace (one
project), which ``evidently ui --workspace <dir>`` serves, and writes the HTML report of a
window (the pipeline logs it to MLflow for the window that triggered a retrain).

Evidently takes about 4 s to import, so it is imported inside the methods that use it.

>>> import numpy as np, pandas as pd
>>> from monitors.stream import Window
>>> rng = np.random.default_rng(0)
>>> reference = pd.DataFrame(rng.normal(size=(1500, 3)), columns=["a", "b", "c"])
>>> current = pd.DataFrame(rng.normal(size=(500, 3)), columns=["a", "b", "c"])
>>> current["a"] += 2.0
>>> check = DataDriftCheck(DataDriftConfig()).fit(reference)
>>> result = check.calculate(current, Window(0, 1500, 2000))
>>> result.drifted_columns, result.n_drifted, result.dataset_drift
(('a',), 1, False)
>>> result.columns[0].method, result.columns[0].threshold
('wasserstein', 0.1)
"""

from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitors.drift_engine import (
    CORRECTIONS,
    METHOD_KINDS,
    ColumnDrift,
    ColumnProfile,
    Correction,
    ReferenceProfile,
    check_column,
    compare,
    infer_kinds,
)
from monitors.drift_engine import P_VALUE_METHODS as _P_VALUE_METHODS
from monitors.errors import DriftCheckError
from monitors.stream import Window

if TYPE_CHECKING:  # pragma: no cover - typing only
    from evidently import Dataset
    from evidently.core.report import Snapshot

logger = logging.getLogger(__name__)

#: Evidently's stat-test names for numerical and categorical columns (``None`` in the config
#: lets Evidently pick per column: Wasserstein / Jensen-Shannon above 1000 reference rows,
#: K-S / chi-square / Z below).
DriftMethod = Literal[
    "wasserstein", "ks", "jensenshannon", "psi", "chisquare", "z", "hellinger", "kl_div",
    "anderson", "cramer_von_mises", "ed", "es", "fisher_exact", "g_test", "mannw",
    "empirical_mmd", "t_test", "TVD",
]
DRIFT_METHODS: tuple[str, ...] = get_args(DriftMethod)

#: Methods whose score is a p-value (see :data:`monitors.drift_engine.P_VALUE_METHODS`).
P_VALUE_METHODS = _P_VALUE_METHODS
_METHOD_KINDS = METHOD_KINDS

_VALUE_DRIFT = frozenset({"evidently:metric_v2:ValueDrift",
                          "evidently:metric_v2:DriftloopValueDrift"})
_DRIFTED_COUNT = frozenset({"evidently:metric_v2:DriftedColumnsCount",
                            "evidently:metric_v2:DriftloopDriftedColumnsCount"})
#: Most features drawn in the dashboard's per-feature drift panel.
MAX_FEATURE_SERIES = 20
#: The drifted-columns metric each engine puts in a snapshot (dashboards plot its share).
COUNT_METRIC: dict[str, str] = {"driftloop": "DriftloopDriftedColumnsCount",
                                "evidently": "DriftedColumnsCount"}
Engine = Literal["driftloop", "evidently"]


class DataDriftConfig(BaseModel):
    """How a window is compared with the reference.

    Parameters
    ----------
    engine
        ``"driftloop"`` (default): driftloop's engine (:mod:`monitors.drift_engine`), inside
        Evidently when snapshots are kept; ``"evidently"``: Evidently's ``DataDriftPreset``.
        Both give the same verdicts.
    method
        Evidently stat-test name applied to every column (features and prediction), or
        ``None`` for Evidently's default per column.
    threshold
        Drift threshold for ``method`` (a p-value for tests such as ``"ks"``, a distance for
        ``"wasserstein"``, ``"psi"``...), or ``None`` for the method's default.
    correction
        Multiple-testing correction over the features' p-value tests: ``"none"`` (Evidently's
        behaviour), ``"bonferroni"`` or ``"bh"`` (Benjamini-Hochberg); driftloop engine only.
    drift_share
        The window has dataset drift when the share of drifted features is ``>=`` this.
    reference_size
        Most reference rows kept; a larger reference is sampled (without replacement, with
        ``seed``).
    prediction_column
        Name the model's predictions get in the Evidently report; must not be a feature name.
    snapshots
        Keep the Evidently snapshot in each result (needed by :class:`DriftWorkspace`).
    full_report
        Also render Evidently's dataset-drift summary and drift table widgets. The numbers do not
        change; it adds about 0.35 s per window at 10 features, so it is off by default and the
        report shows the per-column drift widgets instead.
    seed
        Seed of the reference sampling.

    Examples
    --------
    >>> DataDriftConfig(method="psi", threshold=0.2).model_dump()["method"]
    'psi'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Engine = "driftloop"
    method: DriftMethod | None = None
    threshold: float | None = Field(default=None, gt=0)
    correction: Correction = "none"
    drift_share: float = Field(default=0.5, gt=0, le=1)
    reference_size: int = Field(default=5000, ge=2)
    prediction_column: str = Field(default="prediction", min_length=1)
    snapshots: bool = True
    full_report: bool = False
    seed: int = 42

    @field_validator("method", mode="before")
    @classmethod
    def _check_method(cls, value: Any) -> Any:
        if value is not None and value not in DRIFT_METHODS:
            raise ValueError(
                f"data_drift.method must be one of {list(DRIFT_METHODS)} or None (Evidently's "
                f"default per column). Got {value!r} instead."
            )
        return value

    @field_validator("engine", mode="before")
    @classmethod
    def _check_engine(cls, value: Any) -> Any:
        if value not in get_args(Engine):
            raise ValueError(f"data_drift.engine must be one of {list(get_args(Engine))}. "
                             f"Got {value!r} instead.")
        return value

    @field_validator("correction", mode="before")
    @classmethod
    def _check_correction(cls, value: Any) -> Any:
        if value not in CORRECTIONS:
            raise ValueError(f"data_drift.correction must be one of {list(CORRECTIONS)}. "
                             f"Got {value!r} instead.")
        return value

    @model_validator(mode="after")
    def _correction_needs_engine(self) -> DataDriftConfig:
        if self.correction != "none" and self.engine != "driftloop":
            raise ValueError(
                f"data_drift.correction={self.correction!r} needs data_drift.engine='driftloop' "
                "(Evidently's DataDriftPreset has no multiple-testing correction)."
            )
        return self

    @field_validator("threshold")
    @classmethod
    def _check_threshold(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(
                f"data_drift.threshold must be a finite number > 0 or None (the method's "
                f"default). Got {value!r} instead."
            )
        return value


@dataclass(frozen=True)
class DataDriftResult:
    """The data-drift check of one window.

    ``columns`` holds one :class:`ColumnDrift` per feature, in the reference's column order;
    ``share_drifted``, ``n_drifted`` and ``dataset_drift`` are Evidently's
    ``DriftedColumnsCount`` over the features only (the prediction column is reported apart in
    ``prediction_drift``). ``snapshot`` is the Evidently snapshot (``None`` when the config's
    ``snapshots`` is off); it is left out of equality and ``repr``.
    """

    window: Window
    columns: tuple[ColumnDrift, ...]
    share_drifted: float
    n_drifted: int
    dataset_drift: bool
    prediction_drift: ColumnDrift | None
    n_rows: int
    n_reference: int
    timestamp: datetime
    elapsed_s: float
    snapshot: Snapshot | None = field(default=None, compare=False, repr=False)

    @property
    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted features."""
        return tuple(c.name for c in self.columns if c.drifted)

    def column(self, name: str) -> ColumnDrift:
        """The :class:`ColumnDrift` of feature ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"No feature {name!r} in this result; features: {[c.name for c in self.columns]}.")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (no snapshot)."""
        return {
            "window": {"index": self.window.index, "start": self.window.start,
                       "end": self.window.end},
            "columns": [c.to_dict() for c in self.columns],
            "share_drifted": self.share_drifted,
            "n_drifted": self.n_drifted,
            "dataset_drift": self.dataset_drift,
            "drifted_columns": list(self.drifted_columns),
            "prediction_drift": None if self.prediction_drift is None else self.prediction_drift.to_dict(),
            "n_rows": self.n_rows,
            "n_reference": self.n_reference,
            "timestamp": self.timestamp.isoformat(),
            "elapsed_s": self.elapsed_s,
        }


@functools.cache
def _preset_class(full_report: bool) -> type:
    """``DataDriftPreset``, or a subclass that skips its summary/table rendering.

    ``DataDriftPreset.render`` recomputes the drift through Evidently's legacy
    ``DatasetDriftMetric`` and ``DataDriftTable`` only to draw them (about half of a report's
    time at 10 features). The compact subclass keeps ``generate_metrics`` (so the metrics,
    methods, thresholds and tests are the preset's own) and shows the child metrics' widgets.
    """
    from evidently.core.container import MetricContainer
    from evidently.presets import DataDriftPreset

    if full_report:
        return DataDriftPreset

    class CompactDataDriftPreset(DataDriftPreset):
        """``DataDriftPreset`` rendered as its metrics' own widgets."""

        def render(self, context, child_widgets=None):
            return MetricContainer.render(self, context, child_widgets)

    return CompactDataDriftPreset


@functools.cache
def _method_name(resolved: str) -> str:
    """Evidently's stat-test name for a method as a metric reports it (name or display name)."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    if resolved in _registered_stat_tests:
        return resolved
    for name, by_kind in _registered_stat_tests.items():
        if any(t.display_name == resolved for t in by_kind.values()):
            return name
    return resolved


class DataDriftCheck:
    """Compares windows of the stream with the reference using Evidently's ``DataDriftPreset``.

    ``__init__`` only stores the config; :meth:`fit` takes the reference (call it again at every
    promotion), :meth:`calculate` checks one window. Unexpected failures are raised as
    :class:`~monitors.errors.DriftCheckError`.

    Parameters
    ----------
    config
        The drift method, thresholds and reference size.

    Attributes
    ----------
    numerical_columns_, categorical_columns_ : tuple of str
        The features compared, set by :meth:`fit`.
    reference_ : pandas.DataFrame
        The (sampled) reference features, indexed ``0..n-1``.
    reference_predictions_ : numpy.ndarray or None
        The model's predictions on ``reference_``.
    """

    def __init__(self, config: DataDriftConfig | None = None) -> None:
        self.config = config if config is not None else DataDriftConfig()

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        reference: pd.DataFrame,
        *,
        numerical_columns: list[str] | None = None,
        categorical_columns: list[str] | None = None,
        reference_predictions: np.ndarray | None = None,
    ) -> DataDriftCheck:
        """Store the reference the windows are compared with.

        Parameters
        ----------
        reference
            The rows the champion was trained on (features only; other columns are ignored when
            the column lists are given).
        numerical_columns, categorical_columns
            The features by kind. A list left as ``None`` is inferred from the dtypes of the
            columns not named in the other list: numbers are numerical; bool, category, object
            and string columns are categorical.
        reference_predictions
            The model's predictions on ``reference`` (1-D, one per row) to watch prediction
            drift. Float predictions are compared as numerical, any other dtype as categorical.

        Returns
        -------
        DataDriftCheck
            ``self``.
        """
        try:
            self._fit(reference, numerical_columns, categorical_columns, reference_predictions)
        except DriftCheckError:
            raise
        except Exception as exc:
            raise DriftCheckError(
                f"Fitting the data-drift check on the reference failed: {type(exc).__name__}: {exc}"
            ) from exc
        return self

    def _fit(
        self,
        reference: pd.DataFrame,
        numerical_columns: list[str] | None,
        categorical_columns: list[str] | None,
        reference_predictions: np.ndarray | None,
    ) -> None:
        cfg = self.config
        if not isinstance(reference, pd.DataFrame):
            raise DriftCheckError(
                f"The 'reference' parameter of DataDriftCheck.fit must be a pandas DataFrame. "
                f"Got {type(reference).__name__} instead."
            )
        if len(reference) < 2:
            raise DriftCheckError(
                f"The reference has {len(reference)} row(s); the data-drift check needs at least 2."
            )
        num, cat = self._resolve_columns(reference, numerical_columns, categorical_columns)
        features = [*num, *cat]
        if cfg.prediction_column in features:
            raise DriftCheckError(
                f"data_drift.prediction_column {cfg.prediction_column!r} is also a feature; "
                "choose another name for the predictions."
            )

        preds = None
        if reference_predictions is not None:
            preds = self._check_predictions(reference_predictions, len(reference), "reference_predictions")
        pred_kind: Literal["num", "cat"] | None = None
        if preds is not None:
            pred_kind = "num" if preds.dtype.kind == "f" else "cat"
        self._check_method(num, cat, pred_kind)

        frame = reference.loc[:, features].reset_index(drop=True)
        if len(frame) > cfg.reference_size:
            rng = np.random.default_rng(cfg.seed)
            rows = np.sort(rng.choice(len(frame), size=cfg.reference_size, replace=False))
            frame = frame.iloc[rows].reset_index(drop=True)
            preds = None if preds is None else preds[rows]
        self._check_not_empty(frame, "reference")

        self.numerical_columns_ = tuple(num)
        self.categorical_columns_ = tuple(cat)
        self.reference_ = frame
        self.reference_predictions_ = preds
        self.prediction_kind_ = pred_kind
        self._reference_datasets: dict[bool, Dataset] = {}
        self.profile_: ReferenceProfile | None = None
        self.prediction_profile_: ColumnProfile | None = None
        if cfg.engine == "driftloop":
            self.profile_ = ReferenceProfile.fit(frame, numerical_columns=num, categorical_columns=cat)
            if preds is not None and pred_kind is not None:
                self.prediction_profile_ = ColumnProfile.fit(cfg.prediction_column, preds, pred_kind)

    @staticmethod
    def _resolve_columns(
        reference: pd.DataFrame, numerical: list[str] | None, categorical: list[str] | None
    ) -> tuple[list[str], list[str]]:
        return infer_kinds(reference, numerical, categorical)

    def _check_method(self, num: list[str], cat: list[str], pred_kind: str | None) -> None:
        method = self.config.method
        if method is None:
            return
        kinds = {"num": num, "cat": cat}
        needed = {k for k, cols in kinds.items() if cols}
        if pred_kind is not None:
            needed.add(pred_kind)
        unsupported = needed - _METHOD_KINDS[method]
        if unsupported:
            label = {"num": "numerical", "cat": "categorical"}
            cols = [c for k in sorted(unsupported) for c in kinds[k]]
            if pred_kind in unsupported:
                cols.append(self.config.prediction_column)
            fits = [m for m in DRIFT_METHODS if needed <= _METHOD_KINDS[m]]
            raise DriftCheckError(
                f"data_drift.method {method!r} does not apply to "
                f"{' and '.join(label[k] for k in sorted(unsupported))} column(s) {cols}. "
                f"Use one of {fits}, or None for Evidently's default per column."
            )

    @staticmethod
    def _check_predictions(values: Any, n_rows: int, key: str) -> np.ndarray:
        arr = np.asarray(values)
        if arr.ndim != 1 or len(arr) != n_rows:
            raise DriftCheckError(
                f"The '{key}' parameter must be a 1-D array with one prediction per row "
                f"({n_rows}). Got shape {arr.shape} instead; for probabilities pass one column."
            )
        return arr

    @staticmethod
    def _check_not_empty(frame: pd.DataFrame, what: str, window: Window | None = None) -> None:
        empty = [c for c in frame.columns if frame[c].isna().all()]
        if empty:
            where = f" in {window}" if window is not None else ""
            raise DriftCheckError(
                f"Column(s) {empty} hold only missing values in the {what}{where}; Evidently cannot "
                "compute drift on an empty column. Fix or quarantine them upstream."
            )

    # ------------------------------------------------------------ calculate
    def calculate(
        self,
        current: pd.DataFrame,
        window: Window,
        *,
        predictions: np.ndarray | None = None,
        timestamp: datetime | None = None,
        values: dict[str, float | int | None] | None = None,
    ) -> DataDriftResult:
        """Compare one window with the reference.

        Parameters
        ----------
        current
            The window's features (at least the fitted feature columns; others are ignored).
            Any index is accepted, e.g. row offsets with gaps where rows were quarantined.
        window
            The window the rows belong to; its index and row range name the snapshot.
        predictions
            The model's predictions on ``current`` (1-D, one per row). Prediction drift is
            reported when the reference predictions were given to :meth:`fit` too.
        timestamp
            The snapshot's time in the Evidently UI (default: now). Evidently stores naive
            timestamps: an aware one is converted to UTC and made naive.
        values
            Other numbers of the window (e.g. ``accuracy``, ``champion_version``) to store in
            the snapshot as ``DriftloopWindowValue`` metrics, for the dashboard; ignored without
            snapshots.

        Returns
        -------
        DataDriftResult
        """
        if not hasattr(self, "reference_"):
            raise DriftCheckError(
                "DataDriftCheck is not fitted; call fit(reference) before calculate()."
            )
        try:
            return self._calculate(current, window, predictions, timestamp, values)
        except DriftCheckError:
            raise
        except Exception as exc:
            raise DriftCheckError(
                f"The data-drift check of {window} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def _reference_dataset(self, with_predictions: bool) -> Dataset:
        if with_predictions not in self._reference_datasets:
            frame = self.reference_
            if with_predictions:
                frame = frame.assign(**{self.config.prediction_column: self.reference_predictions_})
            dataset = self._dataset(frame, with_predictions)
            self._reference_datasets[with_predictions] = dataset
            if self.profile_ is not None:  # the plug-in reuses the profile fitted in fit()
                from monitors.evidently_plugin import seed_profile

                seed_profile(dataset, list(self.profile_.columns), self.profile_)
                if with_predictions and self.prediction_profile_ is not None:
                    name = self.config.prediction_column
                    seed_profile(dataset, [name],
                                 ReferenceProfile({name: self.prediction_profile_},
                                                  self.profile_.n_rows))
        return self._reference_datasets[with_predictions]

    def _dataset(self, frame: pd.DataFrame, with_predictions: bool) -> Dataset:
        from evidently import DataDefinition, Dataset

        num, cat = list(self.numerical_columns_), list(self.categorical_columns_)
        if with_predictions:
            (num if self.prediction_kind_ == "num" else cat).append(self.config.prediction_column)
        definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
        return Dataset.from_pandas(frame, data_definition=definition)

    def _calculate(
        self,
        current: pd.DataFrame,
        window: Window,
        predictions: np.ndarray | None,
        timestamp: datetime | None,
        values: dict[str, float | int | None] | None = None,
    ) -> DataDriftResult:
        from evidently import Report
        from evidently.metrics import ValueDrift

        started = time.perf_counter()
        cfg = self.config
        if not isinstance(current, pd.DataFrame):
            raise DriftCheckError(
                f"The 'current' parameter of DataDriftCheck.calculate must be a pandas DataFrame. "
                f"Got {type(current).__name__} instead."
            )
        features = [*self.numerical_columns_, *self.categorical_columns_]
        missing = [c for c in features if c not in current.columns]
        if missing:
            raise DriftCheckError(
                f"{window} lacks the feature column(s) {missing} the reference was fitted on."
            )
        if len(current) == 0:
            raise DriftCheckError(f"{window} has no rows to compare with the reference.")
        frame = current.loc[:, features].reset_index(drop=True)
        self._check_not_empty(frame, "current rows", window)

        with_predictions = predictions is not None and self.reference_predictions_ is not None
        if predictions is not None:
            preds = self._check_predictions(predictions, len(frame), "predictions")
            if with_predictions:
                frame[cfg.prediction_column] = preds
            else:
                logger.debug("%s: predictions given but the reference has none; no prediction "
                             "drift is reported.", window)

        when = _naive(timestamp)
        if cfg.engine == "driftloop" and not cfg.snapshots:
            return self._calculate_direct(frame, window, with_predictions, when, started)

        metrics: list[Any]
        if cfg.engine == "driftloop":
            from monitors.evidently_plugin import DriftloopDataDriftPreset, DriftloopValueDrift

            # the plug-in fits the profile from the cached reference Dataset once (no key in
            # the metric parameters, so a dashboard series continues across promotions)
            common = {"method": cfg.method, "threshold": cfg.threshold}
            metrics = [DriftloopDataDriftPreset(columns=features, drift_share=cfg.drift_share,
                                                correction=cfg.correction, **common)]
            if with_predictions:
                metrics.append(DriftloopValueDrift(column=cfg.prediction_column,
                                                   columns=[cfg.prediction_column], **common))
        else:
            metrics = [_preset_class(cfg.full_report)(
                columns=features, drift_share=cfg.drift_share, method=cfg.method,
                threshold=cfg.threshold,
            )]
            if with_predictions:
                metrics.append(ValueDrift(column=cfg.prediction_column, method=cfg.method,
                                          threshold=cfg.threshold))
        value_meta: dict[str, str] = {}
        if values:
            from monitors.evidently_plugin import window_values

            value_metrics, value_meta = window_values(values)
            metrics.extend(value_metrics)
        snapshot = Report(metrics, include_tests=True, metadata=value_meta).run(
            self._dataset(frame, with_predictions),
            self._reference_dataset(with_predictions),
            timestamp=when,
            name=str(window),
            tags=["driftloop", "data-drift", f"window={window.index}",
                  f"rows={window.start}:{window.end}"],
            metadata={"window_index": str(window.index), "start_row": str(window.start),
                      "end_row": str(window.end), "n_rows": str(len(frame)),
                      "n_reference": str(len(self.reference_))},
        )
        by_column, count = _read_snapshot(snapshot)

        absent = [c for c in features if c not in by_column]
        if count is None or absent:
            raise DriftCheckError(
                f"The Evidently report of {window} has no drift result for "
                f"{absent or 'DriftedColumnsCount'}; this Evidently version may not be supported."
            )
        n_drifted, share, count_failed = count
        dataset_drift = count_failed if count_failed is not None else share >= cfg.drift_share
        return DataDriftResult(
            window=window,
            columns=tuple(by_column[c] for c in features),
            share_drifted=share,
            n_drifted=n_drifted,
            dataset_drift=dataset_drift,
            prediction_drift=by_column.get(cfg.prediction_column) if with_predictions else None,
            n_rows=len(frame),
            n_reference=len(self.reference_),
            timestamp=when,
            elapsed_s=time.perf_counter() - started,
            snapshot=snapshot if cfg.snapshots else None,
        )


    def _calculate_direct(self, frame: pd.DataFrame, window: Window, with_predictions: bool,
                          when: datetime, started: float) -> DataDriftResult:
        """The driftloop engine without Evidently (no snapshot)."""
        cfg = self.config
        assert self.profile_ is not None
        columns = compare(self.profile_, frame, method=cfg.method, threshold=cfg.threshold,
                          correction=cfg.correction)
        prediction = None
        if with_predictions and self.prediction_profile_ is not None:
            prediction = check_column(self.prediction_profile_, frame[cfg.prediction_column],
                                      method=cfg.method, threshold=cfg.threshold)
        n_drifted = sum(c.drifted for c in columns)
        share = n_drifted / len(columns)
        return DataDriftResult(
            window=window, columns=tuple(columns), share_drifted=share, n_drifted=n_drifted,
            dataset_drift=share >= cfg.drift_share, prediction_drift=prediction,
            n_rows=len(frame), n_reference=len(self.reference_), timestamp=when,
            elapsed_s=time.perf_counter() - started, snapshot=None,
        )


def _naive(timestamp: datetime | None) -> datetime:
    if timestamp is None:
        return datetime.now()
    if timestamp.tzinfo is not None:
        return timestamp.astimezone(UTC).replace(tzinfo=None)
    return timestamp


def _read_snapshot(
    snapshot: Snapshot,
) -> tuple[dict[str, ColumnDrift], tuple[int, float, bool | None] | None]:
    """Per-column drift and (count, share, share-test failed) from an Evidently snapshot."""
    by_column: dict[str, ColumnDrift] = {}
    count = None
    for result in snapshot.metric_results.values():
        params = result.metric_value_location.metric.params
        kind = params.get("type")
        statuses = [str(getattr(t.status, "value", t.status)) for t in result.tests]
        if kind in _VALUE_DRIFT:
            if not statuses:
                raise DriftCheckError(
                    f"Evidently returned no drift test for column {params['column']!r}; the "
                    "report must run with include_tests=True."
                )
            by_column[params["column"]] = ColumnDrift(
                name=params["column"],
                method=_method_name(str(params["method"])),
                score=float(result.value),
                threshold=float(params["threshold"]),
                drifted=statuses[0] == "FAIL",
            )
        elif kind in _DRIFTED_COUNT:
            failed = (statuses[0] == "FAIL") if statuses else None
            count = (int(result.count.value), float(result.share.value), failed)
    return by_column, count


@dataclass(frozen=True)
class StoredSnapshot:
    """A snapshot as the workspace stores it: id, name, timestamp, tags and metadata."""

    id: str
    name: str | None
    timestamp: datetime
    tags: tuple[str, ...]
    metadata: dict[str, str] = field(compare=False)


class DriftWorkspace:
    """A local Evidently workspace holding one project of per-window drift snapshots.

    Opens (or creates) the workspace folder and the project named ``project_name``, reusing an
    existing project of that name. View it with ``evidently ui --workspace <path>``.

    Parameters
    ----------
    path
        The workspace folder.
    project_name
        The Evidently project the snapshots go to.
    description
        Project description, used when the project is created.
    engine
        The data-drift engine whose snapshots the project holds (its dashboard panel plots
        that engine's drifted-columns metric).
    """

    def __init__(self, path: Path | str, project_name: str, *, description: str | None = None,
                 engine: Engine = "driftloop") -> None:
        from evidently.ui.workspace import Workspace

        if not project_name or not isinstance(project_name, str):
            raise DriftCheckError(
                f"The 'project_name' parameter of DriftWorkspace must be a non-empty string. "
                f"Got {project_name!r} instead."
            )
        self.path = Path(path)
        self.project_name = project_name
        self.engine = engine
        self._added: list[str] = []
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            try:
                self._workspace = Workspace(str(self.path))
            except ValueError:  # Evidently reads every snapshot when it opens a workspace
                if not self._remove_torn_snapshots():
                    raise
                self._workspace = Workspace(str(self.path))
            found = self._workspace.search_project(project_name)
            if len(found) > 1:
                logger.warning("Evidently workspace %s holds %d projects named %r; using %s.",
                               self.path, len(found), project_name, found[0].id)
            if found:
                self._project = found[0]
            else:
                self._project = self._workspace.create_project(
                    project_name,
                    description=description or "driftloop: per-window data drift (Evidently).",
                )
                self._add_dashboard()
        except DriftCheckError:
            raise
        except Exception as exc:
            raise DriftCheckError(
                f"Could not open the Evidently workspace {self.path} / project {project_name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _remove_torn_snapshots(self) -> list[Path]:
        """Delete the snapshot files that are not whole JSON and return them.

        Evidently writes a snapshot file in place, so a process killed meanwhile leaves it
        empty or cut short, and Evidently then cannot open the workspace at all. Such a file
        holds nothing to keep: it belongs to the window the crash interrupted (a resumed run
        stores it again)."""
        import json

        torn = []
        for snapshot in self.path.glob("*/snapshots/*.json"):
            try:
                json.loads(snapshot.read_bytes())
            except ValueError:
                snapshot.unlink()
                torn.append(snapshot)
        if torn:
            logger.warning("Removed %d torn Evidently snapshot file(s) (a crash while writing "
                           "them): %s", len(torn), ", ".join(str(t) for t in torn))
        return torn

    #: Titles of the dashboard's panels (the per-feature panel comes with the first snapshot).
    PANEL_TITLES = ("Share of drifted features", "Model quality", "Retrains and promotions",
                    "Drift score per feature")

    def _add_dashboard(self) -> None:
        """The drift dashboard's fixed panels: drift share, model quality, retrains and
        promotions (best effort: the snapshots matter, the panels are a convenience)."""
        try:
            from evidently.sdk.models import PanelMetric
            from evidently.sdk.panels import bar_plot_panel, line_plot_panel

            value = "DriftloopWindowValue"
            self._project.dashboard.add_panel(line_plot_panel(
                title=self.PANEL_TITLES[0],
                values=[PanelMetric(metric=COUNT_METRIC[self.engine], legend="share",
                                    metric_labels={"value_type": "share"})],
            ))
            self._project.dashboard.add_panel(line_plot_panel(
                title=self.PANEL_TITLES[1],
                description="labelled rows of each window, scored by the champion that served them",
                values=[PanelMetric(metric=value, legend=name, metric_labels={"name": name})
                        for name in ("accuracy", "f1", "mae", "rmse")],
            ))
            self._project.dashboard.add_panel(bar_plot_panel(
                title=self.PANEL_TITLES[2],
                description="retrain: 1 per retrain; promotion: the promoted version",
                values=[PanelMetric(metric=value, legend=name, metric_labels={"name": name})
                        for name in ("retrain", "promotion")],
            ))
        except Exception as exc:
            logger.warning("Could not add the drift dashboard panels: %s", exc)

    def _ensure_feature_panel(self, columns: tuple[str, ...]) -> None:
        """A line per feature of its drift score (added once, with the first snapshot)."""
        if getattr(self, "_feature_panel", False):
            return
        self._feature_panel = True
        try:
            titles = {p.title for p in self._project.dashboard.model().panels}
            if self.PANEL_TITLES[3] in titles:
                return
            from evidently.sdk.models import PanelMetric
            from evidently.sdk.panels import line_plot_panel

            metric = "DriftloopValueDrift" if self.engine == "driftloop" else "ValueDrift"
            self._project.dashboard.add_panel(line_plot_panel(
                title=self.PANEL_TITLES[3],
                values=[PanelMetric(metric=metric, legend=c, metric_labels={"column": c})
                        for c in columns[:MAX_FEATURE_SERIES]],
            ))
        except Exception as exc:
            logger.warning("Could not add the per-feature drift panel: %s", exc)

    def add_event(self, kind: Literal["retrain", "promotion"], value: float, *,
                  window: Window | None = None, timestamp: datetime | None = None) -> str:
        """Store a retrain (``value`` 1) or a promotion (``value`` the new version) as a small
        snapshot, for the dashboard's "Retrains and promotions" panel."""
        from evidently import DataDefinition, Dataset, Report

        from monitors.evidently_plugin import window_values

        tags = ["driftloop", kind] + ([f"window={window.index}"] if window is not None else [])
        try:
            frame = pd.DataFrame({"_": [0.0]})
            value_metrics, value_meta = window_values({kind: value})
            snapshot = Report(value_metrics, metadata=value_meta).run(
                Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=["_"])),
                None, timestamp=_naive(timestamp), name=f"{kind} {value:g}", tags=tags)
            ref = self._workspace.add_run(self._project.id, snapshot, include_data=False)
        except Exception as exc:
            raise DriftCheckError(
                f"Could not store the {kind} event in the Evidently workspace {self.path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self._added.append(str(ref.id))
        return str(ref.id)

    def take_added(self) -> list[str]:
        """The ids of the snapshots this object stored since the last call (a checkpoint
        records them as done)."""
        added, self._added = self._added, []
        return added

    @property
    def project_id(self) -> str:
        """The Evidently project's id."""
        return str(self._project.id)

    def snapshot_ids(self) -> list[str]:
        """Ids of the snapshots stored in the project."""
        return [str(s) for s in self._workspace.list_runs(self._project.id)]

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove one snapshot from the project (a resumed run drops those of the window it
        processes again)."""
        self._workspace.delete_run(self._project.id, snapshot_id)

    def snapshots(self) -> list[StoredSnapshot]:
        """The snapshots stored in the project (read back from disk), oldest first."""
        out = []
        for sid in self._workspace.list_runs(self._project.id):
            model = self._workspace.get_run(self._project.id, sid)
            if model is not None:
                out.append(StoredSnapshot(id=str(sid), name=model.name, timestamp=model.timestamp,
                                          tags=tuple(model.tags),
                                          metadata={k: str(v) for k, v in model.metadata.items()}))
        return sorted(out, key=lambda s: s.timestamp)

    def add(self, result: DataDriftResult) -> str:
        """Store the window's Evidently snapshot in the project and return its id."""
        snapshot = self._snapshot(result)
        self._ensure_feature_panel(tuple(c.name for c in result.columns))
        try:
            ref = self._workspace.add_run(self._project.id, snapshot, include_data=False)
        except Exception as exc:
            raise DriftCheckError(
                f"Could not store the snapshot of {result.window} in the Evidently workspace "
                f"{self.path}: {type(exc).__name__}: {exc}"
            ) from exc
        self._added.append(str(ref.id))
        return str(ref.id)

    def save_html(self, result: DataDriftResult, path: Path | str) -> Path:
        """Write the window's Evidently HTML report to ``path`` and return the path."""
        snapshot = self._snapshot(result)
        out = Path(path)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(out))
        except Exception as exc:
            raise DriftCheckError(
                f"Could not write the Evidently HTML report of {result.window} to {out}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return out

    @staticmethod
    def _snapshot(result: DataDriftResult) -> Snapshot:
        if result.snapshot is None:
            raise DriftCheckError(
                f"The result of {result.window} carries no Evidently snapshot; run the check with "
                "data_drift.snapshots=True to store or render it."
            )
        return result.snapshot

    def __repr__(self) -> str:
        return f"DriftWorkspace(path={str(self.path)!r}, project_name={self.project_name!r})"
