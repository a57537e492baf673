"""Assemble a challenger's training data and train it with the configured strategy.

The holdout is always the newest ``holdout_rows`` labelled rows (what the gate scores on); the
training set is the recent labelled rows before it, optionally only those after a drift
(``since_row``), plus a replay sample of older rows from the reservoir so a retrained model
does not forget the rest of the stream.

>>> import numpy as np, pandas as pd
>>> from models.config import TrainingConfig
>>> config = TrainingConfig(recent_rows=600, holdout_rows=200, min_train_rows=100, replay_size=100)
>>> buffer, reservoir = make_memory(config)
>>> rng = np.random.default_rng(0)
>>> X = pd.DataFrame({"x": rng.normal(size=2000)})
>>> _ = buffer.add(X, (X["x"] > 0).to_numpy())
>>> ts = build_training_set(buffer, reservoir, config, since_row=1500)
>>> ts.holdout_range, ts.recent_range, ts.n_recent, ts.n_replay
((1850, 2000), (1500, 1850), 350, 88)
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.base import ConfigError, DriftModel, ModelError
from models.buffers import LabelledBuffer, LabelledRows, Reservoir
from models.config import TrainingConfig

logger = logging.getLogger(__name__)


class NotEnoughDataError(ModelError):
    """Too few labelled rows to train a challenger; ``n_available`` and ``n_required`` say how many."""

    def __init__(self, message: str, *, n_available: int, n_required: int) -> None:
        super().__init__(message)
        self.n_available = n_available
        self.n_required = n_required


def _span(rows: np.ndarray) -> tuple[int, int] | None:
    """``[first, last + 1)`` of row offsets, or None when there are none."""
    return (int(rows.min()), int(rows.max()) + 1) if len(rows) else None


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Training and holdout data of one retrain, and where they came from.

    Frames are indexed by row offsets. ``recent_range``, ``replay_range`` and ``holdout_range``
    are the half-open spans ``[first, last + 1)`` of the offsets used (None when none); replay
    rows come first in the training set, oldest first, then the recent rows, so an online
    learner ends on the newest data.
    """

    X_train: pd.DataFrame
    y_train: np.ndarray
    X_holdout: pd.DataFrame
    y_holdout: np.ndarray
    recent_range: tuple[int, int] | None
    replay_range: tuple[int, int] | None
    holdout_range: tuple[int, int]
    n_recent: int
    n_replay: int

    @property
    def n_train(self) -> int:
        return self.n_recent + self.n_replay

    @property
    def n_holdout(self) -> int:
        return len(self.y_holdout)

    def summary(self) -> dict[str, Any]:
        """Counts and spans as plain values (e.g. to log as run parameters)."""
        return {
            "n_train": self.n_train,
            "n_recent": self.n_recent,
            "n_replay": self.n_replay,
            "n_holdout": self.n_holdout,
            "recent_range": self.recent_range,
            "replay_range": self.replay_range,
            "holdout_range": self.holdout_range,
        }


def make_memory(config: TrainingConfig) -> tuple[LabelledBuffer, Reservoir]:
    """A buffer sized for ``recent_rows + holdout_rows`` that spills into a replay reservoir."""
    reservoir = Reservoir(config.replay_size, seed=config.seed)
    buffer = LabelledBuffer(config.recent_rows + config.holdout_rows, overflow=reservoir)
    return buffer, reservoir


def _replay_count(n_recent: int, fraction: float) -> int:
    """Replay rows so that they make up ``fraction`` of ``n_recent + replay``."""
    return int(round(n_recent * fraction / (1.0 - fraction))) if fraction > 0 else 0


def build_training_set(
    buffer: LabelledBuffer,
    reservoir: Reservoir | None,
    config: TrainingConfig,
    since_row: int | None = None,
) -> TrainingSet:
    """Split the buffered rows into a holdout and a training set (plus replay).

    Parameters
    ----------
    buffer
        The recent labelled rows.
    reservoir
        Older rows to replay from, or None for no replay.
    config
        Sizes: ``holdout_rows``, ``recent_rows``, ``replay_fraction``, ``min_train_rows``.
    since_row
        Train only on recent rows with offset ``>= since_row`` (e.g. where drift was detected).
        The holdout is the newest rows either way.

    Raises
    ------
    NotEnoughDataError
        When fewer than ``min_train_rows`` rows are available for training.
    """
    data = buffer.all()
    n_holdout = min(config.holdout_rows, len(data))
    if since_row is not None:  # after a drift: keep most of the new concept's rows for training
        n_since = int(np.count_nonzero(data.rows >= since_row))
        n_holdout = min(n_holdout, max(1, int(config.holdout_fraction * n_since)))
    holdout = data.take(np.arange(len(data) - n_holdout, len(data)))
    before = np.arange(len(data) - n_holdout)
    if since_row is not None:
        before = before[data.rows[before] >= since_row]
    recent = data.take(before[max(0, len(before) - config.recent_rows) :])

    replay = LabelledRows.empty()
    n_replay = _replay_count(len(recent), config.replay_fraction)
    if reservoir is not None and n_replay:
        replay = reservoir.sample(n_replay, seed=config.seed)
        fresh = ~np.isin(replay.rows, np.concatenate([recent.rows, holdout.rows]))
        replay = replay.take(np.flatnonzero(fresh))  # never train on a holdout row

    n_available = len(recent) + len(replay)
    if n_available < config.min_train_rows:
        since = f" from row {since_row} on" if since_row is not None else ""
        raise NotEnoughDataError(
            f"Only {n_available} labelled rows are available for training ({len(recent)} recent "
            f"rows{since} before the {n_holdout}-row holdout, plus {len(replay)} replayed); "
            f"min_train_rows is {config.min_train_rows}. Wait for more labelled rows, or lower "
            "TrainingConfig.min_train_rows or holdout_rows.",
            n_available=n_available,
            n_required=config.min_train_rows,
        )
    train = LabelledRows.concat([replay, recent])
    return TrainingSet(
        X_train=train.X,
        y_train=train.y,
        X_holdout=holdout.X,
        y_holdout=holdout.y,
        recent_range=_span(recent.rows),
        replay_range=_span(replay.rows),
        holdout_range=_span(holdout.rows),  # type: ignore[arg-type]  # non-empty here
        n_recent=len(recent),
        n_replay=len(replay),
    )


def train_challenger(
    template: DriftModel,
    champion: DriftModel | None,
    training_set: TrainingSet,
    config: TrainingConfig,
) -> DriftModel:
    """Train a challenger with ``config.strategy``.

    - ``"refit"``: ``template.clone().fit(...)``, a fresh model;
    - ``"finetune"``: a deep copy of ``champion`` continues learning with ``update`` (PyTorch
      fine-tunes, River keeps learning, scikit-learn refits). Without a champion it refits.

    Neither ``template`` nor ``champion`` is modified.
    """
    if champion is not None and champion.task != template.task:
        raise ConfigError(
            f"The champion solves {champion.task!r} but the template {template.task!r}; a "
            "challenger must solve the champion's task. Fix the task in the pipeline config."
        )
    X, y = training_set.X_train, training_set.y_train
    if config.strategy == "finetune" and champion is not None:
        return copy.deepcopy(champion).update(X, y)
    if config.strategy == "finetune":
        logger.info("strategy 'finetune' has no champion to start from; refitting the template")
    return template.clone().fit(X, y)
