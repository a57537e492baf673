"""The retrain decision: when does drift warrant a new model?

Three triggers, each recorded with its row, method and details:

- **concept**: the River detector flagged a drift in the error stream;
- **performance**: a window's labelled score fell below the champion's baseline by more than
  ``performance_tolerance``;
- **data**: Evidently flagged dataset drift (the share of drifted features reached
  ``data_drift.drift_share``) *and* the score fell by more than ``data_drift_tolerance`` (data drift alone does not retrain: a
  feature shift the model handles well is not worth a new model).

A trigger becomes a retrain only when the cooldown since the last retrain has passed, at
least ``min_labelled_rows`` labelled rows exist since the new concept started (so the
challenger has something to learn from), and, for concept triggers, the loss since the
signal confirms a drop of at least ``confirm_drop`` against the baseline. Unconfirmed
signals are dismissed after ``confirm_within_rows`` labelled rows: this is what removes a raw
detector's false alarms. Every :class:`Decision` carries its reasons as readable text.

A model retrained right after a drift has seen few rows of the new concept; once
``refresh_rows`` labelled rows of it exist, one **refresh** retrain (through the same gate)
trains on them all.

Losses are 0/1 (classification) or absolute errors (regression); drops are absolute error-rate
increases for classification and relative MAE increases for regression, which has its own
thresholds (the ``*_mae`` keys: MAE on a window is much noisier than an error rate).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from monitors.concept_drift import DetectorSignal
from monitors.performance import Performance
from monitors.stream import Window

TriggerKind = Literal["concept", "performance", "data", "refresh"]
Status = Literal["none", "pending", "retrain", "dismissed", "cooldown"]


class DecisionConfig(BaseModel):
    """Knobs of the retrain decision (see module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on_concept_drift: bool = True
    performance_tolerance: float = Field(0.05, ge=0)
    data_drift_tolerance: float = Field(0.02, ge=0)
    confirm_drop: float = Field(0.02, ge=0)
    confirm_within_rows: int = Field(3000, gt=0)
    min_labelled_rows: int = Field(500, gt=0)
    min_window_labels: int = Field(100, gt=0)
    cooldown_rows: int = Field(2000, ge=0)
    performance_tolerance_mae: float = Field(0.25, ge=0)
    data_drift_tolerance_mae: float = Field(0.10, ge=0)
    confirm_drop_mae: float = Field(0.10, ge=0)
    baseline_rows: int = Field(1000, gt=0)
    use_warning_start: bool = True
    refresh_rows: int | None = Field(2500, gt=0)


@dataclass(frozen=True)
class Trigger:
    """Why a retrain was considered: kind, the row where it happened, the method, details."""

    kind: TriggerKind
    row: int
    method: str
    since_row: int
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "row": self.row, "method": self.method,
                "since_row": self.since_row, "details": self.details}


@dataclass(frozen=True)
class Decision:
    """The decision taken at the end of a window."""

    window: Window
    status: Status
    reasons: tuple[str, ...]
    trigger: Trigger | None = None
    new_triggers: tuple[Trigger, ...] = ()

    @property
    def retrain(self) -> bool:
        return self.status == "retrain"

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window.index, "row": self.window.end, "status": self.status,
                "retrain": self.retrain, "reasons": list(self.reasons),
                "trigger": self.trigger.to_dict() if self.trigger else None}


class RetrainDecider:
    """Stateful retrain policy: call :meth:`observe_losses` with every labelled row's loss,
    :meth:`decide` once per window, :meth:`notify_retrain` after every retrain and
    :meth:`set_baseline` after every promotion."""

    def __init__(self, config: DecisionConfig, task: str) -> None:
        self.config = config
        self.task = task
        self._reset()

    def _reset(self) -> None:
        self._rows: list[np.ndarray] = []
        self._losses: list[np.ndarray] = []
        self.pending_: Trigger | None = None
        self.last_retrain_row_: int | None = None
        self.baseline_loss_: float | None = None
        self._baseline_from_row: int = 0
        self._baseline_live = False
        self.refresh_from_: int | None = None

    # -- state updates -------------------------------------------------------------------
    def set_baseline(self, score: float, row: int, *, trained_since: int | None = None) -> None:
        """A new champion serves from ``row``; ``score`` is its holdout score (higher is better).

        The baseline is replaced by the champion's live loss once ``baseline_rows`` labelled
        rows served by it have been seen. ``trained_since`` is the first row of a new concept
        the champion was trained from (after a drift): once ``refresh_rows`` labelled rows of
        that concept exist, a *refresh* retrain gives the model the fuller picture.
        """
        self.baseline_loss_ = (1.0 - score) if self.task == "classification" else -score
        self._baseline_from_row = row
        self._baseline_live = False
        self.pending_ = None
        self.refresh_from_ = trained_since if self.config.refresh_rows else None

    def notify_retrain(self, row: int) -> None:
        self.last_retrain_row_ = row
        self.pending_ = None

    def observe_losses(self, rows: np.ndarray, losses: np.ndarray) -> None:
        if len(rows) == 0:
            return
        self._rows.append(np.asarray(rows, dtype=np.int64))
        self._losses.append(np.asarray(losses, dtype=float))
        keep = 4 * max(self.config.confirm_within_rows, self.config.baseline_rows)
        while sum(len(r) for r in self._rows) - len(self._rows[0]) > keep:
            self._rows.pop(0)
            self._losses.pop(0)
        if not self._baseline_live and self.baseline_loss_ is not None:
            rows_all, loss_all = self._since(self._baseline_from_row)
            if len(rows_all) >= self.config.baseline_rows and self.pending_ is None:
                live = float(loss_all[: self.config.baseline_rows].mean())
                # a champion already degraded in its first rows keeps its holdout baseline
                if self._drop(live) <= self._tol("performance_tolerance"):
                    self.baseline_loss_ = live
                self._baseline_live = True

    def _since(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        if not self._rows:
            return np.empty(0, dtype=np.int64), np.empty(0)
        r = np.concatenate(self._rows)
        lo = np.concatenate(self._losses)
        m = r >= row
        return r[m], lo[m]

    def _tol(self, name: str) -> float:
        """A drop threshold for this task (regression uses the ``*_mae`` variant)."""
        key = name if self.task == "classification" else f"{name}_mae"
        return float(getattr(self.config, key))

    def _drop(self, loss: float) -> float:
        """How much worse ``loss`` is than the baseline (error-rate points or relative MAE)."""
        assert self.baseline_loss_ is not None
        if self.task == "classification":
            return loss - self.baseline_loss_
        return (loss - self.baseline_loss_) / max(self.baseline_loss_, 1e-12)

    # -- the decision ----------------------------------------------------------------------
    def decide(
        self,
        window: Window,
        *,
        signals: list[DetectorSignal],
        performance: Performance,
        data_drift_share: float | None,
        dataset_drift: bool = False,
        warning_start: int | None = None,
    ) -> Decision:
        cfg = self.config
        reasons: list[str] = []
        new: list[Trigger] = []

        drifts = [s for s in signals if s.kind == "drift"]
        if drifts and cfg.on_concept_drift:
            s = drifts[0]
            since = s.row
            if cfg.use_warning_start and warning_start is not None and warning_start <= s.row:
                since = warning_start
            new.append(Trigger("concept", s.row, s.detector, since,
                               {"mean_loss_before": s.mean_loss_before,
                                "signals": [d.row for d in drifts]}))
            reasons.append(f"{s.detector} flagged concept drift at row {s.row}")

        drop = None
        if (performance.n >= cfg.min_window_labels and self.baseline_loss_ is not None):
            loss = 1.0 - performance.accuracy if self.task == "classification" else performance.mae  # type: ignore[operator]
            drop = self._drop(float(loss))  # type: ignore[arg-type]
            details = {"baseline_loss": self.baseline_loss_, "window_loss": loss, "drop": drop,
                       "labelled_rows": performance.n}
            tolerance = self._tol("performance_tolerance")
            if drop > tolerance:
                new.append(Trigger("performance", window.end - 1, "performance_drop",
                                   window.start, details))
                reasons.append(f"performance dropped by {drop:.3f} (> {tolerance})")
            if dataset_drift and data_drift_share is not None:
                if drop > self._tol("data_drift_tolerance"):
                    new.append(Trigger("data", window.end - 1, "data_drift_share", window.start,
                                       {**details, "share_drifted": data_drift_share}))
                    reasons.append(f"data drift share {data_drift_share:.2f} with a drop of {drop:.3f}")
                else:
                    reasons.append(f"data drift share {data_drift_share:.2f} but no performance "
                                   f"drop ({drop:.3f} <= {self._tol('data_drift_tolerance')}): "
                                   "no retrain")
        elif dataset_drift and data_drift_share is not None:
            reasons.append(f"data drift share {data_drift_share:.2f}, no labelled performance yet "
                           "to confirm it: no retrain")

        if self.pending_ is None and new:
            self.pending_ = new[0]
            self.refresh_from_ = None
        if self.pending_ is None and self.refresh_from_ is not None and self.config.refresh_rows:
            n_new = len(self._since(self.refresh_from_)[0])
            if n_new >= self.config.refresh_rows:
                self.pending_ = Trigger("refresh", window.end - 1, "refresh", self.refresh_from_,
                                        {"labelled_rows": n_new})
                self.refresh_from_ = None
                reasons.append(f"refresh: {n_new} labelled rows of the new concept since row "
                               f"{self.pending_.since_row} (>= {self.config.refresh_rows})")
        pending = self.pending_
        if pending is None:
            return Decision(window, "none", tuple(reasons) or ("no trigger",), None, tuple(new))
        if pending not in new:
            reasons.append(f"pending {pending.kind} trigger from row {pending.row} ({pending.method})")

        if self.last_retrain_row_ is not None and \
                window.end - self.last_retrain_row_ < cfg.cooldown_rows:
            reasons.append(f"cooldown: last retrain at row {self.last_retrain_row_}, "
                           f"{cfg.cooldown_rows} rows must pass")
            return Decision(window, "cooldown", tuple(reasons), pending, tuple(new))

        _, loss_since = self._since(pending.since_row)
        n = len(loss_since)
        if n < cfg.min_labelled_rows:
            reasons.append(f"waiting for labels: {n} of {cfg.min_labelled_rows} labelled rows "
                           f"since row {pending.since_row}")
            return Decision(window, "pending", tuple(reasons), pending, tuple(new))

        if pending.kind == "concept" and self.baseline_loss_ is not None:
            d = self._drop(float(loss_since.mean()))
            confirm = self._tol("confirm_drop")
            if d < confirm:
                if n >= cfg.confirm_within_rows:
                    self.pending_ = None
                    reasons.append(f"dismissed {pending.method} signal at row {pending.row}: "
                                   f"loss since then is {d:+.3f} vs baseline (< {confirm})")
                    return Decision(window, "dismissed", tuple(reasons), pending, tuple(new))
                reasons.append(f"unconfirmed: loss since row {pending.since_row} is {d:+.3f} vs "
                               f"baseline, waiting for {confirm}")
                return Decision(window, "pending", tuple(reasons), pending, tuple(new))
            reasons.append(f"confirmed: loss since row {pending.since_row} is {d:+.3f} vs baseline")

        reasons.append(f"retrain on {n} labelled rows since row {pending.since_row}")
        return Decision(window, "retrain", tuple(reasons), pending, tuple(new))
