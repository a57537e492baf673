"""One scheduled monitoring run over a batch of new labelled rows.

A scheduled monitoring flow (e.g. over a drop folder) sees the rows that arrived since its last
run, all at once. :func:`scan_rows` cuts them into windows and puts each through the same
checks as the streaming loop: the champion's predictions and per-row losses, the River
concept-drift detector, the labelled performance, the data-drift engine against the
champion's reference profile, and the retrain decision (:class:`~monitors.decision.RetrainDecider`,
with the champion's holdout score as its baseline). It stops at the first window whose
decision is ``retrain`` and says why; acting on it (emitting the drift event) is the flow's.

The detector and the decision can continue across runs: pass the previous run's
:attr:`ScanResult.carry` as ``carry``, and a drift that builds up across two runs is judged on
the rows of both.

>>> import numpy as np, pandas as pd
>>> from monitors.concept_drift import ConceptDriftConfig
>>> from monitors.decision import DecisionConfig
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"a": rng.uniform(size=4000)})
>>> y = (X["a"] > 0.5).astype(int).to_numpy()
>>> y[2000:] = 1 - y[2000:]                     # the concept flips at row 2000
>>> result = scan_rows(X, y, lambda f: (f["a"] > 0.5).astype(int).to_numpy(),
...                    task="classification", baseline_score=1.0, window_size=500,
...                    decision=DecisionConfig(), concept_drift=ConceptDriftConfig())
>>> result.retrain, result.kind, result.decision.trigger.row  # ADWIN, 15 rows after the flip
(True, 'concept', 2015)
>>> str(result.window)  # once 500 labelled rows of the new concept exist
'window 5 [rows 2500:3000)'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from monitors.concept_drift import ConceptDriftConfig, ConceptDriftMonitor
from monitors.decision import Decision, DecisionConfig, RetrainDecider
from monitors.drift_engine import ReferenceProfile, compare
from monitors.errors import MonitorError
from monitors.performance import losses, window_performance
from monitors.stream import Window

Predict = Callable[[pd.DataFrame], np.ndarray]


@dataclass
class ScanCarry:
    """The detector and the decision after a run, to continue with in the next one.

    A scheduled monitor saves it (see :class:`~monitors.checkpoint.CheckpointStore`) with the
    position it belongs to, so a drift that builds up across runs is judged on all of its
    rows. Start afresh (``carry=None``) when the champion changes.
    """

    detector: ConceptDriftMonitor
    decider: RetrainDecider
    next_row: int


@dataclass(frozen=True)
class ScanResult:
    """What a monitoring run saw: a summary per window, the retrain decision if any, and the
    state to carry into the next run."""

    windows: list[dict[str, Any]] = field(default_factory=list)
    decision: Decision | None = None
    carry: ScanCarry | None = None

    @property
    def retrain(self) -> bool:
        return self.decision is not None and self.decision.retrain

    @property
    def window(self) -> Window | None:
        return None if self.decision is None else self.decision.window

    @property
    def reasons(self) -> tuple[str, ...]:
        return () if self.decision is None else self.decision.reasons

    @property
    def kind(self) -> str | None:
        trigger = None if self.decision is None else self.decision.trigger
        return None if trigger is None else trigger.kind


def scan_rows(X: pd.DataFrame, y: np.ndarray, predict: Predict, *, task: str,
              baseline_score: float, window_size: int, decision: DecisionConfig,
              concept_drift: ConceptDriftConfig, profile: ReferenceProfile | None = None,
              drift_method: str | None = None, drift_threshold: float | None = None,
              drift_share: float = 0.5, start_row: int = 0,
              carry: ScanCarry | None = None) -> ScanResult:
    """Put ``X``/``y`` through the checks window by window; stop at the first retrain.

    Parameters
    ----------
    X, y
        The new labelled rows, in arrival order.
    predict
        The champion's prediction function.
    task
        ``"classification"`` or ``"regression"``.
    baseline_score
        The champion's holdout score (higher is better), e.g. its gate score.
    window_size
        Rows per window.
    decision, concept_drift
        The retrain policy and the detector.
    profile
        The champion's data-drift reference profile; ``None`` skips the data-drift check.
    drift_method, drift_threshold, drift_share
        Data-drift settings, as in :class:`~monitors.data_drift.DataDriftConfig`.
    start_row
        The stream row of ``X``'s first row (for the rows named in reasons).
    carry
        The state a previous run ended with (:attr:`ScanResult.carry`): its detector and
        decision continue, and rows are numbered on from its ``next_row`` (``start_row`` and
        ``baseline_score`` are then not used).
    """
    if len(X) != len(y):
        raise MonitorError(f"scan_rows got {len(X)} feature rows but {len(y)} labels; pass one "
                           "label per row.")
    if window_size < 1:
        raise MonitorError(f"window_size must be a positive int; got {window_size!r}.")
    if carry is None:
        detector = ConceptDriftMonitor(concept_drift, task)
        decider = RetrainDecider(decision, task)
        decider.set_baseline(baseline_score, start_row)
    else:
        detector, decider, start_row = carry.detector, carry.decider, carry.next_row
    summaries: list[dict[str, Any]] = []
    y = np.asarray(y)
    for index, lo in enumerate(range(0, len(X), window_size)):
        hi = min(len(X), lo + window_size)
        window = Window(index, start_row + lo, start_row + hi)
        frame = X.iloc[lo:hi]
        pred = np.asarray(predict(frame))
        rows = np.arange(window.start, window.end)
        row_losses = losses(task, y[lo:hi], pred)
        signals = detector.update(rows, row_losses)
        decider.observe_losses(rows, row_losses)
        perf = window_performance(task, y[lo:hi], pred)
        share, dataset_drift = None, False
        if profile is not None:
            columns = compare(profile, frame, method=drift_method, threshold=drift_threshold)
            share = sum(c.drifted for c in columns) / len(columns)
            dataset_drift = share >= drift_share
        warnings = [s.row for s in signals if s.kind == "warning"]
        made = decider.decide(window, signals=signals, performance=perf,
                              data_drift_share=share, dataset_drift=dataset_drift,
                              warning_start=warnings[0] if warnings else None)
        summaries.append({"index": index, "start": window.start, "end": window.end,
                          "score": perf.score, "data_drift_share": share,
                          "signals": [s.to_dict() for s in signals], "decision": made.status})
        if made.retrain:
            return ScanResult(summaries, made, ScanCarry(detector, decider, window.end))
    return ScanResult(summaries, None, ScanCarry(detector, decider, start_row + len(X)))
