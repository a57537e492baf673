"""Batches, windows and the windower: the types every monitor speaks.

A :class:`Batch` is a slice of a stream that knows where it sits: ``start`` is the stable,
0-based row offset of its first row and its frames are indexed by row offset, so any event
computed from it can name the exact row where it happened.

A :class:`Window` is a count-based span ``[start, end)`` of rows; :class:`CountWindower`
re-cuts any stream of batches into consecutive windows of a fixed size.

>>> import pandas as pd
>>> b = Batch.from_frame(pd.DataFrame({"x": range(5), "y": [0, 1, 0, 1, 0]}), start=10, target="y")
>>> b.start, b.end, list(b.features.index)
(10, 15, [10, 11, 12, 13, 14])
>>> [(w.start, w.end) for w, _ in CountWindower(2).windows([b])]
[(10, 12), (12, 14), (14, 15)]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitors.errors import ValidationError


@dataclass(frozen=True)
class Window:
    """A count-based window of rows ``[start, end)`` of a stream."""

    index: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return f"window {self.index} [rows {self.start}:{self.end})"


@dataclass(frozen=True)
class Batch:
    """Consecutive rows of a stream, indexed by their stable row offsets.

    ``features`` and ``target`` (when present) share the index ``range(start, end)``;
    ``timestamps`` is optional. Build one with :meth:`from_frame`.
    """

    start: int
    features: pd.DataFrame
    target: pd.Series | None = None
    timestamps: pd.Series | None = None

    def __post_init__(self) -> None:
        n = len(self.features)
        expected = pd.RangeIndex(self.start, self.start + n)
        if not self.features.index.equals(expected):
            raise ValidationError(
                f"Batch features must be indexed by row offsets {self.start}..{self.start + n - 1}; "
                "build batches with Batch.from_frame(frame, start=...).",
                start=self.start, end=self.start + n,
            )
        for name, s in (("target", self.target), ("timestamps", self.timestamps)):
            if s is not None and not s.index.equals(expected):
                raise ValidationError(
                    f"Batch {name} must share the features' row-offset index "
                    f"{self.start}..{self.start + n - 1}.",
                    start=self.start, end=self.start + n,
                )

    @property
    def end(self) -> int:
        return self.start + len(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def rows(self) -> np.ndarray:
        """The row offsets of this batch as an int64 array."""
        return np.arange(self.start, self.end, dtype=np.int64)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, start: int, target: str | None = None,
                   timestamp: str | None = None) -> Batch:
        """Split ``frame`` into features/target/timestamps and index it from ``start``."""
        frame = frame.reset_index(drop=True)
        frame.index = pd.RangeIndex(start, start + len(frame))
        drop = [c for c in (target, timestamp) if c is not None]
        for c in drop:
            if c not in frame.columns:
                raise ValidationError(
                    f"Column {c!r} is missing from rows {start}..{start + len(frame) - 1}; "
                    f"available columns: {list(frame.columns)}.",
                    columns=[c], start=start, end=start + len(frame),
                )
        return cls(
            start=start,
            features=frame.drop(columns=drop),
            target=frame[target] if target is not None else None,
            timestamps=frame[timestamp] if timestamp is not None else None,
        )

    def slice(self, start: int, end: int) -> Batch:
        """Rows ``[start, end)`` (absolute offsets) of this batch."""
        lo, hi = max(start, self.start) - self.start, min(end, self.end) - self.start
        return Batch(
            start=self.start + lo,
            features=self.features.iloc[lo:hi],
            target=None if self.target is None else self.target.iloc[lo:hi],
            timestamps=None if self.timestamps is None else self.timestamps.iloc[lo:hi],
        )

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Join consecutive batches into one (offsets must be contiguous)."""
        if not batches:
            raise ValidationError("Cannot concatenate an empty list of batches.")
        for a, b in zip(batches, batches[1:], strict=False):
            if a.end != b.start:
                raise ValidationError(
                    f"Batches are not contiguous: one ends at row {a.end}, the next starts at {b.start}.",
                    start=a.start, end=b.end,
                )
        if len(batches) == 1:
            return batches[0]

        def series(parts: list[pd.Series | None]) -> pd.Series | None:
            kept = [p for p in parts if p is not None]
            return pd.concat(kept) if len(kept) == len(parts) else None

        return Batch(
            start=batches[0].start,
            features=pd.concat([b.features for b in batches]),
            target=series([b.target for b in batches]),
            timestamps=series([b.timestamps for b in batches]),
        )


class CountWindower:
    """Cuts a stream of batches into consecutive windows of ``size`` rows.

    The last window may be shorter when the stream ends. Batches of any size are accepted.
    """

    def __init__(self, size: int) -> None:
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ValueError(
                f"The 'size' parameter of CountWindower must be a positive int. Got {size!r} instead."
            )
        self.size = size

    def windows(self, batches: Iterable[Batch]) -> Iterator[tuple[Window, Batch]]:
        pending: list[Batch] = []
        n_pending = 0
        index = 0
        for batch in batches:
            if len(batch) == 0:
                continue
            pending.append(batch)
            n_pending += len(batch)
            while n_pending >= self.size:
                joined = Batch.concat(pending)
                w_start = joined.start
                out = joined.slice(w_start, w_start + self.size)
                rest = joined.slice(w_start + self.size, joined.end)
                yield Window(index, out.start, out.end), out
                index += 1
                pending = [rest] if len(rest) else []
                n_pending = len(rest)
        if n_pending:
            joined = Batch.concat(pending)
            yield Window(index, joined.start, joined.end), joined


def split_stream(batches: Iterable[Batch], n_rows: int) -> tuple[Batch, Iterator[Batch]]:
    """Take the first ``n_rows`` rows as one batch (the labelled history that trains the first
    model) and return it with an iterator over the rest of the stream.

    >>> import pandas as pd
    >>> b = Batch.from_frame(pd.DataFrame({"x": range(6)}), start=0)
    >>> head, rest = split_stream([b], 4)
    >>> (head.start, head.end), [(r.start, r.end) for r in rest]
    ((0, 4), [(4, 6)])
    """
    if n_rows <= 0:
        raise ValueError(f"The 'n_rows' parameter of split_stream must be > 0. Got {n_rows!r}.")
    it = iter(batches)
    head: list[Batch] = []
    have = 0
    rest_first: Batch | None = None
    for batch in it:
        if have + len(batch) <= n_rows:
            head.append(batch)
            have += len(batch)
        else:
            cut = batch.start + (n_rows - have)
            if cut > batch.start:
                head.append(batch.slice(batch.start, cut))
            rest_first = batch.slice(cut, batch.end)
            have = n_rows
        if have >= n_rows:
            break
    if have < n_rows:
        raise ValidationError(
            f"The stream has only {have} rows; at least {n_rows} are needed for the initial "
            "training history (lower 'window.warmup_rows' or use a longer stream)."
        )

    def rest() -> Iterator[Batch]:
        if rest_first is not None and len(rest_first):
            yield rest_first
        yield from it

    return Batch.concat(head), rest()
