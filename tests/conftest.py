"""Test session set-up: telemetry off, a private Prefect home, the shared data folder."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Before anything imports Prefect or MLflow: no telemetry, and a Prefect home of this session's
# own (two processes sharing one SQLite database hit "database is locked").
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="driftloop-test-prefect-")
atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.pop("PREFECT_API_URL", None)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (../shared/data); tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not found (it sits beside the repo)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's test harness: a temporary database and API for this test session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


class LockHolder:
    """Another process holding a :func:`monitors.checkpoint.folder_lock` until it is killed."""

    def __init__(self) -> None:
        self.procs: list[Any] = []

    def __call__(self, folder: Path, name: str) -> Any:
        import subprocess
        import sys

        code = ("import pathlib, sys, time\n"
                "from monitors.checkpoint import folder_lock\n"
                "with folder_lock(pathlib.Path(sys.argv[1]), sys.argv[2]):\n"
                "    print('held', flush=True)\n"
                "    time.sleep(600)\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder), name],
                                stdout=subprocess.PIPE, cwd=REPO)
        self.procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
        return proc

    def kill(self, proc: Any) -> None:
        import signal

        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture()
def lock_holder() -> Iterator[LockHolder]:
    """Start processes that hold a state-folder lock; ``.kill(proc)`` SIGKILLs one."""
    holder = LockHolder()
    try:
        yield holder
    finally:
        for proc in holder.procs:
            holder.kill(proc)
