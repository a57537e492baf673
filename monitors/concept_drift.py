"""Concept drift with River detectors on the model's error stream.

The monitored signal is the served model's per-row loss once the label has arrived: 0/1 loss
for classification, absolute error for regression. The detector is picked by name in
:class:`ConceptDriftConfig`; detectors with a warning zone (DDM, EDDM, HDDM_A, HDDM_W, FHDDM)
also report when the warning zone starts, which the retrain decision can use as the start of
the new concept.

>>> import numpy as np
>>> m = ConceptDriftMonitor(ConceptDriftConfig(detector="ADWIN"), task="classification")
>>> rng = np.random.default_rng(0)
>>> errors = np.r_[rng.random(2000) < 0.05, rng.random(2000) < 0.5].astype(float)
>>> drifts = [s.row for s in m.update(np.arange(4000), errors) if s.kind == "drift"]
>>> 2000 <= drifts[0] < 2200
True
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitors.errors import DriftCheckError

DetectorName = Literal["ADWIN", "DDM", "EDDM", "HDDM_A", "HDDM_W", "PageHinkley", "KSWIN", "FHDDM"]

#: name -> (module, class, binary-only, has warning zone, expects 1 = correct)
_DETECTORS: dict[str, tuple[str, str, bool, bool, bool]] = {
    "ADWIN": ("river.drift", "ADWIN", False, False, False),
    "KSWIN": ("river.drift", "KSWIN", False, False, False),
    "PageHinkley": ("river.drift", "PageHinkley", False, False, False),
    "DDM": ("river.drift.binary", "DDM", True, True, False),
    "EDDM": ("river.drift.binary", "EDDM", True, True, False),
    "HDDM_A": ("river.drift.binary", "HDDMA", True, True, False),
    "HDDM_W": ("river.drift.binary", "HDDMW", True, True, False),
    "FHDDM": ("river.drift.binary", "FHDDM", True, True, True),
}


def _detector_class(name: str) -> type:
    import importlib

    module, cls, *_ = _DETECTORS[name]
    return getattr(importlib.import_module(module), cls)


class ConceptDriftConfig(BaseModel):
    """Which River detector watches the error stream, and its hyper-parameters.

    ``params`` are passed to the detector's constructor; unknown names are rejected with the
    list of valid ones. ``seed`` is given to detectors that take one (KSWIN).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    detector: DetectorName = "ADWIN"
    params: dict[str, int | float | str | bool | None] = Field(default_factory=dict)
    seed: int = 42

    @model_validator(mode="after")
    def _check_params(self) -> ConceptDriftConfig:
        valid = [
            p for p in inspect.signature(_detector_class(self.detector)).parameters
            if p not in ("seed", "window")
        ]
        unknown = sorted(set(self.params) - set(valid))
        if unknown:
            raise ValueError(
                f"concept_drift.params has unknown key(s) {unknown} for detector "
                f"{self.detector!r}; valid keys are {valid}."
            )
        return self


@dataclass(frozen=True)
class DetectorSignal:
    """One detector output: a drift, or the start of a warning zone, at a stream row."""

    row: int
    kind: Literal["drift", "warning"]
    detector: str
    #: mean loss of the rows fed since the previous drift (or start), up to this row
    mean_loss_before: float

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "kind": self.kind, "detector": self.detector,
                "mean_loss_before": self.mean_loss_before}


class ConceptDriftMonitor:
    """Feeds per-row losses to a River detector and reports drift and warning signals.

    Parameters
    ----------
    config
        The detector choice and its parameters.
    task
        ``"classification"`` (0/1 loss) or ``"regression"`` (absolute error); binary
        detectors (DDM family, FHDDM) only accept classification.
    """

    def __init__(self, config: ConceptDriftConfig, task: str) -> None:
        self.config = config
        self.task = task
        name = config.detector
        _, _, binary, self.has_warning_zone, self._inverted = _DETECTORS[name]
        if binary and task != "classification":
            numeric = [n for n, spec in _DETECTORS.items() if not spec[2]]
            raise DriftCheckError(
                f"Detector {name!r} watches a 0/1 error stream and cannot monitor a {task} "
                f"model's absolute errors. Use one of {numeric} for regression."
            )
        self._reset()

    def _reset(self) -> None:
        cls = _detector_class(self.config.detector)
        kwargs: dict[str, Any] = dict(self.config.params)
        if "seed" in inspect.signature(cls).parameters:
            kwargs["seed"] = self.config.seed
        self.detector_ = cls(**kwargs)
        self._in_warning = False
        self.warning_start_: int | None = None
        self._loss_sum = 0.0
        self._loss_n = 0

    def reset(self) -> None:
        """Forget everything (call when the monitored model is replaced)."""
        self._reset()

    @property
    def in_warning(self) -> bool:
        return self._in_warning

    def update(self, rows: np.ndarray, losses: np.ndarray) -> list[DetectorSignal]:
        """Feed losses in row order; return the signals raised, each naming its row."""
        rows = np.asarray(rows, dtype=np.int64)
        losses = np.asarray(losses, dtype=float)
        if len(rows) != len(losses):
            raise DriftCheckError(f"Got {len(losses)} losses for {len(rows)} rows.")
        if not np.isfinite(losses).all():
            bad = rows[~np.isfinite(losses)]
            raise DriftCheckError(
                f"Non-finite loss at rows {bad[:5].tolist()}; validate predictions and labels first."
            )
        signals: list[DetectorSignal] = []
        det = self.detector_
        name = self.config.detector
        values = (1.0 - losses) if self._inverted else losses
        for row, value, loss in zip(rows.tolist(), values.tolist(), losses.tolist(), strict=True):
            det.update(value)
            self._loss_sum += loss
            self._loss_n += 1
            if det.drift_detected:
                signals.append(DetectorSignal(row, "drift", name, self._loss_sum / self._loss_n))
                self._loss_sum, self._loss_n = 0.0, 0
                self._in_warning = False
                continue
            if self.has_warning_zone:
                warn = bool(getattr(det, "warning_detected", False))
                if warn and not self._in_warning:
                    self.warning_start_ = row
                    signals.append(
                        DetectorSignal(row, "warning", name, self._loss_sum / self._loss_n)
                    )
                self._in_warning = warn
        return signals
