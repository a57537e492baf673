"""Stream sources: synthetic drifting streams and file replay.

A source turns a data set into a stream of :class:`~monitors.stream.Batch` objects with
stable row offsets that start at 0, and says what it knows about itself: the task, the target
column, how many rows a label lags behind its features, and where the stream truly drifts
(synthetic streams only).

Two sources ship with driftloop and register by name in :data:`SOURCES`:

``"synthetic"`` -- :class:`SyntheticSource`
    A River generator (SEA, Agrawal, Hyperplane, RBF, STAGGER) whose concept changes at
    known rows, abruptly or gradually, with optional label noise and covariate shift.
``"file"`` -- :class:`FileSource`
    Replays a CSV or Parquet file in chunks, optionally ordered by a timestamp column.

Build one from its configuration with :func:`make_source`:

>>> source = make_source(SyntheticStreamConfig(generator="sea", n_rows=300, drift_rows=(100,)))
>>> source.name, source.task, source.target, source.true_drift_rows
('synthetic:sea', 'classification', 'y', (100,))
>>> [(b.start, b.end) for b in source.batches(128)]
[(0, 128), (128, 256), (256, 300)]
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from monitors.errors import SourceError
from monitors.stream import Batch

__all__ = [
    "SOURCES",
    "CovariateShift",
    "FileSource",
    "FileSourceConfig",
    "SourceConfig",
    "StreamSource",
    "SyntheticSource",
    "SyntheticStreamConfig",
    "make_source",
    "register_source",
]

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


class FileSource:
    """Replays a CSV (pandas chunks) or Parquet file (pyarrow ``iter_batches``).

    The file is checked when the source is built: it must exist, be readable in its format,
    hold at least one row and have the target (and timestamp) columns; otherwise
    :class:`~monitors.errors.SourceError` says what is wrong and how to fix it.

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
            "FileSourceConfig.format to the right format."
        )

    def _read_columns(self) -> tuple[str, ...]:
        if self.path.stat().st_size == 0:
            raise SourceError(
                f"File {self.path} is empty (0 bytes); point "
                "FileSourceConfig.path at a file with a header and rows."
            )
        try:
            if self.format == "csv":
                head = pd.read_csv(self.path, nrows=1)
                n_rows = len(head)
                columns = tuple(str(c) for c in head.columns)
            else:
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(self.path).metadata
                n_rows = meta.num_rows
                columns = tuple(meta.schema.to_arrow_schema().names)
        except Exception as exc:  # parser errors of several kinds
            raise self._unreadable(exc) from exc
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
        y = self._read_column(self.target).dropna()
        if y.empty:
            raise SourceError(
                f"The target column {self.target!r} of {self.path} has no values; cannot "
                "detect the task. Fill the target or set FileSourceConfig.task."
            )
        numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
        if not numeric or y.nunique() <= MAX_CLASSES_AUTO:
            return "classification"
        return "regression"

    # -- timestamps --------------------------------------------------------------------------

    def _parse_timestamps(self, ts: pd.Series, first_row: int) -> pd.Series:
        if not (pd.api.types.is_numeric_dtype(ts) or pd.api.types.is_datetime64_any_dtype(ts)):
            try:
                parsed = pd.to_datetime(ts)
            except (ValueError, TypeError):
                parsed = pd.to_datetime(ts, errors="coerce", format="mixed")
            bad = parsed.isna() & ts.notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise SourceError(
                    f"The timestamp column {self.timestamp!r} of {self.path} has a value that "
                    f"is not a date/time in row {first_row + i}: {ts.iloc[i]!r}. Fix the value "
                    "or set FileSourceConfig.timestamp=None."
                )
            ts = parsed
        missing = ts.isna().to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise SourceError(
                f"The timestamp column {self.timestamp!r} of {self.path} is missing in "
                f"{int(missing.sum())} row(s), the first being row {first_row + i}. Fill or "
                "drop those rows upstream, or set FileSourceConfig.timestamp=None."
            )
        return ts

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
                f"{exc}. Fix the file near that row."
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
# Registry
# --------------------------------------------------------------------------------------------

#: A source configuration; ``kind`` tells them apart (use as a pydantic field type).
def _source_kind(value: Any) -> str | None:
    """The ``kind`` of a source mapping; without one, a mapping with a ``path`` is a file."""
    if isinstance(value, Mapping):
        kind = value.get("kind")
        if kind is None:
            return "file" if "path" in value else "synthetic"
        return str(kind)
    return getattr(value, "kind", None)


#: A source configuration, picked by its ``kind`` (``"synthetic"`` or ``"file"``; a mapping
#: without ``kind`` is a file when it has a ``path``, else a synthetic stream).
SourceConfig = Annotated[
    Annotated[SyntheticStreamConfig, Tag("synthetic")] | Annotated[FileSourceConfig, Tag("file")],
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
    monitors.errors.SourceError: Unknown source kind 'kafka'; valid kinds: 'synthetic', 'file'.
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
