"""LabelledBuffer and Reservoir: capacity, row offsets, eviction, uniformity, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from models.base import ConfigError, InvalidDataError
from models.buffers import LabelledBuffer, Reservoir


def rows(start: int, stop: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows ``start..stop-1`` whose feature and label encode their own offset."""
    idx = pd.RangeIndex(start, stop)
    X = pd.DataFrame(
        {"offset": idx.to_numpy(dtype=float), "tag": [f"r{i}" for i in idx]}, index=idx
    )
    return X, idx.to_numpy() % 7


def assert_aligned(rows_: np.ndarray, X: pd.DataFrame, y: np.ndarray) -> None:
    np.testing.assert_array_equal(X.index.to_numpy(), rows_)
    np.testing.assert_array_equal(X["offset"].to_numpy(), rows_)
    np.testing.assert_array_equal(y, rows_ % 7)


def stream_in_batches(target, n: int, seed: int) -> None:
    """Add rows 0..n-1 in batches of random sizes."""
    rng = np.random.default_rng(seed)
    start = 0
    while start < n:
        stop = min(n, start + int(rng.integers(1, 120)))
        target.add(*rows(start, stop))
        start = stop


def test_buffer_keeps_the_most_recent_rows_and_evicts_to_the_reservoir() -> None:
    reservoir = Reservoir(capacity=50, seed=1)
    buffer = LabelledBuffer(capacity=300, overflow=reservoir)
    stream_in_batches(buffer, 1000, seed=0)
    assert len(buffer) == buffer.size == 300
    np.testing.assert_array_equal(buffer.rows, np.arange(700, 1000))
    data = buffer.all()
    assert_aligned(data.rows, data.X, data.y)
    assert list(data.X.columns) == ["offset", "tag"]
    # every evicted row was offered to the reservoir, and only those
    assert reservoir.n_seen == 700 and len(reservoir) == 50
    assert np.all(reservoir.rows < 700) and len(np.unique(reservoir.rows)) == 50
    sample = reservoir.all()
    assert_aligned(sample.rows, sample.X, sample.y)


def test_recent_respects_n_and_since_row() -> None:
    buffer = LabelledBuffer(capacity=100)
    buffer.add(*rows(0, 100))
    np.testing.assert_array_equal(buffer.recent(5).rows, [95, 96, 97, 98, 99])
    np.testing.assert_array_equal(buffer.recent(50, since_row=97).rows, [97, 98, 99])
    assert len(buffer.recent(0)) == 0 and len(buffer.recent(10, since_row=1000)) == 0
    got = buffer.recent(10, since_row=42)
    assert_aligned(got.rows, got.X, got.y)


def test_late_labels_land_in_order_and_the_oldest_are_evicted() -> None:
    buffer = LabelledBuffer(capacity=150)
    buffer.add(*rows(0, 100))
    np.testing.assert_array_equal(buffer.add(*rows(200, 300)).rows, np.arange(0, 50))
    evicted = buffer.add(*rows(100, 200))  # labels for 100..199 arrive late
    np.testing.assert_array_equal(buffer.rows, np.arange(150, 300))
    np.testing.assert_array_equal(evicted.rows, np.arange(50, 150))
    assert_aligned(buffer.all().rows, buffer.all().X, buffer.all().y)


def test_buffer_rejects_bad_input_with_clear_messages() -> None:
    buffer = LabelledBuffer(capacity=10)
    buffer.add(*rows(0, 5))
    with pytest.raises(InvalidDataError, match=r"already holds rows \[3, 4\]"):
        buffer.add(*rows(3, 8))
    X, y = rows(5, 8)
    with pytest.raises(InvalidDataError, match=r"missing \['tag'\]"):
        buffer.add(X.drop(columns="tag"), y)
    with pytest.raises(InvalidDataError, match="one label per row"):
        buffer.add(X, y[:-1])
    with pytest.raises(InvalidDataError, match="1 missing labels"):
        buffer.add(X, np.array([1, None, 2], dtype=object))
    with pytest.raises(InvalidDataError, match="integer row offsets"):
        buffer.add(X.set_index("tag"), y)
    with pytest.raises(ConfigError, match="'capacity'.*Got 0"):
        LabelledBuffer(capacity=0)
    buffer.add(X[["tag", "offset"]], y)  # same columns in another order are fine
    assert list(buffer.all().X.columns) == ["offset", "tag"]


def test_reservoir_fills_then_stays_at_capacity() -> None:
    reservoir = Reservoir(capacity=100, seed=0)
    assert reservoir.add(*rows(0, 60)) == 60 and len(reservoir) == 60
    reservoir.add(*rows(60, 500))
    assert len(reservoir) == 100 and reservoir.n_seen == 500
    assert len(np.unique(reservoir.rows)) == 100
    assert Reservoir(capacity=0).add(*rows(0, 10)) == 0


def test_reservoir_sample_is_uniform_over_the_whole_stream() -> None:
    n, k, runs = 1000, 50, 200
    counts = np.zeros(n)
    for seed in range(runs):
        reservoir = Reservoir(capacity=k, seed=seed)
        stream_in_batches(reservoir, n, seed=1000 + seed)
        counts[reservoir.rows] += 1
    # each row is kept with probability k / n: 10 times in 200 runs on average
    per_decile = counts.reshape(10, -1).sum(axis=1)  # 1000 expected each, sd ~30
    assert np.all(np.abs(per_decile - runs * k / 10) < 150), per_decile
    assert abs(counts[:100].mean() - counts[-100:].mean()) < 2.0  # first vs last rows


def test_reservoir_is_seeded_and_pickles_with_its_state() -> None:
    a, b = Reservoir(capacity=30, seed=7), Reservoir(capacity=30, seed=7)
    stream_in_batches(a, 400, seed=3)
    stream_in_batches(b, 400, seed=3)
    np.testing.assert_array_equal(a.rows, b.rows)
    c = pickle.loads(pickle.dumps(a))
    a.add(*rows(400, 800))
    c.add(*rows(400, 800))
    np.testing.assert_array_equal(a.rows, c.rows)
    assert Reservoir(capacity=30, seed=8).add(*rows(0, 400)) == 30


def test_reservoir_sample_without_replacement_oldest_first() -> None:
    reservoir = Reservoir(capacity=80, seed=0)
    reservoir.add(*rows(0, 1000))
    s1, s2 = reservoir.sample(20, seed=1), reservoir.sample(20, seed=1)
    np.testing.assert_array_equal(s1.rows, s2.rows)
    assert len(np.unique(s1.rows)) == 20 and np.all(np.diff(s1.rows) > 0)
    assert set(s1.rows) <= set(reservoir.rows)
    assert_aligned(s1.rows, s1.X, s1.y)
    assert len(reservoir.sample(500)) == 80


def test_buffer_pickles_with_its_reservoir() -> None:
    reservoir = Reservoir(capacity=20, seed=0)
    buffer = LabelledBuffer(capacity=50, overflow=reservoir)
    buffer.add(*rows(0, 120))
    restored = pickle.loads(pickle.dumps(buffer))
    np.testing.assert_array_equal(restored.rows, buffer.rows)
    np.testing.assert_array_equal(restored.overflow.rows, reservoir.rows)
    restored.add(*rows(120, 130))
    assert restored.overflow.n_seen == 80 and reservoir.n_seen == 70
