"""Checkpoints of a running loop: written atomically, authenticated, read back on ``--resume``.

After every complete window the loop hands its whole state (stream position, detectors,
windows and replay buffers, reference profile, pending decisions, the run's record so far)
to :meth:`CheckpointStore.save`. The file is replaced atomically (write a temporary file,
fsync, rename, fsync the folder), so a crash at any instant leaves the previous checkpoint or
the new one, whole, never a torn one.

The state holds live Python objects (River detectors, fitted models), so it is pickled. A
pickle runs code when it is loaded, so a checkpoint is only ever loaded from the state folder
that wrote it, and only when its HMAC-SHA256 checks out against a random key that driftloop
created there (``checkpoint.key``, mode 0600): a file that was not written by this state
folder's loop, or was changed since, is refused, not unpickled.

>>> import tempfile
>>> store = CheckpointStore(Path(tempfile.mkdtemp()))
>>> store.load() is None
True
>>> store.save({"rows": 1000, "detector": [1, 2, 3]}, {"run_id": "r1", "rows": 1000})
>>> meta, state = store.load()
>>> meta["run_id"], state["detector"]
('r1', [1, 2, 3])
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitors.errors import MonitorError

__all__ = ["CheckpointError", "CheckpointStore", "FolderBusyError", "folder_lock",
           "write_atomic"]

_MAGIC = b"DRIFTLOOP-CHECKPOINT-1\n"
_KEY_FILE = "checkpoint.key"
_FILE = "checkpoint.bin"


class CheckpointError(MonitorError):
    """A checkpoint could not be written or is not one this state folder can trust."""


class FolderBusyError(MonitorError):
    """Another process is working in the same state folder."""


_HELD: dict[Path, int] = {}
_HELD_GUARD = threading.Lock()


@contextmanager
def folder_lock(folder: Path, name: str, *, what: str = "a driftloop run",
                wait_s: float = 0.0) -> Iterator[None]:
    """Hold ``<folder>/<name>.lock`` exclusively while the block runs; wait up to ``wait_s``
    seconds for it (none by default), then fail.

    Two runs in one state folder would interleave their checkpoints, quarantine file and
    registrations, so the second one is refused with :class:`FolderBusyError` naming the
    process that holds the lock. The lock is an ``flock``: the kernel drops it when its
    process ends, however it ends (SIGKILL included), so a crash never leaves a stale lock
    behind. Within one process the lock is re-entrant (the command line takes it, then the
    loop it calls takes it again).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> with folder_lock(d, "run"):
    ...     with folder_lock(d, "run"):  # same process: re-entrant
    ...         pass
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"{name}.lock").resolve()
    with _HELD_GUARD:
        if path in _HELD:
            _HELD[path] += 1
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[path] -= 1
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while not _try_flock(fd):
            if time.monotonic() >= deadline:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                raise FolderBusyError(
                    f"{what[:1].upper()}{what[1:]} is already working in {folder} (lock {path}, "
                    f"held by {holder}). Wait for it to finish, or give this one another state "
                    "folder (--state-dir or state_dir in the config).")
            time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n"
                  .encode(), 0)
        with _HELD_GUARD:
            _HELD[path] = 1
        try:
            yield
        finally:
            with _HELD_GUARD:
                del _HELD[path]
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def _try_flock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically and durably: a temporary file in the same folder,
    fsync, rename over ``path``, fsync of the folder. A crash leaves the old file or the new
    one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class CheckpointStore:
    """The checkpoint of one loop, in ``folder`` (``<state>/checkpoint/`` for a run).

    Parameters
    ----------
    folder
        Where ``checkpoint.bin`` and its key live.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / _FILE

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.folder)!r})"

    def _key(self, *, create: bool) -> bytes | None:
        path = self.folder / _KEY_FILE
        if path.is_file():
            key = path.read_bytes()
            if len(key) != 32:
                raise CheckpointError(f"The checkpoint key {path} is damaged; delete the folder "
                                      f"{self.folder} to start the run over.")
            return key
        if not create:
            return None
        key = secrets.token_bytes(32)
        write_atomic(path, key)
        return key

    def save(self, state: Any, meta: dict[str, Any]) -> None:
        """Replace the checkpoint with ``state`` (pickled) and ``meta`` (JSON), atomically."""
        key = self._key(create=True)
        assert key is not None
        try:
            payload = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise CheckpointError(f"The loop's state could not be checkpointed: {exc}") from exc
        header = json.dumps({**meta, "saved_at": datetime.now(UTC).isoformat()},
                            sort_keys=True, default=str).encode()
        mac = hmac.new(key, len(header).to_bytes(8, "big") + header + payload,
                       hashlib.sha256).digest()
        write_atomic(self.path, b"".join(
            (_MAGIC, len(header).to_bytes(8, "big"), header, mac, payload)))

    def load(self) -> tuple[dict[str, Any], Any] | None:
        """``(meta, state)`` of the last checkpoint, or None when there is none.

        Raises
        ------
        CheckpointError
            The file is damaged, or was not written with this folder's key.
        """
        loaded = self._read()
        if loaded is None:
            return None
        meta, payload = loaded
        try:
            return meta, pickle.loads(payload)  # noqa: S301 - authenticated above
        except Exception as exc:
            raise CheckpointError(f"The checkpoint {self.path} could not be restored ({exc}); "
                                  "run without --resume to start over.") from exc

    def _read(self) -> tuple[dict[str, Any], bytes] | None:
        if not self.path.is_file():
            return None
        key = self._key(create=False)
        data = self.path.read_bytes()
        bad = CheckpointError(f"The checkpoint {self.path} is damaged or was not written by "
                              "this state folder's loop, so it is not loaded. Run without "
                              "--resume to start over.")
        if key is None or not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8 + 32:
            raise bad
        at = len(_MAGIC)
        n = int.from_bytes(data[at:at + 8], "big")
        header = data[at + 8:at + 8 + n]
        mac = data[at + 8 + n:at + 8 + n + 32]
        payload = data[at + 8 + n + 32:]
        expected = hmac.new(key, n.to_bytes(8, "big") + header + payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise bad
        return json.loads(header), payload

    def clear(self) -> None:
        """Remove the checkpoint (a fresh run starts over)."""
        self.path.unlink(missing_ok=True)
