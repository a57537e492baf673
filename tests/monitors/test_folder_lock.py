"""One process per state folder: :func:`monitors.checkpoint.folder_lock` refuses a second one,
names the holder, and is free again the moment the holder dies, SIGKILL included."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from monitors.checkpoint import FolderBusyError, folder_lock


def test_a_second_process_is_refused_with_the_holders_pid(tmp_path: Path,
                                                         lock_holder: Any) -> None:
    proc = lock_holder(tmp_path, "run")
    with pytest.raises(FolderBusyError) as err, folder_lock(tmp_path, "run"):
        pass
    message = str(err.value)
    assert f"held by pid {proc.pid}" in message
    assert str(tmp_path) in message and "another state folder" in message
    with folder_lock(tmp_path, "other"):  # another lock name is another lock
        pass


def test_the_lock_is_free_once_its_holder_is_killed(tmp_path: Path, lock_holder: Any) -> None:
    proc = lock_holder(tmp_path, "run")
    lock_holder.kill(proc)  # SIGKILL: no clean-up ran, the kernel released the flock
    with folder_lock(tmp_path, "run"):
        assert (tmp_path / "run.lock").read_text().startswith("pid ")


def test_waiting_takes_the_lock_when_the_holder_lets_go(tmp_path: Path,
                                                        lock_holder: Any) -> None:
    proc = lock_holder(tmp_path, "retrain")
    threading.Timer(0.5, lock_holder.kill, args=(proc,)).start()
    t0 = time.monotonic()
    with folder_lock(tmp_path, "retrain", wait_s=30):
        waited = time.monotonic() - t0
    assert 0.3 < waited < 30
    proc = lock_holder(tmp_path, "retrain")
    with pytest.raises(FolderBusyError, match="A retrain of 'm' is already working"), \
            folder_lock(tmp_path, "retrain", what="a retrain of 'm'", wait_s=0.3):
        pass


def test_reentrant_in_one_process_and_released_after(tmp_path: Path, lock_holder: Any) -> None:
    with folder_lock(tmp_path, "run"), folder_lock(tmp_path, "run"):
        pass
    # released: another process can take it now (and holds it until killed)
    proc = lock_holder(tmp_path, "run")
    assert proc.poll() is None
