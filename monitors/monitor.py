"""One window through every check: validate -> serve -> join late labels -> concept drift ->
labelled performance -> data drift -> retrain decision.

:class:`WindowMonitor` composes the single-purpose monitors of this package; it holds their
state between windows and knows nothing about models: the caller passes the serving model's
``predict`` function, and tells the monitor when a retrain happened or a new champion was
promoted (:meth:`on_retrain`, :meth:`on_promotion`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from monitors.concept_drift import ConceptDriftConfig, ConceptDriftMonitor, DetectorSignal
from monitors.data_drift import DataDriftCheck, DataDriftConfig, DataDriftResult, DriftWorkspace
from monitors.decision import Decision, DecisionConfig, RetrainDecider
from monitors.labels import LabelJoiner, LabelledRows
from monitors.performance import Performance, Prequential, losses, window_performance
from monitors.stream import Batch, Window
from monitors.validation import BatchValidator, Schema, ValidationConfig, ValidationResult

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class WindowReport:
    """Everything the monitors found in one window."""

    window: Window
    validation: ValidationResult
    labelled: LabelledRows
    performance: Performance
    signals: tuple[DetectorSignal, ...]
    data_drift: DataDriftResult | None
    decision: Decision
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def features(self) -> pd.DataFrame:
        return self.validation.features


class WindowMonitor:
    """Stateful monitoring of consecutive windows for one served model.

    Parameters
    ----------
    task
        ``"classification"`` or ``"regression"``.
    schema
        The expected features (from the first model's training data).
    label_delay
        Rows between a row and its label.
    workspace
        Where each window's Evidently snapshot is stored (``None``: not stored).
    quarantine_dir
        Where set-aside rows are written.
    """

    def __init__(
        self,
        *,
        task: str,
        schema: Schema,
        label_delay: int,
        validation: ValidationConfig,
        data_drift: DataDriftConfig,
        concept_drift: ConceptDriftConfig,
        decision: DecisionConfig,
        workspace: DriftWorkspace | None = None,
        quarantine_dir: Path | None = None,
        keep_results: int = 8,
        keep_served: int = 10_000,
    ) -> None:
        self.task = task
        self.schema = schema
        self.validator = BatchValidator(schema, validation, quarantine_dir)
        self.joiner = LabelJoiner(label_delay)
        self.concept = ConceptDriftMonitor(concept_drift, task)
        self.data_drift = DataDriftCheck(data_drift)
        self.decider = RetrainDecider(decision, task)
        self.prequential = Prequential(task)
        self.workspace = workspace
        self._recent: OrderedDict[int, DataDriftResult] = OrderedDict()
        self._keep = keep_results
        self._served: list[tuple[np.ndarray, np.ndarray]] = []
        self._keep_served = keep_served
        self.n_quarantined = 0

    # -- lifecycle -------------------------------------------------------------------------
    def on_promotion(self, reference: pd.DataFrame, reference_predictions: np.ndarray | None,
                     score: float, row: int, *, trained_since: int | None = None) -> None:
        """A new champion serves from ``row``: its training data becomes the drift reference,
        the detector restarts on its errors, and its holdout score becomes the baseline."""
        self.data_drift.fit(
            reference,
            numerical_columns=list(self.schema.numeric),
            categorical_columns=list(self.schema.categorical),
            reference_predictions=reference_predictions,
        )
        self.concept.reset()
        self.decider.set_baseline(score, row, trained_since=trained_since)

    def on_retrain(self, row: int) -> None:
        self.decider.notify_retrain(row)

    def result_for_row(self, row: int) -> DataDriftResult | None:
        """The data-drift result of the (recent) window that contains ``row``."""
        for res in reversed(self._recent.values()):
            if res.window.start <= row < res.window.end:
                return res
        return None

    # -- one window ------------------------------------------------------------------------
    def observe(self, window: Window, batch: Batch, predict: Predict, *,
                values: dict[str, float | int | None] | None = None) -> WindowReport:
        """Put one window through the checks. ``values`` (e.g. the serving champion's version)
        are stored in the window's Evidently snapshot with its labelled performance, for the
        dashboard."""
        t: dict[str, float] = {}
        t0 = time.perf_counter()
        checked = self.validator.validate(batch)
        self.n_quarantined += checked.n_quarantined
        t["validate"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        X = checked.features
        preds = np.asarray(predict(X)) if len(X) else np.empty(0)
        self.joiner.add(X, preds, checked.target)
        labelled = self.joiner.release(window.end)
        t["predict"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        signals = self._score_labels(labelled)
        perf = window_performance(self.task, labelled.y, labelled.predictions)
        t["concept"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        dd: DataDriftResult | None = None
        if len(X) and hasattr(self.data_drift, "reference_"):
            shown = {k: v for k, v in perf.to_dict().items()
                     if k in ("accuracy", "f1", "mae", "rmse")}
            dd = self.data_drift.calculate(X, window, predictions=preds,
                                           values={**shown, **(values or {})})
            self._recent[window.index] = dd
            while len(self._recent) > self._keep:
                self._recent.popitem(last=False)
            if self.workspace is not None:
                self.workspace.add(dd)
        t["data_drift"] = time.perf_counter() - t0

        decision = self.decider.decide(
            window,
            signals=signals,
            performance=perf,
            data_drift_share=None if dd is None else dd.share_drifted,
            dataset_drift=dd is not None and dd.dataset_drift,
            warning_start=self.concept.warning_start_,
        )
        return WindowReport(window, checked, labelled, perf, tuple(signals), dd, decision, t)

    def finish(self) -> LabelledRows:
        """The stream ended: labels still in flight arrive; score them (no decision)."""
        labelled = self.joiner.flush()
        self._score_labels(labelled)
        return labelled

    def served_predictions(self, rows: np.ndarray) -> np.ndarray | None:
        """What was served for these (recently labelled) rows, or None if any is unknown."""
        if not self._served:
            return None
        known_rows = np.concatenate([r for r, _ in self._served])
        known_preds = np.concatenate([p for _, p in self._served])
        order = np.argsort(known_rows)
        pos = np.searchsorted(known_rows[order], rows)
        pos = np.clip(pos, 0, len(order) - 1)
        found = known_rows[order][pos] == rows
        return known_preds[order][pos] if found.all() else None

    def _score_labels(self, labelled: LabelledRows) -> list[DetectorSignal]:
        if not len(labelled):
            return []
        self._served.append((labelled.rows, labelled.predictions))
        while sum(len(r) for r, _ in self._served) - len(self._served[0][0]) > self._keep_served:
            self._served.pop(0)
        row_losses = losses(self.task, labelled.y, labelled.predictions)
        self.prequential.add(row_losses)
        self.decider.observe_losses(labelled.rows, row_losses)
        return self.concept.update(labelled.rows, row_losses)

    def state(self) -> dict[str, Any]:
        return {"prequential": self.prequential.value, "labelled": self.prequential.n,
                "pending_labels": self.joiner.pending, "quarantined": self.n_quarantined}
