"""Memory of labelled rows: the most recent ones, and a uniform sample of everything older.

- :class:`LabelledBuffer` keeps the ``capacity`` most recent labelled rows (by row offset);
- rows it evicts are offered to its ``overflow`` :class:`Reservoir`, which keeps a uniform
  random sample of all rows ever offered (Algorithm R, vectorised per batch) for replay.

Rows keep their stable stream row offsets: frames are indexed by them and ``rows`` lists them.
Both objects are plain Python state and pickle as is.

>>> import numpy as np, pandas as pd
>>> reservoir = Reservoir(capacity=3, seed=0)
>>> buffer = LabelledBuffer(capacity=4, overflow=reservoir)
>>> X = pd.DataFrame({"x": np.arange(10.0)}, index=pd.RangeIndex(100, 110))
>>> evicted = buffer.add(X, np.arange(10) % 2)
>>> buffer.rows.tolist(), len(evicted), len(reservoir), reservoir.n_seen
([106, 107, 108, 109], 6, 3, 6)
>>> buffer.recent(2).rows.tolist(), buffer.recent(10, since_row=108).rows.tolist()
([108, 109], [108, 109])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from models.base import ConfigError, InvalidDataError


@dataclass(frozen=True, eq=False)
class LabelledRows:
    """Labelled rows of a stream: ``X`` is indexed by ``rows`` (int64 offsets), ``y`` aligned."""

    rows: np.ndarray
    X: pd.DataFrame
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def empty() -> LabelledRows:
        return LabelledRows(
            np.empty(0, np.int64), pd.DataFrame(index=pd.Index([], dtype=np.int64)), np.empty(0)
        )

    def take(self, positions: np.ndarray) -> LabelledRows:
        """The rows at ``positions`` (0-based positions, not offsets)."""
        return LabelledRows(self.rows[positions], self.X.iloc[positions], self.y[positions])

    @staticmethod
    def concat(parts: list[LabelledRows]) -> LabelledRows:
        """Join parts in the given order (empty parts are skipped)."""
        parts = [p for p in parts if len(p)] or parts[:1]
        if len(parts) == 1:
            return parts[0]
        return LabelledRows(
            np.concatenate([p.rows for p in parts]),
            pd.concat([p.X for p in parts]),
            np.concatenate([p.y for p in parts]),
        )


def _check_capacity(owner: str, capacity: object, minimum: int) -> int:
    if (
        isinstance(capacity, bool)
        or not isinstance(capacity, int | np.integer)
        or capacity < minimum
    ):
        raise ConfigError(
            f"The 'capacity' parameter of {owner} must be an int >= {minimum}. Got {capacity!r}."
        )
    return int(capacity)


def _labelled(X: pd.DataFrame, y: ArrayLike, columns: pd.Index | None, owner: str) -> LabelledRows:
    """Validate a labelled batch indexed by row offsets and return it in the stored layout."""
    if not isinstance(X, pd.DataFrame):
        raise InvalidDataError(
            f"The 'X' parameter of {owner}.add must be a DataFrame indexed by row offsets. Got "
            f"{type(X).__name__}."
        )
    if not pd.api.types.is_integer_dtype(X.index.dtype):
        raise InvalidDataError(
            f"The 'X' parameter of {owner}.add must be indexed by integer row offsets. Got an "
            f"index of dtype {X.index.dtype}; use Batch.features (indexed by offsets)."
        )
    labels = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if labels.ndim != 1 or len(labels) != len(X):
        raise InvalidDataError(
            f"The 'y' parameter of {owner}.add must hold one label per row of X ({len(X)}). Got "
            f"shape {labels.shape}."
        )
    missing = np.asarray(pd.isna(labels))
    if missing.any():
        raise InvalidDataError(
            f"The 'y' parameter of {owner}.add has {int(missing.sum())} missing labels; add only "
            "labelled rows."
        )
    rows = X.index.to_numpy(dtype=np.int64)
    if len(np.unique(rows)) != len(rows):
        raise InvalidDataError(f"The 'X' parameter of {owner}.add has duplicate row offsets.")
    if columns is not None and not X.columns.equals(columns):
        if set(X.columns) != set(columns):
            raise InvalidDataError(
                f"The columns of X differ from the rows {owner} already holds: missing "
                f"{sorted(set(columns) - set(X.columns))}, extra "
                f"{sorted(set(X.columns) - set(columns))}."
            )
        X = X.loc[:, columns]
    return LabelledRows(rows, X, labels)


class LabelledBuffer:
    """The ``capacity`` most recent labelled rows, by row offset.

    Parameters
    ----------
    capacity
        How many rows to keep (>= 1).
    overflow
        Where evicted rows go (a :class:`Reservoir`), or None to drop them.
    """

    def __init__(self, capacity: int, overflow: Reservoir | None = None) -> None:
        self.capacity = _check_capacity("LabelledBuffer", capacity, 1)
        self.overflow = overflow
        self._reset()

    def _reset(self) -> None:
        self._data: LabelledRows | None = None

    def add(self, X: pd.DataFrame, y: ArrayLike) -> LabelledRows:
        """Add labelled rows (``X`` indexed by row offsets); return the rows evicted.

        Offsets already held are rejected. Rows are kept ordered by offset, so labels that
        arrive late land in place; the oldest rows are evicted (and offered to ``overflow``).
        """
        columns = None if self._data is None else self._data.X.columns
        batch = _labelled(X, y, columns, "LabelledBuffer")
        if self._data is not None:
            clash = np.intersect1d(self._data.rows, batch.rows)
            if len(clash):
                raise InvalidDataError(
                    f"LabelledBuffer already holds rows {clash[:5].tolist()} (of {len(clash)} "
                    "repeated); add each labelled row once."
                )
        data = batch if self._data is None else LabelledRows.concat([self._data, batch])
        if np.any(np.diff(data.rows) < 0):
            data = data.take(np.argsort(data.rows, kind="stable"))
        n_evict = max(0, len(data) - self.capacity)
        evicted = data.take(np.arange(n_evict))
        self._data = data.take(np.arange(n_evict, len(data)))
        if n_evict and self.overflow is not None:
            self.overflow.add(evicted.X, evicted.y)
        return evicted

    def recent(self, n: int, since_row: int | None = None) -> LabelledRows:
        """The last ``n`` rows (by offset) with offset ``>= since_row``, oldest first."""
        if n < 0:
            raise ConfigError(f"The 'n' parameter of recent must be >= 0. Got {n}.")
        data = self.all()
        keep = np.arange(len(data))
        if since_row is not None:
            keep = keep[data.rows >= since_row]
        return data.take(keep[max(0, len(keep) - n) :])

    def all(self) -> LabelledRows:
        """Every row held, oldest first."""
        if self._data is None:
            return LabelledRows.empty()
        return self._data

    @property
    def rows(self) -> np.ndarray:
        """Row offsets held, ascending."""
        return self.all().rows

    @property
    def size(self) -> int:
        return 0 if self._data is None else len(self._data)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        span = f", rows {self.rows[0]}..{self.rows[-1]}" if self.size else ""
        return f"LabelledBuffer(size={self.size}, capacity={self.capacity}{span})"


class Reservoir:
    """A uniform random sample of at most ``capacity`` of all rows ever offered (Algorithm R).

    Every offered row ends up in the sample with probability ``capacity / n_seen``. A batch is
    processed at once: one random draw per row, and when two rows of a batch pick the same
    slot the later one wins, exactly as the one-row-at-a-time algorithm would do.

    Parameters
    ----------
    capacity
        Sample size (>= 0; 0 keeps nothing).
    seed
        Seed of the sampling generator.
    """

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = _check_capacity("Reservoir", capacity, 0)
        self.seed = seed
        self._reset()

    def _reset(self) -> None:
        self.n_seen = 0
        self._rng = np.random.default_rng(self.seed)
        self._data: LabelledRows | None = None

    def add(self, X: pd.DataFrame, y: ArrayLike) -> int:
        """Offer labelled rows (``X`` indexed by row offsets); return how many entered."""
        columns = None if self._data is None else self._data.X.columns
        batch = _labelled(X, y, columns, "Reservoir")
        m, k, held = len(batch), self.capacity, self.size
        seen = self.n_seen + np.arange(m)  # 0-based stream position of each offered row
        self.n_seen += m
        if m == 0 or k == 0:
            return 0
        # Positions into concat([held rows, batch]) that will make up the new sample.
        n_fill = int(np.clip(k - held, 0, m))  # rows that enter while the sample is not full
        slots = np.concatenate([np.arange(held), held + np.arange(n_fill)])
        rest = np.arange(n_fill, m)
        draws = self._rng.integers(0, seen[rest] + 1)  # uniform on 0..t for the row at t
        hit = draws < k
        slot, source = draws[hit], rest[hit]
        if len(slot):
            # The last row of the batch to pick a slot wins, as in the sequential algorithm.
            _, first_from_end = np.unique(slot[::-1], return_index=True)
            last = len(slot) - 1 - first_from_end
            slots[slot[last]] = held + source[last]
        entered = int(np.count_nonzero(slots >= held))
        if entered:
            pool = batch if self._data is None else LabelledRows.concat([self._data, batch])
            self._data = pool.take(slots)
        return entered

    def sample(self, n: int, seed: int | None = None) -> LabelledRows:
        """``min(n, size)`` rows drawn without replacement, oldest first.

        The draw depends on ``seed`` (default: the reservoir's) and on ``n_seen``, so it is
        reproducible without consuming the reservoir's own generator.
        """
        if n < 0:
            raise ConfigError(f"The 'n' parameter of sample must be >= 0. Got {n}.")
        data = self.all()
        rng = np.random.default_rng([self.seed if seed is None else seed, self.n_seen])
        picked = rng.choice(len(data), size=min(n, len(data)), replace=False)
        picked = picked[np.argsort(data.rows[picked], kind="stable")]
        return data.take(picked)

    def all(self) -> LabelledRows:
        """Every row in the sample, in slot order."""
        if self._data is None:
            return LabelledRows.empty()
        return self._data

    @property
    def rows(self) -> np.ndarray:
        """Row offsets in the sample (slot order)."""
        return self.all().rows

    @property
    def size(self) -> int:
        return 0 if self._data is None else len(self._data)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Reservoir(size={self.size}, capacity={self.capacity}, n_seen={self.n_seen})"
