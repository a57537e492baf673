"""The snapshot journal of a run (``<state>/checkpoint/snapshots.log``): which Evidently
snapshots each checkpoint made done, so that a resume removes exactly the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.pipeline import _SnapshotJournal


def test_rewind_keeps_the_entries_up_to_the_checkpoint(tmp_path: Path) -> None:
    journal = _SnapshotJournal(tmp_path / "snapshots.log")
    assert journal.rewind(0) == set()
    journal.record(1, ["a", "b"])
    journal.record(2, [])  # a window that stored nothing
    journal.record(3, ["c"])
    journal.record(4, ["d"])
    with journal.path.open("a") as fh:
        fh.write("5 e-torn-by-a-cr")  # a crash in the middle of the next append
    assert journal.rewind(3) == {"a", "b", "c"}  # checkpoint 4 was never written
    assert journal.path.read_text() == "1 a\n1 b\n3 c\n"
    journal.record(4, ["d2"])  # the resumed run's window, done again
    assert journal.rewind(4) == {"a", "b", "c", "d2"}
    assert journal.rewind(0) == set() and journal.path.read_text() == ""


def test_a_torn_line_is_not_an_entry(tmp_path: Path) -> None:
    journal = _SnapshotJournal(tmp_path / "snapshots.log")
    journal.path.write_text("1 a\n1\n\nx b\n2 c\n")
    assert journal.rewind(2) == {"a", "c"}


def test_a_checkpoint_from_before_the_journal_is_refused(tmp_path: Path) -> None:
    from flows.config import ConfigError
    from flows.pipeline import _LoopState, _resumed_state
    from monitors.checkpoint import CheckpointStore

    old = _LoopState.__new__(_LoopState)
    old.__dict__.update(run_id="r1", rows=4000, snapshot_ids=("a", "b"))  # the old layout
    store = CheckpointStore(tmp_path)
    store.save(old, {"run_id": "r1", "rows": 4000})
    with pytest.raises(ConfigError, match="older driftloop"):
        _resumed_state(store, "r1")
