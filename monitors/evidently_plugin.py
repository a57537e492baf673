"""driftloop's drift engine inside Evidently: metrics whose numbers come from :mod:`monitors.drift_engine`.

Evidently snapshots, the workspace and its UI dashboards keep working as they do with
``DataDriftPreset``; only the numerics change. Use :class:`DriftloopDataDriftPreset` where
``DataDriftPreset`` would go::

    Report([DriftloopDataDriftPreset(columns=[...])], include_tests=True).run(current, reference)

It generates one :class:`DriftloopDriftedColumnsCount` (count and share of drifted columns,
with Evidently's ``share < drift_share`` test) and one :class:`DriftloopValueDrift` per column
(the score, with a ``drift`` test that fails when the column drifted), the same layout as
``DataDriftPreset``'s ``DriftedColumnsCount`` and ``ValueDrift``. Their type names in snapshots
and dashboard panels are ``evidently:metric_v2:DriftloopDriftedColumnsCount`` and
``evidently:metric_v2:DriftloopValueDrift``.

All metrics of one report share one computation: the first one that runs compares every column
(:func:`monitors.drift_engine.compare`, columns in parallel) and caches the result on the
report's context. The reference profile is fitted from the report's reference data, once per
reference ``Dataset`` object (reuse it across windows, as :class:`~monitors.data_drift.DataDriftCheck`
does), or looked up by the ``profile`` key given to :func:`register_profile` for a profile
built elsewhere. (The key is a metric parameter, so it is part of the series' identity in
dashboards: keep it stable.)

This module imports Evidently (about 4 s), so import it lazily.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from evidently.core.container import MetricContainer
from evidently.core.metric_types import (
    CountCalculation,
    CountMetric,
    MetricTestResult,
    SingleValue,
    SingleValueCalculation,
    SingleValueMetric,
)
from evidently.legacy.core import ColumnType
from evidently.legacy.tests.base_test import TestStatus as _Status
from evidently.metrics.column_statistics import ValueDriftBoundTest, ValueDriftTest
from evidently.tests import lt

from monitors.drift_engine import ColumnDrift, ReferenceProfile, compare

if TYPE_CHECKING:  # pragma: no cover
    from evidently.core.datasets import Dataset
    from evidently.core.report import Context

_PROFILES: dict[str, ReferenceProfile] = {}
_LOCK = threading.Lock()


def register_profile(profile: ReferenceProfile, key: str | None = None) -> str:
    """Make ``profile`` available to the metrics under ``key`` (default: a new id); returns it."""
    key = key or uuid.uuid4().hex
    with _LOCK:
        _PROFILES[key] = profile
    return key


def unregister_profile(key: str) -> None:
    """Forget a registered profile (no error if it is unknown)."""
    with _LOCK:
        _PROFILES.pop(key, None)


_FITTED: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], ReferenceProfile]] = \
    weakref.WeakKeyDictionary()


def _fitted_profile(reference: Dataset, columns: tuple[str, ...]) -> ReferenceProfile:
    """The profile of a reference dataset, fitted once per dataset object and column set (a
    caller that reuses its reference ``Dataset`` across windows fits it once)."""
    try:
        per_dataset = _FITTED.setdefault(reference, {})
    except TypeError:  # not weak-referenceable: fit every time
        per_dataset = {}
    if columns not in per_dataset:
        ref_frame = reference.as_dataframe()
        num = [c for c in columns if reference.column(c).type == ColumnType.Numerical]
        cat = [c for c in columns if c not in num]
        per_dataset[columns] = ReferenceProfile.fit(ref_frame, numerical_columns=num,
                                                    categorical_columns=cat)
    return per_dataset[columns]


def seed_profile(reference: Dataset, columns: Sequence[str], profile: ReferenceProfile) -> None:
    """Hand the metrics a profile already fitted on ``reference`` (the same rows and column
    kinds), so that a report does not fit it again."""
    with contextlib.suppress(TypeError):  # not weak-referenceable: the metrics fit it
        _FITTED.setdefault(reference, {})[tuple(columns)] = profile


def _window_results(context: Context, metric: Any, current: Dataset,
                    reference: Dataset | None) -> dict[str, ColumnDrift]:
    """Every column's verdict for this report run, computed once and cached on the context."""
    if reference is None:
        raise ValueError("driftloop's drift metrics need reference data; pass it to Report.run.")
    columns = list(metric.columns or [])
    key = (metric.profile, tuple(columns), metric.method, metric.threshold, metric.correction)
    cache: dict[Any, dict[str, ColumnDrift]] = context.__dict__.setdefault("_driftloop_drift", {})
    if key not in cache:
        profile = _PROFILES.get(metric.profile) if metric.profile else None
        current_frame = current.as_dataframe()
        if not columns:
            columns = [c for c in current_frame.columns
                       if current.column(c).type in (ColumnType.Numerical, ColumnType.Categorical)]
        if profile is None:
            profile = _fitted_profile(reference, tuple(columns))
        else:
            missing = [c for c in columns if c not in profile.columns]
            if missing:
                raise ValueError(f"The registered profile {metric.profile!r} has no column(s) {missing}.")
            profile = ReferenceProfile({c: profile.columns[c] for c in columns}, profile.n_rows)
        results = compare(profile, current_frame, method=metric.method, threshold=metric.threshold,
                          correction=metric.correction)
        cache[key] = {r.name: r for r in results}
    return cache[key]


class DriftloopDriftedColumnsCount(CountMetric):
    """Count and share of drifted columns, computed by driftloop's engine.

    The default test fails when the share is at or above ``drift_share``, as for Evidently's
    ``DriftedColumnsCount``.
    """

    columns: list[str] | None = None
    drift_share: float = 0.5
    method: str | None = None
    threshold: float | None = None
    correction: str = "none"
    profile: str | None = None

    def _default_tests_with_reference(self, context: Context) -> list[Any]:
        return [lt(self.drift_share).bind_count(self.get_fingerprint(), is_count=False)]


class DriftloopDriftedColumnsCountCalculation(CountCalculation[DriftloopDriftedColumnsCount]):
    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None) -> Any:
        results = _window_results(context, self.metric, current_data, reference_data)
        n = sum(r.drifted for r in results.values())
        return self.result(n, n / len(results) if results else 0.0)

    def display_name(self) -> str:
        return "Count of Drifted Columns (driftloop)"

    def share_display_name(self) -> str:
        return "Share of Drifted Columns (driftloop)"


class DriftloopValueDrift(SingleValueMetric):
    """One column's drift score, computed by driftloop's engine, with a ``drift`` test.

    ``columns`` lists every column of the window's comparison (a multiple-testing
    ``correction`` depends on all of them).
    """

    column: str
    columns: list[str] | None = None
    method: str | None = None
    threshold: float | None = None
    correction: str = "none"
    profile: str | None = None


class DriftloopValueDriftCalculation(SingleValueCalculation[DriftloopValueDrift]):
    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None) -> SingleValue:
        results = _window_results(context, self.metric, current_data, reference_data)
        if self.metric.column not in results:
            raise ValueError(f"Column {self.metric.column!r} is not among the compared columns "
                             f"{list(results)}.")
        drift = results[self.metric.column]
        if self.metric.method is None:
            self.resolve_parameter("method", drift.method)
        if self.metric.threshold is None:
            self.resolve_parameter("threshold", drift.threshold)
        result = self.result(drift.score)
        if self.metric.tests is None and context.configuration.include_tests:
            result.set_tests([MetricTestResult(
                id="drift",
                name=f"Value Drift for column {self.metric.column}",
                description=(f"Drift score is {drift.score:0.3g}. The drift detection method is "
                             f"{drift.method}. The drift threshold is {drift.threshold:0.3g}."),
                status=_Status.FAIL if drift.drifted else _Status.SUCCESS,
                metric_config=self.to_metric_config(),
                test_config={},
                bound_test=ValueDriftBoundTest(test=ValueDriftTest(),
                                               metric_fingerprint=self.to_metric().metric_id),
            )])
        return result

    def display_name(self) -> str:
        return f"Value drift for {self.metric.column} (driftloop)"


#: Report-metadata key prefix under which :class:`DriftloopWindowValue` finds its value.
VALUE_KEY = "driftloop.value."


class DriftloopWindowValue(SingleValueMetric):
    """A number driftloop measured for the window (accuracy, F1, MAE, the serving champion's
    version, a retrain or a promotion), stored in the snapshot so that dashboards can plot it
    over time next to the drift. ``name`` says which; the value comes from the report's
    metadata (``driftloop.value.<name>``), so that it is not a metric parameter and one
    dashboard series holds every window's value. Build both with :func:`window_values`."""

    name: str


class DriftloopWindowValueCalculation(SingleValueCalculation[DriftloopWindowValue]):
    def calculate(self, context: Context, current_data: Dataset, reference_data: Dataset | None) -> SingleValue:
        key = VALUE_KEY + self.metric.name
        raw = context.configuration.metadata.get(key)
        if raw is None:
            raise ValueError(f"DriftloopWindowValue({self.metric.name!r}) needs the report "
                             f"metadata {key!r}; build the report with window_values().")
        return self.result(float(raw))

    def display_name(self) -> str:
        return f"{self.metric.name} (driftloop)"


def window_values(values: dict[str, float | int | None]
                  ) -> tuple[list[DriftloopWindowValue], dict[str, str]]:
    """The metrics and the report metadata for the finite ``values`` (missing ones are left
    out): ``Report([*metrics], metadata=metadata)``."""
    import math

    finite = {k: float(v) for k, v in values.items()
              if v is not None and math.isfinite(float(v))}
    return ([DriftloopWindowValue(name=k) for k in finite],
            {VALUE_KEY + k: repr(v) for k, v in finite.items()})


class DriftloopDataDriftPreset(MetricContainer):
    """``DataDriftPreset`` with driftloop's numerics: a drifted-columns count and a value drift
    per column (see the module docstring)."""

    columns: list[str] | None = None
    drift_share: float = 0.5
    method: str | None = None
    threshold: float | None = None
    correction: str = "none"
    profile: str | None = None

    def generate_metrics(self, context: Context) -> Sequence[Any]:
        columns = list(self.columns) if self.columns else [
            c for c in context.data_definition.get_numerical_columns()
            + context.data_definition.get_categorical_columns()]
        common = {"method": self.method, "threshold": self.threshold,
                  "correction": self.correction, "profile": self.profile}
        return [DriftloopDriftedColumnsCount(columns=columns, drift_share=self.drift_share, **common),
                *(DriftloopValueDrift(column=c, columns=columns, **common) for c in columns)]
