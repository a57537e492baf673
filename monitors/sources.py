"""Stream sources: synthetic drifting streams and file replay.

A source turns a data set into a stream of :class:`~monitors.stream.Batch` objects with
stable row offsets that start at 0, and says what it knows about itself: the task, the target
column, how many rows a label lags behind its features, and where the stream truly drifts
(synthetic streams only).

Four sources ship with driftloop and register by name in :data:`SOURCES`:

``"synthetic"`` -- :class:`SyntheticSource`
    A River generator (SEA, Agrawal, Hyperplane, RBF, STAGGER) whose concept changes at
    known rows, abruptly or gradually, with optional label noise and covariate shift.
``"file"`` -- :class:`FileSource`
    Replays a CSV or Parquet file in chunks, optionally ordered by a timestamp column.
``"folder"`` -- :class:`DropFolderSource`
    A growing drop folder: each new CSV or Parquet file is read once, and a ledger of the
    processed files survives restarts.
``"prediction_log"`` -- :class:`~monitors.prediction_log_source.PredictionLogSource`
    The champion predictions the prediction service logged to a SQL database, joined with
    their feedback labels (:mod:`monitors.prediction_log_source`).

Build one from its configuration with :func:`make_source`:

>>> source = make_source(SyntheticStreamConfig(generator="sea", n_rows=300, drift_rows=(100,)))
>>> source.name, source.task, source.target, source.true_drift_rows
('synthetic:sea', 'classification', 'y', (100,))
>>> [(b.start, b.end) for b in source.batches(128)]
[(0, 128), (128, 256), (256, 300)]
"""

from __future__ import annotations

import bz2
import dataclasses
import fnmatch
import gzip
import hashlib
import io
import json
import logging
import lzma
import math
import os
import random
import re
import stat
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from monitors.checkpoint import write_atomic
from monitors.errors import SourceError
from monitors.prediction_log_source import PredictionLogSource, PredictionLogSourceConfig
from monitors.stream import Batch

__all__ = [
    "SOURCES",
    "CovariateShift",
    "DropFolderSource",
    "DropFolderSourceConfig",
    "DroppedFile",
    "FileSource",
    "FileSourceConfig",
    "LogOffsets",
    "PendingFiles",
    "PredictionLogSource",
    "PredictionLogSourceConfig",
    "SourceConfig",
    "StreamSource",
    "SyntheticSource",
    "SyntheticStreamConfig",
    "make_source",
    "register_source",
]

log = logging.getLogger(__name__)

Task = Literal["classification", "regression"]

#: Target column of every synthetic stream.
SYNTHETIC_TARGET = "y"

#: A numeric target with at most this many distinct values is treated as classification.
MAX_CLASSES_AUTO = 20


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------


@runtime_checkable
class StreamSource(Protocol):
    """What every stream source provides.

    Attributes
    ----------
    name
        A short human-readable name, e.g. ``"synthetic:agrawal"`` or ``"file:elec2.csv"``.
    task
        ``"classification"`` or ``"regression"``.
    target
        Name of the target column; the features are every other column (but the timestamp).
    label_delay
        Number of rows until a row's label arrives: the label of row ``i`` becomes available
        when row ``i + label_delay`` arrives (0: labels arrive with the features).
    true_drift_rows
        Rows where the stream's distribution is known to change (empty when unknown, as for
        most files).
    categorical_features
        Features whose numbers are category codes (e.g. Agrawal ``zipcode``); text columns
        need no listing, :meth:`monitors.validation.Schema.infer` treats them as categorical.
    """

    @property
    def name(self) -> str: ...

    @property
    def task(self) -> Task: ...

    @property
    def target(self) -> str: ...

    @property
    def label_delay(self) -> int: ...

    @property
    def true_drift_rows(self) -> tuple[int, ...]: ...

    @property
    def categorical_features(self) -> tuple[str, ...]:
        """Numeric-coded features that are categories (pass to ``Schema.infer(categorical=)``)."""
        ...

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Yield contiguous batches of ``batch_size`` rows (the last may be shorter).

        Offsets start at 0 on every call and each batch starts where the previous one ended.
        """
        ...


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(
            f"The 'batch_size' parameter of batches() must be a positive int. "
            f"Got {batch_size!r} instead."
        )


# --------------------------------------------------------------------------------------------
# Synthetic streams
# --------------------------------------------------------------------------------------------

# Separate, fixed sub-streams of randomness derived from the user's seed, so that changing
# e.g. the noise level does not change which rows are drawn.
_RNG_SWITCH, _RNG_NOISE, _RNG_CONCEPT, _RNG_SAMPLE = 1, 2, 3, 4


def _derive_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived deterministically from ``seed`` and ``keys``."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


@dataclass(frozen=True)
class _Generator:
    """How one River generator family becomes a stream of concepts (a plug-in)."""

    features: tuple[str, ...]
    categorical: tuple[str, ...]
    n_classes: int
    concepts: tuple[int, ...] | None  # the valid concept ids; None: any int >= 0
    default_cycle: tuple[int, ...]  # default concepts, cycled over the segments
    make: Callable[[int, int], Any]  # (concept, seed) -> River dataset
    drift: str  # what a change of concept does
    labeler: Callable[[pd.DataFrame, int, int], np.ndarray] | None = None  # (X, concept, seed)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(f for f in self.features if f not in self.categorical)


def _sea(concept: int, seed: int) -> Any:
    from river.datasets import synth

    # each concept draws its own rows: a seed shared by all concepts would replay, after a
    # drift, the very feature vectors of the first segment with other labels
    return synth.SEA(variant=concept, noise=0.0, seed=_derive_seed(seed, _RNG_SAMPLE, concept))


_SEA_THRESHOLDS = {0: 8.0, 1: 9.0, 2: 7.0, 3: 9.5}


def _sea_labels(x: pd.DataFrame, concept: int, seed: int) -> np.ndarray:
    return (x["x0"].to_numpy() + x["x1"].to_numpy() > _SEA_THRESHOLDS[concept]).astype(np.int64)


def _agrawal(concept: int, seed: int) -> Any:
    from river.datasets import synth

    return synth.Agrawal(classification_function=concept,
                         seed=_derive_seed(seed, _RNG_SAMPLE, concept))


def _agrawal_labels(x: pd.DataFrame, concept: int, seed: int) -> np.ndarray:
    from river.datasets import synth

    fn = getattr(synth.Agrawal, f"_classification_function_{concept}")
    return np.array([fn(**row) for row in x.to_dict("records")], dtype=np.int64)


def _stagger(concept: int, seed: int) -> Any:
    from river.datasets import synth

    return synth.STAGGER(classification_function=concept,
                         seed=_derive_seed(seed, _RNG_SAMPLE, concept))


def _stagger_labels(x: pd.DataFrame, concept: int, seed: int) -> np.ndarray:
    from river.datasets import synth

    fn = synth.STAGGER()._functions[concept]
    return np.array([fn(**row) for row in x.to_dict("records")], dtype=np.int64)


_N_NUMERIC = 10  # features of the Hyperplane and RBF streams


def _hyperplane(concept: int, seed: int) -> Any:
    from river.datasets import synth

    # mag_change=0: the plane stays put within a segment; concepts change only at drift rows.
    return synth.Hyperplane(
        seed=_derive_seed(seed, _RNG_CONCEPT, concept),
        n_features=_N_NUMERIC,
        n_drift_features=2,
        mag_change=0.0,
        noise_percentage=0.0,
        sigma=0.1,
    )


def _hyperplane_labels(x: pd.DataFrame, concept: int, seed: int) -> np.ndarray:
    # River draws the plane's weights first from its seeded generator.
    rng = random.Random(_derive_seed(seed, _RNG_CONCEPT, concept))
    w = np.array([rng.random() for _ in range(_N_NUMERIC)])
    values = x[[f"x{i}" for i in range(_N_NUMERIC)]].to_numpy(dtype=float)
    return (values @ w >= 0.5 * w.sum()).astype(np.int64)


def _rbf(concept: int, seed: int) -> Any:
    from river.datasets import synth

    # Static centroids (RandomRBFDrift would move them every row): concepts change only at
    # drift rows, where another concept's centroids take over.
    return synth.RandomRBF(
        seed_model=_derive_seed(seed, _RNG_CONCEPT, concept),
        seed_sample=_derive_seed(seed, _RNG_SAMPLE, concept),
        n_classes=2,
        n_features=_N_NUMERIC,
        n_centroids=50,
    )


_X10 = tuple(f"x{i}" for i in range(_N_NUMERIC))

#: The generator plug-ins, by the name used in :attr:`SyntheticStreamConfig.generator`.
GENERATORS: dict[str, _Generator] = {
    "sea": _Generator(
        features=("x0", "x1", "x2"),
        categorical=(),
        n_classes=2,
        concepts=(0, 1, 2, 3),
        default_cycle=(2, 3, 0, 1),
        make=_sea,
        labeler=_sea_labels,
        drift="the threshold of y = x0 + x1 > threshold changes (concepts 0..3 use 8, 9, 7, "
        "9.5); x2 is pure noise",
    ),
    "agrawal": _Generator(
        features=(
            "salary",
            "commission",
            "age",
            "elevel",
            "car",
            "zipcode",
            "hvalue",
            "hyears",
            "loan",
        ),
        categorical=("elevel", "car", "zipcode"),
        n_classes=2,
        concepts=tuple(range(10)),
        default_cycle=(0, 2, 6, 1),
        make=_agrawal,
        labeler=_agrawal_labels,
        drift="the loan-approval function changes (Agrawal et al. functions 0..9); the "
        "feature distribution stays the same",
    ),
    "stagger": _Generator(
        features=("size", "color", "shape"),
        categorical=("size", "color", "shape"),
        n_classes=2,
        concepts=(0, 1, 2),
        default_cycle=(0, 1, 2),
        make=_stagger,
        labeler=_stagger_labels,
        drift="the boolean rule changes (0: small and red; 1: green or circle; 2: medium or "
        "large); the features are codes 0..2",
    ),
    "hyperplane": _Generator(
        features=_X10,
        categorical=(),
        n_classes=2,
        concepts=None,
        default_cycle=(0, 1, 2, 3),
        make=_hyperplane,
        labeler=_hyperplane_labels,
        drift="the separating hyperplane jumps to new random weights (one fixed plane per "
        "concept id and seed); the features stay uniform on [0, 1]",
    ),
    "rbf": _Generator(
        features=_X10,
        categorical=(),
        n_classes=2,
        concepts=None,
        default_cycle=(0, 1, 2, 3),
        make=_rbf,
        drift="all 50 Gaussian centroids (centres, labels, weights) are redrawn: P(y|x) and "
        "P(x) both change",
    ),
}


class CovariateShift(BaseModel):
    """A change of feature distribution from ``start_row`` on: ``x -> x * scale + shift``.

    The labels are drawn before the shift (the feature is *measured* differently from then
    on), so shifting a feature the concept uses also hurts a model trained before the shift;
    shifting a feature the concept ignores (SEA ``x2``, Agrawal ``car``) is a pure data drift
    with no change of the best prediction.

    >>> CovariateShift(features=("x2",), start_row=500, shift=3.0).scale
    1.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    features: tuple[str, ...] = Field(min_length=1)
    start_row: int = Field(gt=0)
    shift: float = 0.0
    scale: float = 1.0

    @model_validator(mode="after")
    def _not_a_no_op(self) -> CovariateShift:
        if self.shift == 0.0 and self.scale == 1.0:
            raise ValueError(
                "covariate_shift with shift=0 and scale=1 changes nothing; set shift (added) "
                "and/or scale (multiplied), e.g. shift=2.0."
            )
        if not (math.isfinite(self.shift) and math.isfinite(self.scale)):
            raise ValueError(
                f"covariate_shift shift and scale must be finite. Got shift={self.shift}, "
                f"scale={self.scale}."
            )
        return self


class SyntheticStreamConfig(BaseModel):
    """A synthetic classification stream whose concept changes at known rows.

    Parameters
    ----------
    generator
        River generator family: ``"sea"``, ``"agrawal"``, ``"hyperplane"``, ``"rbf"`` or
        ``"stagger"``. What a drift changes for each is in :data:`GENERATORS` (``.drift``).
    n_rows
        Length of the stream.
    drift_rows
        Rows where a new concept starts, strictly increasing, inside ``(0, n_rows)``;
        ``()`` for a stream without concept drift.
    drift_width
        1: abrupt (row ``drift_rows[i]`` is the first row of the new concept). Above 1:
        gradual, centred on the drift row: row ``t`` comes from the new concept with
        probability ``1 / (1 + exp(-4 (t - p) / drift_width))`` as in River's
        ``ConceptDriftStream`` (12% at ``p - width/2``, 88% at ``p + width/2``).
    concepts
        The concept id of each segment (``len(drift_rows) + 1`` of them, consecutive ones
        different). SEA: variant 0..3; Agrawal: function 0..9; STAGGER: function 0..2;
        Hyperplane and RBF: any id >= 0, each id one fixed random plane / set of centroids for
        a given seed. ``None`` cycles through defaults chosen for a clear accuracy drop at
        every drift: SEA (2, 3, 0, 1), Agrawal (0, 2, 6, 1), STAGGER (0, 1, 2), Hyperplane and
        RBF (0, 1, 2, 3).
    covariate_shift
        Optional :class:`CovariateShift` of numeric features from a given row.
    noise
        Probability that a row's label is replaced by a different class (label noise).
    label_delay
        Rows until a row's label arrives.
    seed
        Seed of everything random: the same config always gives the same stream.

    Examples
    --------
    >>> cfg = SyntheticStreamConfig(generator="stagger", n_rows=900, drift_rows=(300, 600))
    >>> cfg.resolved_concepts
    (0, 1, 2)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["synthetic"] = "synthetic"
    generator: Literal["sea", "agrawal", "hyperplane", "rbf", "stagger"] = "agrawal"
    n_rows: int = Field(default=30_000, gt=0)
    drift_rows: tuple[int, ...] = (10_000, 20_000)
    drift_width: int = Field(default=1, ge=1)
    concepts: tuple[int, ...] | None = None
    covariate_shift: CovariateShift | None = None
    noise: float = Field(default=0.05, ge=0.0, lt=1.0)
    label_delay: int = Field(default=0, ge=0)
    seed: int = Field(default=42, ge=0)

    @model_validator(mode="after")
    def _check(self) -> SyntheticStreamConfig:
        rows = self.drift_rows
        if any(b <= a for a, b in zip(rows, rows[1:], strict=False)):
            raise ValueError(f"drift_rows must be strictly increasing. Got {rows}.")
        outside = [r for r in rows if not 0 < r < self.n_rows]
        if outside:
            raise ValueError(
                f"drift_rows {outside} are outside the stream: every drift row must be in "
                f"1..{self.n_rows - 1} (n_rows={self.n_rows}). Lower the drift rows, raise "
                "n_rows, or pass drift_rows=() for a stream without drift."
            )
        gen = GENERATORS[self.generator]
        if self.concepts is not None:
            n_seg = len(rows) + 1
            if len(self.concepts) != n_seg:
                raise ValueError(
                    f"concepts has {len(self.concepts)} entries but drift_rows {rows} makes "
                    f"{n_seg} segments: pass {n_seg} concept ids, or concepts=None for the "
                    f"defaults {self._default_concepts()}."
                )
            allowed = gen.concepts
            bad = [c for c in self.concepts if (c not in allowed if allowed else c < 0)]
            if bad:
                what = f"one of {allowed}" if allowed else "an int >= 0"
                raise ValueError(
                    f"concepts {bad} are not valid for generator {self.generator!r}: each "
                    f"concept must be {what}. Got concepts={self.concepts}."
                )
            same = [i for i in range(1, n_seg) if self.concepts[i] == self.concepts[i - 1]]
            if same:
                raise ValueError(
                    f"concepts {self.concepts} repeat the same concept across drift row(s) "
                    f"{[rows[i - 1] for i in same]}, so nothing would drift there: use "
                    "different consecutive concepts or remove those drift rows."
                )
        shift = self.covariate_shift
        if shift is not None:
            unknown = [f for f in shift.features if f not in gen.numeric]
            if unknown:
                raise ValueError(
                    f"covariate_shift.features {unknown} are not numeric features of generator "
                    f"{self.generator!r}; choose from {list(gen.numeric)}."
                )
            if shift.start_row >= self.n_rows:
                raise ValueError(
                    f"covariate_shift.start_row={shift.start_row} is outside the stream "
                    f"(n_rows={self.n_rows}); use a row in 1..{self.n_rows - 1}."
                )
        return self

    def _default_concepts(self) -> tuple[int, ...]:
        cycle = GENERATORS[self.generator].default_cycle
        return tuple(cycle[i % len(cycle)] for i in range(len(self.drift_rows) + 1))

    @property
    def resolved_concepts(self) -> tuple[int, ...]:
        """The concept id of each segment: ``concepts`` or the generator's defaults."""
        return self.concepts if self.concepts is not None else self._default_concepts()


class SyntheticSource:
    """A drifting synthetic stream from a River generator (see :class:`SyntheticStreamConfig`).

    Each concept id gets its own River generator, seeded from ``(seed, concept)``; a recurring
    concept continues its generator rather than repeating rows. Rows are generated once, on
    first use, and kept in memory (30,000 rows take about a second).

    Attributes
    ----------
    categorical_features
        Features holding category codes (Agrawal ``elevel``, ``car``, ``zipcode``; all three
        STAGGER features); the rest are numeric.
    concept_drift_rows, covariate_shift_rows
        The two kinds of change; ``true_drift_rows`` is their sorted union.

    Examples
    --------
    >>> src = SyntheticSource(SyntheticStreamConfig(generator="sea", n_rows=10, drift_rows=(5,),
    ...                                             noise=0.0))
    >>> frame = src.frame()
    >>> list(frame.columns), len(frame), src.segments.tolist()
    (['x0', 'x1', 'x2', 'y'], 10, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    """

    def __init__(self, config: SyntheticStreamConfig | None = None) -> None:
        self.config = config if config is not None else SyntheticStreamConfig()
        gen = GENERATORS[self.config.generator]
        self._gen = gen
        self.name = f"synthetic:{self.config.generator}"
        self.task: Task = "classification"
        self.target = SYNTHETIC_TARGET
        self.label_delay = self.config.label_delay
        self.concepts = self.config.resolved_concepts
        self.feature_names: tuple[str, ...] = gen.features
        self.categorical_features: tuple[str, ...] = gen.categorical
        self.concept_drift_rows: tuple[int, ...] = tuple(self.config.drift_rows)
        shift = self.config.covariate_shift
        self.covariate_shift_rows: tuple[int, ...] = (shift.start_row,) if shift else ()
        self.true_drift_rows: tuple[int, ...] = tuple(
            sorted(set(self.concept_drift_rows) | set(self.covariate_shift_rows))
        )

    def __repr__(self) -> str:
        return f"SyntheticSource({self.config!r})"

    @cached_property
    def segments(self) -> np.ndarray:
        """Index of the concept segment each row is drawn from (0 before the first drift).

        For gradual drift rows near a drift row may come from either side.
        """
        cfg = self.config
        t = np.arange(cfg.n_rows)
        rows = np.asarray(cfg.drift_rows, dtype=np.int64)
        if rows.size == 0:
            return np.zeros(cfg.n_rows, dtype=np.int64)
        if cfg.drift_width == 1:
            return np.searchsorted(rows, t, side="right").astype(np.int64)
        # One uniform per row against each drift's sigmoid: the drifts' probabilities are
        # ordered, so the count of those passed is a valid segment index (and, for drifts
        # far apart, exactly River's two-stream mix).
        u = np.random.default_rng([cfg.seed, _RNG_SWITCH]).random(cfg.n_rows)
        z = np.clip(-4.0 * (t[:, None] - rows[None, :]) / cfg.drift_width, -700, 700)
        p_new = 1.0 / (1.0 + np.exp(z))
        return (u[:, None] < p_new).sum(axis=1).astype(np.int64)

    @cached_property
    def _data(self) -> pd.DataFrame:
        cfg, gen = self.config, self._gen
        iters = {c: iter(gen.make(c, cfg.seed)) for c in dict.fromkeys(self.concepts)}
        row_concepts = np.asarray(self.concepts)[self.segments]
        xs: list[tuple[Any, ...]] = []
        ys: list[Any] = []
        for c in row_concepts.tolist():
            x, y = next(iters[c])
            xs.append(tuple(x.values()))
            ys.append(y)
        frame = pd.DataFrame.from_records(xs, columns=list(gen.features))
        for col in gen.categorical:
            frame[col] = frame[col].astype(np.int64)
        y = np.asarray(ys).astype(np.int64)
        if cfg.noise > 0:
            rng = np.random.default_rng([cfg.seed, _RNG_NOISE])
            flip = rng.random(cfg.n_rows) < cfg.noise
            # A different class, uniformly among the others.
            offset = rng.integers(1, gen.n_classes, size=cfg.n_rows)
            y = np.where(flip, (y + offset) % gen.n_classes, y)
        shift = cfg.covariate_shift
        if shift is not None:
            after = np.arange(cfg.n_rows) >= shift.start_row
            for col in shift.features:
                values = frame[col].to_numpy(dtype=float)
                frame[col] = np.where(after, values * shift.scale + shift.shift, values)
        frame[self.target] = y
        return frame

    def frame(self) -> pd.DataFrame:
        """The whole stream as one DataFrame (features then target ``"y"``), row ``i`` at
        position ``i``."""
        return self._data.copy()

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Yield contiguous batches of ``batch_size`` rows with offsets from 0."""
        _check_batch_size(batch_size)
        data = self._data
        for start in range(0, len(data), batch_size):
            yield Batch.from_frame(
                data.iloc[start : start + batch_size], start=start, target=self.target
            )

    def concept_labels(self, features: pd.DataFrame, concept: int) -> np.ndarray:
        """Noise-free labels that ``concept`` gives to ``features`` (rows of this stream).

        Use it as an oracle: e.g. to check which concept generated a stretch of rows, or to
        measure how far two concepts disagree. Not available for ``"rbf"``, whose labels come
        from the centroid that drew the row, not from a function of the features. Features
        under a covariate shift are labelled as they are given (shifted).

        >>> src = SyntheticSource(SyntheticStreamConfig(generator="sea", n_rows=50,
        ...                                             drift_rows=(), noise=0.0))
        >>> b = next(src.batches(50))
        >>> bool((src.concept_labels(b.features, src.concepts[0]) == b.target.to_numpy()).all())
        True
        """
        if self._gen.labeler is None:
            raise SourceError(
                f"concept_labels is not available for generator {self.config.generator!r}: its "
                "labels are not a function of the features. Compare segments instead."
            )
        return self._gen.labeler(features, concept, self.config.seed)


# --------------------------------------------------------------------------------------------
# File replay
# --------------------------------------------------------------------------------------------

_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".txt")
_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")


class FileSourceConfig(BaseModel):
    """Replay of a CSV or Parquet file as a stream.

    Parameters
    ----------
    path
        The file.
    target
        The target column.
    timestamp
        Optional column that orders the rows; it is kept out of the features and passed on as
        :attr:`Batch.timestamps`.
    label_delay
        Rows until a row's label arrives.
    task
        ``"auto"``: classification when the target is not numeric or has at most 20 distinct
        values, regression otherwise.
    on_unordered
        When the timestamp column is not in order: ``"sort"`` replays rows in timestamp order
        (stable; row offsets then count positions in that order), ``"error"`` raises naming
        the first out-of-order row.
    format
        ``"auto"`` from the suffix (``.csv``, ``.csv.gz``, ``.txt``; ``.parquet``, ``.pq``).
    chunk_rows
        Rows read at a time; without a timestamp (or when it is already ordered) no more than
        this is held besides the batch being built.
    true_drift_rows
        Known change points of the file, if any (e.g. ``(12500, 25000, 37500)`` for the SEA
        drift benchmark); empty by default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["file"] = "file"
    path: Path
    target: str = Field(min_length=1)
    timestamp: str | None = None
    label_delay: int = Field(default=0, ge=0)
    task: Literal["auto", "classification", "regression"] = "auto"
    on_unordered: Literal["sort", "error"] = "sort"
    format: Literal["auto", "csv", "parquet"] = "auto"
    chunk_rows: int = Field(default=10_000, gt=0)
    true_drift_rows: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> FileSourceConfig:
        if self.timestamp is not None and self.timestamp == self.target:
            raise ValueError(
                f"timestamp and target are both {self.target!r}; the timestamp must be "
                "another column (or None)."
            )
        rows = self.true_drift_rows
        if any(b <= a for a, b in zip(rows, rows[1:], strict=False)) or any(r < 0 for r in rows):
            raise ValueError(f"true_drift_rows must be increasing and >= 0. Got {rows}.")
        return self


def parse_timestamps(ts: pd.Series, *, column: str | None, where: str, first_row: int,
                     config: str) -> pd.Series:
    """A timestamp column as numbers or datetimes, or a :class:`SourceError` naming the first
    row (counted from ``first_row``) that is not a date/time or is missing, and the fix.

    >>> parse_timestamps(pd.Series(["2026-01-02", "2026-01-01"]), column="ts", where="f.csv",
    ...                  first_row=0, config="FileSourceConfig").dt.day.tolist()
    [2, 1]
    """
    if not (pd.api.types.is_numeric_dtype(ts) or pd.api.types.is_datetime64_any_dtype(ts)):
        with warnings.catch_warnings():  # mixed time zones are handled below
            warnings.filterwarnings("ignore", ".*mixed time zones", FutureWarning)
            try:
                parsed = pd.to_datetime(ts)
            except (ValueError, TypeError):
                try:
                    parsed = pd.to_datetime(ts, errors="coerce", format="mixed")
                except (ValueError, TypeError):  # pandas >= 3: mixed zones raise
                    parsed = pd.Series([_to_time(v) for v in ts], index=ts.index, dtype=object)
        if parsed.dtype == object:  # times with different offsets, or with and without one
            parsed = _one_time_zone(ts, parsed, column=column, where=where,
                                    first_row=first_row, config=config)
        bad = parsed.isna() & ts.notna()
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise SourceError(
                f"The timestamp column {column!r} of {where} has a value that is not a "
                f"date/time in row {first_row + i}: {ts.iloc[i]!r}. Fix the value or set "
                f"{config}.timestamp=None."
            )
        ts = parsed
    if isinstance(ts.dtype, pd.DatetimeTZDtype):  # one zone for all: batches concatenate
        ts = ts.dt.tz_convert("UTC")
    missing = ts.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise SourceError(
            f"The timestamp column {column!r} of {where} is missing in {int(missing.sum())} "
            f"row(s), the first being row {first_row + i}. Fill or drop those rows upstream, "
            f"or set {config}.timestamp=None."
        )
    return ts


def _to_time(value: Any) -> Any:
    """One value as a Timestamp, or NaT when it is not a date/time."""
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError):
        return pd.NaT


def _one_time_zone(ts: pd.Series, parsed: pd.Series, *, column: str | None, where: str,
                   first_row: int, config: str) -> pd.Series:
    """Times parsed one by one (pandas gives objects when time zones differ) as one UTC
    column, or a :class:`SourceError` when some have a time zone and others have none."""
    aware = np.array([getattr(v, "tzinfo", None) is not None for v in parsed])
    present = parsed.notna().to_numpy()
    if (aware & present).any() and (~aware & present).any():
        i = int(np.flatnonzero(aware & present)[0])
        j = int(np.flatnonzero(~aware & present)[0])
        raise SourceError(
            f"The timestamp column {column!r} of {where} mixes times with a time zone (row "
            f"{first_row + i}: {ts.iloc[i]!r}) and times without one (row {first_row + j}: "
            f"{ts.iloc[j]!r}), which cannot be ordered. Write every time with its UTC offset "
            f"(e.g. '+00:00') or none of them, or set {config}.timestamp=None."
        )
    return pd.to_datetime(parsed, utc=True, errors="coerce")


#: Appended to read errors caused by bytes that are not UTF-8.
_NOT_UTF8 = (
    " The file is not UTF-8 text: convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8 in.csv "
    "> out.csv`)."
)


def not_utf8_hint(exc: BaseException) -> str:
    """The fix for a read error caused by bytes that are not UTF-8 ("" for other errors)."""
    return _NOT_UTF8 if isinstance(exc, UnicodeDecodeError) else ""


def csv_layout_problem(head: pd.DataFrame, header: Sequence[str]) -> str | None:
    """Why pandas would misread a CSV whose first rows read as ``head`` (pandas defaults)
    and whose header line holds the names ``header``; None when it lines up."""
    twice = sorted(c for c, k in Counter(header).items() if k > 1 and c != "")
    if twice:
        return (
            f"its header names the column(s) {twice} more than once (pandas would rename the "
            "copies 'name.1', ...); give every column a unique name"
        )
    if not isinstance(head.index, pd.RangeIndex):
        return (
            f"its first row has more fields than the {len(header)} names of its header "
            "(pandas would read the extra leading field(s) as an index and shift every "
            "column's values); remove the trailing delimiter(s) or name every column in the "
            "header"
        )
    return None


def _decompressed(raw: IO[bytes], name: str) -> IO[bytes] | io.BufferedIOBase | None:
    """The bytes pandas would parse from ``raw`` (named ``name``), decompressed as pandas
    infers from the suffix; None for compressions this scan does not open (zstd, tar)."""
    lower = name.lower()
    if lower.endswith((".zst", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")):
        return None
    if lower.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw)
    if lower.endswith(".bz2"):
        return bz2.BZ2File(raw)
    if lower.endswith(".xz"):
        return lzma.LZMAFile(raw)
    if lower.endswith(".zip"):
        archive = zipfile.ZipFile(raw)
        members = archive.namelist()
        return archive.open(members[0]) if len(members) == 1 else None
    return raw


#: Two carriage returns followed by a space or a tab (not ``\r\r\n``, which reads fine): the
#: C parser of pandas 2.x turns these few bytes into thousands of spurious rows of NaN (pandas
#: GH#51141, fixed upstream by pandas PR #64540).
_STRAY_CR = re.compile(rb"\r\r[ \t]")


def csv_line_ends(raw: IO[bytes], name: str) -> int | None:
    """The number of line ends (``\\n`` and ``\\r``) in a CSV -- no parse can give more rows
    than that -- or None when its compression is not scanned. Raises :class:`SourceError`
    for stray carriage returns (see :data:`_STRAY_CR`)."""
    stream = _decompressed(raw, name)
    if stream is None:
        return None
    count, offset, tail = 0, 0, b""
    for block in iter(lambda: stream.read(1 << 20), b""):
        found = _STRAY_CR.search(tail + block)
        if found is not None:
            at = offset - len(tail) + found.start()
            raise SourceError(
                f"{name} has two carriage returns followed by {found.group()[2:].decode()!r} "
                f"at byte {at}, which pandas' CSV parser misreads into spurious empty rows "
                "(pandas GH#51141). Convert its line ends to '\\n' (e.g. with dos2unix) or "
                "remove the stray '\\r'."
            )
        count += block.count(b"\n") + block.count(b"\r")
        offset += len(block)
        tail = block[-2:]
    return count


def csv_header(source: Any, **kwargs: Any) -> list[str]:
    """The names in a CSV's header line, as written (no renaming of duplicates)."""
    first = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False,
                        **kwargs)
    return [str(v) for v in first.iloc[0].tolist()] if len(first) else []


def _check_rows(rows: int, line_ends: int | None, where: str) -> None:
    if line_ends is not None and rows > line_ends + 1:
        raise SourceError(
            f"pandas read {rows} rows from {where}, which has only {line_ends} line ends: its "
            "CSV parser misread the file (pandas GH#51141: stray carriage returns). Convert "
            "its line ends to '\\n' (e.g. with dos2unix)."
        )


class FileSource:
    """Replays a CSV (pandas chunks) or Parquet file (pyarrow ``iter_batches``).

    The file is checked when the source is built: it must exist, be readable in its format,
    hold at least one row and have the target (and timestamp) columns; otherwise
    :class:`~monitors.errors.SourceError` says what is wrong and how to fix it. A CSV is also
    refused when pandas would misread it: a header naming a column twice, a first row with
    more fields than the header (pandas would shift every column), stray carriage returns
    (pandas 2.x reads them as thousands of empty rows), or bytes that are not UTF-8.

    CSV chunks are parsed one by one, so a column's dtype can differ between batches (e.g.
    ints in one, floats where a value is missing); :class:`~monitors.validation.BatchValidator`
    coerces numeric columns. Parquet keeps the file's types.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "s.csv"
    >>> _ = path.write_text("x,y\\n1,a\\n2,b\\n3,a\\n")
    >>> src = FileSource(FileSourceConfig(path=path, target="y"))
    >>> src.task, [(b.start, b.end) for b in src.batches(2)]
    ('classification', [(0, 2), (2, 3)])
    """

    def __init__(self, config: FileSourceConfig) -> None:
        self.config = config
        self.path = Path(config.path)
        self._line_ends: int | None = None  # of a CSV: no more rows than this can be in it
        self.target = config.target
        self.timestamp = config.timestamp
        self.label_delay = config.label_delay
        self.true_drift_rows: tuple[int, ...] = tuple(config.true_drift_rows)
        self.categorical_features: tuple[str, ...] = ()  # text columns are inferred as such
        self.name = f"file:{self.path.name}"
        self.format: Literal["csv", "parquet"] = self._resolve_format()
        self.columns: tuple[str, ...] = self._read_columns()
        needed = {"target": self.target, "timestamp": self.timestamp}
        for role, col in needed.items():
            if col is not None and col not in self.columns:
                raise SourceError(
                    f"The {role} column {col!r} is not in {self.path}; its columns are "
                    f"{list(self.columns)}. Set FileSourceConfig.{role} to one of them."
                )

    def __repr__(self) -> str:
        return f"FileSource({self.config!r})"

    # -- checks and metadata -----------------------------------------------------------------

    def _resolve_format(self) -> Literal["csv", "parquet"]:
        if not self.path.exists():
            raise SourceError(
                f"File {self.path} does not exist (resolved: {self.path.resolve()}). Check "
                "FileSourceConfig.path; relative paths are read from the working directory."
            )
        if not self.path.is_file():
            raise SourceError(
                f"{self.path} is not a file; point FileSourceConfig.path at a CSV or Parquet file."
            )
        if self.config.format != "auto":
            return self.config.format
        name = self.path.name.lower()
        if name.endswith(_CSV_SUFFIXES):
            return "csv"
        if name.endswith(_PARQUET_SUFFIXES):
            return "parquet"
        raise SourceError(
            f"Cannot tell the format of {self.path} from its suffix (known: "
            f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}). Set FileSourceConfig.format to "
            "'csv' or 'parquet'."
        )

    def _unreadable(self, exc: BaseException) -> SourceError:
        return SourceError(
            f"Cannot read {self.path} as {self.format.upper()}: {type(exc).__name__}: {exc}. "
            f"Check that the file is a valid {self.format.upper()} file, or set "
            f"FileSourceConfig.format to the right format.{not_utf8_hint(exc)}"
        )

    def _read_columns(self) -> tuple[str, ...]:
        if self.path.stat().st_size == 0:
            raise SourceError(
                f"File {self.path} is empty (0 bytes); point "
                "FileSourceConfig.path at a file with a header and rows."
            )
        problem: str | None = None
        try:
            if self.format == "csv":
                head = pd.read_csv(self.path, nrows=1)
                n_rows = len(head)
                columns = tuple(str(c) for c in head.columns)
                problem = csv_layout_problem(head, csv_header(self.path))
                with self.path.open("rb") as raw:
                    self._line_ends = csv_line_ends(raw, self.path.name)
            else:
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(self.path).metadata
                n_rows = meta.num_rows
                columns = tuple(meta.schema.to_arrow_schema().names)
        except SourceError as exc:
            raise SourceError(f"Cannot read {self.path} as CSV: {exc}") from exc
        except Exception as exc:  # parser errors of several kinds
            raise self._unreadable(exc) from exc
        if problem is not None:
            raise SourceError(f"Cannot read {self.path} as CSV: {problem}.")
        if n_rows == 0:
            raise SourceError(
                f"File {self.path} has columns {list(columns)} but no rows; "
                "point FileSourceConfig.path at a file with data."
            )
        return columns

    def _read_column(self, column: str) -> pd.Series:
        """One whole column, read without the others."""
        try:
            if self.format == "csv":
                return pd.read_csv(self.path, usecols=[column])[column]
            import pyarrow.parquet as pq

            return pq.read_table(self.path, columns=[column]).column(0).to_pandas()
        except Exception as exc:
            raise self._unreadable(exc) from exc

    @cached_property
    def task(self) -> Task:
        """The task: the configured one, or detected from the target column."""
        if self.config.task != "auto":
            return self.config.task
        return _detect_task(self._read_column(self.target), self.path, "FileSourceConfig")

    # -- timestamps --------------------------------------------------------------------------

    def _parse_timestamps(self, ts: pd.Series, first_row: int) -> pd.Series:
        return parse_timestamps(ts, column=self.timestamp, where=str(self.path),
                                first_row=first_row, config="FileSourceConfig")

    @cached_property
    def _order(self) -> np.ndarray | None:
        """Replay order of the file's rows: None when already in order (or no timestamp)."""
        if self.timestamp is None:
            return None
        ts = self._parse_timestamps(self._read_column(self.timestamp), 0)
        values = ts.to_numpy()
        backwards = np.flatnonzero(values[1:] < values[:-1])
        if backwards.size == 0:
            return None
        i = int(backwards[0]) + 1
        if self.config.on_unordered == "error":
            raise SourceError(
                f"The timestamp column {self.timestamp!r} of {self.path} is not in order: row "
                f"{i} ({ts.iloc[i]}) comes before row {i - 1} ({ts.iloc[i - 1]}); "
                f"{backwards.size} row(s) go back in time. Sort the file, or set "
                "FileSourceConfig.on_unordered='sort' to replay it in timestamp order."
            )
        return np.argsort(values, kind="stable")

    # -- reading -----------------------------------------------------------------------------

    def _chunks(self) -> Iterator[pd.DataFrame]:
        """The file's rows in file order, ``chunk_rows`` at a time."""
        rows_read = 0
        try:
            if self.format == "csv":
                with pd.read_csv(self.path, chunksize=self.config.chunk_rows) as reader:
                    for chunk in reader:
                        rows_read += len(chunk)
                        _check_rows(rows_read, self._line_ends, str(self.path))
                        yield chunk
            else:
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(self.path)
                for rb in pf.iter_batches(batch_size=self.config.chunk_rows):
                    rows_read += rb.num_rows
                    yield rb.to_pandas()
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(
                f"Reading {self.path} failed after row {rows_read}: {type(exc).__name__}: "
                f"{exc}. Fix the file near that row.{not_utf8_hint(exc)}"
            ) from exc

    def _frames(self) -> Iterator[pd.DataFrame]:
        """The rows in replay order, in chunks."""
        order = self._order
        if order is None:
            yield from self._chunks()
            return
        # Out of order: the whole file is needed to sort it.
        frame = pd.concat(list(self._chunks()), ignore_index=True)
        yield frame.iloc[order]

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Yield contiguous batches of ``batch_size`` rows with offsets from 0.

        The timestamp (when configured) is parsed and passed as ``Batch.timestamps``.
        """
        _check_batch_size(batch_size)
        _ = self._order  # check the order (and fail) before the first batch
        start = 0
        pending: list[pd.DataFrame] = []
        n_pending = 0
        for chunk in self._frames():
            pending.append(chunk)
            n_pending += len(chunk)
            if n_pending < batch_size:
                continue
            joined = pd.concat(pending) if len(pending) > 1 else pending[0]
            cut = 0
            while n_pending - cut >= batch_size:
                yield self._batch(joined.iloc[cut : cut + batch_size], start)
                start += batch_size
                cut += batch_size
            pending = [joined.iloc[cut:]] if cut < len(joined) else []
            n_pending = len(joined) - cut
        if n_pending:
            yield self._batch(pd.concat(pending) if len(pending) > 1 else pending[0], start)

    def _batch(self, frame: pd.DataFrame, start: int) -> Batch:
        batch = Batch.from_frame(frame, start=start, target=self.target, timestamp=self.timestamp)
        if batch.timestamps is not None:
            ts = self._parse_timestamps(batch.timestamps, start)
            batch = Batch(
                start=batch.start, features=batch.features, target=batch.target, timestamps=ts
            )
        return batch


# --------------------------------------------------------------------------------------------
# Drop folder
# --------------------------------------------------------------------------------------------

#: Default name of the ledger of processed files, kept in the drop folder itself.
LEDGER_NAME = ".driftloop-processed.json"

#: Name endings of files that are still being written (writers should write to one of these,
#: or to a name starting with ``.``, and rename when done).
_PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".download", ".swp")

_LEDGER_VERSION = 1


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically and durably (see
    :func:`monitors.checkpoint.write_atomic`): a crash leaves the old file or the new one,
    whole."""
    write_atomic(path, json.dumps(data, indent=1).encode(), mode=0o644)


class LogOffsets:
    """Where each scheduled reader of a prediction log stopped: ``{key: last_seq}`` in a JSON
    file written atomically (:func:`write_json_atomic`).

    >>> import tempfile
    >>> offsets = LogOffsets(Path(tempfile.mkdtemp()) / "offsets.json")
    >>> key = offsets.key("postgresql://u:secret@db/preds", "churn")
    >>> key, offsets.get(key)
    ('churn@postgresql://u:***@db/preds', 0)
    >>> offsets.set(key, 120); LogOffsets(offsets.path).get(key)
    120
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @staticmethod
    def key(uri: str, model_name: str | None) -> str:
        """The key of one log and model (the URI's password masked)."""
        from sqlalchemy.engine import make_url

        masked = make_url(uri).render_as_string(hide_password=True)
        return f"{model_name or '*'}@{masked}"

    def _read(self) -> dict[str, int]:
        if not self.path.is_file():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SourceError(f"The offsets file {self.path} is unreadable ({exc}). Delete it to "
                              "read the prediction log from the start again.") from exc
        if not isinstance(data, dict) or not all(isinstance(v, int) for v in data.values()):
            raise SourceError(f"The offsets file {self.path} must hold {{key: seq}}; delete it to "
                              "read the prediction log from the start again.")
        return data

    def get(self, key: str) -> int:
        """The last ``seq`` read for ``key`` (0: none yet)."""
        return self._read().get(key, 0)

    def set(self, key: str, seq: int) -> None:
        """Record that ``key`` has read up to ``seq`` (atomically)."""
        data = self._read()
        data[key] = int(seq)
        write_json_atomic(self.path, data)


class DropFolderSourceConfig(BaseModel):
    """A folder that grows: every new CSV or Parquet file dropped into it is read once.

    Parameters
    ----------
    path
        The drop folder (not searched recursively).
    target
        The target column.
    patterns
        Glob patterns of the file names to read (``fnmatch`` on the name only, no ``/``).
        Names starting with ``.`` or ``~`` and names ending in ``.tmp``, ``.part``,
        ``.partial``, ``.crdownload``, ``.download`` or ``.swp`` are never read: write a file
        under such a name and rename it when complete.
    timestamp
        Optional column that orders the rows within each file (files themselves come in
        arrival order: modification time, then name); kept out of the features and passed
        on as :attr:`Batch.timestamps`.
    label_delay
        Rows until a row's label arrives.
    task
        ``"auto"``: detected from the target of the first files read (as for
        :class:`FileSourceConfig`), then remembered in the ledger so that it never changes.
    on_unordered
        Timestamps that go back within a file: ``"sort"`` (stable) or ``"error"``.
    format
        ``"auto"`` from each file's suffix, or ``"csv"`` / ``"parquet"`` for all of them.
    ledger
        The JSON ledger of processed files; ``None``: ``<path>/.driftloop-processed.json``.
        Keep it with the folder or in the state directory; delete it to read everything again.
    min_age_seconds
        A file is read only once nobody has written to it for this long (its modification
        time is at least this old); its size and modification time must also be the same
        after reading as before. Guards against files still being copied in.
    on_bad_file
        A file that cannot be read, misses the target/timestamp column, has other columns
        than the first file, or is a link pointing outside the folder: ``"error"`` raises
        :class:`~monitors.errors.SourceError` naming the file and the fix (like
        :class:`FileSource`); ``"skip"`` logs a warning and records the file as rejected in
        the ledger (with the reason), so it is not retried until its content changes.
    commit
        When :meth:`DropFolderSource.batches` records a file as processed: ``"auto"`` once
        all its rows have been handed over (the consumer asked for the batch after its last
        row, or the stream ended); ``"manual"`` never: the caller calls
        :meth:`DropFolderSource.commit` after its run succeeded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["folder"] = "folder"
    path: Path
    target: str = Field(min_length=1)
    patterns: tuple[str, ...] = ("*.csv", "*.parquet")
    timestamp: str | None = None
    label_delay: int = Field(default=0, ge=0)
    task: Literal["auto", "classification", "regression"] = "auto"
    on_unordered: Literal["sort", "error"] = "sort"
    format: Literal["auto", "csv", "parquet"] = "auto"
    ledger: Path | None = None
    min_age_seconds: float = Field(default=1.0, ge=0.0)
    on_bad_file: Literal["error", "skip"] = "error"
    commit: Literal["auto", "manual"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _one_pattern(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("patterns"), str):
            return {**data, "patterns": (data["patterns"],)}
        return data

    @model_validator(mode="after")
    def _check(self) -> DropFolderSourceConfig:
        if self.timestamp is not None and self.timestamp == self.target:
            raise ValueError(
                f"timestamp and target are both {self.target!r}; the timestamp must be "
                "another column (or None)."
            )
        if not self.patterns:
            raise ValueError(
                "patterns is empty, so no file would ever be read; give at least one glob, "
                "e.g. patterns=('*.csv', '*.parquet')."
            )
        bad = [p for p in self.patterns if not p or "/" in p or "\\" in p or ".." in p]
        if bad:
            raise ValueError(
                f"patterns {bad} are not plain file-name globs: a pattern matches names in "
                "the drop folder only and may not be empty or contain '/', '\\' or '..'. "
                "Use e.g. '*.csv'."
            )
        if not math.isfinite(self.min_age_seconds):
            raise ValueError(f"min_age_seconds must be finite. Got {self.min_age_seconds}.")
        return self

    @property
    def ledger_path(self) -> Path:
        """Where the ledger is: :attr:`ledger`, or ``.driftloop-processed.json`` in the folder."""
        return self.ledger if self.ledger is not None else self.path / LEDGER_NAME


@dataclass(frozen=True)
class DroppedFile:
    """A file of the drop folder as it was read: what the ledger records once committed.

    ``first_row`` is the offset of the file's first row in the stream (or frame) it was read
    into; ``status`` is ``"processed"``, ``"duplicate"`` (same content as a processed file)
    or ``"rejected"`` (``on_bad_file="skip"``; ``reason`` says why).
    """

    name: str
    size: int
    mtime_ns: int
    sha256: str
    rows: int
    first_row: int = 0
    status: Literal["processed", "duplicate", "rejected"] = "processed"
    reason: str | None = None

    def to_json(self, processed_at: str) -> dict[str, Any]:
        record: dict[str, Any] = {
            "name": self.name, "size": self.size, "mtime_ns": self.mtime_ns,
            "sha256": self.sha256, "rows": self.rows, "status": self.status,
            "processed_at": processed_at,
        }
        if self.reason is not None:
            record["reason"] = self.reason
        return record


@dataclass(frozen=True)
class PendingFiles:
    """The not-yet-processed files of a drop folder, read into one frame.

    ``frame`` holds their rows in arrival order (index ``0..n-1``; the timestamp column, when
    configured, is parsed); ``files`` says which rows came from which file. Pass ``files`` to
    :meth:`DropFolderSource.commit` once they have been handled.
    """

    frame: pd.DataFrame
    files: tuple[DroppedFile, ...]

    def __len__(self) -> int:
        return len(self.frame)


class DropFolderSource:
    """New CSV/Parquet files of a folder, each read exactly once across runs.

    The set of processed files is kept in a JSON ledger (see
    :attr:`DropFolderSourceConfig.ledger`) written atomically (temporary file, ``fsync``,
    ``os.replace``), so it survives restarts and crashes.

    Semantics
    ---------
    * A file's identity is its **content** (SHA-256). A file whose name, size and
      modification time match a ledger record is not opened again; any other file is hashed:
      a file dropped again under the same name with new content is read as new data, the
      same content under another name is recorded as a ``"duplicate"`` and not read.
    * Files are read in arrival order: modification time, then name.
    * A file is recorded only after its rows were handed over (:meth:`batches` with
      ``commit="auto"``) or when the caller commits it (:meth:`pending` + :meth:`commit`). A
      crash before that leaves it pending, so it is read again (at least once); a committed
      file is never read again (exactly once across completed runs).
    * The first file ever read fixes the columns (kept in the ledger); a later file with
      other columns is a bad file (see ``on_bad_file``). Column order may differ.
    * Only regular files directly in the folder are read; a link resolving outside the folder
      is a bad file, and names passed to :meth:`mark_processed` must be plain names.

    One process at a time should use a ledger (runs of a scheduled deployment do not
    overlap); the ledger is not locked.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("x,y\\n1,0\\n2,1\\n")
    >>> cfg = DropFolderSourceConfig(path=folder, target="y", min_age_seconds=0)
    >>> [(b.start, b.end) for b in DropFolderSource(cfg).batches(10)]
    [(0, 2)]
    >>> list(DropFolderSource(cfg).batches(10))  # a restart: a.csv was processed
    []
    """

    def __init__(self, config: DropFolderSourceConfig) -> None:
        self.config = config
        self.folder = Path(config.path)
        self.target = config.target
        self.timestamp = config.timestamp
        self.label_delay = config.label_delay
        self.true_drift_rows: tuple[int, ...] = ()
        self.categorical_features: tuple[str, ...] = ()
        self.name = f"folder:{self.folder.name}"
        self.ledger_path = config.ledger_path
        self.format = config.format
        #: Files handed over by :meth:`batches` but not committed (``commit="manual"``).
        self.delivered: list[DroppedFile] = []
        if not self.folder.is_dir():
            what = "does not exist" if not self.folder.exists() else "is not a folder"
            raise SourceError(
                f"The drop folder {self.folder} {what} (resolved: {self.folder.resolve()}). "
                "Create it or set DropFolderSourceConfig.path to the folder new files are "
                "dropped into."
            )
        self._root = self.folder.resolve()
        self._ledger = self._load_ledger()
        columns = self._ledger.get("columns")
        # the first file's columns, which every later file must have
        self._columns: tuple[str, ...] | None = tuple(columns) if columns else None
        self._task: Task | None = (
            self.config.task if self.config.task != "auto" else self._ledger.get("task")
        )

    def __repr__(self) -> str:
        return f"DropFolderSource({self.config!r})"

    # -- the ledger --------------------------------------------------------------------------

    def _load_ledger(self) -> dict[str, Any]:
        path = self.ledger_path
        if not path.exists():
            return {"version": _LEDGER_VERSION, "folder": str(self._root), "columns": None,
                    "task": None, "files": []}
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or not isinstance(data.get("files"), list):
                raise ValueError("not a driftloop ledger (no 'files' list)")
        except (OSError, ValueError) as exc:
            raise SourceError(
                f"Cannot read the drop-folder ledger {path}: {type(exc).__name__}: {exc}. "
                "Restore it from a backup, or delete it to read every file of the folder "
                "again."
            ) from exc
        return data

    def _write_ledger(self) -> None:
        """Write the ledger atomically: a crash leaves the old or the new ledger, whole."""
        write_json_atomic(self.ledger_path, self._ledger)

    @property
    def records(self) -> list[dict[str, Any]]:
        """The ledger's records (a copy), oldest first."""
        return [dict(r) for r in self._ledger["files"]]

    def _known(self) -> tuple[set[tuple[str, int, int]], set[str]]:
        """(name, size, mtime) of every recorded file, and the hashes of the read ones."""
        stats = {(r["name"], r["size"], r["mtime_ns"]) for r in self._ledger["files"]}
        hashes = {r["sha256"] for r in self._ledger["files"] if r.get("status") != "rejected"}
        return stats, hashes

    def commit(self, files: Iterable[DroppedFile] | None = None) -> None:
        """Record ``files`` as processed (all of :attr:`delivered` when ``None``).

        Call it once a run has handled the files' rows; a crash before leaves them pending.
        """
        if files is None:
            files, self.delivered = list(self.delivered), []
        files = list(files)
        if not files:
            return
        for f in files:
            self._plain_name(f.name)
        recorded = {(r["name"], r["size"], r["mtime_ns"], r["sha256"])
                    for r in self._ledger["files"]}
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self._ledger["files"].extend(
            f.to_json(now) for f in files
            if (f.name, f.size, f.mtime_ns, f.sha256) not in recorded
        )
        if self._ledger.get("columns") is None and self._columns is not None:
            self._ledger["columns"] = list(self._columns)
        if self._ledger.get("task") is None and self._task is not None:
            self._ledger["task"] = self._task
        self._write_ledger()
        committed = {id(f) for f in files}
        self.delivered = [f for f in self.delivered if id(f) not in committed]

    # -- listing -----------------------------------------------------------------------------

    def _plain_name(self, name: str) -> str:
        if not name or Path(name).name != name or name in (".", ".."):
            raise SourceError(
                f"{name!r} is not a plain file name in the drop folder {self.folder}; names "
                "may not contain path separators or '..'. Pass the file's name only."
            )
        return name

    def _bad(self, name: str, message: str) -> None:
        if self.config.on_bad_file == "error":
            raise SourceError(message)
        log.warning("Skipping %s: %s", name, message)

    def _candidates(self) -> list[tuple[str, os.stat_result]]:
        """Names and stats of the files that may be read now, in arrival order."""
        ledger = self.ledger_path.resolve()
        cutoff = time.time_ns() - int(self.config.min_age_seconds * 1e9)
        found: list[tuple[str, os.stat_result]] = []
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith((".", "~")) or name.lower().endswith(_PARTIAL_SUFFIXES):
                    continue
                if not any(fnmatch.fnmatchcase(name, p) for p in self.config.patterns):
                    continue
                path = Path(entry.path)
                if entry.is_symlink():
                    problem = self._outside(path)
                    if problem is not None:
                        self._bad(name, problem)
                        continue
                if not entry.is_file() or path.resolve() == ledger:
                    continue
                st = entry.stat()
                if st.st_mtime_ns > cutoff or st.st_size == 0:
                    continue  # still being written (or not yet)
                found.append((name, st))
        found.sort(key=lambda item: (item[1].st_mtime_ns, item[0]))
        return found

    def _outside(self, path: Path) -> str | None:
        """Why the link ``path`` may not be read (None when it resolves inside the folder)."""
        try:
            target = path.resolve()
        except (OSError, RuntimeError) as exc:  # a loop of links
            return (f"{path} is a link that cannot be resolved ({exc}); drop the file itself "
                    "into the folder.")
        if not target.is_relative_to(self._root):
            return (f"{path} is a link to {target}, outside the drop folder {self._root}; "
                    "drop the file itself into the folder.")
        return None

    def _read_file(self, name: str) -> tuple[bytes, os.stat_result] | None:
        """The bytes of the regular file ``name`` of the folder, and its stat after reading.

        Read through its resolved path, which must lie inside the folder (checked again
        here: the folder may have changed since it was listed) and be a regular file (not a
        pipe, which would block). None when the file is gone or no longer a regular file.
        """
        path = self.folder / self._plain_name(name)
        try:
            real = path.resolve()
        except (OSError, RuntimeError):  # a loop of links made since listing
            return None
        if not real.is_relative_to(self._root):
            self._bad(name, f"{path} resolves to {real}, outside the drop folder "
                            f"{self._root}; drop the file itself into the folder.")
            return None
        try:
            if not stat.S_ISREG(real.lstat().st_mode):
                return None
            return real.read_bytes(), real.stat()
        except OSError:  # moved away since listing
            return None

    # -- reading -----------------------------------------------------------------------------

    def _format(self, name: str) -> Literal["csv", "parquet"] | None:
        if self.config.format != "auto":
            return self.config.format
        lower = name.lower()
        if lower.endswith(_CSV_SUFFIXES):
            return "csv"
        if lower.endswith(_PARQUET_SUFFIXES):
            return "parquet"
        return None

    def _parse(self, name: str, data: bytes) -> pd.DataFrame:
        fmt = self._format(name)
        if fmt is None:
            raise SourceError(
                f"Cannot tell the format of {self.folder / name} from its suffix (known: "
                f"{', '.join(_CSV_SUFFIXES + _PARQUET_SUFFIXES)}). Set "
                "DropFolderSourceConfig.format, or narrow DropFolderSourceConfig.patterns."
            )
        skip = ("Fix or remove the file, or set DropFolderSourceConfig.on_bad_file='skip' to "
                "record it as rejected and go on.")
        try:
            if fmt == "parquet":
                return pd.read_parquet(io.BytesIO(data))
            compression = next((c for s, c in _COMPRESSION.items() if name.lower().endswith(s)),
                               None)
            line_ends = csv_line_ends(io.BytesIO(data), name)
            frame = pd.read_csv(io.BytesIO(data), compression=compression)
            _check_rows(len(frame), line_ends, str(self.folder / name))
            problem = csv_layout_problem(
                frame, csv_header(io.BytesIO(data), compression=compression)
            )
        except SourceError as exc:
            raise SourceError(f"Cannot read {self.folder / name} as CSV: {exc} {skip}") from exc
        except Exception as exc:  # parser errors of several kinds
            raise SourceError(
                f"Cannot read {self.folder / name} as {fmt.upper()}: {type(exc).__name__}: "
                f"{exc}. {skip}{not_utf8_hint(exc)}"
            ) from exc
        if problem is not None:
            raise SourceError(f"Cannot read {self.folder / name} as CSV: {problem}. {skip}")
        return frame

    def _conform(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Check the file's columns against the first file's and order them the same way."""
        path = self.folder / name
        columns = tuple(str(c) for c in frame.columns)
        for role, col in {"target": self.target, "timestamp": self.timestamp}.items():
            if col is not None and col not in columns:
                raise SourceError(
                    f"The {role} column {col!r} is not in {path}; its columns are "
                    f"{list(columns)}. Fix the file or DropFolderSourceConfig.{role}."
                )
        if self._columns is None:
            self._columns = columns
            return frame
        expected = self._columns
        if set(columns) != set(expected):
            missing = [c for c in expected if c not in columns]
            extra = [c for c in columns if c not in expected]
            raise SourceError(
                f"{path} has other columns than the files before it: missing {missing}, "
                f"unexpected {extra} (expected {list(expected)}). Fix the file, or start a "
                "new drop folder (and ledger) for the new layout."
            )
        return frame[list(expected)]

    def _order(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Parse the timestamp column and put the file's rows in timestamp order."""
        col = self.timestamp
        if col is None or frame.empty:
            return frame
        path = self.folder / name
        ts = parse_timestamps(frame[col], column=col, where=str(path), first_row=0,
                              config="DropFolderSourceConfig")
        frame = frame.assign(**{col: ts})
        values = ts.to_numpy()
        backwards = np.flatnonzero(values[1:] < values[:-1])
        if backwards.size == 0:
            return frame
        if self.config.on_unordered == "error":
            i = int(backwards[0]) + 1
            raise SourceError(
                f"The timestamp column {col!r} of {path} is not in order: row {i} comes "
                f"before row {i - 1}. Sort the file, or set "
                "DropFolderSourceConfig.on_unordered='sort'."
            )
        return frame.iloc[np.argsort(values, kind="stable")]

    def _read_new(self) -> Iterator[tuple[DroppedFile, pd.DataFrame | None]]:
        """Each file not in the ledger, in arrival order, with its rows.

        Duplicates and (with ``on_bad_file="skip"``) rejected files come with ``None``.
        """
        stats, hashes = self._known()
        for name, st in self._candidates():
            if (name, st.st_size, st.st_mtime_ns) in stats:
                continue
            path = self.folder / name
            read = self._read_file(name)
            if read is None:
                continue  # moved away (or replaced by something else) since listing
            data, after = read
            if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns) or len(
                data
            ) != st.st_size:
                log.info("%s changed while being read; it is read on a later poll", path)
                continue
            digest = hashlib.sha256(data).hexdigest()
            found = DroppedFile(name=name, size=st.st_size, mtime_ns=st.st_mtime_ns,
                                sha256=digest, rows=0)
            if digest in hashes:
                yield dataclasses.replace(found, status="duplicate"), None
                continue
            try:
                frame = self._order(name, self._conform(name, self._parse(name, data)))
            except SourceError as exc:
                self._bad(name, str(exc))
                yield dataclasses.replace(found, status="rejected", reason=str(exc)), None
                continue
            hashes.add(digest)  # the same content twice in one poll is read once
            if self._task is None and frame[self.target].notna().any():
                self._task = _detect_task(frame[self.target], self.folder / name)
            yield dataclasses.replace(found, rows=len(frame)), frame.reset_index(drop=True)

    def pending(self) -> PendingFiles:
        """Read every file not processed yet into one frame; commit nothing.

        For a run that handles what is new and stops: ``p = source.pending()``, handle
        ``p.frame``, then ``source.commit(p.files)``. Duplicates and rejected files are in
        ``files`` too (with no rows), so that committing records them as well.
        """
        files: list[DroppedFile] = []
        frames: list[pd.DataFrame] = []
        n = 0
        for record, frame in self._read_new():
            files.append(_at(record, n))
            if frame is not None:
                frames.append(frame)
                n += len(frame)
        if frames:
            joined = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        else:
            joined = pd.DataFrame(columns=list(self._columns or ()))
        return PendingFiles(frame=joined, files=tuple(files))

    def history(self, max_rows: int) -> pd.DataFrame:
        """The last ``max_rows`` rows of the processed files, oldest first (for retraining).

        Files are read back in the order they were processed; a processed file that is gone
        from the folder, or whose content changed since, is skipped with a warning.
        """
        if max_rows < 1:
            raise SourceError(f"history(max_rows) needs a positive row count; got {max_rows!r}.")
        frames: list[pd.DataFrame] = []
        n = 0
        for record in reversed(self._ledger["files"]):
            if record.get("status") not in (None, "processed") or not record.get("rows"):
                continue
            path = self.folder / self._plain_name(record["name"])
            read = self._read_file(record["name"])
            if read is None:
                log.warning("Processed file %s is gone; its rows are left out of the history.", path)
                continue
            data = read[0]
            if hashlib.sha256(data).hexdigest() != record["sha256"]:
                log.warning("Processed file %s changed since; left out of the history.", path)
                continue
            name = record["name"]
            frame = self._order(name, self._conform(name, self._parse(name, data)))
            frames.append(frame)
            n += len(frame)
            if n >= max_rows:
                break
        if not frames:
            return pd.DataFrame(columns=list(self._columns or ()))
        joined = pd.concat(frames[::-1], ignore_index=True)
        return joined.iloc[-max_rows:].reset_index(drop=True)

    def mark_processed(self, names: Iterable[str] | None = None) -> list[DroppedFile]:
        """Record files as processed without handing their rows to anyone.

        ``names``: plain file names in the folder; ``None``: every file pending now (e.g.
        the history already used as reference when monitoring starts). Returns the records.
        """
        if names is None:
            records = list(self.pending().files)
        else:
            wanted = {self._plain_name(n) for n in names}
            pending = {f.name: f for f in self.pending().files}
            missing = sorted(wanted - set(pending))
            if missing:
                raise SourceError(
                    f"{missing} are not pending files of {self.folder} (already processed, "
                    "still being written, or not there); pending: "
                    f"{sorted(pending)}."
                )
            records = [pending[n] for n in sorted(wanted)]
        self.commit(records)
        return records

    @property
    def task(self) -> Task:
        """The configured task, else the one in the ledger, else detected from the first new
        file with rows (which reads the new files)."""
        if self._task is not None:
            return self._task
        pending = self.pending()
        if self._task is not None:
            return self._task
        raise SourceError(
            f"Cannot detect the task: the drop folder {self.folder} has no new file with "
            f"values in the target column {self.target!r} ({len(pending.files)} pending "
            "file(s)). Set DropFolderSourceConfig.task, or wait for data."
        )

    def batches(self, batch_size: int) -> Generator[Batch, None, None]:
        """Yield the rows of the files not processed yet, in batches with offsets from 0.

        Each call lists the folder again (a poll). With ``commit="auto"`` a file is recorded
        in the ledger once the consumer asks for the batch after its last row (or the stream
        ends); a consumer that stops earlier leaves it pending. With ``commit="manual"`` the
        handed-over files collect in :attr:`delivered` for :meth:`commit`.
        """
        _check_batch_size(batch_size)
        start = 0  # offset of the next batch
        buffered: list[pd.DataFrame] = []
        n_buffered = 0
        read: list[DroppedFile] = []  # read, rows not all handed over yet
        for record, frame in self._read_new():
            read.append(_at(record, start + n_buffered))
            if frame is None or frame.empty:
                continue
            buffered.append(frame)
            n_buffered += len(frame)
            if n_buffered < batch_size:
                continue
            joined = pd.concat(buffered, ignore_index=True) if len(buffered) > 1 else buffered[0]
            cut = 0
            while n_buffered - cut >= batch_size:
                yield self._batch(joined.iloc[cut : cut + batch_size], start)
                start += batch_size
                cut += batch_size
                read = self._handed_over(read, start)
            buffered = [joined.iloc[cut:]] if cut < len(joined) else []
            n_buffered -= cut
        if n_buffered:
            rest = pd.concat(buffered, ignore_index=True) if len(buffered) > 1 else buffered[0]
            yield self._batch(rest, start)
            start += n_buffered
        self._handed_over(read, start)

    def _handed_over(self, read: list[DroppedFile], emitted: int) -> list[DroppedFile]:
        """Commit (or collect) the files whose rows all lie before ``emitted``."""
        done = [f for f in read if f.first_row + f.rows <= emitted]
        if done:
            if self.config.commit == "auto":
                self.commit(done)
            else:
                self.delivered.extend(done)
        return [f for f in read if f.first_row + f.rows > emitted]

    def _batch(self, frame: pd.DataFrame, start: int) -> Batch:
        return Batch.from_frame(frame, start=start, target=self.target, timestamp=self.timestamp)


_COMPRESSION = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip", ".xz": "xz"}


def _at(record: DroppedFile, first_row: int) -> DroppedFile:
    return dataclasses.replace(record, first_row=first_row)


def _detect_task(y: pd.Series, where: Path | str, config: str = "DropFolderSourceConfig") -> Task:
    """Classification when the target is not numeric or has few distinct values."""
    y = y.dropna()
    if y.empty:
        raise SourceError(
            f"The target column {y.name!r} of {where} has no values; cannot "
            f"detect the task. Fill the target or set {config}.task."
        )
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if not numeric or y.nunique() <= MAX_CLASSES_AUTO:
        return "classification"
    return "regression"


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------

#: A source configuration; ``kind`` tells them apart (use as a pydantic field type).
def _source_kind(value: Any) -> str | None:
    """The ``kind`` of a source mapping; without one, a mapping with a ``path`` is a drop
    folder when the path is an existing folder, ends in ``/`` or the mapping has a key only
    a folder has (``patterns``, ``ledger``, ...), else a file; without a path, a prediction
    log when it has a ``uri``, else synthetic."""
    if isinstance(value, Mapping):
        kind = value.get("kind")
        if kind is None:
            if "path" not in value:
                return "prediction_log" if "uri" in value else "synthetic"
            path = value["path"]
            if _FOLDER_ONLY_KEYS & set(value) or str(path).endswith(("/", os.sep)):
                return "folder"
            return "folder" if Path(path).is_dir() else "file"
        return str(kind)
    return getattr(value, "kind", None)


_FOLDER_ONLY_KEYS = frozenset(DropFolderSourceConfig.model_fields) - frozenset(
    FileSourceConfig.model_fields
)

#: A source configuration, picked by its ``kind`` (``"synthetic"``, ``"file"``, ``"folder"``
#: or ``"prediction_log"``; a mapping without ``kind`` is a folder or a file when it has a
#: ``path``, a prediction log when it has a ``uri``, see :func:`_source_kind`, else a
#: synthetic stream).
SourceConfig = Annotated[
    Annotated[SyntheticStreamConfig, Tag("synthetic")]
    | Annotated[FileSourceConfig, Tag("file")]
    | Annotated[DropFolderSourceConfig, Tag("folder")]
    | Annotated[PredictionLogSourceConfig, Tag("prediction_log")],
    Discriminator(_source_kind),
]


@dataclass(frozen=True)
class _Registered:
    config: type[BaseModel]
    factory: Callable[[Any], StreamSource]


#: Source plug-ins by name: the configuration class and the factory that builds the source.
SOURCES: dict[str, _Registered] = {
    "synthetic": _Registered(SyntheticStreamConfig, SyntheticSource),
    "file": _Registered(FileSourceConfig, FileSource),
    "folder": _Registered(DropFolderSourceConfig, DropFolderSource),
    "prediction_log": _Registered(PredictionLogSourceConfig, PredictionLogSource),
}


def register_source(
    kind: str, config: type[BaseModel], factory: Callable[[Any], StreamSource]
) -> None:
    """Register a source plug-in under ``kind`` (its config should have ``kind: Literal[kind]``)."""
    if kind in SOURCES:
        raise ValueError(f"A source named {kind!r} is already registered; pick another name.")
    SOURCES[kind] = _Registered(config, factory)


def make_source(config: BaseModel | Mapping[str, Any] | str) -> StreamSource:
    """Build a source from its configuration, a mapping with a ``kind`` key, or a kind name.

    >>> make_source({"kind": "synthetic", "generator": "rbf", "n_rows": 10, "drift_rows": []}).name
    'synthetic:rbf'
    >>> make_source("kafka")
    Traceback (most recent call last):
    ...
    monitors.errors.SourceError: Unknown source kind 'kafka'; valid kinds: 'synthetic', 'file', 'folder', 'prediction_log'.
    """
    if isinstance(config, BaseModel):
        for reg in SOURCES.values():
            if type(config) is reg.config:
                return reg.factory(config)
        raise SourceError(
            f"No source is registered for config type {type(config).__name__}; registered "
            f"config types: {[r.config.__name__ for r in SOURCES.values()]}. Use "
            "register_source() to add one."
        )
    if isinstance(config, str):
        kind, data = config, {}
    elif isinstance(config, Mapping):
        if "kind" not in config:
            raise SourceError(
                f"The source mapping has no 'kind' key; add kind: one of "
                f"{', '.join(repr(k) for k in SOURCES)}. Got keys {sorted(config)}."
            )
        kind, data = config["kind"], dict(config)
    else:
        raise TypeError(
            "make_source expects a source config, a mapping with a 'kind' key, or a kind name. "
            f"Got {type(config).__name__}."
        )
    if kind not in SOURCES:
        raise SourceError(
            f"Unknown source kind {kind!r}; valid kinds: {', '.join(repr(k) for k in SOURCES)}."
        )
    reg = SOURCES[kind]
    return reg.factory(reg.config.model_validate(data))
